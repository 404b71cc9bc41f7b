"""`python -m kernelmagic` is the `kernelmagic` command."""

import sys

from kernelmagic.cli.main import main

sys.exit(main())
