"""nbgrader's gradebook: every read of it, and the writes that complement autograde, in one place.

The assignment's definition, as ``nbgrader generate_assignment`` recorded it, is read
through :func:`definition` by the grading steps that restore, judge and show a
submission against it (the contained run, the markup sanitiser, the feedback).

Every command that needs a student's grades reads them through :func:`submissions`:
the demo's table, ``cell_grades.csv``, the class report, the late-work list, the LMS
return, and the check that class grading merged what its workers graded. One query
with one meaning of each number keeps them from disagreeing on, say, whether a
manual score replaces the autograded one or how a late penalty counts. The scores
follow nbgrader's own rules (``Grade.score``, ``nbgrader export``'s total), so
``nbgrader export`` and these commands agree.

Two writes complete what ``nbgrader autograde`` writes: class grading grades each
student in a worker's scratch gradebook, then :func:`merge` writes that student's
:class:`Submission` into the course's gradebook as autograde would have; and
:func:`zero` records an upload that could not be graded.
"""

import dataclasses
import datetime

from nbgrader.api import Gradebook, MissingEntry

from mlpcourse import paths
from mlpcourse.authoring import notebook


@dataclasses.dataclass(frozen=True)
class DefinedCell:
    """A cell of the instructor's notebook as the gradebook records it (hidden tests included)."""

    source: str
    locked: bool
    test: bool  # a code grade cell: nbgrader scores it


def definition(db_url, assignment, notebook_name):
    """``{grade_id: DefinedCell}``: the gradebook's record of every graded, locked or answer cell."""
    with Gradebook(db_url) as gradebook:
        recorded = gradebook.find_notebook(notebook_name, assignment)
        tests = {cell.name for cell in recorded.grade_cells if cell.cell_type == "code"}
        return {cell.name: DefinedCell(cell.source or "", bool(cell.locked), cell.name in tests)
                for cell in recorded.source_cells}


@dataclasses.dataclass(frozen=True)
class CellGrade:
    """One grade cell of one submitted notebook."""

    score: float  # nbgrader's Grade.score: the manual score where a grader gave one, else the autograded
    max_score: float
    auto_score: float | None  # None until the cell is autograded
    needs_manual_grade: bool


@dataclasses.dataclass(frozen=True)
class NotebookResult:
    """One submitted notebook: its grades and autograder comments by grade id, and its late penalty."""

    grades: dict  # {grade_id: CellGrade}
    comments: dict  # {grade_id: str or None}, the autograder's comment
    late_penalty: float | None


@dataclasses.dataclass(frozen=True)
class Submission:
    """A student's submission of one assignment, as plain data (it crosses processes and Dask)."""

    student: str
    timestamp: datetime.datetime | None  # naive UTC, as nbgrader stores it
    extension: datetime.timedelta | None
    notebooks: dict  # {notebook name: NotebookResult}

    @property
    def grades(self):
        """``{grade_id: CellGrade}`` over all notebooks."""
        return {name: grade for nb in self.notebooks.values() for name, grade in nb.grades.items()}

    @property
    def late_penalty(self):
        """The notebooks' late penalties summed, as nbgrader's ``SubmittedAssignment`` sums them."""
        return sum(nb.late_penalty or 0.0 for nb in self.notebooks.values())

    @property
    def needs_manual_grade(self):
        """Whether a grader still has to score some cell (a written answer, or a changed score to review)."""
        return any(grade.needs_manual_grade for grade in self.grades.values())

    @property
    def total(self):
        """The cells' scores less the late penalty, at least 0: ``nbgrader export``'s ``score``."""
        return max(0.0, sum(grade.score for grade in self.grades.values()) - self.late_penalty)

    def points(self, grade_ids):
        """``(points, max points)`` of the autograded scores of ``grade_ids`` (an unscored cell counts 0)."""
        chosen = [grade for name, grade in self.grades.items() if name in grade_ids]
        return sum(grade.auto_score or 0.0 for grade in chosen), sum(grade.max_score for grade in chosen)


def submissions(db_url, assignment, students=None):
    """``{student: Submission}`` for every submission of ``assignment`` in the gradebook.

    ``students``: only these (ids without a submission are left out).
    """
    found = {}
    with Gradebook(db_url) as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            if students is None or submission.student_id in students:
                found[submission.student_id] = _plain(submission)
    return found


def _plain(submission):
    notebooks = {
        nb.name: NotebookResult(
            grades={g.name: CellGrade(float(g.score), float(g.max_score),
                                      None if g.auto_score is None else float(g.auto_score),
                                      bool(g.needs_manual_grade))
                    for g in nb.grades},
            comments={c.name: c.auto_comment for c in nb.comments},
            late_penalty=nb.late_submission_penalty)
        for nb in submission.notebooks}
    return Submission(submission.student_id, submission.timestamp, submission.extension, notebooks)


def student_ids(db_url):
    """Every student in the gradebook, sorted by id (with or without a submission)."""
    with Gradebook(db_url) as gradebook:
        return sorted(student.id for student in gradebook.students)


def due_date(db_url, assignment):
    """The assignment's due date recorded in the gradebook (naive UTC), or None; None if it is not there."""
    with Gradebook(db_url) as gradebook:
        try:
            return gradebook.find_assignment(assignment).duedate
        except MissingEntry:
            return None


def grade_cells(course_dir, db_url, assignment):
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
    with Gradebook(db_url) as gradebook:
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
    for path in sorted(paths.course_folder(course_dir, paths.SOURCE_DIRECTORY, assignment).glob("*.ipynb")):
        for cell in notebook.read(path).cells:
            if notebook.grade_id(cell):
                order[(path.stem, notebook.grade_id(cell))] = len(order)
    return order


def merge(db_url, submission, assignment):
    """Write a student's autograded ``submission`` (read from another gradebook) into ``db_url``.

    Does what nbgrader's autograde does to the gradebook: creates the student and
    the submission if needed, sets every autograded score and comment, and keeps a
    manual score a grader already gave (the grade is then flagged for review).
    """
    with Gradebook(db_url) as gradebook:
        gradebook.update_or_create_student(submission.student)
        extra = {"timestamp": submission.timestamp} if submission.timestamp else {}
        # nbgrader's add_submission builds its rows before adding them to the session, which
        # SQLAlchemy's autoflush warns about. (warnings.catch_warnings is not thread-safe.)
        with gradebook.db.no_autoflush:
            gradebook.update_or_create_submission(assignment, submission.student, **extra)
        for name, result in submission.notebooks.items():
            nb = gradebook.find_submission_notebook(name, assignment, submission.student)
            nb.late_submission_penalty = result.late_penalty
            for grade in nb.grades:
                new = result.grades[grade.name]
                grade.auto_score = new.auto_score
                grade.needs_manual_grade = grade.manual_score is not None or new.needs_manual_grade
            for comment in nb.comments:
                comment.auto_comment = result.comments[comment.name]
        gradebook.db.commit()


def zero(db_url, student, assignment, reason):
    """Record a submission of ``student`` that could not be graded: every cell 0, ``reason`` as each comment."""
    with Gradebook(db_url) as gradebook:
        gradebook.update_or_create_student(student)
        with gradebook.db.no_autoflush:  # nbgrader adds rows late: SQLAlchemy would warn
            submission = gradebook.update_or_create_submission(assignment, student)
        for nb in submission.notebooks:
            for grade in nb.grades:
                grade.auto_score = 0.0
                grade.needs_manual_grade = False
            for comment in nb.comments:
                comment.auto_comment = reason
        gradebook.db.commit()
