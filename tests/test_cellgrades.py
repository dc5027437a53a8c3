"""Per-test grades: cell_grades.csv against the gradebook of the graded demo class."""

import subprocess
import sys

import pandas as pd
import pytest
from nbgrader.api import Gradebook

import graded_demo
import asg01
from mlpcourse import assignment
from mlpcourse.authoring import notebook
from mlpcourse.grading import cellgrades, coursedir, demo


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory, kannada_cache):
    return graded_demo.graded_demo(tmp_path_factory, kannada_cache)


@pytest.mark.slow
def test_export_has_every_grade_cell_of_every_student(demo_course, tmp_path):
    """Does cell_grades.csv hold, per student and grade cell, the gradebook's score?"""
    course, _ = demo_course
    path = cellgrades.export(course, tmp_path / "cells.csv", assignment=asg01.NAME)
    table = pd.read_csv(path, index_col="student_id")
    scores = coursedir.cell_scores(course, asg01.NAME)
    master_order = [notebook.grade_id(c) for c in notebook.read(course / "source" / asg01.NAME /
                                                                 f"{asg01.NAME}.ipynb").cells]
    grade_ids = [g for g in master_order if g in scores["ada"]]
    assert list(table.columns) == [*grade_ids, *cellgrades.TOTAL_COLUMNS]
    assert sorted(table.index) == sorted(scores)
    for student, cells in scores.items():
        for grade_id, (score, _) in cells.items():
            assert table.loc[student, grade_id] == score, (student, grade_id)


@pytest.mark.slow
def test_export_totals_equal_nbgrader_export(demo_course, tmp_path):
    """Do the score columns add up to the raw_score of `nbgrader export`, and split auto/manual right?"""
    course, scores = demo_course
    table = pd.read_csv(cellgrades.export(course, tmp_path / "cells.csv", assignment=asg01.NAME),
                        index_col="student_id")
    autograded = {g for ids in assignment.load().test_groups().values() for g in ids}
    for student, raw_score in demo.exported_totals(course).items():
        cells = scores[student]
        assert table.loc[student, "score"] == raw_score
        assert table.loc[student, "auto_score"] == sum(cells[g][0] for g in autograded)
        assert table.loc[student, "manual_score"] == sum(s for g, (s, _) in cells.items() if g not in autograded)
        assert table.loc[student, "max_score"] == sum(m for _, m in cells.values())
    assert table["auto_score"].to_dict() == {"ada": 65.0, "ben": 43.0, "cy": 0.0}  # the demo's design


@pytest.mark.slow
def test_student_without_submission_gets_empty_cells(demo_course, tmp_path):
    """Is a student with no submission a row of empty cells and zero totals, as in nbgrader export?"""
    course, _ = demo_course
    db = tmp_path / "gradebook.db"
    db.write_bytes((course / "gradebook.db").read_bytes())
    with Gradebook(f"sqlite:///{db}") as gradebook:
        gradebook.add_student("eve")
    table = pd.read_csv(cellgrades.export(course, tmp_path / "cells.csv", db_url=f"sqlite:///{db}",
                                              assignment=asg01.NAME),
                        index_col="student_id")
    eve = table.loc["eve"]
    assert eve.drop(list(cellgrades.TOTAL_COLUMNS)).isna().all()
    assert (eve[["auto_score", "manual_score", "score"]] == 0).all()
    assert eve["max_score"] == 100


@pytest.mark.slow
def test_export_cells_command(demo_course, tmp_path):
    """Does `python -m mlpcourse export-cells` write the CSV and say how big it is?"""
    course, _ = demo_course
    output = tmp_path / "cells.csv"
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "export-cells", "--course-dir", str(course),
                             "--output", str(output)], capture_output=True, text=True, check=True)
    cells = cellgrades.grade_cells(course, assignment=asg01.NAME)
    assert f"wrote {output}: 3 students x {len(cells)} grade cells" in result.stdout
    again = cellgrades.export(course, tmp_path / "again.csv", assignment=asg01.NAME)
    assert output.read_text() == again.read_text()
