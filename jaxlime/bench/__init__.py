"""`jaxlime bench`: jaxlime side by side with lime, shap and captum, on this machine.

One harness, one command line (`jaxlime bench --help`). Each benchmark is a module of this
package with one entry point

    run(options: harness.Options) -> dict

where `options` carries `quick` (CI-sized runs), `out` (the output directory, for figures) and
`devices` (forced host devices for the scaling rows), and the returned dict holds:

* "rows": a list of JSON-serialisable dicts, one per timed method, with at least
  - "case" (str): what is explained, e.g. "default" or "cnn";
  - "method" (str): e.g. "jaxlime", "lime", "model floor";
  - "role" (str): "jaxlime", "peer" (lime, shap, captum, scikit-learn) or "floor" (the model
    alone on the same rows: what no explainer can beat);
  - "n" (int > 0): items (instances, images, texts, features) in the timing;
  - "seconds" (float > 0): wall seconds of those n items;
  and optionally "seconds_per_item" (default seconds / n; a peer timed item by item reports its
  median), "compile_seconds" (a jaxlime first call minus its steady time), "floor" (the method
  of the floor row to divide by, when a case has several) and "note" (str), plus any other
  JSON-serialisable field (CPU seconds, peak memory, ...).
* "figures": paths of the figures it wrote into `options.out` (may be empty);
* optionally "settings" (sizes used), "notes" (e.g. a peer skipped because it is not installed)
  and "details" (anything else worth keeping in the JSON).

The harness adds "benchmark" to every row, checks it (`check_row`), and derives for jaxlime rows
"speedup" ({peer method: peer seconds per item / ours}) and "over_floor" (ours / the floor's),
within the same benchmark and case. It writes bench.json, bench.md (one table) and a figure per
benchmark that drew none. Peers are optional: a module skips a missing peer's rows with a note.

Adding a benchmark is one entry in `BENCHMARKS` (plus its line in `jaxlime bench --help`, in
jaxlime/cli.py, and its name in tests/test_cli.py's BENCHMARKS). A module whose entry point is
`run(quick: bool, out_dir: pathlib.Path) -> {"rows": [...], "figures": [...]}` (the stability
benchmark's) moves to jaxlime/bench/ (so it runs installed; models from `jaxlime.bench.models`,
not from examples/) and is adapted there with a lambda, e.g.

    "stability": lambda options: _load("stability").run(options.quick, options.out),

once its rows carry the row keys above. Work that needs a fresh process (forced host devices,
peak memory, a first call after import) goes through `harness.run_child`.
"""

import importlib
import json
import math
import os
import pathlib
import shlex
import sys
import time

from jaxlime.bench import harness

# Schema version of bench.json; raised when a key changes meaning.
SCHEMA_VERSION = 1
ROLES = ("jaxlime", "peer", "floor")


def _load(name: str):
  return importlib.import_module(f"jaxlime.bench.{name}")


def _module(name: str):
  return lambda options: _load(name).run(options)


# Name (for --only) -> run(options). Fresh-process benchmarks (compat, scaling) come last.
BENCHMARKS = {
    "tabular": _module("tabular"),
    "image": _module("image"),
    "text": _module("text"),
    "kernel_shap": _module("kernel_shap"),
    "pdp": _module("pdp"),
    "compat": _module("compat"),
    "scaling": _module("scaling"),
    "stability": lambda options: _load("stability").bench_run(options),
}
# Run only when named with --only: top-k Jaccard against model evaluations (issue 13's curve).
ON_REQUEST = ("stability",)


def check_row(row: dict):
  """Raises ValueError naming the field when a benchmark row does not follow the row schema."""
  for key, kind in (("case", str), ("method", str), ("role", str), ("n", int)):
    if not isinstance(row.get(key), kind):
      raise ValueError(f"bench row {row!r}: {key!r} must be a {kind.__name__}")
  if row["role"] not in ROLES:
    raise ValueError(f"bench row {row!r}: role must be one of {ROLES}; got {row['role']!r}")
  if row["n"] <= 0:
    raise ValueError(f"bench row {row!r}: n must be positive; got {row['n']}")
  for key in ("seconds", "seconds_per_item"):
    value = row.get(key)
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
      raise ValueError(f"bench row {row!r}: {key!r} must be a finite positive number; got {value}")


