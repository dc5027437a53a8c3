"""The class report on the graded demo class: JSON, figures and page agree with the gradebook."""

import html
import json
import statistics
import subprocess
import sys

import pytest

import graded_demo
import asg01
from mlpcourse import assignment, paths
from mlpcourse.grading import coursedir, demo
from mlpcourse.reports import report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory, kannada_cache):
    return graded_demo.graded_demo(tmp_path_factory, kannada_cache)


@pytest.fixture(scope="module")
def built(demo_course, tmp_path_factory):
    """The report of the demo class: (course, scores, folder, data)."""
    course, scores = demo_course
    folder = tmp_path_factory.mktemp("report")
    report.build(course, folder, assignment=asg01.NAME)
    return course, scores, folder, json.loads((folder / "report.json").read_text())


def _checks_module():
    return assignment.load().source_module("asg01_checks")


def relu(x):
    """A student's relu before they wrote it."""
    raise NotImplementedError()


def _error_output(error):
    return {"output_type": "error", "ename": type(error).__name__, "evalue": str(error), "traceback": []}


def test_failure_message_of_a_real_check_failure():
    """Is a CheckFailure's message reduced to its first line, with the input case kept apart?"""
    checks = _checks_module()
    with pytest.raises(checks.CheckFailure) as wrong:
        checks.check_array([[0.5, 0.5]], [[0.25, 0.75]], what="softmax(y_hat)", case="1x2 logits", hint="h")
    with pytest.raises(checks.CheckFailure) as missing:
        checks.call(relu, 0.0, case="a 2x2 matrix")
    assert report.failure_message(_error_output(wrong.value)) == ("softmax(y_hat) has wrong values", "1x2 logits")
    assert report.failure_message(_error_output(missing.value)) == ("relu is not implemented yet", "a 2x2 matrix")


def test_failure_message_of_other_errors_and_stderr():
    """Are uncaught errors named by type, and stderr output listed as the reason for a zero?"""
    assert report.failure_message(_error_output(NameError("name 'relu' is not defined"))) == (
        "NameError: name 'relu' is not defined", "")
    message, _ = report.failure_message({"output_type": "stream", "name": "stderr", "text": "RuntimeWarning: overflow\n"})
    assert message.startswith("wrote to stderr") and "RuntimeWarning: overflow" in message


def test_function_and_visibility_come_from_the_grade_id():
    """Does the report name the tested function and the test's visibility from the grade id?"""
    assert report.function_of("test_mlp_gradients_hidden") == "mlp_gradients"
    assert report.visibility_of("test_mlp_gradients_hidden") == "hidden"
    assert (report.function_of("test_training"), report.visibility_of("test_training")) == ("training", "")


@pytest.mark.slow
def test_item_analysis_agrees_with_the_gradebook(built):
    """Is every test cell's pass rate the share of students with full marks in the gradebook?"""
    _, scores, _, data = built
    autograded = [g for ids in assignment.load().test_groups().values() for g in ids]
    assert sorted(c["grade_id"] for c in data["cells"]) == sorted(autograded)
    for cell in data["cells"]:
        got = [scores[s][cell["grade_id"]] for s in sorted(scores)]
        full = sum(score == maximum for score, maximum in got)
        assert (cell["full_marks"], cell["students"]) == (full, len(scores))
        assert cell["pass_rate"] == pytest.approx(full / len(scores))
        assert cell["mean_score"] == pytest.approx(statistics.fmean(score for score, _ in got))


@pytest.mark.slow
def test_score_summary_agrees_with_the_gradebook(built):
    """Are the per-student scores and the summary those of the gradebook and nbgrader export?"""
    course, scores, _, data = built
    autograded = [g for ids in assignment.load().test_groups().values() for g in ids]
    auto = {s: sum(cells[g][0] for g in autograded) for s, cells in scores.items()}
    assert {s["student_id"]: s["auto_score"] for s in data["students"]} == auto
    assert {s["student_id"]: s["score"] for s in data["students"]} == demo.exported_totals(course)
    summary = data["summary"]
    assert summary["max_auto_score"] == sum(scores["ada"][g][1] for g in autograded)
    assert (summary["mean"], summary["median"]) == (statistics.fmean(auto.values()), statistics.median(auto.values()))
    assert (summary["graded"], summary["failed_to_grade"], summary["not_submitted"]) == (3, 0, 0)
    assert data["crashes"] == []


@pytest.mark.slow
def test_failures_name_the_demo_students_mistakes(built):
    """Do the failure messages show ben's wrong softmax and missing SGD, and cy's blank notebook?"""
    _, _, _, data = built
    by_message = {(function, item["message"]): item["students"]
                  for function, items in data["failures"].items() for item in items}
    assert by_message[("softmax", "softmax(y_hat) has wrong values")] == ["ben"]
    assert by_message[("sgd", "SGD.step is not implemented yet")] == ["ben", "cy"]
    assert by_message[("relu", "relu is not implemented yet")] == ["cy"]
    assert not any("ada" in students for students in by_message.values())
    for items in data["failures"].values():
        assert [i["count"] for i in items] == sorted((i["count"] for i in items), reverse=True)


