"""`python -m server` is `storyteller`, for environments without the console script."""

import sys

from server.cli import main

sys.exit(main())
