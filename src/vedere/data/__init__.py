"""Datasets: toy 2-D problems of the course (and, later, CIFAR-10 and image folders)."""
