"""`python -m archc`: the same as the `archc` console script."""

import sys

from archc.cli import main

sys.exit(main())
