"""The class report in Chromium: it loads cleanly, every figure shows, its numbers are the CSV's."""

import csv
import functools
import http.server
import re
import statistics
import threading

import pytest

import graded_demo
import asg01
from mlpcourse.authoring import notebook
from mlpcourse.grading import cellgrades
from mlpcourse.reports import report


@pytest.fixture
def served_report(kannada_cache, tmp_path_factory, tmp_path):
    """The demo class's report and per-test CSV, the report served on 127.0.0.1.

    Returns ``(url, csv_rows, folder)``: the page's address, ``cell_grades.csv`` as
    dicts, and the folder of the page and its figures.
    """
    course_dir, _ = graded_demo.graded_demo(tmp_path_factory, kannada_cache)
    folder = tmp_path / "report"
    page = report.build(course_dir, folder, assignment=asg01.NAME)
    exported = cellgrades.export(course_dir, tmp_path / "cell_grades.csv", assignment=asg01.NAME)
    with open(exported, newline="") as handle:
        rows = list(csv.DictReader(handle))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{page.name}", rows, folder
    server.shutdown()
    server.server_close()


def unloaded_images(page):
    """The ``src`` of every <img> on the page that did not load (no pixels)."""
    return page.locator("img").evaluate_all(
        "imgs => imgs.filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.getAttribute('src'))")


def table_after(page, heading):
    """The cells' texts of the first table after the <h2> containing ``heading``, header row dropped."""
    table = page.locator(f"xpath=//h2[contains(., '{heading}')]/following-sibling::table[1]")
    return [row.locator("td").all_inner_texts() for row in table.locator("tr").all()[1:]]


@pytest.mark.slow
@pytest.mark.browser
def test_class_report_page_shows_the_per_test_csv(served_report, browser, screenshot):
    """Does the class report open without console errors, show every figure, and give the
    numbers of the per-test CSV?"""
    url, rows, _ = served_report
    page = browser.new_page()
    assert page.goto(url, wait_until="load").ok
    assert browser.console_errors == []
    assert browser.refused_requests == []  # the page needs nothing from outside
    shown = page.locator("img").evaluate_all("imgs => imgs.map(img => img.getAttribute('src'))")
    assert sorted(shown) == sorted(report.FIGURES)
    assert unloaded_images(page) == []
    screenshot(page, "class_report", full_page=True)

    # Item analysis: one row per autograded test cell, with the CSV's full marks and means.
    master = notebook.cells_by_grade_id(notebook.read(asg01.MASTER))
    autograded = [column for column in rows[0] if column in master
                  and master[column].metadata.nbgrader.get("grade") and not notebook.is_solution(master[column])]
    students = table_after(page, "Autograde time per submission")
    graded = [row for row in rows if row["student_id"] in {s[0] for s in students if s[1] == "graded"}]
    assert len(graded) == len(rows)  # the demo class: every submission is graded
    items = table_after(page, "Item analysis")
    assert [item[0] for item in items] == autograded
    for grade_id, _, points, full_marks, mean in items:
        max_score = float(master[grade_id].metadata.nbgrader.points)
        scores = [float(row[grade_id]) for row in graded]
        assert float(points) == max_score
        assert full_marks == f"{sum(score >= max_score for score in scores)}/{len(scores)}"
        assert float(mean) == pytest.approx(statistics.fmean(scores), abs=0.005)

    # Per student: autograded, manual and total scores as in the CSV.
    by_student = {row["student_id"]: row for row in rows}
    assert sorted(s[0] for s in students) == sorted(by_student)
    for student, _, auto, manual, total, *_ in students:
        expected = by_student[student]
        assert [float(auto), float(manual), float(total)] == [
            float(expected["auto_score"]), float(expected["manual_score"]), float(expected["score"])]

    # The summary line: mean, median, min and max of the autograded scores.
    summary = page.locator("p", has_text="Autograded score out of").inner_text()
    shown = {key: float(value) for key, value in re.findall(r"(mean|median|min|max) ([\d.]+)", summary)}
    autos = [float(row["auto_score"]) for row in graded]
    assert shown == pytest.approx({"mean": statistics.fmean(autos), "median": statistics.median(autos),
                                   "min": min(autos), "max": max(autos)}, abs=0.05)


@pytest.mark.slow
@pytest.mark.browser
def test_class_report_check_notices_a_missing_figure(served_report, browser):
    """Would the report test fail if a figure were missing (a 404 in the console, an empty image)?"""
    url, _, folder = served_report
    (folder / "times.png").unlink()
    page = browser.new_page()
    assert page.goto(url, wait_until="load").ok
    assert unloaded_images(page) == ["times.png"]
    assert any("404" in error for error in browser.console_errors), browser.console_errors
