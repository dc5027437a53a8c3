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

from nbgrader.api import Gradebook, MissingEntry

from mlpcourse import paths
from mlpcourse.authoring import notebook
from mlpcourse.grading import coursedir

# ``score`` is as nbgrader export gives it: the cells' sum less the late penalty, at least 0.
TOTAL_COLUMNS = ("auto_score", "manual_score", "late_penalty", "score", "max_score")


def grade_cells(course_dir, db_url=None, assignment=paths.ASSIGNMENT):
    """The assignment's grade cells in notebook order.

    Returns
    -------
    list of dict
        ``{"grade_id", "notebook", "max_score", "kind"}`` per grade cell, where
        ``kind`` is ``"auto"`` for a test cell nbgrader scores and ``"manual"`` for an
        answer a grader scores. Order: the source notebook's cell order.
    """
    order = _source_order(course_dir, assignment)
    cells = []
    with Gradebook(db_url or coursedir.default_db_url(course_dir)) as gradebook:
        for nb in gradebook.find_assignment(assignment).notebooks:
            answers = {cell.name for cell in nb.solution_cells}
            for cell in nb.grade_cells:
                # nbgrader scores test cells (code, not an answer); answers are graded by hand.
                autograded = cell.cell_type == "code" and cell.name not in answers
                cells.append({
                    "grade_id": cell.name,
                    "notebook": nb.name,
                    "max_score": float(cell.max_score),
                    "kind": "auto" if autograded else "manual",
                })
    return sorted(cells, key=lambda c: (c["notebook"], order.get((c["notebook"], c["grade_id"]), len(order))))


def _source_order(course_dir, assignment):
    """``{(notebook, grade_id): position}`` from the course's source notebooks."""
    order = {}
    for path in sorted((pathlib.Path(course_dir) / "source" / assignment).glob("*.ipynb")):
        for cell in notebook.read(path).cells:
            if notebook.grade_id(cell):
                order[(path.stem, notebook.grade_id(cell))] = len(order)
    return order


def rows(course_dir, db_url=None, assignment=paths.ASSIGNMENT):
    """One dict per student: ``student_id``, a score per grade cell, then the totals.

    Returns
    -------
    columns : list of str
        ``student_id``, the grade ids in notebook order, then ``TOTAL_COLUMNS``.
    table : list of dict
        One per student in the gradebook, sorted by id. A cell's value is a float,
        or None when the student has no submission.
    """
    cells = grade_cells(course_dir, db_url, assignment)
    max_score = sum(c["max_score"] for c in cells)
    kinds = {c["grade_id"]: c["kind"] for c in cells}
    table = []
    with Gradebook(db_url or coursedir.default_db_url(course_dir)) as gradebook:
        for student in sorted(gradebook.students, key=lambda s: s.id):
            row = {"student_id": student.id, **{c["grade_id"]: None for c in cells}}
            try:
                submission = gradebook.find_submission(assignment, student.id)
            except MissingEntry:
                submission = None
            for nb in submission.notebooks if submission else ():
                for grade in nb.grades:
                    if grade.name in kinds:
                        row[grade.name] = float(grade.score)
            scores = {kind: sum(row[g] or 0.0 for g, k in kinds.items() if k == kind) for kind in ("auto", "manual")}
            penalty = float(submission.late_submission_penalty or 0.0) if submission else 0.0
            row.update(auto_score=scores["auto"], manual_score=scores["manual"], late_penalty=penalty,
                       score=max(0.0, scores["auto"] + scores["manual"] - penalty), max_score=max_score)
            table.append(row)
    return ["student_id", *(c["grade_id"] for c in cells), *TOTAL_COLUMNS], table


def export(course_dir, destination=None, db_url=None, assignment=paths.ASSIGNMENT):
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
    columns, table = rows(course_dir, db_url, assignment)
    with open(destination, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in table:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return destination
