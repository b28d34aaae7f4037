"""`python -m archc`: the same as the `archc` console script."""

import sys

from .cli import main

sys.exit(main())
