"""The `jaxlime` command line: --help, `jaxlime demo` and `jaxlime bench --quick`'s JSON schema.

The commands run in subprocesses (`python -m jaxlime`, this checkout first on PYTHONPATH), as a
user runs them; the console script's target is checked against pyproject.toml.
"""

import json
import math
import os
import pathlib
import subprocess
import sys
import tomllib

import pytest

from jaxlime import bench
from jaxlime import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
BENCHMARKS = ("tabular", "image", "text", "kernel_shap", "pdp", "compat", "scaling")


def _jaxlime(args: list[str], env: dict | None = None, timeout: float = 600):
  """Runs `python -m jaxlime ARGS` on this checkout; the completed process."""
  env = dict(os.environ if env is None else env)
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
  return subprocess.run(
      [sys.executable, "-m", "jaxlime", *args],
      env=env,
      capture_output=True,
      text=True,
      timeout=timeout,
  )


def _no_nan_constant(name: str):
  raise ValueError(f"bench.json holds {name}: JSON has no NaN or infinity")


def _load(path: pathlib.Path) -> dict:
  return json.loads(path.read_text(), parse_constant=_no_nan_constant)


def _is_positive(value) -> bool:
  return (
      isinstance(value, (int, float))
      and not isinstance(value, bool)
      and math.isfinite(value)
      and value > 0
  )


def _check_types(block: dict, fields: dict, where: str):
  for key, kind in fields.items():
    assert key in block, f"{where}: missing {key!r}"
    assert isinstance(block[key], kind), f"{where}: {key!r} is {block[key]!r}, not {kind}"


def check_bench_json(results: dict, names: tuple[str, ...], out: pathlib.Path):
  """The schema of bench.json, written out: required keys and types, the machine block, every
  row's timing fields finite and positive, the derived ratios, the figures on disk."""
  _check_types(
      results,
      dict(
          schema_version=int,
          command=str,
          date=str,
          quick=bool,
          options=dict,
          machine=dict,
          load_average_start=list,
          load_average_end=list,
          wall_seconds=float,
          benchmarks=dict,
          rows=list,
      ),
      "bench.json",
  )
  assert results["schema_version"] == bench.SCHEMA_VERSION
  assert results["quick"] is True
  assert _is_positive(results["wall_seconds"])

  machine = results["machine"]
  _check_types(
      machine,
      dict(
          cpu_count=int,
          cpu=str,
          platform=str,
          python=str,
          backend=str,
          devices=list,
          versions=dict,
          load_average=list,
      ),
      "machine",
  )
  assert machine["cpu_count"] >= 1 and machine["devices"], machine
  for name in ("jax", "jaxlib", "flax", "numpy"):
    assert isinstance(machine["versions"][name], str), (name, machine["versions"])
  for name in ("lime", "shap", "captum"):  # A peer's version, or None when not installed.
    assert name in machine["versions"], name
    assert machine["versions"][name] is None or isinstance(machine["versions"][name], str)

  assert list(results["benchmarks"]) == list(names)
  for name, block in results["benchmarks"].items():
    _check_types(
        block,
        dict(wall_seconds=float, settings=dict, notes=list, figures=list),
        f"benchmark {name}",
    )
    assert _is_positive(block["wall_seconds"]), name
    assert all(isinstance(note, str) for note in block["notes"]), name
    for figure in block["figures"]:
      path = pathlib.Path(figure)
      assert path.parent.resolve() == out.resolve() and path.stat().st_size > 0, figure

  rows = results["rows"]
  for row in rows:
    where = f"row {row.get('benchmark')}/{row.get('case')}/{row.get('method')}"
    _check_types(row, dict(benchmark=str, case=str, method=str, role=str, n=int), where)
    assert row["benchmark"] in names, where
    assert row["case"] and row["method"], where
    assert row["role"] in ("jaxlime", "peer", "floor"), where
    assert row["n"] > 0, where
    for key in ("seconds", "seconds_per_item"):  # The timing fields.
      assert _is_positive(row.get(key)), f"{where}: {key} = {row.get(key)!r}"
    if row.get("compile_seconds") is not None:
      assert math.isfinite(row["compile_seconds"]), where
    if row["role"] == "jaxlime":
      assert isinstance(row["speedup"], dict), where
      assert all(_is_positive(x) for x in row["speedup"].values()), where
      assert row["over_floor"] is None or _is_positive(row["over_floor"]), where
  for name in names:
    ours = [row for row in rows if row["benchmark"] == name and row["role"] == "jaxlime"]
    assert ours, f"{name} has no jaxlime row"
    if name != "compat":  # compat compares with lime only: no floor.
      assert any(row["benchmark"] == name and row["role"] == "floor" for row in rows), name
      assert any(row["over_floor"] is not None for row in ours), name

  lines = [line for line in (out / "bench.md").read_text().splitlines() if line.startswith("| ")]
  assert lines[0].startswith("| benchmark | case | method |") and lines[1].startswith("| --- |")
  assert len(lines) == len(rows) + 2  # The header, its rule and one line per row.
  for line, row in zip(lines[2:], rows):
    assert line.startswith(f"| {row['benchmark']} | {row['case']} | {row['method']} |"), line


