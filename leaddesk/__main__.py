"""``python -m leaddesk`` runs the same command line as the ``leaddesk`` script."""

from leaddesk.cli import main

raise SystemExit(main())