def derive(rows: list[dict]):
  """Adds "speedup" and "over_floor" to the jaxlime rows, in place (see the module docstring)."""
  for row in rows:
    if row["role"] != "jaxlime":
      continue
    group = [
        other
        for other in rows
        if other["benchmark"] == row["benchmark"] and other["case"] == row["case"]
    ]
    row["speedup"] = {
        other["method"]: other["seconds_per_item"] / row["seconds_per_item"]
        for other in group
        if other["role"] == "peer"
    }
    floors = [other for other in group if other["role"] == "floor"]
    if "floor" in row:
      floors = [other for other in floors if other["method"] == row["floor"]]
    row["over_floor"] = (
        row["seconds_per_item"] / floors[0]["seconds_per_item"] if len(floors) == 1 else None
    )


def _number(value: float | None, digits: int = 3) -> str:
  if value is None:
    return ""
  return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def markdown(results: dict) -> str:
  """bench.md: the machine, the command and one table of every row."""
  machine = results["machine"]
  versions = ", ".join(f"{name} {v}" for name, v in machine["versions"].items() if v is not None)
  lines = [
      f"# jaxlime bench{' (quick)' if results['quick'] else ''}",
      "",
      f"`{results['command']}`, {results['date']}, {results['wall_seconds']:.0f} s "
      f"({results['cpu_seconds']:.0f} CPU s, subprocesses included).",
      "",
      f"Machine: {machine['cpu_count']} cores, {machine['cpu']}, jax backend "
      f"{machine['backend']} ({len(machine['devices'])} device(s)); {versions}. Load average "
      f"{_loads(results['load_average_start'])} at start, {_loads(results['load_average_end'])} at "
      "end.",
      "",
      "| benchmark | case | method | N | s / item | items / s | compile s | speed-up | / floor "
      "| note |",
      "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | --- |",
  ]
  for row in results["rows"]:
    speedup = ", ".join(f"{x:.3g}x {peer}" for peer, x in row.get("speedup", {}).items())
    lines.append(
        f"| {row['benchmark']} | {row['case']} | {row['method']} | {row['n']:,} | "
        f"{_number(row['seconds_per_item'])} | {_number(1 / row['seconds_per_item'])} | "
        f"{_number(row.get('compile_seconds'), 2)} | {speedup} | "
        f"{_number(row.get('over_floor'), 2)} | {row.get('note', '')} |"
    )
  notes = [note for name in results["benchmarks"] for note in results["benchmarks"][name]["notes"]]
  if notes:
    lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
  lines += [
      "",
      "s / item: wall seconds per explanation (image, text: per image or text; pdp: per "
      "feature); compile s: a jaxlime first call minus its steady time; speed-up: the peer's "
      "seconds per item over jaxlime's; / floor: jaxlime's time over the model alone on the same "
      "rows.",
  ]
  return "\n".join(lines) + "\n"


def _loads(loads: list[float]) -> str:
  return "/".join(f"{load:.1f}" for load in loads)


