"""`python -m kernelmagic` is the `kernelmagic` command."""

import sys

from .cli import main

sys.exit(main())