# ---- fast: the parser, the row check, the derived ratios ----


@pytest.mark.slow
def test_help_documents_both_commands():
  completed = _jaxlime(["--help"], timeout=120)
  assert completed.returncode == 0, completed.stderr
  for word in ("demo", "bench", "quickstart", "lime, shap, captum"):
    assert word in completed.stdout, word
  completed = _jaxlime(["bench", "--help"], timeout=120)
  assert completed.returncode == 0, completed.stderr
  for word in ("--quick", "--only", "--out", "--devices", "--sweeps", *BENCHMARKS):
    assert word in completed.stdout, word


def test_console_script_points_at_the_cli():
  project = tomllib.loads((ROOT / "pyproject.toml").read_text())
  module, function = project["project"]["scripts"]["jaxlime"].split(":")
  assert module == "jaxlime.cli" and getattr(cli, function) is cli.entry_point
  # The sentences of the text rows ship with the package.
  assert "sentiment.tsv" in project["tool"]["setuptools"]["package-data"]["jaxlime.bench"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "--only", "tabular,nope"], "unknown benchmark(s) ['nope']"),
        (["bench", "--devices", "0"], "--devices must be at least 1; got 0"),
        (["bench", "--sweeps", "S,Q"], "--sweeps takes names among N, S, D; got 'S,Q'"),
        (["bench", "--only", "text", "--sweeps", "S"], "add scaling to --only"),
        (["demo", "--num-samples", "1"], "--num-samples must be at least 2; got 1"),
    ],
)
def test_bad_flags_name_the_flag(args, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(args)
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err


def test_only_selects_in_harness_order():
  assert bench.names_from(None) == list(BENCHMARKS)
  assert bench.names_from(["stability"]) == ["stability"]  # Only on request.
  assert bench.names_from(["scaling", "text,tabular"]) == ["tabular", "text", "scaling"]


def test_sweeps_select_the_scaling_points():
  from jaxlime.bench import scaling

  points = scaling.sweep_points(False, ("S",))
  assert [point["s"] for point in points] == list(scaling.SWEEPS["S"]["values"])
  assert all(point["sweep"] == "S" and point["n"] == 200 for point in points)
  assert {point["sweep"] for point in scaling.sweep_points(True)} == {"N"}  # --quick: N only.


def test_check_row_rejects_bad_timings():
  row = dict(case="c", method="jaxlime", role="jaxlime", n=3, seconds=1.0, seconds_per_item=0.5)
  bench.check_row(row)
  for bad in (
      dict(seconds=float("nan")),
      dict(seconds_per_item=0.0),
      dict(seconds=-1.0),
      dict(n=0),
      dict(role="other"),
  ):
    with pytest.raises(ValueError, match=repr(next(iter(bad)))):
      bench.check_row(dict(row, **bad))


def test_derive_divides_within_a_case():
  def row(case, method, role, per_item, **extra):
    return dict(
        benchmark="b", case=case, method=method, role=role, seconds_per_item=per_item, **extra
    )

  rows = [
      row("a", "lime", "peer", 2.0),
      row("a", "jaxlime", "jaxlime", 0.5, floor="floor 2"),
      row("a", "floor 1", "floor", 0.1),
      row("a", "floor 2", "floor", 0.25),
      row("b", "jaxlime", "jaxlime", 1.0),
      row("b", "floor", "floor", 0.5),
  ]
  bench.derive(rows)
  assert rows[1]["speedup"] == {"lime": 4.0} and rows[1]["over_floor"] == 2.0
  assert rows[4]["speedup"] == {} and rows[4]["over_floor"] == 2.0
  assert "speedup" not in rows[0]


# ---- slow: the commands themselves ----


@pytest.mark.slow
def test_demo_explains_and_saves_its_figure(tmp_path):
  completed = _jaxlime(["demo", "--num-samples", "500", "--out", str(tmp_path)], timeout=300)
  assert completed.returncode == 0, completed.stderr
  assert "MLP test accuracy" in completed.stdout
  assert "Explained 114 instances" in completed.stdout
  assert completed.stdout.count("\nInstance ") == 3
  assert (tmp_path / "quickstart.png").stat().st_size > 0


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory):
  out = tmp_path_factory.mktemp("bench")
  completed = _jaxlime(["bench", "--quick", "--devices", "2", "--out", str(out)], timeout=900)
  assert completed.returncode == 0, completed.stderr[-5000:]
  return completed, out


