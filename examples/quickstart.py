"""Quickstart: explain every test prediction of a Flax MLP in one call.

  pip install -e ".[examples]" && python examples/quickstart.py   (the same as `jaxlime demo`)
  python examples/quickstart.py --quick      # small, for tests: S = 500

The code is `jaxlime/demo.py`, so that `jaxlime demo` runs it from an installed package; this
script saves lime's bar chart of the first explanation to examples/output/quickstart.png (or
--output DIR/quickstart.png) when matplotlib is installed.
"""

import argparse
import pathlib

from jaxlime import demo

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="500 samples per instance")
parser.add_argument(
    "--output",
    type=pathlib.Path,
    default=pathlib.Path(__file__).resolve().parent / "output",
    help="directory for quickstart.png",
)
args = parser.parse_args()
demo.main(out=args.output, num_samples=500 if args.quick else 5000)
