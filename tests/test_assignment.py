"""The assignment description: asg01's agrees with its master notebook; mistakes are one line."""

import shutil

import pytest

import asg01
from mlpcourse import assignment
from mlpcourse.authoring import notebook


@pytest.fixture(scope="module")
def described():
    return assignment.load()


@pytest.fixture(scope="module")
def master_cells():
    return notebook.cells_by_grade_id(notebook.read(asg01.MASTER))


def test_the_course_has_one_assignment_which_is_the_default():
    """Is asg01 the course's only described assignment, hence the one commands use by default?"""
    assert assignment.names() == [asg01.NAME] and assignment.default_name() == asg01.NAME
    assert assignment.load().master == asg01.MASTER and assignment.load().tests_assets == asg01.TESTS_ASSETS


def test_every_autograded_cell_is_described_once(described, master_cells):
    """Is every autograded test cell of the master a test of exactly one graded function, or an other test?"""
    autograded = {grade_id for grade_id, cell in master_cells.items()
                  if cell.cell_type == "code" and cell.metadata.nbgrader.get("grade")}
    tested = [grade_id for function in described.functions.values() for grade_id in function.tests]
    tested += list(described.other_tests)
    assert sorted(tested) == sorted(autograded)


def test_the_described_cells_are_the_masters(described, master_cells):
    """Is each function's cell a solution cell that defines it, and are the reference cells in notebook order?"""
    for function in described.functions.values():
        cell = master_cells[function.cell]
        assert notebook.is_solution(cell), function.key
        assert f"def {function.definition.split('.')[-1]}(" in cell.source, function.key
        assert all(grade_id.startswith(f"test_{function.key}_") for grade_id in function.tests), function.key
    order = list(master_cells)
    assert [order.index(name) for name in described.reference_cells] == sorted(order.index(name) for name in
                                                                         described.reference_cells)
    assert set(described.graded_cells) <= set(described.reference_cells)
    assert described.data.first_cell in master_cells


def test_the_demo_class_names_real_cells(described, master_cells):
    """Do the demo submissions replace or blank only solution cells of the master?"""
    for submission in described.demo:
        for grade_id in (*submission.cells, *submission.unwritten):
            assert notebook.is_solution(master_cells[grade_id]), (submission.student, grade_id)


def test_the_description_and_the_fixture_recipe_are_not_released(described):
    """Are assignment.toml and the fixture recipe left out of release/ (nbgrader's CourseDirectory.ignore)?"""
    assert described.unreleased_files == (assignment.DESCRIPTION, "asg01_fixtures.py")
    for name in described.unreleased_files:
        assert (described.source / name).exists() and not (asg01.RELEASE / name).exists(), name


def test_the_fixture_files_are_where_the_description_and_the_checks_say(described):
    """Are the fixture files the description names the ones asg01_checks and asg01_hidden read?"""
    assert described.public_fixtures.exists() and described.public_fixtures.parent == described.source
    assert described.hidden_fixtures.exists() and described.hidden_fixtures.parent == described.tests_assets
    assert described.fixture_manifest == described.tests_assets / "MANIFEST.json"
    assert f'PUBLIC_FIXTURES = "{described.public_fixtures.name}"' in (described.source / "asg01_checks.py").read_text()
    hidden = (described.tests_assets / f"{described.hidden_module}.py").read_text()
    assert f'with_name("{described.hidden_fixtures.name}")' in hidden


def test_an_assignment_without_fixtures_says_so_in_one_line(tmp_path):
    """Does asking for the fixture files of an assignment without a [fixtures] table raise one line naming it?"""
    described = assignment.load(_course(tmp_path, "reference_cells = []\n"), "asg09")
    assert described.fixtures is None and described.unreleased_files == (assignment.DESCRIPTION,)
    with pytest.raises(assignment.AssignmentError, match=r"assignment.toml has no \[fixtures\] table: asg09 has "
                                                         r"no fixtures to make"):
        described.public_fixtures


def test_the_generic_checks_are_a_guarded_course_module(described):
    """Do the modules whose replacement is tampering include the generic checks, with asg01's own?"""
    assert described.course_modules == (assignment.COURSE_CHECKS, "asg01_checks", "kannada_mnist", "asg01_hidden")


def _course(tmp_path, text=None, name="asg09"):
    """A course folder holding one assignment whose description is ``text`` (None: no description)."""
    folder = tmp_path / "source" / name
    folder.mkdir(parents=True)
    if text is not None:
        (folder / assignment.DESCRIPTION).write_text(text)
    return tmp_path


@pytest.mark.parametrize("text, expected", [
    ("reference_cells = [", "is not valid TOML"),
    ("helper_module = 'x'\n", "does not describe the assignment: it has no 'reference_cells'"),
    ("reference_cells = []\n[functions.f]\nvisible = []\n", "it has no 'cell'"),
    ("reference_cells = []\n[[demo]]\nstudent = 'ada'\nstart = 'perfect'\n", 'start must be "solved" or "release"'),
])
def test_a_wrong_description_is_one_line_naming_the_file(tmp_path, text, expected):
    """Does a description that is not TOML, or misses a key, raise one line naming the file and the problem?"""
    course = _course(tmp_path, text)
    with pytest.raises(assignment.AssignmentError) as raised:
        assignment.load(course, "asg09")
    message = str(raised.value)
    assert "\n" not in message and str(course / "source" / "asg09" / assignment.DESCRIPTION) in message
    assert expected in message


def test_an_unknown_assignment_names_the_ones_there_are(tmp_path):
    """Does asking for an assignment the course lacks say which it has?"""
    course = _course(tmp_path, "reference_cells = []\n")
    with pytest.raises(assignment.AssignmentError, match="the course's assignments are asg09; pass one of them"):
        assignment.load(course, "asg10")


def test_the_default_needs_exactly_one_assignment(tmp_path):
    """With no described assignment, or two, does the default say what to do?"""
    with pytest.raises(assignment.AssignmentError, match="holds no assignment with an assignment.toml"):
        assignment.default_name(tmp_path)
    _course(tmp_path, "reference_cells = []\n")
    assert assignment.default_name(tmp_path) == "asg09"
    shutil.copytree(tmp_path / "source" / "asg09", tmp_path / "source" / "asg10")
    with pytest.raises(assignment.AssignmentError, match=r"2 assignments \(asg09, asg10\): pass --assignment NAME"):
        assignment.default_name(tmp_path)