def summary_figure(name: str, rows: list[dict], path: pathlib.Path) -> bool:
  """Draws one benchmark's seconds per item as horizontal bars (log scale); False without
  matplotlib."""
  if harness.peer("matplotlib") is None:
    return False
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  colors = dict(jaxlime="tab:blue", peer="tab:orange", floor="tab:gray")
  fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
  labels = [f"{row['case']} | {row['method']}" for row in rows]
  ax.barh(
      range(len(rows)),
      [row["seconds_per_item"] for row in rows],
      color=[colors[row["role"]] for row in rows],
  )
  ax.set_yticks(range(len(rows)), labels, fontsize=8)
  ax.invert_yaxis()
  ax.set(xscale="log", xlabel="seconds per item (log)", title=f"jaxlime bench: {name}")
  ax.grid(True, axis="x", which="both", alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return True


def run(names: list[str], options: harness.Options, command: str) -> dict:
  """Runs the benchmarks `names` in order; writes bench.json, bench.md and the figures into
  options.out and returns the results (the content of bench.json)."""
  start, start_cpu = time.perf_counter(), harness.cpu_seconds()
  options.out.mkdir(parents=True, exist_ok=True)
  machine = harness.machine_info()
  print_machine(machine)
  results = dict(
      schema_version=SCHEMA_VERSION,
      command=command,
      date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
      quick=options.quick,
      options=dict(only=names, out=str(options.out), devices=options.devices),
      machine=machine,
      load_average_start=list(os.getloadavg()),
      benchmarks={},
      rows=[],
  )
  for name in names:
    print(f"\n== {name} ==", flush=True)
    begin, begin_cpu = time.perf_counter(), harness.cpu_seconds()
    result = BENCHMARKS[name](options)
    rows = [dict(row, benchmark=name) for row in result["rows"]]
    for row in rows:
      row.setdefault("seconds_per_item", row.get("seconds", 0) / row["n"])
      check_row(row)
    figures = [str(path) for path in result.get("figures", [])]
    if rows and not figures:
      path = options.out / f"{name}.png"
      if summary_figure(name, rows, path):
        figures.append(str(path))
    results["benchmarks"][name] = dict(
        wall_seconds=time.perf_counter() - begin,
        cpu_seconds=harness.cpu_seconds() - begin_cpu,
        settings=result.get("settings", {}),
        notes=list(result.get("notes", [])),
        figures=figures,
        details=result.get("details", {}),
    )
    for note in results["benchmarks"][name]["notes"]:
      print(f"note: {note}", flush=True)
    results["rows"] += rows
  derive(results["rows"])
  results["load_average_end"] = list(os.getloadavg())
  results["wall_seconds"] = time.perf_counter() - start
  results["cpu_seconds"] = harness.cpu_seconds() - start_cpu
  table = markdown(results)
  (options.out / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
  (options.out / "bench.md").write_text(table)
  print("\n" + table)
  print(
      f"Wrote {options.out / 'bench.json'}, {options.out / 'bench.md'} and the figures "
      f"({results['wall_seconds']:.0f} s, {results['cpu_seconds']:.0f} CPU s)."
  )
  return results


def print_machine(machine: dict):
  """Prints the machine block: cores, CPU, jax backend and devices, versions."""
  memory = machine["memory_total_mb"]
  print(
      f"Machine: {machine['cpu_count']} cores, {machine['cpu']}"
      + ("" if memory is None else f", {memory / 1024:.1f} GB")
      + f"; {machine['platform']}, Python {machine['python']}"
  )
  print(f"jax backend {machine['backend']}, devices {', '.join(machine['devices'])}")
  print(
      "versions: "
      + ", ".join(f"{name} {v or 'not installed'}" for name, v in machine["versions"].items())
  )
  print(
      f"load average {_loads(machine['load_average'])}, "
      f"OPENBLAS_NUM_THREADS={machine['openblas_num_threads']}, XLA_FLAGS={machine['xla_flags']}, "
      f"JAXLIME_CACHE_DIR={machine['jaxlime_cache_dir']}",
      flush=True,
  )


def names_from(only: list[str] | None) -> list[str]:
  """The benchmarks selected by repeated or comma-separated --only values (all by default), in
  the harness's order; ValueError naming the unknown ones."""
  if not only:
    return [name for name in BENCHMARKS if name not in ON_REQUEST]
  wanted = {name.strip() for value in only for name in value.split(",") if name.strip()}
  unknown = sorted(wanted - set(BENCHMARKS))
  if unknown:
    raise ValueError(f"--only: unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")
  return [name for name in BENCHMARKS if name in wanted]


def command_line() -> str:
  """The command as typed (`jaxlime bench ...` or `python -m jaxlime bench ...`)."""
  program = pathlib.Path(sys.argv[0]).name
  head = ["python", "-m", "jaxlime"] if program == "__main__.py" else [program]
  return shlex.join(head + sys.argv[1:])
