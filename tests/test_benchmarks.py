"""The benchmark scripts run end to end on tiny sizes (a smoke test: nothing here is timed)."""

import json
import subprocess
import sys

import pytest

from mlpcourse import assignment, paths
from mlpcourse.grading import coursedir

BENCHMARKS = paths.ROOT / "benchmarks"


@pytest.mark.slow
def test_epoch_benchmark_runs_on_a_tiny_epoch(grading_env, tmp_path):
    """Does benchmarks/epoch.py print its table and write ratios, GFLOP/s and accuracies as JSON?"""
    output = tmp_path / "epoch.json"
    result = subprocess.run([sys.executable, str(BENCHMARKS / "epoch.py"), "--rows", "2048", "--repeats", "1",
                             "--epochs", "1", "--json", str(output)], capture_output=True, text=True, check=True)
    report = json.loads(output.read_text())
    assert report["network"]["sizes"] == [784, 256, 128, 10]  # the notebook's design cell
    assert report["network"]["batch_size"] == 1024 and report["network"]["momentum"] == 0.9
    assert report["data"].startswith("STAND-IN data:")
    for dtype in ("float64", "float32"):
        entry = report["results"][dtype]
        assert entry["reference"]["parameters_dtype"] == dtype  # float32 stays float32 through training
        assert 0 <= entry["reference"]["accuracy"] <= 1 and entry["floor"]["gflops"] > 0
        assert entry["ratios"]["reference/floor"] > 0
        parts = entry["breakdown"]  # matrix products + gather + the rest add up to the reference's epoch
        assert parts["batch gather"] == entry["gather"]["seconds"] > 0
        assert sum(parts.values()) == pytest.approx(entry["reference"]["seconds"])
        assert (entry["torch"] is None) == report["torch"].startswith("skipped")
    assert "reference/floor" in result.stdout and f"wrote {output}" in result.stdout


@pytest.mark.slow
def test_grading_benchmark_runs_on_one_blank_submission(grading_env, tmp_path):
    """Does benchmarks/grading.py time an autograde in parts, a class beside its floor, and write JSON?"""
    output = tmp_path / "grading.json"
    result = subprocess.run([sys.executable, str(BENCHMARKS / "grading.py"), "--students", "1", "--workers", "1",
                             "--no-dask", "--mix", "cy", "--repeats", "1", "--rounds", "2", "--json", str(output)],
                            capture_output=True, text=True, check=True, env=coursedir.environment())
    report = json.loads(output.read_text())
    one = report["one_submission"]
    parts = ("nbgrader_start", "kernel_start", "test_cells", "training_cell", "other_cells")
    assert all(one[part] > 0 for part in parts)
    assert one["wall"] == pytest.approx(sum(one[part] for part in parts) + one["nbgrader_rest"])
    run = report["parallel"][0]
    assert run["graded"] == 1 and run["speedup"] == 1
    # The floor (the notebook in a plain kernel) beside grade, and grade's time in steps.
    assert 0 < run["floor"]["seconds"] < run["seconds"] and run["ratio"] == run["seconds"] / run["floor"]["seconds"]
    assert run["floor"]["phases"]["cells"] > 0 and run["phases"]["cells"] > 0 and run["phases"]["feedback"] > 0
    assert 0.5 * run["seconds"] < sum(run["phases"].values()) < 1.1 * run["seconds"]
    assert f"{run['ratio']:.2f}x" in result.stdout and "where grade's time goes" in result.stdout
    # Two rounds of the floor then grade: the best of each side is kept, and every round is shown.
    assert len(run["rounds"]) == 2 and run["seconds"] == min(r["grade"] for r in run["rounds"])
    assert run["floor"]["seconds"] == min(r["floor"] for r in run["rounds"])
    assert "W=1: the best of 2 rounds of the floor then grade" in result.stdout
    assert report["dask_skipped"] == "--no-dask"
    assert "autograde of one complete submission (cy)" in result.stdout
    # A softmax that never returns, ignoring SIGINT and SIGALRM, costs its own cells and training, in under 3 min.
    hung = report["hung_submission"]
    assert [h["function"] for h in hung["hung"]] == ["softmax"] and hung["wall"] < 180
    softmax = assignment.load().functions["softmax"]
    assert hung["lost"] == sorted([*softmax.tests, "test_training"])


def test_make_bench_runs_both_scripts():
    """Does `make bench` run the two benchmark scripts (checked with make -n, nothing is run)?"""
    result = subprocess.run(["make", "-n", "bench"], cwd=paths.ROOT, capture_output=True, text=True, check=True)
    assert "benchmarks/epoch.py" in result.stdout and "benchmarks/grading.py" in result.stdout
