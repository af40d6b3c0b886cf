"""Quickstart: explain every test prediction of a Flax MLP in one call.

pip install -e ".[examples]" && python examples/quickstart.py   (the same as `jaxlime demo`)

The code is `jaxlime/demo.py`, so that `jaxlime demo` runs it from an installed package; this
script saves its figure to examples/output/quickstart.png.
"""

import pathlib

from jaxlime import demo

demo.main(out=pathlib.Path(__file__).resolve().parent / "output")
