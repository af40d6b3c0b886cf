"""`python -m jaxlime`: the `jaxlime` command line (see `jaxlime --help`)."""

import sys

from jaxlime.cli import main

sys.exit(main())
