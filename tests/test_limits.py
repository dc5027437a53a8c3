"""Time limits derived from the reference solution's own run (mlpcourse.containment.limits)."""

import json
import subprocess
import sys

import nbformat
import pytest

import asg01
from mlpcourse import paths
from mlpcourse.containment import limits
from mlpcourse.grading import coursedir


def test_a_limit_is_a_multiple_of_the_reference_time_plus_a_floor():
    """Does each cell, and the whole notebook, get multiple * reference seconds + floor (whole seconds)?"""
    cells, total = limits.derive({"cells": {"train": 1.25, "test_relu_visible": 0.03}, "total": 4.81}, 20, 30)
    assert cells == {"train": 55, "test_relu_visible": 31} and total == 127


def test_committed_timings_were_measured_on_this_master():
    """Do the recorded timings belong to the master's current code (else `make check` says so)?"""
    assert limits.stale_reasons(paths.ROOT, asg01.NAME) == []
    timings = json.loads(limits.path(paths.ROOT, asg01.NAME).read_text())
    code_cells = {cell.metadata["nbgrader"]["grade_id"] for cell in nbformat.read(asg01.MASTER, as_version=4).cells
                  if cell.cell_type == "code"}
    assert set(timings["cells"]) == code_cells and timings["total"] > 0


def test_timings_go_stale_when_the_masters_code_changes(tmp_path):
    """Does changing a code cell of the master make the timings stale, naming the fix?"""
    course = coursedir.make_course(tmp_path / "course")
    master = course / "source" / asg01.NAME / f"{asg01.NAME}.ipynb"
    nb = nbformat.read(master, as_version=4)
    next(cell for cell in nb.cells if cell.cell_type == "code").source += "\n# changed"
    nbformat.write(nb, master)
    assert limits.stale_reasons(course, asg01.NAME) == [
        "timings.json was measured on another version of the master's code"]
    (course / "tests_assets" / asg01.NAME / "timings.json").unlink()
    assert limits.stale_reasons(course, asg01.NAME) == ["timings.json is missing"]


@pytest.mark.slow
def test_release_measures_the_timings_again_when_the_master_changed(course):
    """Does `mlpcourse release` time the reference's graded run again after a code change, and only then?"""
    master = course / "source" / asg01.NAME / f"{asg01.NAME}.ipynb"
    nb = nbformat.read(master, as_version=4)
    next(cell for cell in nb.cells if cell.cell_type == "code").source += "\n# changed"
    nbformat.write(nb, master)
    release = [sys.executable, "-m", "mlpcourse", "release", "--course-dir", str(course)]
    first = subprocess.run(release, capture_output=True, text=True, env=coursedir.environment())
    assert first.returncode == 0 and "timing the reference" in first.stdout, first.stdout + first.stderr
    assert limits.stale_reasons(course, asg01.NAME) == []
    timings = json.loads(limits.path(course, asg01.NAME).read_text())
    assert timings["cells"]["train"] > 0 and timings["total"] >= sum(timings["cells"].values()) - 0.1
    again = subprocess.run(release, capture_output=True, text=True, env=coursedir.environment())
    assert again.returncode == 0 and "timing the reference" not in again.stdout
