"""The `jaxlime` command line: `jaxlime bench` and `jaxlime demo` (also `python -m jaxlime`)."""

import argparse
import pathlib
import sys

_DESCRIPTION = """\
jaxlime: LIME explanations for thousands of instances at once, as jitted, vmapped JAX.

commands:
  demo    explain every test prediction of a Flax MLP on the breast cancer data in one call
          (the quickstart); needs scikit-learn and optax: pip install "jaxlime[examples]"
  bench   time jaxlime against the installed peers (lime, shap, captum) on this machine;
          writes bench.json, bench.md and figures; pip install "jaxlime[bench]"

Run `jaxlime COMMAND --help` for a command's options."""

_BENCH_DESCRIPTION = """\
Times jaxlime side by side with the peers installed here (lime, shap, captum: each skipped with
a note when missing) and the model alone on the same rows (the floor no explainer can beat):

  tabular      lime vs jaxlime, breast cancer MLP, 3 configurations, S = 5000, memory
  image        lime, captum vs jaxlime, 64x64 images, CNN and linear models, S = 1000, memory
  text         lime vs jaxlime's string and token paths, sentiment model, S = 5000
  kernel_shap  shap's KernelExplainer vs jaxlime's Kernel SHAP, nsamples = 2048
  pdp          scikit-learn's partial_dependence vs jaxlime.partial_dependences, 30 features
  compat       jaxlime.compat vs lime: first call in a fresh process (cold/warm cache), loops
  scaling      time and memory in N, S and D on 1..--devices forced host devices, and two
               JAX processes against one (fresh subprocesses)
  stability    only with --only: top-k Jaccard across seeds against model evaluations, fixed
               counts vs UntilStable vs S-LIME's test (minutes even with --quick)

Prints the machine first, then writes OUT/bench.json, OUT/bench.md and OUT/*.png. The full run
(the README's numbers) takes about 35 minutes on 2 cores; --quick is CI-sized (under 2 minutes on
2 cores). Nothing is downloaded."""


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="jaxlime",
      description=_DESCRIPTION,
      formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  commands = parser.add_subparsers(dest="command", metavar="{demo,bench}")
  demo = commands.add_parser(
      "demo",
      help="run the quickstart: explain a Flax MLP's test predictions",
      description="Trains a Flax NNX MLP (30-64-64-2) on scikit-learn's breast cancer data for "
      "a few seconds, explains all its test predictions in one call (S = 5000 each), prints "
      "three of them and, with --out and matplotlib installed, saves quickstart.png.",
  )
  demo.add_argument(
      "--out", type=pathlib.Path, default=None, help="directory for quickstart.png (default: none)"
  )
  demo.add_argument(
      "--num-samples",
      type=int,
      default=5000,
      help="perturbations per explanation (default 5000, lime's)",
  )
  bench = commands.add_parser(
      "bench",
      help="benchmark jaxlime against lime, shap and captum on this machine",
      description=_BENCH_DESCRIPTION,
      formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  bench.add_argument(
      "--quick", action="store_true", help="CI-sized runs: under 2 minutes on 2 cores"
  )
  bench.add_argument(
      "--only",
      action="append",
      metavar="NAME",
      help="run only these benchmarks (repeatable or comma-separated); default all",
  )
  bench.add_argument(
      "--out",
      type=pathlib.Path,
      default=pathlib.Path("bench-results"),
      help="output directory (default ./bench-results)",
  )
  bench.add_argument(
      "--devices",
      type=int,
      default=4,
      help="forced host devices for the scaling rows (XLA_FLAGS, in subprocesses); the rows "
      "run on 1 device and on 2, 4, ... up to N (default 4)",
  )
  bench.add_argument(
      "--sweeps",
      metavar="NAMES",
      help="scaling: run only these sweeps (comma-separated among N, S, D), without the "
      "processes row; default every sweep and the processes row",
  )
  return parser


def main(argv: list[str] | None = None) -> int:
  """Runs the command line with `argv` (default sys.argv[1:]); returns the exit status."""
  parser = _parser()
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  if args.command == "demo":
    from jaxlime import demo

    if args.num_samples < 2:
      parser.error(f"--num-samples must be at least 2; got {args.num_samples}")
    demo.main(out=args.out, num_samples=args.num_samples)
    return 0
  if args.command == "bench":
    from jaxlime import bench
    from jaxlime.bench import harness

    if args.devices < 1:
      parser.error(f"--devices must be at least 1; got {args.devices}")
    try:
      names = bench.names_from(args.only)
    except ValueError as error:
      parser.error(str(error))
    sweeps = None
    if args.sweeps is not None:
      sweeps = tuple(name.strip() for name in args.sweeps.split(",") if name.strip())
      unknown = sorted(set(sweeps) - {"N", "S", "D"})
      if unknown or not sweeps:
        parser.error(f"--sweeps takes names among N, S, D; got {args.sweeps!r}")
      if "scaling" not in names:
        parser.error("--sweeps selects scaling sweeps; add scaling to --only")
    options = harness.Options(quick=args.quick, out=args.out, devices=args.devices, sweeps=sweeps)
    bench.run(names, options, command=bench.command_line())
    return 0
  parser.print_help()
  return 2


def entry_point():
  """The `jaxlime` console script."""
  sys.exit(main())
