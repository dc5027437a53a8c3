"""Graded classes shared by the demo, grading, export and report tests.

Grading the demo class takes about a minute, so it runs once per test session, through
``make demo COURSE_DIR=...`` as the README tells instructors, and every module that
needs it gets the same course directory (read it, never change it: copy it first).
"""

import os
import pathlib
import shutil
import subprocess

import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook, release
from mlpcourse.grading import coursedir, demo

_DEMO = {}

# A submission nbgrader cannot read: the class tools must report it, not stop.
BROKEN_STUDENT = "dan"
BROKEN_NOTEBOOK = '{"cells": [ this is not JSON'


def graded_demo(tmp_path_factory, kannada_cache):
    """``(course_dir, scores)``: the demo class (ada, ben, cy) graded by ``make demo``.

    ``scores`` is ``{student: {grade_id: (score, max_score)}}`` from the gradebook;
    :func:`demo_output` is what the command printed.
    """
    if not _DEMO:
        course = tmp_path_factory.mktemp("graded-demo") / "course"
        env = {**os.environ, asg01.DATA_CACHE_ENV: str(kannada_cache), "ASG01_TRAIN_SPLIT": "test",
               "KANNADA_MNIST_URL": "http://127.0.0.1:9/"}  # never the internet
        result = subprocess.run(["make", "demo", f"COURSE_DIR={course}"], cwd=paths.ROOT, env=env,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        _DEMO.update(course=course, scores=coursedir.cell_scores(course, asg01.NAME), stdout=result.stdout)
    return _DEMO["course"], _DEMO["scores"]


def demo_output(tmp_path_factory, kannada_cache):
    """What ``make demo`` printed while grading the shared demo class."""
    graded_demo(tmp_path_factory, kannada_cache)
    return _DEMO["stdout"]


def ungraded_class(destination):
    """A course with the demo's three submissions plus dan's unreadable one, not yet graded.

    Its gradebook holds the assignment (``nbgrader generate_assignment``) and no grades.
    """
    course = coursedir.make_course(destination)
    release_dir = release.generate(course, asg01.NAME)
    for student, nb in demo.submissions(notebook.read(release_dir / f"{asg01.NAME}.ipynb")).items():
        coursedir.submit(course, student, nb, asg01.NAME)
    broken = pathlib.Path(course) / "submitted" / BROKEN_STUDENT / asg01.NAME / f"{asg01.NAME}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text(BROKEN_NOTEBOOK)
    return pathlib.Path(course)


def copy_course(course, destination):
    """A copy of a course directory (gradebook, submitted, autograded and all)."""
    shutil.copytree(course, destination)
    return pathlib.Path(destination)
