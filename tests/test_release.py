"""The student release: generated, fresh, Colab-ready, and free of hidden material."""

import json
import re

import pytest

import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook, release
from mlpcourse.grading import coursedir

# Text that only the master may contain.
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "asg01_hidden", "BEGIN SOLUTION", "Model answer", "Mark scheme")
# What the seed's submission cell used: tokens, Drive and GitHub automation.
SUBMISSION_CELL_MARKERS = ("google.colab", "oauth", "GoogleAuth", "hub config", "pydrive", "authenticate_user",
                           "files.download")


def _release_text():
    return asg01.RELEASE_NOTEBOOK.read_text()


@pytest.mark.slow
def test_release_is_fresh():
    """Is release/ exactly what `nbgrader generate_assignment` makes from source/ now?"""
    assert release.stale_reasons(paths.ROOT, asg01.NAME) == []


@pytest.mark.slow
def test_stale_release_is_reported(course):
    """Does the staleness check notice a master edited after the last release?"""
    master = course / "source" / asg01.NAME / f"{asg01.NAME}.ipynb"
    nb = notebook.read(master)
    nb.cells[0].source += "\nOne more sentence."
    import nbformat

    nbformat.write(nb, str(master))
    assert release.stale_reasons(course, asg01.NAME) == [f"{asg01.NAME}.ipynb differs"]


def test_the_generic_checks_are_copied_for_the_release():
    """Is source/asg01/course_checks.py mlpcourse/authoring/course_checks.py under a do-not-edit header, and released?"""
    copy = release.course_checks_copy(paths.ROOT, asg01.NAME)
    header, _, body = copy.read_text().partition("\n")
    assert header == release.GENERATED_HEADER.strip() and "python -m mlpcourse release" in header
    assert body == release.COURSE_CHECKS.read_text()
    assert (asg01.RELEASE / copy.name).read_bytes() == copy.read_bytes()
    assert "import mlpcourse" not in body and "from mlpcourse" not in body


@pytest.mark.slow
def test_an_edited_copy_of_the_generic_checks_is_stale_until_released(course):
    """Does the check name a hand-edited source/asg01/course_checks.py, and `release` write the copy again?"""
    copy = release.course_checks_copy(course, asg01.NAME)
    copy.write_text(copy.read_text().replace("ATOL = 1e-6", "ATOL = 1e-3"))
    assert release.stale_reasons(course, asg01.NAME) == [
        f"../../source/{asg01.NAME}/course_checks.py is not the generated copy of "
        "mlpcourse/authoring/course_checks.py"]
    release.generate(course, asg01.NAME)
    assert "ATOL = 1e-6" in copy.read_text()
    assert release.stale_reasons(course, asg01.NAME) == []


def test_release_holds_no_hidden_material():
    """Are hidden tests, solutions, mark schemes and hidden fixtures absent from release/?"""
    text = _release_text()
    for marker in HIDDEN_MARKERS:
        assert marker not in text, marker
    released = {p.name for p in asg01.RELEASE.rglob("*")}
    assert not released & {p.name for p in asg01.TESTS_ASSETS.rglob("*")}


def test_every_student_cell_is_a_stub():
    """Does every solution cell of the release ask the student to write the answer?"""
    nb = notebook.read(asg01.RELEASE_NOTEBOOK)
    stubs = [cell for cell in nb.cells if notebook.is_solution(cell)]
    assert len(stubs) == 11  # 7 code cells, 4 written answers
    for cell in stubs:
        assert "raise NotImplementedError()" in cell.source or cell.source == "YOUR ANSWER HERE"


def test_release_is_colab_ready():
    """Has the release an Open-in-Colab link, no shell commands, and no submission-cell code?"""
    nb = notebook.read(asg01.RELEASE_NOTEBOOK)
    assert "colab.research.google.com/github/" in nb.cells[0].source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not re.search(r"^\s*[!%]", cell.source, flags=re.M), cell.source[:80]
    text = _release_text().lower()
    for marker in SUBMISSION_CELL_MARKERS:
        assert marker.lower() not in text, marker


