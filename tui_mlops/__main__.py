"""`python -m tui_mlops` is the same as the `mlops-tui` command."""

from tui_mlops.cli import main

raise SystemExit(main())
