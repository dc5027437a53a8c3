"""Time limits sized to the reference solution's own run.

``python -m mlpcourse release`` grades the complete submission (the release with the
master's solutions pasted in) through the contained autograde, in a scratch copy of
the course with generous limits, and records how long each cell took there (for a
test, the longer of the kernel's run and the grader's re-run) in
``tests_assets/<assignment>/timings.json``, with a digest of the master's code cells.

:class:`mlpcourse.containment.contain.ContainedExecute` derives each cell's limit from it,
``limit_multiple * seconds + limit_floor``, and the notebook's budget likewise from
the total: a student's endless loop costs a small multiple of what the reference
needs, not a guess; the floor absorbs a slower machine's fixed costs. ``make check``
reports timings recorded for another master.
"""

import hashlib
import json
import math
import pathlib
import tempfile

from mlpcourse import paths, records
from mlpcourse.authoring import notebook
from mlpcourse.grading import coursedir

TIMINGS = "timings.json"
# Limits of the measuring run itself: far above what the reference needs.
MEASURING_LIMITS = ["--ContainedExecute.timeout=900", "--ContainedExecute.test_timeout=300",
                    "--ContainedExecute.total_timeout=3600", "--ContainedExecute.timings_file="]


def path(course_dir, assignment):
    """Where the timings of ``assignment`` live (never released)."""
    return paths.course_folder(course_dir, paths.HIDDEN_DIRECTORY, assignment) / TIMINGS


def master_digest(nb):
    """A digest of the master's code cells (grade ids and sources): what the timings were measured on."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(f"{notebook.grade_id(cell)}\0{cell.source}\0".encode())
    return digest.hexdigest()


def measure(course_dir, assignment):
    """Grade the complete submission in a scratch course; return ``{"cells": {grade_id: s}, "total": s}``."""
    master = notebook.read(paths.course_notebook(course_dir, paths.SOURCE_DIRECTORY, assignment))
    with tempfile.TemporaryDirectory(prefix="mlpcourse-timings-") as scratch:
        course = coursedir.make_course(pathlib.Path(scratch) / "course", source_root=course_dir)
        coursedir.nbgrader("generate_assignment", assignment, "--force", course_dir=course)
        release = notebook.read(paths.course_notebook(course, paths.RELEASE_DIRECTORY, assignment))
        coursedir.submit(course, "reference", notebook.solved(release, master), assignment)
        coursedir.nbgrader("autograde", assignment, *MEASURING_LIMITS, course_dir=course)
        run = records.read(paths.records_folder(course, assignment, "reference") / "run.json")
    cells = {entry["grade_id"]: round(max(entry.get("seconds", 0), entry.get("rerun_seconds", 0)), 2)
             for entry in run["cells"] if entry.get("grade_id")}
    return {"cells": cells, "total": round(sum(cells.values()), 2)}


def record(course_dir, assignment):
    """Measure the reference's run and write the timings file; return its path."""
    master = notebook.read(paths.course_notebook(course_dir, paths.SOURCE_DIRECTORY, assignment))
    timings = {"generated_by": "python -m mlpcourse release (do not edit)", "master": master_digest(master),
               **measure(course_dir, assignment)}
    target = path(course_dir, assignment)
    target.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n")
    return target


def stale_reasons(course_dir, assignment):
    """Why the recorded timings do not fit the master (empty if they do)."""
    target = path(course_dir, assignment)
    if not target.exists():
        return [f"{target.name} is missing"]
    master = notebook.read(paths.course_notebook(course_dir, paths.SOURCE_DIRECTORY, assignment))
    if json.loads(target.read_text()).get("master") != master_digest(master):
        return [f"{target.name} was measured on another version of the master's code"]
    return []


def derive(timings, multiple, floor):
    """``({grade_id: limit}, total budget)`` in whole seconds from recorded ``timings``."""
    def limit(seconds):
        return math.ceil(multiple * seconds + floor)

    return {grade_id: limit(seconds) for grade_id, seconds in timings["cells"].items()}, limit(timings["total"])
