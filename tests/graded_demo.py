"""Graded classes shared by the grading, export and report tests.

Grading the demo class takes about a minute, so it runs once per test session and
every module that needs it gets the same course directory (read it, never change
it: copy it first).
"""

import pathlib
import shutil

import pytest

from mlpcourse import demo, grading, notebook, paths, release

_DEMO = {}

# A submission nbgrader cannot read: the class tools must report it, not stop.
BROKEN_STUDENT = "dan"
BROKEN_NOTEBOOK = '{"cells": [ this is not JSON'


def graded_demo(tmp_path_factory, kannada_cache):
    """``(course_dir, scores)``: the demo class (ada, ben, cy) graded by ``mlpcourse.demo.run``."""
    if not _DEMO:
        course = grading.make_course(tmp_path_factory.mktemp("graded-demo") / "course")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(paths.DATA_CACHE_ENV, str(kannada_cache))
            patch.setenv("ASG01_TRAIN_SPLIT", "test")
            patch.setenv("KANNADA_MNIST_URL", "http://127.0.0.1:9/")  # never the internet
            _DEMO["scores"] = demo.run(course, log=lambda line: None)
        _DEMO["course"] = course
    return _DEMO["course"], _DEMO["scores"]


def ungraded_class(destination):
    """A course with the demo's three submissions plus dan's unreadable one, not yet graded.

    Its gradebook holds the assignment (``nbgrader generate_assignment``) and no grades.
    """
    course = grading.make_course(destination)
    release_dir = release.generate(course)
    for student, nb in demo.submissions(notebook.read(release_dir / f"{paths.ASSIGNMENT}.ipynb")).items():
        grading.submit(course, student, nb)
    broken = pathlib.Path(course) / "submitted" / BROKEN_STUDENT / paths.ASSIGNMENT / f"{paths.ASSIGNMENT}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text(BROKEN_NOTEBOOK)
    return pathlib.Path(course)


def copy_course(course, destination):
    """A copy of a course directory (gradebook, submitted, autograded and all)."""
    shutil.copytree(course, destination)
    return pathlib.Path(destination)
