"""``python -m rebatelab`` runs the command line."""

import sys

from rebatelab.cli.main import main

sys.exit(main())
