"""Repairing uploads against the release: metadata, deleted and copied cells, tools' formats."""

import copy
import hashlib
import json
import pathlib
import sys
import threading
import warnings

import nbformat
import pytest

import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook
from mlpcourse.grading import chain, repair

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from hostile import cases as corpus  # noqa: E402


@pytest.fixture(scope="module")
def ctx():
    return corpus.Context(notebook.read(asg01.RELEASE_NOTEBOOK), notebook.read(asg01.MASTER), port=9)


def _repaired(data, ctx):
    return repair.repair(repair.read_upload(data), ctx.release)


def _grade_ids(nb):
    return [notebook.grade_id(cell) for cell in nb.cells if notebook.grade_id(cell)]


def _release_ids(ctx):
    return _grade_ids(ctx.release)


def test_intact_submission_needs_no_repair(ctx):
    """Does a notebook saved by Jupyter come through with its cells, sources and metadata unchanged?"""
    solved = ctx.solved()
    nb, log = _repaired(nbformat.writes(solved).encode(), ctx)
    assert [entry["action"] for entry in log] == ["read"]
    assert [c.source for c in nb.cells] == [c.source for c in solved.cells]
    assert [c.metadata.get("nbgrader") for c in nb.cells] == [c.metadata.get("nbgrader") for c in solved.cells]


@pytest.mark.parametrize("build", [corpus.stripped_metadata, corpus.colab_saved, corpus.vscode_saved,
                                   corpus.jupyterlab_saved, corpus.duplicated_metadata],
                         ids=lambda build: build.__name__)
def test_every_release_cell_found_once(ctx, build):
    """After repair, does every release cell appear exactly once, in order, with the release's metadata?"""
    _, data = build(ctx)
    nb, log = _repaired(data, ctx)
    assert _grade_ids(nb) == _release_ids(ctx)
    release = notebook.cells_by_grade_id(ctx.release)
    for cell in nb.cells:
        if notebook.grade_id(cell):
            assert cell.metadata["nbgrader"] == release[notebook.grade_id(cell)].metadata["nbgrader"]
            assert cell.cell_type == release[notebook.grade_id(cell)].cell_type
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)


def test_stripped_metadata_is_recognised_by_content(ctx):
    """Are cells that lost their nbgrader metadata matched by text, defined names and position, and logged?"""
    _, data = corpus.stripped_metadata(ctx)
    nb, log = _repaired(data, ctx)
    matched = {entry["grade_id"]: entry["detail"] for entry in log if entry["action"] == "matched"}
    assert set(matched) == set(_release_ids(ctx))
    assert "names it defines" in matched["relu_sigmoid"]
    assert "its place after the question" in matched["q_nonlinear"]
    assert "its text" in matched["test_relu_visible"]


def test_deleted_test_cells_are_put_back_in_place(ctx):
    """Are deleted test cells put back where the release has them, and logged?"""
    _, data = corpus.deleted_test_cells(ctx)
    nb, log = _repaired(data, ctx)
    assert _grade_ids(nb) == _release_ids(ctx)
    restored = [entry["grade_id"] for entry in log if entry["action"] == "restored"]
    assert restored == ["test_relu_visible", "test_sigmoid_hidden"]
    cells = notebook.cells_by_grade_id(nb)
    assert cells["test_relu_visible"].source == notebook.cells_by_grade_id(ctx.release)["test_relu_visible"].source


def test_copied_cells_keep_one_grade_id(ctx):
    """When a student copies cells with their metadata, does exactly one copy keep the grade id, as logged?"""
    _, data = corpus.duplicated_metadata(ctx)
    nb, log = _repaired(data, ctx)
    duplicates = sorted(entry["grade_id"] for entry in log if entry["action"] == "duplicate")
    assert duplicates == sorted(["test_softmax_visible", "softmax", "linear", "q_nonlinear"])
    assert len(nb.cells) == len(ctx.release.cells) + 4
    assert len({cell.id for cell in nb.cells}) == len(nb.cells)