def _colab_setting(course_dir):
    """``(repository, branch)`` of ``c.ColabLinks`` in a course's nbgrader_config.py."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    return config.ColabLinks.repository, config.ColabLinks.get("branch", "main")


def test_release_links_colab_from_the_course_setting():
    """Do the release's badge and helper-file URL come from c.ColabLinks, and the master hold only placeholders?"""
    repository, branch = _colab_setting(paths.ROOT)
    cells = notebook.cells_by_grade_id(notebook.read(asg01.RELEASE_NOTEBOOK))
    badge = (f"(https://colab.research.google.com/github/{repository}/blob/{branch}/release/asg01/asg01.ipynb)")
    assert badge in cells["header"].source
    files = f'"https://raw.githubusercontent.com/{repository}/{branch}/release/asg01/"'
    assert f'os.environ.get("ASG01_BASE_URL", {files})' in cells["setup"].source
    master = notebook.cells_by_grade_id(notebook.read(asg01.MASTER))
    assert release.NOTEBOOK_URL in master["header"].source and release.FILES_URL in master["setup"].source
    assert release.colab_links(asg01.MASTER) == []


@pytest.mark.slow
def test_a_new_colab_setting_is_reported_stale_then_released(course):
    """After the one-line Colab change, does the check name old and new links, and `release` write the new ones?"""
    config = course / "nbgrader_config.py"
    text = config.read_text()
    line = f'c.ColabLinks.repository = "{_colab_setting(course)[0]}"'
    assert text.count(line) == 1
    config.write_text(text.replace(line, 'c.ColabLinks.repository = "uni-example/ml-101"'))
    old = release.colab_links(course / "release" / "asg01" / "asg01.ipynb")
    new = ["https://colab.research.google.com/github/uni-example/ml-101/blob/main/release/asg01/asg01.ipynb",
           "https://raw.githubusercontent.com/uni-example/ml-101/main/release/asg01/"]
    reasons = [reason for reason in release.stale_reasons(course, asg01.NAME) if reason.startswith("asg01.ipynb")]
    assert reasons == [f"asg01.ipynb differs: built with the Colab links {' '.join(old)}, but c.ColabLinks in "
                       f"nbgrader_config.py now gives {' '.join(new)}"]
    release.generate(course, asg01.NAME)
    assert release.colab_links(course / "release" / "asg01" / "asg01.ipynb") == new
    assert release.stale_reasons(course, asg01.NAME) == []


def test_release_points_table_matches_the_grade_cells():
    """Do the points in the notebook's header table add up from the grade cells' metadata?"""
    nb = notebook.read(asg01.MASTER)
    points = {notebook.grade_id(c): c.metadata.nbgrader.get("points", 0)
              for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    autograded = sum(p for g, p in points.items() if g.startswith("test_"))
    manual = sum(p for g, p in points.items() if g.startswith("q_"))
    assert (autograded, manual) == (65, 35)
    assert "Total: 100 points" in nb.cells[0].source


@pytest.mark.slow
def test_master_passes_nbgrader_validate(grading_env):
    """Does `nbgrader validate` pass the master notebook (every test green)?"""
    result = coursedir.nbgrader("validate", str(asg01.MASTER))
    assert "Success! Your notebook passes all the tests." in result.stdout


@pytest.mark.slow
def test_untouched_release_fails_every_test(grading_env):
    """Does `nbgrader validate --invert` confirm that the untouched release fails every test?"""
    result = coursedir.nbgrader("validate", "--invert", str(asg01.RELEASE_NOTEBOOK))
    assert "Success! The notebook does not pass any tests." in result.stdout


def test_release_cells_carry_stable_grade_ids():
    """Does every grade cell of the release keep the master's grade_id (gradebook keys)?"""
    master = [notebook.grade_id(c) for c in notebook.read(asg01.MASTER).cells if notebook.grade_id(c)]
    released = [notebook.grade_id(c) for c in notebook.read(asg01.RELEASE_NOTEBOOK).cells
                if notebook.grade_id(c)]
    assert master == released
    assert len(set(master)) == len(master)
    json.loads(_release_text())
