"""The demo class through real nbgrader: autograde, feedback, export, per-cell scores."""

import nbformat
import pytest

import graded_demo
import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook
from mlpcourse.grading import coursedir, demo

GRADE_CELLS = {notebook.grade_id(c): c.metadata.nbgrader.points
               for c in notebook.read(asg01.MASTER).cells
               if c.metadata.get("nbgrader", {}).get("grade")}
AUTOGRADED = {g: p for g, p in GRADE_CELLS.items() if g.startswith("test_")}

# ben's bugs: a softmax normalised over the whole array, and no SGD (so no training).
BEN_LOSES = {"test_softmax_visible", "test_softmax_hidden", "test_sgd_visible", "test_sgd_hidden",
             "test_training"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, kannada_cache):
    """The session's demo class, graded through `make demo COURSE_DIR=...` as the README says:
    ``(course_dir, what make printed)``."""
    course_dir, _ = graded_demo.graded_demo(tmp_path_factory, kannada_cache)
    return course_dir, graded_demo.demo_output(tmp_path_factory, kannada_cache)


@pytest.mark.slow
def test_demo_checks_the_data_before_grading(graded):
    """Does `make demo` check the training and holdout splits in the cache before it generates or grades anything?"""
    lines = graded[1].splitlines()
    check = lines.index("[demo] checking the Kannada-MNIST cache: training split 'test', holdout split 'dig'")
    assert check < lines.index("[demo] generating the release (nbgrader generate_assignment)")


@pytest.mark.slow
def test_complete_submission_gets_full_autograded_marks(graded):
    """Does ada (the master's solutions in the release) get every autograded point?"""
    scores = coursedir.cell_scores(graded[0], asg01.NAME)["ada"]
    assert {g: scores[g][0] for g in AUTOGRADED} == AUTOGRADED


@pytest.mark.slow
def test_untouched_release_gets_zero(graded):
    """Does cy (the release as handed out) get zero on every autograded cell?"""
    scores = coursedir.cell_scores(graded[0], asg01.NAME)["cy"]
    assert {g: scores[g][0] for g in AUTOGRADED} == {g: 0 for g in AUTOGRADED}


@pytest.mark.slow
def test_partly_wrong_submission_loses_exactly_its_bugs(graded):
    """Does ben lose the softmax, SGD and training cells, and keep every other point?"""
    scores = coursedir.cell_scores(graded[0], asg01.NAME)["ben"]
    expected = {g: (0 if g in BEN_LOSES else p) for g, p in AUTOGRADED.items()}
    assert {g: scores[g][0] for g in AUTOGRADED} == expected


@pytest.mark.slow
def test_written_answers_wait_for_a_grader(graded):
    """Are the four written answers left for manual grading (no automatic score)?"""
    course_dir = graded[0]
    with coursedir.Gradebook(coursedir.default_db_url(course_dir)) as gradebook:
        for name in ("q_nonlinear", "q_he_init", "q_gd", "q_bias_variance"):
            grade = gradebook.find_grade(name, asg01.NAME, asg01.NAME, "ada")
            assert grade.needs_manual_grade and grade.max_score == GRADE_CELLS[name]


@pytest.mark.slow
def test_export_and_table_agree_with_the_gradebook(graded):
    """Do grades.csv and the printed table give the gradebook's totals?"""
    course_dir, stdout = graded
    totals = demo.exported_totals(course_dir)
    scores = coursedir.cell_scores(course_dir, asg01.NAME)
    for student in demo.students():
        assert totals[student] == sum(score for score, _ in scores[student].values())
    assert totals["ada"] == sum(AUTOGRADED.values())
    assert "ben" in stdout and f"{int(totals['ben'])}/65" in stdout


@pytest.mark.slow
def test_readme_shows_what_the_demo_prints(graded):
    """Is the table in the README's quick start the one `make demo` prints, not an older paste?"""
    course_dir, stdout = graded
    table = demo.table(coursedir.cell_scores(course_dir, asg01.NAME))
    assert table in stdout
    assert f"```\n{table}\n```" in (paths.ROOT / "README.md").read_text()


@pytest.mark.slow
def test_feedback_explains_the_failure_to_the_student(graded):
    """Does ben's feedback show the visible softmax test's message (function, case, error, hint)?"""
    course_dir = graded[0]
    html = (course_dir / "feedback" / "ben" / asg01.NAME / f"{asg01.NAME}.html").read_text()
    for needle in ("softmax(y_hat) has wrong values", "case: 7x5 random normal logits",
                   "the worst is at index", "hint: exponentiate"):
        assert needle in html, needle
    for student in demo.students():
        assert (course_dir / "feedback" / student / asg01.NAME / f"{asg01.NAME}.html").exists()


@pytest.mark.slow
def test_training_cell_reaches_its_threshold_under_autograde(graded):
    """Does the shortened grading-mode training of ada clear the 85% bar with room to spare?"""
    nb = nbformat.read(str(graded[0] / "autograded" / "ada" / asg01.NAME / f"{asg01.NAME}.ipynb"), 4)
    cell = notebook.cells_by_grade_id(nb)["test_training"]
    line = next(o.text for o in cell.outputs if o.output_type == "stream")
    accuracy = float(line.split(":")[1].strip().split("%")[0]) / 100
    assert accuracy >= 0.92, line
