"""``python -m flagkit``: the same command line as the ``flagkit`` console script."""

from .cli import main

raise SystemExit(main())
