"""`python -m archc.train train|eval ...` (for torchrun): the same commands as `archc`."""

from archc.cli import main

raise SystemExit(main())
