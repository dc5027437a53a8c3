"""What the TA's grading pipeline found about each submission, as JSON records.

Their folder, :func:`mlpcourse.paths.records_folder` (``build/submissions/<assignment>/``),
holds ``collect.json`` (what the LMS archive contained), the class tamper report (``tamper.md``, ``tamper.json``) and one folder
per student with ``repair.json`` (what was repaired in the upload), ``run.json``
(what the contained run did, written by :mod:`mlpcourse.containment.contain`) and
``tamper.json`` (:mod:`mlpcourse.grading.tamper`). Nothing here reaches students.
"""

import json
import pathlib


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
