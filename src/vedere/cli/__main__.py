"""``python -m vedere.cli`` runs the ``vedere`` command."""

from .main import main

main()
