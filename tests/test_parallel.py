"""Grading a class with parallel workers: no grade lost or counted twice, same scores as one worker."""

import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

import graded_demo
import asg01
from mlpcourse.grading import cellgrades, classroom, coursedir
from mlpcourse.reports import report


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory, kannada_cache):
    return graded_demo.graded_demo(tmp_path_factory, kannada_cache)


@pytest.fixture(scope="module")
def ungraded(tmp_path_factory):
    """ada, ben, cy (the demo's submissions) and dan (unreadable), not graded yet."""
    return graded_demo.ungraded_class(tmp_path_factory.mktemp("class") / "course")


def _cell_table(course, students):
    _, table = cellgrades.rows(course, assignment=asg01.NAME)
    return {row["student_id"]: row for row in table if row["student_id"] in students}


def test_thread_environment_shares_the_cores():
    """Does each of W workers get cores // W BLAS threads (at least one)?"""
    assert classroom.thread_environment(2, cpus=2)["OPENBLAS_NUM_THREADS"] == "1"
    assert classroom.thread_environment(1, cpus=2)["OMP_NUM_THREADS"] == "2"
    assert classroom.thread_environment(4, cpus=2)["MKL_NUM_THREADS"] == "1"


def test_only_sqlite_gradebooks_are_sharded():
    """Is a PostgreSQL gradebook refused with a pointer to the scale-out module?"""
    with pytest.raises(ValueError, match="scaleout"):
        classroom.sqlite_path("postgresql+psycopg2://grader@127.0.0.1/gradebook")


@pytest.mark.slow
def test_two_workers_grade_like_one_and_like_nbgrader(ungraded, demo_course, grading_env, tmp_path):
    """With W=2 and W=1, is every grade cell scored as plain nbgrader scored it, exactly once?"""
    serial = graded_demo.copy_course(ungraded, tmp_path / "serial")
    twin = graded_demo.copy_course(ungraded, tmp_path / "parallel")
    lines = []
    one = classroom.grade_class(serial, workers=1, assignment=asg01.NAME, feedback=False, log=lambda line: None)
    two = classroom.grade_class(twin, workers=2, assignment=asg01.NAME, feedback=False, log=lines.append)
    students = ["ada", "ben", "cy"]
    nbgrader_scores = _cell_table(demo_course[0], students)
    assert _cell_table(serial, students) == nbgrader_scores
    assert _cell_table(twin, students) == nbgrader_scores
    for summary, course in ((one, serial), (two, twin)):
        assert [o.student for o in summary.graded] == students
        assert [o.student for o in summary.failed] == [graded_demo.BROKEN_STUDENT]
        assert classroom.verify(course, summary) == []
        with Gradebook(coursedir.default_db_url(course)) as gradebook:
            submissions = {s.student_id: s for s in gradebook.assignment_submissions(asg01.NAME)}
            # The pipeline records dan's unreadable upload as a submission scoring 0 everywhere.
            assert sorted(submissions) == [*students, graded_demo.BROKEN_STUDENT]
            cells = len(cellgrades.grade_cells(course, assignment=asg01.NAME))
            assert all(len(nb.grades) == cells for s in submissions.values() for nb in s.notebooks)
            assert all(g.auto_score == 0 for nb in submissions["dan"].notebooks for g in nb.grades)
        assert sorted(p.name for p in (course / "autograded").iterdir()) == students
    assert {o.worker for o in two.outcomes} == {0, 1}
    assert lines[0].endswith(f"with 2 workers ({classroom.thread_environment(2)['OMP_NUM_THREADS']} BLAS threads each)")
    assert {o.student: o.score for o in two.graded} == {"ada": 65, "ben": 43, "cy": 0}


@pytest.mark.slow
def test_regrading_keeps_manual_scores(demo_course, grading_env, tmp_path):
    """When a graded student is graded again in parallel, does a grader's manual score survive?"""
    course = graded_demo.copy_course(demo_course[0], tmp_path / "course")
    with Gradebook(coursedir.default_db_url(course)) as gradebook:
        grade = gradebook.find_grade("q_nonlinear", asg01.NAME, asg01.NAME, "cy")
        grade.manual_score = 6.0
        gradebook.db.commit()
    before = _cell_table(course, ["ada", "ben", "cy"])
    classroom.grade_class(course, workers=1, students=["cy"], assignment=asg01.NAME, feedback=False, log=lambda line: None)
    after = _cell_table(course, ["ada", "ben", "cy"])
    assert after == before
    assert after["cy"]["q_nonlinear"] == 6.0 and after["cy"]["score"] == 6.0
    with Gradebook(coursedir.default_db_url(course)) as gradebook:
        assert gradebook.find_grade("q_nonlinear", asg01.NAME, asg01.NAME, "cy").needs_manual_grade


@pytest.mark.slow
def test_grade_command_shows_progress_and_failures(ungraded, grading_env, tmp_path):
    """Does `grade` print a line per student with the time left, and a summary of who failed and why?"""
    course = graded_demo.copy_course(ungraded, tmp_path / "course")
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "grade", "--course-dir", str(course),
                             "--workers", "2", "--student", "cy", "--student", graded_demo.BROKEN_STUDENT],
                            capture_output=True, text=True, env=coursedir.environment())
    assert result.returncode == 1, result.stderr  # 1: some submission could not be graded
    lines = result.stdout.splitlines()
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 2 and all(" left" in line for line in progress)
    assert any(line.startswith("[2/2]") for line in progress)
    assert any(line.startswith("[") and "cy: graded 0/65 in" in line for line in progress)
    summary = classroom.read_log(course, asg01.NAME)
    text = summary.text().splitlines()
    assert lines[-len(text):] == text
    assert text[0].startswith("graded 1 of 2 submissions") and text[-1] == "flagged for review: none"
    failure = summary.failed[0]
    assert failure.student == graded_demo.BROKEN_STUDENT
    assert failure.reason.startswith(f"unreadable: {asg01.NAME}.ipynb: the file is not valid JSON")
    # Both get feedback: cy's graded notebook, dan's page saying why there is no grade.
    assert all((course / "feedback" / s / asg01.NAME / f"{asg01.NAME}.html").exists()
               for s in ("cy", graded_demo.BROKEN_STUDENT))
    assert (course / "build" / "submissions" / asg01.NAME / "tamper.md").exists()  # the class tamper report
    # The class report lists the failure with the same reason.
    crashes = report.compute(course, assignment=asg01.NAME)["crashes"]
    assert {"student_id": graded_demo.BROKEN_STUDENT, "what": "failed to grade", "detail": failure.reason} in crashes


def test_grade_on_a_cluster_needs_a_shared_gradebook_before_any_work(tmp_path):
    """Does `grade --scheduler` without --db-url stop at once (exit 2), before collecting the zip?"""
    course = tmp_path / "course"
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "grade", "--course-dir", str(course),
                             "--zip", str(tmp_path / "submissions.zip"), "--scheduler", "tcp://127.0.0.1:9"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--scheduler needs --db-url" in result.stderr
    assert not course.exists()  # nothing collected