@pytest.mark.slow
def test_autograde_times_come_from_the_autograded_notebooks(built):
    """Is each submission's kernel time split into test cells and the rest, and is training the bulk?"""
    _, _, _, data = built
    times = {s["student_id"]: s for s in data["students"]}
    for student in times.values():
        assert 0 < student["test_seconds"] < student["other_seconds"]
        assert student["wall_seconds"] is None  # demo.run used plain nbgrader: no grade log
    # ada trains for real; cy's training loop stops at its first NotImplementedError.
    assert times["ada"]["other_seconds"] > times["cy"]["other_seconds"]


@pytest.mark.slow
def test_figures_are_drawn_from_the_json_alone(built, tmp_path):
    """Are the figures PNGs that plot() redraws byte for byte from report.json alone?"""
    _, _, folder, data = built
    redrawn = report.plot(data, tmp_path)
    for path in redrawn:
        original = (folder / path.name).read_bytes()
        assert original.startswith(PNG_SIGNATURE) and len(original) > 10_000
        assert path.read_bytes() == original


@pytest.mark.slow
def test_html_page_shows_the_report_numbers(built):
    """Does index.html show the figures, every pass count, every failure message and every score?"""
    _, _, folder, data = built
    page = (folder / "index.html").read_text()
    for name in report.FIGURES:
        assert f"src='{name}'" in page
    for cell in data["cells"]:
        assert f"<td>{cell['grade_id']}</td><td>{cell['function']}</td><td>{cell['max_score']:g}</td>" \
               f"<td>{cell['full_marks']}/{cell['students']}</td>" in page
    for items in data["failures"].values():
        for item in items:
            assert html.escape(item["message"]) in page
    for student in data["students"]:
        assert f"<td>{student['student_id']}</td><td>graded</td><td>{student['auto_score']:g}</td>" in page
    assert "No tamper reports were found" in page or "tamper flags" in page


@pytest.mark.slow
def test_similar_submissions_and_late_work_in_the_demo_report(built):
    """Are ada and ben, both written from the master's code, the one pair listed (cy handed in the release),
    side by side with the matched code marked; and, with no due date set, nothing late?"""
    _, _, folder, data = built
    assert data["similarity"]["compared"] == ["ada", "ben", "cy"]
    assert [pair["students"] for pair in data["similarity"]["pairs"]] == [["ada", "ben"]]
    page = (folder / "index.html").read_text()
    assert "<table class='pair'>" in page and page.count("<mark>") >= 2
    assert data["late"] == {"duedate": None, "submissions": []} and "No due date is set" in page


def test_html_page_escapes_what_notebooks_wrote(tmp_path):
    """Are a failure message, an input case, a student id and an incident holding markup shown as text,
    under a policy that runs no script?"""
    payload = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    summary = {"students": 1, "graded": 1, "failed_to_grade": 0, "not_submitted": 0, "max_auto_score": 65,
               "mean": 1.0, "median": 1.0, "min": 1.0, "max": 1.0}
    student = {"student_id": f"s1{payload}", "status": "graded", "auto_score": 1.0, "manual_score": 0.0,
               "score": 1.0, "test_seconds": 1.0, "other_seconds": 1.0, "wall_seconds": None}
    data = {"assignment": "asg01", "summary": summary, "cells": [], "students": [student],
            "failures": {"relu": [{"message": payload, "count": 1, "students": [student["student_id"]],
                                   "cells": ["test_relu_visible"], "example_case": payload}]},
            "crashes": [{"student_id": student["student_id"], "what": "incident", "detail": payload}],
            "tamper": {student["student_id"]: [payload]},
            "late": {"duedate": "2027-03-05T17:00:00", "submissions": [
                {"student_id": student["student_id"], "submitted_at": "2027-03-06T18:00:00", "seconds_late": 90000.0,
                 "penalty": 0.2, "score": 0.8, "marked_late": True}]},
            "similarity": {"threshold": 0.5, "compared": [student["student_id"], "s2"], "pairs": [
                {"students": [student["student_id"], "s2"], "similarity": [0.9, 0.9], "code": [payload, payload],
                 "copied": [[[0, 5]], [[5, len(payload)]]]}]}}
    page = report.write_html(data, tmp_path).read_text()
    assert "<img src=x" not in page and "<script" not in page
    assert page.count(html.escape(payload)) >= 4
    # The copied code is highlighted on escaped text, split where the match starts or ends.
    assert f"<mark>{html.escape(payload[:5])}</mark>{html.escape(payload[5:])}" in page
    assert f"{html.escape(payload[:5])}<mark>{html.escape(payload[5:])}</mark>" in page
    assert f"content=\"{report.POLICY}\"" in page and "script-src" not in report.POLICY


@pytest.mark.slow
def test_report_command(demo_course, tmp_path):
    """Does `python -m mlpcourse report` write the page, the JSON and the figures?"""
    course, _ = demo_course
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "report", "--course-dir", str(course),
                             "--output-dir", str(tmp_path)], capture_output=True, text=True, check=True,
                            env=coursedir.environment())
    assert f"wrote {tmp_path / 'index.html'}" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["index.html", "report.json", *report.FIGURES])


def test_make_report_exports_cells_and_writes_the_report():
    """Does `make report COURSE_DIR=...` run export-cells and report on that folder (make -n: nothing runs)?"""
    result = subprocess.run(["make", "-n", "report", "COURSE_DIR=/srv/course"], cwd=paths.ROOT,
                            capture_output=True, text=True, check=True)
    assert "-m mlpcourse export-cells --course-dir /srv/course" in result.stdout
    assert "-m mlpcourse report --course-dir /srv/course" in result.stdout