def test_copied_answer_cell_keeps_the_students_work(ctx):
    """Of two copies of a written answer, is the one the student wrote in graded?"""
    nb = ctx.solved()
    i = next(i for i, c in enumerate(nb.cells) if notebook.grade_id(c) == "q_nonlinear")
    twin = copy.deepcopy(nb.cells[i])
    twin["id"] = "twin"
    nb.cells[i].source = "Because compositions of linear maps are linear."
    nb.cells.insert(i, twin)  # the untouched stub comes first
    repaired, _ = _repaired(nbformat.writes(nb).encode(), ctx)
    assert notebook.cells_by_grade_id(repaired)["q_nonlinear"].source.startswith("Because")


def test_colab_personal_metadata_is_removed(ctx):
    """Are Colab's names, photos and ids gone from the repaired notebook, with cell ids added?"""
    _, data = corpus.colab_saved(ctx)
    nb, log = _repaired(data, ctx)
    text = nbformat.writes(nb)
    for secret in corpus.PERSONAL + ("executionInfo", "outputId", '"colab":'):
        assert secret not in text
    assert log[0]["detail"].startswith("saved by Google Colab, nbformat 4.0")
    assert all(cell.get("id") for cell in nb.cells)


def test_test_cell_turned_into_markdown_is_turned_back(ctx):
    """Is a test cell that a student changed to markdown restored as a code cell?"""
    nb = ctx.solved()
    cell = notebook.cells_by_grade_id(nb)["test_softmax_visible"]
    i = nb.cells.index(cell)
    nb.cells[i] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata, id=cell.id)
    repaired, log = _repaired(nbformat.writes(nb).encode(), ctx)
    assert notebook.cells_by_grade_id(repaired)["test_softmax_visible"].cell_type == "code"
    assert any(entry["action"] == "cell type" for entry in log)


@pytest.mark.parametrize("data, reason", [
    (b'{"cells": [', "not valid JSON"),
    (b"%PDF-1.4\n\xe2\xe3\xcf\xd3", "not text"),
    (b'{"hello": "world"}', "not a Jupyter notebook"),
    (b"print('a python file')", "not valid JSON"),
])
def test_unreadable_uploads_get_a_clear_reason(data, reason):
    """Do broken and non-notebook uploads raise RepairError saying what is wrong?"""
    with pytest.raises(repair.RepairError, match=reason):
        repair.read_upload(data)


def test_byte_order_mark_and_version_3_are_accepted(ctx):
    """Are notebooks with a UTF-8 byte order mark and old nbformat 3 notebooks read?"""
    data = b"\xef\xbb\xbf" + nbformat.writes(ctx.solved()).encode()
    assert repair.read_upload(data).nbformat == 4
    v3 = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), version=3)
    assert repair.read_upload(v3.encode()).cells[0].source == "1 + 1"