@pytest.mark.slow
def test_bench_quick_writes_valid_json(quick_bench):
  completed, out = quick_bench
  results = _load(out / "bench.json")
  check_bench_json(results, BENCHMARKS, out)
  assert completed.stdout.startswith("Machine: ")  # The machine is printed first.
  assert "jax backend" in completed.stdout.splitlines()[1]
  scaling = [row for row in results["rows"] if row["benchmark"] == "scaling"]
  assert {row.get("devices") for row in scaling if row["method"] == "jaxlime"} == {2}
  processes = [row for row in scaling if row["case"].startswith("processes")]
  assert len(processes) == 2
  assert all(row["max_abs_coef_difference"] < 1e-4 for row in processes), processes
  assert (out / "scaling.png").exists() and (out / "tabular.png").exists()


@pytest.mark.slow
def test_bench_quick_rows_match_the_installed_peers(quick_bench):
  _, out = quick_bench
  results = _load(out / "bench.json")
  peers = {(row["benchmark"], row["method"]) for row in results["rows"] if row["role"] == "peer"}
  notes = " ".join(note for block in results["benchmarks"].values() for note in block["notes"])
  for name, benchmark in (("lime", "tabular"), ("shap", "kernel_shap"), ("captum", "image")):
    installed = results["machine"]["versions"][name] is not None
    assert ((benchmark, name) in peers) == installed, (name, peers)
    assert (f"{name} " in notes and "not installed" in notes) != installed, (name, notes)


@pytest.mark.slow
def test_bench_runs_without_peers(tmp_path):
  """lime, shap and captum made unimportable: their rows are skipped with notes, the run
  succeeds and its JSON validates."""
  hidden = tmp_path / "hidden"
  for name in ("lime", "shap", "captum"):
    (hidden / name).mkdir(parents=True)
    (hidden / name / "__init__.py").write_text(f"raise ImportError('{name} hidden by the test')\n")
  env = dict(
      os.environ, PYTHONPATH=os.pathsep.join([str(hidden), os.environ.get("PYTHONPATH", "")])
  )
  out = tmp_path / "out"
  completed = _jaxlime(
      ["bench", "--quick", "--only", "image,kernel_shap", "--out", str(out)], env=env, timeout=600
  )
  assert completed.returncode == 0, completed.stderr[-5000:]
  results = _load(out / "bench.json")
  check_bench_json(results, ("image", "kernel_shap"), out)
  assert not [row for row in results["rows"] if row["role"] == "peer"]
  image_notes = " ".join(results["benchmarks"]["image"]["notes"])
  assert "lime is not installed" in image_notes and "captum (with torch) is not" in image_notes
  assert "shap is not installed" in " ".join(results["benchmarks"]["kernel_shap"]["notes"])
