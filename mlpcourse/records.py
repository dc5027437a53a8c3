"""Where the TA's grading pipeline keeps what it found about each submission.

``build/submissions/<assignment>/`` holds ``collect.json`` (what the LMS archive
contained), the class tamper report (``tamper.md``, ``tamper.json``) and one folder
per student with ``repair.json`` (what was repaired in the upload), ``run.json``
(what the contained run did, written by :mod:`mlpcourse.containment.contain`) and
``tamper.json`` (:mod:`mlpcourse.grading.tamper`). Nothing here reaches students.
"""

import json
import pathlib

from mlpcourse import paths

RECORDS = pathlib.Path(paths.BUILD_DIRECTORY) / "submissions"
# Repaired copies of the uploads, laid out as nbgrader's submitted/ folder.
REPAIRED = pathlib.Path(paths.BUILD_DIRECTORY) / "repaired"


def folder(course_dir, assignment, student=None):
    """``build/submissions/<assignment>[/<student>]`` under ``course_dir``."""
    base = pathlib.Path(course_dir) / RECORDS / assignment
    return base / student if student else base


def write(path, data):
    """Write ``data`` as indented JSON with sorted keys, creating the folder; return the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def read(path, default=None):
    """The JSON in ``path``, or ``default`` if there is none."""
    path = pathlib.Path(path)
    return json.loads(path.read_text()) if path.exists() else default
