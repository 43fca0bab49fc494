"""`python -m iotsim_tui` runs the same command line as `iotsim-tui`."""

from iotsim_tui.cli import main

raise SystemExit(main())
