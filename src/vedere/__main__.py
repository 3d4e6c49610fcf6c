"""``python -m vedere`` runs the ``vedere`` command."""

from .cli.main import main

main()
