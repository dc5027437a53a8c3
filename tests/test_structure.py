"""The release's structure is put back before a submission runs (mlpcourse.containment.structure)."""

import copy

import nbformat

import asg01
from mlpcourse.authoring import notebook
from mlpcourse.containment import structure


def _ids(cells):
    return [structure.grade_id(cell) for cell in cells]


def test_moved_locked_cells_go_back_to_their_release_place():
    """Does a setup cell moved to the end, and a test moved above its function, run where the release puts them?"""
    release = notebook.read(asg01.RELEASE_NOTEBOOK)
    cells = copy.deepcopy(release.cells)
    setup = cells.pop(_ids(cells).index("setup"))
    cells.append(setup)
    test = cells.pop(_ids(cells).index("test_relu_visible"))
    cells.insert(0, test)
    restored, log = structure.restore(cells, release.cells, {})
    assert _ids(restored) == _ids(release.cells)
    assert "setup" in log[0] and "test_relu_visible" in log[0]


def test_the_students_own_cells_follow_the_cell_they_followed():
    """Does a scratch cell stay after the release cell it followed, and a leading one stay first?"""
    release = notebook.read(asg01.RELEASE_NOTEBOOK)
    cells = copy.deepcopy(release.cells)
    cells.insert(_ids(cells).index("relu_sigmoid") + 1, nbformat.v4.new_code_cell("scratch = 1"))
    cells.insert(0, nbformat.v4.new_code_cell("def check_array(*args, **kwargs):\n    pass"))
    restored, _ = structure.restore(cells, release.cells, {})
    assert restored[0].source.startswith("def check_array")
    assert restored[_ids(restored).index("relu_sigmoid") + 1].source == "scratch = 1"


def test_missing_and_copied_cells():
    """Is a deleted test put back with the gradebook's source, and a second cell with its grade id demoted?"""
    release = notebook.read(asg01.RELEASE_NOTEBOOK)
    cells = copy.deepcopy(release.cells)
    del cells[_ids(cells).index("test_sigmoid_hidden")]
    copied = copy.deepcopy(cells[_ids(cells).index("test_relu_visible")])
    cells.append(copied)
    restored, log = structure.restore(cells, release.cells, {"test_sigmoid_hidden": "# with hidden tests"})
    assert _ids(restored).count("test_relu_visible") == 1
    assert restored[_ids(restored).index("test_sigmoid_hidden")].source == "# with hidden tests"
    assert "nbgrader" not in copied.metadata
    assert any("test_sigmoid_hidden" in line for line in log) and any("second cell" in line for line in log)


def test_malformed_nbgrader_metadata_is_no_grade_id():
    """Does a cell whose nbgrader metadata is not a dict count as the student's own cell?"""
    release = notebook.read(asg01.RELEASE_NOTEBOOK)
    odd = nbformat.v4.new_code_cell("x = 1")
    odd.metadata["nbgrader"] = "test_relu_visible"
    restored, _ = structure.restore([odd, *copy.deepcopy(release.cells)], release.cells, {})
    assert restored[0] is odd and structure.grade_id(odd) is None
