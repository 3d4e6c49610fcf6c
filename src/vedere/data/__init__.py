"""Datasets: CIFAR-10's official archives, image-folder trees (folders or .tar.gz), the
embedded CIFAR-10 sample, the course's toy 2-D problems, transforms and the decode cache.

Everything read from disk is treated as possibly hostile: regular files only, sizes and
pixel counts checked before decoding, archives read in memory with bounded sizes, CIFAR-10's
pickles through a restricted unpickler."""
