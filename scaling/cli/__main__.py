"""`python -m scaling.cli`: the `scaling` command without the console script."""

import sys

from scaling.cli import main

sys.exit(main())
