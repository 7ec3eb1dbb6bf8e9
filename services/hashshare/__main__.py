"""`python -m hashshare` runs the command-line interface."""

from hashshare.cli import main

raise SystemExit(main())
