"""``python -m transit_status``: the same as the ``transit-status`` command."""

from transit_status.cli import main

main()