def test_reading_uploads_in_threads_leaves_the_warning_filters_alone(ctx):
    """Do uploads read at once by grading threads leave the process's warning filters as they were?"""
    data = nbformat.writes(ctx.solved()).encode()
    before = list(warnings.filters)
    start = threading.Barrier(8)

    def read_many():
        start.wait()
        for _ in range(20):
            repair.read_upload(data)

    threads = [threading.Thread(target=read_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert warnings.filters == before


def test_repair_never_writes_to_submitted(tmp_path, ctx):
    """Does the pipeline's repair step leave submitted/ byte-identical and write build/repaired/?"""
    course = tmp_path
    folder = course / "submitted" / "ada" / "asg01"
    folder.mkdir(parents=True)
    _, data = corpus.colab_saved(ctx)
    (folder / "asg01.ipynb").write_bytes(data)
    (folder / "notes.txt").write_text("extra upload")
    before = hashlib.sha256(data).hexdigest()
    status, _ = chain.repair_submission(course, "ada", asg01.NAME, release=ctx.release)
    assert status == "repaired"
    assert hashlib.sha256((folder / "asg01.ipynb").read_bytes()).hexdigest() == before
    assert (course / paths.REPAIRED / "ada" / "asg01" / "asg01.ipynb").exists()
    assert not (course / paths.REPAIRED / "ada" / "asg01" / "notes.txt").exists()
    log = json.loads((paths.records_folder(course, "asg01", "ada") / "repair.json").read_text())
    assert log["status"] == "repaired" and any("notes.txt" in e["detail"] for e in log["log"])


@pytest.mark.parametrize("grade_id, value", [
    ("test_relu_visible", "a string"), ("relu_sigmoid", ["a", "list"]), ("q_nonlinear", None), ("linear", 5),
    ("softmax", {"grade_id": ["softmax"], "solution": True}), ("test_sgd_hidden", {"grade_id": 7, "grade": "yes"}),
])
def test_unreadable_nbgrader_metadata_is_repaired(ctx, grade_id, value):
    """Is a cell whose nbgrader metadata nbgrader cannot read recognised by its content and given the release's?"""
    nb = ctx.solved()
    notebook.cells_by_grade_id(nb)[grade_id].metadata["nbgrader"] = value
    nb.cells.append(nbformat.v4.new_code_cell("extra = 1", metadata={"nbgrader": value}))
    repaired, log = _repaired(nbformat.writes(nb).encode(), ctx)
    assert _grade_ids(repaired) == _release_ids(ctx)
    release = notebook.cells_by_grade_id(ctx.release)
    assert notebook.cells_by_grade_id(repaired)[grade_id].metadata["nbgrader"] == release[grade_id].metadata["nbgrader"]
    assert "nbgrader" not in repaired.cells[-1].metadata  # a student's cell keeps none
    assert any(entry["grade_id"] == grade_id and entry["action"] in ("matched", "metadata") for entry in log)
    nbformat.validate(repaired)


@pytest.mark.parametrize("data, reason", [
    (b'{"cells": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "not JSON a notebook can hold"),
    (json.dumps({"cells": [], "metadata": {"deep": json.loads("[" * 500 + "]" * 500)}}).encode(), "nested more than"),
    (b'{"cells": [], "metadata": {"n": ' + b"9" * 10_000 + b"}}", "not JSON a notebook can hold"),
    (b'{"cells": [], "metadata": {"s": "\\ud800"}, "nbformat": 4, "nbformat_minor": 5}', "could not be read"),
    (b'{"cells": [5], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "could not be read"),
    (b'{"cells": [{"cell_type": "code", "source": 5, "metadata": {}}], "metadata": {}, "nbformat": 4, '
     b'"nbformat_minor": 4}', "source is not text"),
    (b'{"cells": [{"cell_type": "chart", "source": "", "metadata": {}}], "metadata": {}, "nbformat": 4, '
     b'"nbformat_minor": 4}', "not a Jupyter cell"),
    (b'{"worksheets": [{"cells": [{"cell_type": "markdown", "source": "x", "metadata": "s"}]}], "metadata": {}, '
     b'"nbformat": 3, "nbformat_minor": 0}', "metadata is not a JSON object"),
])
def test_malformed_notebooks_are_unreadable_not_crashes(data, reason):
    """Do deep, huge, non-Unicode and mistyped notebooks raise RepairError saying why (no other exception)?"""
    with pytest.raises(repair.RepairError, match=reason):
        repair.read_upload(data)


def test_repair_step_turns_a_repair_bug_into_the_students_reason(tmp_path, ctx, monkeypatch):
    """If repair meets a bug on an upload, does the pipeline's repair step say so for that student, not raise?"""
    folder = tmp_path / "submitted" / "ada" / "asg01"
    folder.mkdir(parents=True)
    (folder / "asg01.ipynb").write_bytes(nbformat.writes(ctx.solved()).encode())
    monkeypatch.setattr(repair, "repair", lambda submission, release: {}["a bug"])
    status, reason = chain.repair_submission(tmp_path, "ada", asg01.NAME, release=ctx.release)
    assert status == "unreadable" and reason == "asg01.ipynb: the notebook could not be repaired (KeyError); tell your TA"
