"""`python -m archc.train train|eval ...`: the training commands without the rest of the CLI."""

from archc.train.cli import main

raise SystemExit(main())
