"""A second, tiny assignment, written only here, goes through the course's machinery unchanged.

``asg02`` has two graded functions (``square``: one visible test; ``row_means``: a
visible and a hidden test), one hidden check module and no dataset. It is added to a
scratch copy of the course beside asg01 (its master notebook, its ``assignment.toml``,
its hidden module), and then only the course's own commands and modules run:
``release`` (generate_assignment and the reference's timings, through the contained
autograde), ``grade`` (repair, contained autograde through real nbgrader, feedback),
``report``, the kill matrix and the loop scan. Nothing in ``mlpcourse`` names it, and its
test of ``square`` is called ``test_square``, not by asg01's ``test_<function>_visible``
pattern: which cells test what comes from the description alone. Its checks are the
course's generic ones (``course_checks``, which ``release`` copies beside every master):
it has no check module of its own.
"""

import json
import os
import subprocess
import sys
import textwrap

import nbformat
import pytest

from mlpcourse import assignment, paths, records
from mlpcourse.authoring import notebook, release
from mlpcourse.grading import coursedir, demo
from mlpcourse.quality import killmatrix, loops
from mlpcourse.quality.catalogue.entry import equivalent, mutant

NAME = "asg02"

# ben's row_means divides by 3, the visible test's width: the visible test passes, the hidden one not.
BEN_ROW_MEANS = '''
def row_means(X):
    """The mean of each row of X (N, D): an array of shape (N,)."""
    return X.sum(axis=1) / 3
'''

DESCRIPTION = f'''
hidden_module = "asg02_hidden"
reference_cells = ["square", "row_means"]

[functions.square]
cell = "square"
batch_args = [0]
visible = ["test_square"]

[functions.row_means]
cell = "row_means"
batch_args = [0]
visible = ["test_row_means_visible"]
hidden = ["test_row_means_hidden"]

[[demo]]
student = "ada"
start = "solved"

[[demo]]
student = "ben"
start = "solved"
[demo.cells]
row_means = \'\'\'{BEN_ROW_MEANS.strip()}\'\'\'

[[demo]]
student = "cy"
start = "release"
'''

HIDDEN_MODULE = '''
"""Hidden checks of asg02: other shapes than the visible tests use, with the course's generic checks."""

import numpy as np

from course_checks import call, check_array


def check_row_means(row_means):
    """row_means on a single row and on a single column: shape (N,) and the means."""
    for case, X in [("one row of two", np.array([[1.0, 3.0]])), ("one column of three", np.array([[2.0], [4.0], [6.0]]))]:
        check_array(call(row_means, X, case=case), X.sum(axis=1) / X.shape[1], what="row_means(X)", case=case,
                    hint="one mean per row, shape (N,): divide by the number of columns, X.shape[1]")
'''


def _cell(kind, grade_id, source, *, solution=False, points=None):
    """A master notebook cell with nbgrader's metadata: locked unless a solution, graded with points."""
    new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    meta = {"grade": points is not None, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution}
    if points is not None:
        meta["points"] = points
    return new(textwrap.dedent(source).strip(), metadata={"nbgrader": meta})


