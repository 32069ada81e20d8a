"""``python -m stemboard.cli``: the ``stemboard`` command."""

import sys

from stemboard.cli.app import main

sys.exit(main())
