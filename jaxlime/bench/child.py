"""`python -m jaxlime.bench.child MODULE FUNCTION SPEC`: runs `jaxlime.bench.MODULE.FUNCTION(spec)`
in this fresh process (SPEC is JSON) and prints its JSON result as the last line of stdout.

The benchmarks that need a fresh process (forced host devices set through XLA_FLAGS before jax
starts, peak memory, first calls after import, several JAX processes) start it through
`harness.run_child`.
"""

import importlib
import json
import sys


def main(argv: list[str]):
  module, function, spec = argv
  result = getattr(importlib.import_module(f"jaxlime.bench.{module}"), function)(json.loads(spec))
  print(json.dumps(result))


if __name__ == "__main__":
  main(sys.argv[1:])
