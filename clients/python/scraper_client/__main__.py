"""`python -m scraper_client push FILE`, the same as the scraper-client command."""

import sys

from .push import main

sys.exit(main())
