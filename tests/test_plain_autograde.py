"""Plain ``nbgrader autograde`` (no repair, no TA command) holds against the integrity attacks too.

The TA may grade with nbgrader's own command from the course folder; what protects
the grades must then live in what ``nbgrader_config.py`` installs (the contained
execution), not in the course's wrapper around it.
"""

import json
import pathlib
import sys

import pytest

import asg01
from mlpcourse import paths, records
from mlpcourse.authoring import notebook, release
from mlpcourse.containment import limits
from mlpcourse.grading import coursedir

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from hostile import integrity, kit  # noqa: E402

STUDENTS = {
    "honest": lambda ctx: ("asg01.ipynb", kit._bytes(ctx.solved())),
    "forger": integrity.forged_pre_run_cell,
    "mover": integrity.setup_moved_to_end,
    "shadower": integrity.given_function_shadowed,
}


@pytest.mark.slow
def test_plain_autograde_scores_verdicts_in_the_release_structure(tmp_path, kannada_cache, monkeypatch):
    """Does `nbgrader autograde` alone give forged outputs and moved cells nothing, and the honest student every test point?"""
    import nbformat

    # The cache is reached through a symbolic link, as a TA's often is: the kernel must still find it.
    (tmp_path / "cache").symlink_to(kannada_cache)
    monkeypatch.setenv("KANNADA_MNIST_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ASG01_TRAIN_SPLIT", "test")
    course = coursedir.make_course(tmp_path / "course")
    ctx = kit.Context(notebook.read(release.generate(course, asg01.NAME) / "asg01.ipynb"), notebook.read(asg01.MASTER), port=9)
    for student, build in STUDENTS.items():
        coursedir.submit(course, student, nbformat.reads(build(ctx)[1].decode(), as_version=4), asg01.NAME)
    coursedir.nbgrader("autograde", "asg01", course_dir=course)
    scores = coursedir.cell_scores(course, asg01.NAME)
    tests = {student: {g: s for g, (s, _) in cells.items() if g.startswith("test_")} for student, cells in scores.items()}
    full = {g: m for g, (_, m) in scores["honest"].items() if g.startswith("test_")}
    assert tests["honest"] == full
    assert not any(tests["forger"].values()) and not any(tests["mover"].values()), tests
    assert tests["shadower"] == {**full, "test_training": 0.0}
    # The limits the run used are the ones derived from the reference's recorded timings.
    run = records.read(paths.records_folder(course, "asg01", "honest") / "run.json")
    cells, total = limits.derive(json.loads(limits.path(course, asg01.NAME).read_text()), 20, 30)
    assert run["limits"] == {"cells": cells, "total": min(total, 1800)}
