"""The demo class: submissions that show the grading pipeline end to end.

The assignment's description (:mod:`mlpcourse.assignment`, its ``[[demo]]`` tables)
says who submits what. asg01's:

- ``ada`` submits the release with the master's solutions: full autograded marks;
- ``ben`` submits a partly wrong notebook: a softmax that is not shifted per row and
  an SGD left unwritten, everything else right;
- ``cy`` submits the release untouched: zero.

``python -m mlpcourse demo`` fills the dataset cache, generates the release, lays
these out in ``submitted/``, runs ``nbgrader autograde``, ``generate_feedback`` and
``export``, and prints a table.
"""

import copy
import csv
import pathlib

from mlpcourse import assignment, paths
from mlpcourse.authoring import notebook, release
from mlpcourse.grading import coursedir, dataset


def students(described=None):
    """The demo class's student ids, in the description's order (``described``: default the course's)."""
    return tuple(submission.student for submission in (described or assignment.load()).demo)


def submissions(release_nb, described=None):
    """The demo notebooks, by student id, as the description's ``[[demo]]`` tables say."""
    described = described or assignment.load()
    master = notebook.read(described.master)
    released = notebook.cells_by_grade_id(release_nb)
    notebooks = {}
    for submission in described.demo:
        nb = notebook.solved(release_nb, master) if submission.start == "solved" else copy.deepcopy(release_nb)
        cells = notebook.cells_by_grade_id(nb)
        for grade_id, source in submission.cells.items():
            cells[grade_id].source = source
        for grade_id in submission.unwritten:
            cells[grade_id].source = released[grade_id].source
        notebooks[submission.student] = nb
    return notebooks


def run(course_dir=paths.ROOT, log=print, name=None):
    """Generate, submit, autograde, give feedback and export ``name`` (default: the course's assignment) in ``course_dir``.

    Returns
    -------
    dict
        ``{student: {grade_id: (score, max_score)}}`` from the gradebook.

    Raises
    ------
    coursedir.CourseError
        Before grading anyone: ``course_dir`` cannot be written, or the dataset
        cannot be had (``dataset.DataUnavailable``).
    """
    course_dir = coursedir.writable_folder(course_dir)
    if not (course_dir / "nbgrader_config.py").exists():
        log(f"creating a course directory in {course_dir}")
        coursedir.make_course(course_dir)
    described = assignment.load(course_dir, name)
    if described.data:
        data = dataset.loader(course_dir, described.name)
        splits = dataset.grading_splits(data)
        log(f"checking the {data.DATASET} cache: training split {splits.train!r}, holdout split {splits.holdout!r}")
        dataset.prepare(course_dir, described.name, log=log)
    log("generating the release (nbgrader generate_assignment)")
    release_dir = release.generate(course_dir, described.name)
    release_nb = notebook.read(release_dir / described.notebook_name)
    for student, nb in submissions(release_nb, described).items():
        coursedir.submit(course_dir, student, nb, described.name)
    log(f"autograding {', '.join(students(described))} (nbgrader autograde)")
    coursedir.nbgrader("autograde", described.name, "--force", course_dir=course_dir)
    log("writing feedback (nbgrader generate_feedback)")
    coursedir.nbgrader("generate_feedback", described.name, "--force", course_dir=course_dir)
    coursedir.nbgrader("export", "--to", "grades.csv", course_dir=course_dir)
    log(f"grades exported to {course_dir / 'grades.csv'}")
    return coursedir.cell_scores(course_dir, described.name)


def table(scores, described=None):
    """A plain-text table: one row per student, autograded points per graded function (and other tests)."""
    groups = (described or assignment.load()).test_groups()
    header = ["student", *groups, "auto total"]
    rows = []
    for student in sorted(scores):
        cells = scores[student]
        row = [student]
        for grade_ids in groups.values():
            got = sum(cells[g][0] for g in grade_ids)
            full = sum(cells[g][1] for g in grade_ids)
            row.append(f"{got:g}/{full:g}")
        auto = [g for ids in groups.values() for g in ids]
        row.append(f"{sum(cells[g][0] for g in auto):g}/{sum(cells[g][1] for g in auto):g}")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(v).rjust(w) for v, w in zip(r, widths)) for r in [header, *rows])


def exported_totals(course_dir=paths.ROOT):
    """``{student: raw_score}`` as written by ``nbgrader export`` (grades.csv)."""
    with open(pathlib.Path(course_dir) / "grades.csv", newline="") as handle:
        return {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(handle)}
