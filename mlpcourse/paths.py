"""Where things live in the course repository.

Everything is relative to the repository root, which is also nbgrader's course
directory (``nbgrader_config.py`` sits there).
"""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent

# A course directory has a folder per step of nbgrader's (the defaults of its
# CourseDirectory.*_directory): <step>/<assignment>/ for the instructor's steps,
# <step>/<student>/<assignment>/ for the students' (see course_folder).
SOURCE_DIRECTORY = "source"
RELEASE_DIRECTORY = "release"
SUBMITTED_DIRECTORY = "submitted"
AUTOGRADED_DIRECTORY = "autograded"
FEEDBACK_DIRECTORY = "feedback"
# Hidden material, <hidden>/<assignment>/: read by hidden test cells at grading time, never
# released (nbgrader releases every other file under source/).
HIDDEN_DIRECTORY = "tests_assets"
# Where nbgrader's zip collect step, and our collect, keep the LMS's archives.
DOWNLOADED_DIRECTORY = "downloaded"
# What the course's own tools write (records, reports, repaired uploads); never committed.
BUILD_DIRECTORY = "build"
# The grading pipeline's records of each submission (mlpcourse.records), per assignment.
RECORDS = pathlib.Path(BUILD_DIRECTORY) / "submissions"
# Repaired copies of the uploads, laid out as nbgrader's submitted/ folder.
REPAIRED = pathlib.Path(BUILD_DIRECTORY) / "repaired"


def course_folder(course_dir, step, assignment, student=None):
    """``<course_dir>/<step>/[<student>/]<assignment>``: the assignment's folder at ``step``
    (one of the ``*_DIRECTORY`` names above)."""
    parts = (step, assignment) if student is None else (step, student, assignment)
    return pathlib.Path(course_dir).joinpath(*parts)


def course_notebook(course_dir, step, assignment, student=None):
    """The assignment's notebook (``<assignment>.ipynb``) in :func:`course_folder`."""
    return course_folder(course_dir, step, assignment, student) / f"{assignment}.ipynb"


def records_folder(course_dir, assignment, student=None):
    """``build/submissions/<assignment>[/<student>]`` under ``course_dir``: the pipeline's records."""
    base = pathlib.Path(course_dir) / RECORDS / assignment
    return base / student if student else base

