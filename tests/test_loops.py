"""The TA's loop report: loops over examples in graded functions are flagged, loops over layers are not."""

import subprocess
import sys
import textwrap

import nbformat
import pytest

import asg01
from mlpcourse.authoring import notebook
from mlpcourse.quality import catalogue, harness, loops


@pytest.mark.parametrize("entry", catalogue.ENTRIES, ids=lambda entry: entry.id)
def test_scan_flags_exactly_the_entries_that_loop_over_the_data(entry):
    """Is an entry flagged if and only if the catalogue marks it as looping over examples or elements?"""
    found = loops.scan_source(entry.source)
    assert bool(found) == entry.per_sample_loop, found


def test_reference_solution_has_no_data_loops():
    """Does the master's solution (which loops over layers) come out clean?"""
    assert loops.scan_notebook(notebook.read(asg01.MASTER)) == []


@pytest.mark.parametrize("source, flagged", [
    ("def softmax(y_hat):\n    return np.array([r / r.sum() for r in np.exp(y_hat)])", True),
    ("def relu(x, deriv=False):\n    n = len(x)\n    i = 0\n    while i < n:\n        i += 1\n    return x", True),
    ("def mlp_gradients(mlp, loss_function, x, y):\n    for a in mlp.activations[0]:\n        pass", True),
    ("def mlp_gradients(mlp, loss_function, x, y):\n    for a in mlp.activations:\n        pass", False),
    ("def mlp_gradients(mlp, loss_function, x, y):\n    acts = [x] + mlp.activations\n"
     "    for i in reversed(range(len(acts) - 1)):\n        pass", False),
    ("class SGD:\n    def step(self, parameters, grads):\n        for p, g in zip(parameters, grads):\n"
     "            for key in ('w', 'b'):\n                pass", False),
    ("class SGD:\n    def step(self, parameters, grads):\n        for idx in np.ndindex(parameters[0]['w'].shape):\n"
     "            pass", True),
    ("def helper(rows):\n    return [r for r in rows]\ndef softmax(y_hat):\n    return y_hat", False),
], ids=["comprehension", "while", "rows-of-a-stored-activation", "layers", "layer-indices", "sgd-keys",
        "sgd-elements", "outside-graded-functions"])
def test_scan_tells_data_loops_from_layer_loops(source, flagged):
    """Are loops over the data flagged, and loops over layers, keys or outside graded functions not?"""
    assert bool(loops.scan_source(source)) == flagged


def test_loops_command_reports_a_submission(tmp_path):
    """Does `python -m mlpcourse loops` name the cell, function and line of each loop, and pass a vectorised one?"""
    release_nb = notebook.read(asg01.RELEASE_NOTEBOOK)
    looping = harness.submission(release_nb, catalogue.by_id()["softmax_row_loop"])
    clean = notebook.solved(release_nb)
    for name, nb in (("looping.ipynb", looping), ("clean.ipynb", clean)):
        nbformat.write(nb, str(tmp_path / name))
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "loops", str(tmp_path / "looping.ipynb"),
                             str(tmp_path / "clean.ipynb")], capture_output=True, text=True, check=True)
    assert textwrap.dedent(f"""\
        {tmp_path / 'looping.ipynb'}: 1 loop(s) over the data in graded functions (correct code keeps its points):
          cell softmax, line """) in result.stdout
    assert "softmax: iterates over the data (enumerate(y_hat))" in result.stdout
    assert f"{tmp_path / 'clean.ipynb'}: no loops over examples or elements in the graded functions" in result.stdout
