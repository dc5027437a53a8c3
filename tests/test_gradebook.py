"""The one reader of the gradebook, against nbgrader's own arithmetic on a gradebook built with nbgrader's API."""

import datetime
import shutil

import pytest
from nbgrader.api import Gradebook

from mlpcourse import gradebook
from mlpcourse.grading import coursedir

ASSIGNMENT = "hw"
NOTEBOOK = "hw"
DUE = datetime.datetime(2027, 3, 5, 17, 0)


@pytest.fixture(scope="module")
def defined(tmp_path_factory):
    """A gradebook file holding ``hw``: a locked setup cell, a visible and a hidden test, a written answer."""
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", coursedir.search_path())  # nbgrader runs alembic when it creates a gradebook
        _define(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(defined, tmp_path):
    """A fresh copy of the defined gradebook."""
    return _copy(defined, tmp_path / "gradebook.db")


def _copy(source, destination):
    shutil.copyfile(source, destination)
    return f"sqlite:///{destination}"


def _define(url):
    with Gradebook(url) as book:
        book.update_or_create_assignment(ASSIGNMENT, duedate=DUE)
        book.add_notebook(NOTEBOOK, ASSIGNMENT)
        book.add_source_cell("setup", NOTEBOOK, ASSIGNMENT, cell_type="code", locked=True, source="import numpy")
        for name, points in (("test_visible", 2.0), ("test_hidden", 3.0)):
            book.add_grade_cell(name, NOTEBOOK, ASSIGNMENT, max_score=points, cell_type="code")
            book.add_source_cell(name, NOTEBOOK, ASSIGNMENT, cell_type="code", locked=True,
                                 source=f"### BEGIN HIDDEN TESTS\nassert {name}\n### END HIDDEN TESTS")
        book.add_grade_cell("answer", NOTEBOOK, ASSIGNMENT, max_score=5.0, cell_type="markdown")
        book.add_solution_cell("answer", NOTEBOOK, ASSIGNMENT)
        book.add_source_cell("answer", NOTEBOOK, ASSIGNMENT, cell_type="markdown", locked=False, source="YOUR ANSWER")
        for student in ("late", "on_time", "absent"):
            book.add_student(student)


def _submit(url, student, timestamp, auto, manual=None, penalty=0.0):
    """Record an autograded submission the way autograde leaves it, with an optional manual score."""
    with Gradebook(url) as book:
        book.update_or_create_student(student)
        with book.db.no_autoflush:
            submission = book.add_submission(ASSIGNMENT, student, timestamp=timestamp)
        for nb in submission.notebooks:
            nb.late_submission_penalty = penalty
            for grade in nb.grades:
                grade.auto_score = auto.get(grade.name)
                grade.needs_manual_grade = grade.name == "answer"
                if grade.name in (manual or {}):
                    grade.manual_score, grade.needs_manual_grade = manual[grade.name], False
            for comment in nb.comments:
                comment.auto_comment = f"{student} {comment.name}"
        book.db.commit()


def _graded_class(url):
    _submit(url, "late", DUE + datetime.timedelta(days=2), {"test_visible": 2.0, "test_hidden": 0.0},
            manual={"answer": 4.0}, penalty=1.2)
    _submit(url, "on_time", DUE - datetime.timedelta(hours=1), {"test_visible": 2.0, "test_hidden": 3.0})


def test_scores_and_totals_are_nbgraders(db_url):
    """Does every number the reader gives equal the one nbgrader's own models compute for it?"""
    _graded_class(db_url)
    found = gradebook.submissions(db_url, ASSIGNMENT)
    assert sorted(found) == ["late", "on_time"]  # no submission, no entry
    with Gradebook(db_url) as book:
        for student, submission in found.items():
            recorded = book.find_submission(ASSIGNMENT, student)
            assert submission.total == pytest.approx(max(0.0, recorded.score - recorded.late_submission_penalty))
            assert submission.late_penalty == pytest.approx(recorded.late_submission_penalty)
            assert submission.needs_manual_grade == recorded.needs_manual_grade
            assert submission.timestamp == recorded.timestamp
            for grade in (g for nb in recorded.notebooks for g in nb.grades):
                read = submission.grades[grade.name]
                assert (read.score, read.max_score, read.auto_score) == (grade.score, grade.max_score, grade.auto_score)
    assert found["late"].grades["answer"].score == 4.0  # the grader's score, where there is one
    assert found["late"].points({"test_visible", "test_hidden"}) == (2.0, 5.0)
    assert found["on_time"].needs_manual_grade and not found["late"].needs_manual_grade
    assert gradebook.student_ids(db_url) == ["absent", "late", "on_time"]
    assert gradebook.due_date(db_url, ASSIGNMENT) == DUE and gradebook.due_date(db_url, "other") is None


def test_merge_writes_what_was_read_and_keeps_a_graders_score(defined, db_url, tmp_path):
    """Does a submission read from a worker's gradebook arrive whole in the course's, without undoing manual grading?"""
    _graded_class(db_url)
    course_url = _copy(defined, tmp_path / "course.db")
    _submit(course_url, "on_time", None, {}, manual={"test_hidden": 1.0})  # a grader changed a score earlier
    for submission in gradebook.submissions(db_url, ASSIGNMENT).values():
        gradebook.merge(course_url, submission, ASSIGNMENT)
    merged, read = gradebook.submissions(course_url, ASSIGNMENT), gradebook.submissions(db_url, ASSIGNMENT)
    assert sorted(merged) == sorted(read)
    for student, submission in read.items():  # what autograde writes; manual scores are the course's own
        assert {n: g.auto_score for n, g in merged[student].grades.items()} == \
            {n: g.auto_score for n, g in submission.grades.items()}
        assert merged[student].notebooks[NOTEBOOK].comments == submission.notebooks[NOTEBOOK].comments
        assert (merged[student].timestamp, merged[student].late_penalty) == (submission.timestamp, submission.late_penalty)
    kept = merged["on_time"].grades["test_hidden"]
    assert (kept.score, kept.auto_score, kept.needs_manual_grade) == (1.0, 3.0, True)  # flagged for review


def test_zero_scores_every_cell_and_says_why(db_url):
    """Does an upload that could not be graded get 0 in every cell, nothing left to grade, and the reason?"""
    gradebook.zero(db_url, "late", ASSIGNMENT, "not a notebook")
    zeroed = gradebook.submissions(db_url, ASSIGNMENT)["late"]
    assert zeroed.total == 0 and not zeroed.needs_manual_grade
    assert {g.auto_score for g in zeroed.grades.values()} == {0.0}
    assert set(zeroed.notebooks[NOTEBOOK].comments.values()) == {"not a notebook"}


def test_definition_holds_hidden_tests_and_locks(db_url):
    """Does the definition give each cell's recorded source (hidden tests included), its lock and whether it is a test?"""
    defined = gradebook.definition(db_url, ASSIGNMENT, NOTEBOOK)
    assert {name for name, cell in defined.items() if cell.test} == {"test_visible", "test_hidden"}
    assert {name for name, cell in defined.items() if cell.locked} == {"setup", "test_visible", "test_hidden"}
    assert "BEGIN HIDDEN TESTS" in defined["test_hidden"].source and not defined["answer"].test