def master():
    """asg02's master notebook: two functions, three test cells (one hidden), 5 points."""
    cells = [
        _cell("markdown", "header", """
            # Assignment 2: two NumPy functions

            [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](@COLAB_NOTEBOOK_URL@)

            Write `square` and `row_means`; the cell below each checks it."""),
        _cell("code", "setup", """
            import numpy as np

            # The course's checks, released beside this notebook (in Colab, fetch @COLAB_FILES_URL@course_checks.py).
            from course_checks import check_array"""),
        _cell("code", "square", '''
            def square(x):
                """Element-wise square of the array x (any shape); the same shape."""
                ### BEGIN SOLUTION
                return x * x
                ### END SOLUTION''', solution=True),
        _cell("code", "test_square", '''
            """Check square on a small vector"""
            got = square(np.array([1.0, -2.0, 3.0]))
            assert np.allclose(got, [1.0, 4.0, 9.0]), f"square([1, -2, 3]) should be [1, 4, 9], got {got}"''',
              points=2),
        _cell("code", "row_means", '''
            def row_means(X):
                """The mean of each row of X (N, D): an array of shape (N,)."""
                ### BEGIN SOLUTION
                return X.mean(axis=1)
                ### END SOLUTION''', solution=True),
        _cell("code", "test_row_means_visible", '''
            """Check row_means on a 2x3 matrix"""
            check_array(row_means(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])), np.array([2.0, 5.0]),
                        what="row_means(X)", case="the 2x3 matrix [[1, 2, 3], [4, 5, 6]]")''',
              points=1),
        _cell("code", "test_row_means_hidden", '''
            """Hidden checks of row_means: one row, one column"""
            row_means(np.zeros((2, 2)))
            ### BEGIN HIDDEN TESTS
            from asg02_hidden import check_row_means
            check_row_means(row_means)
            ### END HIDDEN TESTS''', points=2),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


def add_second_assignment(course):
    """Write asg02's master, description and hidden module into the course folder ``course``."""
    source = course / "source" / NAME
    source.mkdir(parents=True)
    nbformat.write(master(), str(source / f"{NAME}.ipynb"))
    (source / assignment.DESCRIPTION).write_text(DESCRIPTION)
    hidden = course / "tests_assets" / NAME
    hidden.mkdir(parents=True)
    (hidden / "asg02_hidden.py").write_text(HIDDEN_MODULE)


def run_cli(*args):
    """``python -m mlpcourse ARGS`` from the repository, as a TA runs it."""
    env = {**os.environ, "KANNADA_MNIST_URL": "http://127.0.0.1:9/"}  # never the internet
    return subprocess.run([sys.executable, "-m", "mlpcourse", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=paths.ROOT)


def points(grade_ids):
    """The points of ``grade_ids`` in asg02's master (not retyped here)."""
    cells = notebook.cells_by_grade_id(master())
    return {grade_id: cells[grade_id].metadata.nbgrader.points for grade_id in grade_ids}


@pytest.fixture(scope="module")
def described(tmp_path_factory):
    """asg02's description, read from a scratch course that holds asg01 and asg02."""
    course = coursedir.make_course(tmp_path_factory.mktemp("second") / "course")
    add_second_assignment(course)
    # As `release` does first: the kill matrix's harness runs the tests from source/asg02/.
    release.write_course_checks(course, NAME)
    return assignment.load(course, NAME)


@pytest.fixture(scope="module")
def graded(described):
    """The scratch course after ``release``, the demo class's submissions and ``grade`` of asg02."""
    course = described.course_dir
    result = run_cli("release", "--course-dir", course, "--assignment", NAME)
    assert result.returncode == 0, result.stdout + result.stderr
    release_nb = notebook.read(course / "release" / NAME / described.notebook_name)
    for student, nb in demo.submissions(release_nb, described).items():
        coursedir.submit(course, student, nb, NAME)
    result = run_cli("grade", "--course-dir", course, "--assignment", NAME)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_cli("report", "--course-dir", course, "--assignment", NAME)
    assert result.returncode == 0, result.stdout + result.stderr
    return course


def test_the_description_is_read_as_written(described):
    """Does the loader give asg02's functions, their cells and tests, no data, and the demo class?"""
    assert list(described.functions) == ["square", "row_means"]
    assert described.functions["row_means"].tests == ("test_row_means_visible", "test_row_means_hidden")
    assert described.functions["square"].name == "square" and described.functions["square"].hidden == ()
    assert described.data is None and described.kernel_env == ()
    assert [submission.student for submission in described.demo] == ["ada", "ben", "cy"]
    assert described.function_of("test_row_means_hidden") == "row_means"


def test_a_course_with_two_assignments_asks_which(described):
    """With asg01 and asg02 in the course, does a command without --assignment say to pass it, in one line?"""
    result = run_cli("release", "--check", "--course-dir", described.course_dir)
    assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()] and "pass --assignment NAME" in result.stderr
    assert "asg01, asg02" in result.stderr


def test_the_reference_solution_is_the_described_cells(described):
    """Does the reference module hold asg02's functions, executed from the cells its description names?"""
    reference = notebook.reference_module(notebook.read(described.master), described=described)
    assert reference.square(3.0) == 9.0
    assert list(reference.row_means(reference.np.array([[1.0, 3.0]]))) == [2.0]


@pytest.mark.slow
def test_release_leaves_the_hidden_parts_out(graded):
    """Is asg02 released with its notebook and the generic checks only (no description), and timed for its limits?"""
    from mlpcourse.containment import limits

    released = sorted(path.name for path in (graded / "release" / NAME).iterdir())
    assert released == [f"{NAME}.ipynb", "course_checks.py"]
    assert "BEGIN HIDDEN TESTS" not in (graded / "release" / NAME / f"{NAME}.ipynb").read_text()
    assert limits.stale_reasons(graded, NAME) == []
    result = run_cli("release", "--check", "--course-dir", graded, "--assignment", NAME)
    assert result.returncode == 0 and "release/ is fresh" in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
def test_contained_autograde_scores_the_demo_class(graded):
    """Does ada keep every point, ben lose only the hidden row_means test, and cy score zero?"""
    scores = coursedir.cell_scores(graded, NAME)
    autograded = points(["test_square", "test_row_means_visible", "test_row_means_hidden"])
    assert {cell: score for cell, (score, _) in scores["ada"].items()} == autograded
    assert {cell: score for cell, (score, _) in scores["ben"].items()} == {**autograded, "test_row_means_hidden": 0}
    assert {cell: score for cell, (score, _) in scores["cy"].items()} == dict.fromkeys(autograded, 0)


@pytest.mark.slow
def test_the_hidden_check_ran_in_the_grader(graded):
    """Was ben's run contained, with the hidden test re-run by the grader against the real hidden module?"""
    from mlpcourse.containment import sandbox

    run = records.read(paths.records_folder(graded, NAME, "ben") / "run.json")
    assert run["sandbox"] == sandbox.sandbox_mode()
    cells = {cell.get("grade_id"): cell for cell in run["cells"]}
    assert cells["test_row_means_hidden"].get("rerun_seconds") is not None, cells["test_row_means_hidden"]
    hidden = (graded / "autograded" / "ben" / NAME / f"{NAME}.ipynb").read_text()
    assert "row_means(X) has wrong values" in hidden and "one row of two" in hidden


@pytest.mark.slow
def test_feedback_shows_the_hidden_failure_without_its_values(graded):
    """Does ben's feedback say which hidden case failed and how to fix it, and never show the hidden code?"""
    page = (graded / "feedback" / "ben" / NAME / f"{NAME}.html").read_text()
    for needle in ("row_means(X) has wrong values", "case: one row of two", "divide by the number of columns"):
        assert needle in page, needle
    assert "check_row_means(row_means)" not in page and "asg02_hidden" not in page
    for student in ("ada", "cy"):
        assert (graded / "feedback" / student / NAME / f"{NAME}.html").exists()


@pytest.mark.slow
def test_the_report_files_failures_under_the_described_functions(graded):
    """Does the class report analyse asg02's cells by the functions and visibility its description gives?"""
    data = json.loads((graded / "build" / "report" / NAME / "report.json").read_text())
    assert {cell["grade_id"]: (cell["function"], cell["visibility"]) for cell in data["cells"]} == {
        "test_square": ("square", "visible"),
        "test_row_means_visible": ("row_means", "visible"),
        "test_row_means_hidden": ("row_means", "hidden"),
    }
    assert "row_means" in data["failures"]
    assert {s["student_id"]: s["auto_score"] for s in data["students"]} == {
        student: sum(score for score, _ in cells.values())
        for student, cells in coursedir.cell_scores(graded, NAME).items()}


# asg02's own little catalogue: bugs that must lose points on their own function only,
# and correct rewrites that must keep every point.
ENTRIES = (
    mutant("square", "square_doubles", "doubles instead of squaring", "def square(x):\n    return 2 * x\n"),
    mutant("row_means", "row_means_fixed_width", "divides by 3, the visible test's width", BEN_ROW_MEANS),
    mutant("row_means", "row_means_column_means", "means of the columns", "def row_means(X):\n    return X.mean(axis=0)\n"),
    equivalent("square", "square_power", "x ** 2", "def square(x):\n    return x ** 2\n"),
    equivalent("row_means", "row_means_loop", "a Python loop over the rows",
               "def row_means(X):\n    return np.array([sum(row) / len(row) for row in X])\n", per_sample_loop=True),
)


@pytest.mark.slow
def test_the_kill_matrix_of_the_second_assignment(described):
    """Does the kill matrix catch asg02's mutants on their own tests only, and accept its equivalents?"""
    matrix, _ = killmatrix.compute(ENTRIES, workers=1, described=described)
    assert killmatrix.gate_failures(matrix, described) == []
    summary = matrix["summary"]
    assert (summary["mutants_caught"], summary["caught_only_by_hidden_tests"]) == (3, 1)
    assert summary["equivalents_accepted"] == 2 and summary["charged_once"] == 3
    assert matrix["grade_cells"] == points(["test_square", "test_row_means_visible", "test_row_means_hidden"])
    assert matrix["not_measured"] == {}


@pytest.mark.slow
def test_the_fast_harness_agrees_with_nbgrader(graded, described):
    """Does real nbgrader autograde score every asg02 entry as the kill matrix's fast path does?"""
    from mlpcourse.quality import harness

    real = harness.autograde(ENTRIES, graded, name=NAME)
    fast = harness.run(ENTRIES, workers=1, described=described)
    for entry in ENTRIES:
        assert real[entry.id] == {cell: grade["score"] for cell, grade in fast[entry.id]["grades"].items()}, entry.id


def test_the_loop_scan_reads_the_described_functions(described):
    """Does the loop scan flag exactly the entries that loop over the data, by asg02's batch arguments?"""
    flagged = {entry.id for entry in ENTRIES if loops.scan_source(entry.source, described)}
    assert flagged == {entry.id for entry in ENTRIES if entry.per_sample_loop}
