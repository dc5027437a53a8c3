"""Per-test grades: one row per student, one column per grade cell, from the gradebook.

``nbgrader export`` writes one total per student. A TA who wants to know *which*
tests a student lost points on, or to load the class into pandas, needs every grade
cell. ``python -m mlpcourse export-cells`` writes ``cell_grades.csv``::

    student_id,test_relu_visible,test_relu_hidden,...,q_bias_variance,auto_score,manual_score,score,max_score
    ada,2.0,3.0,...,0.0,65.0,0.0,65.0,100.0

Columns are the grade cells in notebook order (autograded tests and manually graded
answers alike), each holding nbgrader's ``Grade.score`` (the manual score where a
grader gave one, else the autograded score); then the totals. ``score`` equals the
``raw_score`` of ``nbgrader export``. Every student in the gradebook has a row; a
student without a submission has empty cells and zero totals, as in ``nbgrader export``.
``pandas.read_csv(path, index_col="student_id")`` reads it back.
"""

import csv
import pathlib

from mlpcourse import gradebook
from mlpcourse.grading import coursedir

# ``score`` is as nbgrader export gives it: the cells' sum less the late penalty, at least 0.
TOTAL_COLUMNS = ("auto_score", "manual_score", "late_penalty", "score", "max_score")


def grade_cells(course_dir, db_url=None, *, assignment):
    """The assignment's grade cells in notebook order (:func:`mlpcourse.grading.gradebook.grade_cells`)."""
    return gradebook.grade_cells(course_dir, db_url or coursedir.default_db_url(course_dir), assignment)


def rows(course_dir, db_url=None, *, assignment):
    """One dict per student: ``student_id``, a score per grade cell, then the totals.

    Returns
    -------
    columns : list of str
        ``student_id``, the grade ids in notebook order, then ``TOTAL_COLUMNS``.
    table : list of dict
        One per student in the gradebook, sorted by id. A cell's value is a float,
        or None when the student has no submission.
    """
    db_url = db_url or coursedir.default_db_url(course_dir)
    cells = grade_cells(course_dir, db_url, assignment=assignment)
    max_score = sum(c["max_score"] for c in cells)
    kinds = {c["grade_id"]: c["kind"] for c in cells}
    submitted = gradebook.submissions(db_url, assignment)
    table = []
    for student in gradebook.student_ids(db_url):
        submission = submitted.get(student)
        grades = submission.grades if submission else {}
        row = {"student_id": student, **{name: grades[name].score if name in grades else None for name in kinds}}
        scores = {kind: sum(row[g] or 0.0 for g, k in kinds.items() if k == kind) for kind in ("auto", "manual")}
        penalty = submission.late_penalty if submission else 0.0
        row.update(auto_score=scores["auto"], manual_score=scores["manual"], late_penalty=penalty,
                   score=max(0.0, scores["auto"] + scores["manual"] - penalty), max_score=max_score)
        table.append(row)
    return ["student_id", *(c["grade_id"] for c in cells), *TOTAL_COLUMNS], table


def export(course_dir, destination=None, db_url=None, *, assignment):
    """Write the per-cell grades as CSV; return its path.

    Parameters
    ----------
    course_dir : path
        The nbgrader course directory.
    destination : path, optional
        Default: ``course_dir/cell_grades.csv``.
    db_url : str, optional
        The gradebook (default: ``course_dir/gradebook.db``).
    """
    destination = pathlib.Path(destination or pathlib.Path(course_dir) / "cell_grades.csv")
    columns, table = rows(course_dir, db_url, assignment=assignment)
    with open(destination, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in table:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return destination
