"""The course's cell-metadata check (mlpcourse.grading.metadata) accepts and refuses what nbgrader's does."""

import copy

import pytest
from nbgrader.converters import Autograde
from nbgrader.nbgraderformat import MetadataValidator as NbgraderMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata as NbgraderCheckCellMetadata
from traitlets.config.loader import PyFileConfigLoader

import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook
from mlpcourse.grading import metadata


def _grade_cell(nb, kind):
    return next(cell for cell in nb.cells if cell.cell_type == kind and cell.metadata.get("nbgrader", {}).get("grade"))


def _breakages():
    """``{what: edit(nb)}``: one change each that nbgrader's validator refuses."""
    def set_meta(key, value, kind="code"):
        return lambda nb: _grade_cell(nb, kind).metadata.nbgrader.__setitem__(key, value)

    def duplicate_grade_id(nb):
        cells = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")]
        cells[1].metadata.nbgrader.grade_id = cells[0].metadata.nbgrader.grade_id

    return {
        "duplicate grade id": duplicate_grade_id,
        "points as a string": set_meta("points", "5"),
        "points missing": lambda nb: _grade_cell(nb, "code").metadata.nbgrader.pop("points"),
        "grade id empty": set_meta("grade_id", ""),
        "schema too old": set_meta("schema_version", 2),
        "schema too new": set_meta("schema_version", 4),
        "unknown key": set_meta("surprise", True),
        "markdown grade cell not a solution": set_meta("solution", False, kind="markdown"),
        "locked not a boolean": set_meta("locked", "yes"),
    }


def _outcome(check, nb):
    """None if ``check(nb)`` accepts the notebook, else the error's type and message."""
    try:
        check(copy.deepcopy(nb))
    except Exception as error:  # noqa: BLE001 (whatever nbgrader raises is the outcome)
        return type(error), str(error)
    return None


def _validators():
    """nbgrader's and the course's validator, then nbgrader's and the course's preprocessor, as checks."""
    return [lambda nb: NbgraderMetadataValidator().validate_nb(nb),
            lambda nb: metadata.MetadataValidator().validate_nb(nb),
            lambda nb: NbgraderCheckCellMetadata().preprocess(nb, {}),
            lambda nb: metadata.CheckCellMetadata().preprocess(nb, {})]


@pytest.mark.parametrize("path", [asg01.MASTER, asg01.RELEASE_NOTEBOOK], ids=["master", "release"])
def test_the_courses_notebooks_pass_both_checks(path):
    """Do the master and the release pass nbgrader's check and the course's alike?"""
    nb = notebook.read(path)
    assert [_outcome(check, nb) for check in _validators()] == [None] * 4


@pytest.mark.parametrize("what", sorted(_breakages()))
def test_broken_metadata_is_refused_with_nbgraders_error(what):
    """Does each breakage get, from the validator and from the preprocessor, the very error nbgrader's raise?"""
    nb = notebook.read(asg01.RELEASE_NOTEBOOK)
    _breakages()[what](nb)
    nbgraders_validator, ours, nbgraders_step, our_step = (_outcome(check, nb) for check in _validators())
    assert nbgraders_validator is not None and ours == nbgraders_validator
    assert nbgraders_step is not None and our_step == nbgraders_step


def test_autograde_runs_the_courses_check_in_place_of_nbgraders():
    """Does nbgrader_config.py put the course's check in both of autograde's passes, and nbgrader's in neither?"""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(paths.ROOT)).load_config()
    autograde = Autograde(config=config)
    for steps in (autograde.sanitize_preprocessors, autograde.autograde_preprocessors):
        names = [step if isinstance(step, str) else f"{step.__module__}.{step.__name__}" for step in steps]
        assert "mlpcourse.grading.metadata.CheckCellMetadata" in names
        assert "nbgrader.preprocessors.checkcellmetadata.CheckCellMetadata" not in names
