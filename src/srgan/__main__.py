"""``python -m srgan ...``: the CLI without an installed console script (a source checkout on PYTHONPATH)."""

import sys

from srgan.cli import main

sys.exit(main())
