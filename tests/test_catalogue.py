"""The catalogue of student bugs and correct variants, and the gradient checker it exercises.

What the entries score is tested in test_kill_matrix.py; here: the catalogue's size,
shape and sources, and that ``asg01_checks.gradient_check`` (the students' debugging
tool) passes the reference and flags every buggy backprop of the catalogue.
"""

import collections
import contextlib
import io

import numpy as np
import pytest

import asg01
from mlpcourse import assignment
from mlpcourse.authoring import notebook
from mlpcourse.quality import catalogue


def _namespace(ref, entry):
    """The reference's names with ``entry``'s source executed on top (as in the notebook)."""
    namespace = dict(vars(ref))
    exec(compile(entry.source, entry.id, "exec"), namespace)
    return namespace


# What each function's entries must replace in the reference's namespace.
TARGETS = {
    "relu": lambda ns: ns["relu"],
    "sigmoid": lambda ns: ns["sigmoid"],
    "feed_forward": lambda ns: ns["MLP"].feed_forward,
    "softmax": lambda ns: ns["softmax"],
    "cross_entropy": lambda ns: ns["categorical_cross_entropy"],
    "mlp_gradients": lambda ns: ns["mlp_gradients"],
    "sgd": lambda ns: ns["SGD"].step,
}


def test_catalogue_covers_every_graded_function():
    """Are there at least 60 mutants and 20 equivalents, with bugs and correct variants for every function?"""
    assert len(catalogue.MUTANTS) >= 60 and len(catalogue.EQUIVALENTS) >= 20
    counts = collections.Counter((entry.function, entry.kind) for entry in catalogue.ENTRIES)
    for function in assignment.load().functions:
        assert counts[function, catalogue.MUTANT] >= 5, function
        assert counts[function, catalogue.EQUIVALENT] >= 4, function


def test_entry_ids_are_unique_and_start_with_their_function():
    """Is every entry id unique, snake_case and prefixed by the function it rewrites?"""
    ids = [entry.id for entry in catalogue.ENTRIES]
    assert len(ids) == len(set(ids)) and catalogue.REFERENCE.id not in ids
    for entry in catalogue.ENTRIES:
        assert entry.id.startswith(entry.function + "_") and entry.id.isidentifier(), entry.id
        assert entry.description and "\n" not in entry.description, entry.id


@pytest.mark.parametrize("entry", catalogue.ENTRIES, ids=lambda entry: entry.id)
def test_entry_redefines_only_its_function(ref, entry):
    """Does the entry's source, run after the master's solution, replace its own function and nothing else?"""
    namespace = _namespace(ref, entry)
    original = dict(vars(ref))
    for function, target in TARGETS.items():
        changed = target(namespace) is not target(original)
        assert changed == (function == entry.function), f"{entry.id} {'leaves' if not changed else 'changes'} {function}"


def _net(ns, sizes, acts, rng):
    mlp = ns["MLP"](sizes[0])
    for size, act in zip(sizes[1:], acts):
        mlp.add_layer(size, act)
    mlp.parameters = [{"w": rng.normal(size=(n, p)), "b": rng.normal(size=p)} for n, p in zip(sizes[:-1], sizes[1:])]
    return mlp


def _gradient_checks(ns, checks):
    """The worst relative error gradient_check reports on three small nets (inf if it raises).

    The notebook's demo net, a deeper net ending in one sigmoid unit, and a one-layer net.
    """
    rng = np.random.default_rng(1)
    nets = [
        (_net(ns, [4, 5, 3], [ns["sigmoid"], ns["linear"]], rng), ns["softmax_categorical_cross_entropy"],
         rng.normal(size=(6, 4)), np.eye(3)[rng.integers(0, 3, size=6)]),
        (_net(ns, [3, 4, 4, 1], [ns["sigmoid"], checks.tanh_act, ns["sigmoid"]], rng), checks.half_squared_error,
         rng.normal(size=(5, 3)), rng.normal(size=(5, 1))),
        (_net(ns, [4, 3], [ns["sigmoid"]], rng), checks.log_cosh_error, rng.normal(size=(2, 4)), rng.normal(size=(2, 3))),
    ]
    worst = []
    for mlp, loss, x, y in nets:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                worst.append(checks.gradient_check(mlp, ns["mlp_gradients"], loss, x, y))
        except Exception:  # noqa: BLE001 (a crash is also how a student sees the bug)
            worst.append(np.inf)
    return worst


def test_gradient_check_passes_the_reference_and_correct_variants(ref, checks):
    """Does gradient_check report below its limit for the reference and every correct mlp_gradients?"""
    entries = [entry for entry in catalogue.EQUIVALENTS if entry.function == "mlp_gradients"]
    for namespace in [dict(vars(ref))] + [_namespace(ref, entry) for entry in entries]:
        assert max(_gradient_checks(namespace, checks)) < checks.GRADIENT_CHECK_LIMIT


@pytest.mark.parametrize("entry", [e for e in catalogue.MUTANTS if e.function == "mlp_gradients"],
                         ids=lambda entry: entry.id)
def test_gradient_check_flags_buggy_backprop(ref, checks, entry):
    """Does gradient_check show every buggy mlp_gradients of the catalogue as too large, wrong-shaped or crashing?"""
    assert max(_gradient_checks(_namespace(ref, entry), checks)) > 100 * checks.GRADIENT_CHECK_LIMIT


def test_gradient_check_prints_one_aligned_row_per_tensor(ref, checks):
    """Does gradient_check print a header and one row per layer and tensor, last layer first, aligned?"""
    ns = dict(vars(ref))
    rng = np.random.default_rng(0)
    mlp = _net(ns, [4, 5, 3], [ns["sigmoid"], ns["linear"]], rng)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        checks.gradient_check(mlp, ns["mlp_gradients"], ns["softmax_categorical_cross_entropy"],
                              rng.normal(size=(6, 4)), np.eye(3)[rng.integers(0, 3, size=6)])
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["layer", "tensor", "shape", "relative", "error"]
    assert [line.split()[:3] for line in lines[1:5]] == [["1", "dw", "5x3"], ["1", "db", "3"],
                                                          ["0", "dw", "4x5"], ["0", "db", "5"]]
    assert len({len(line) for line in lines[:5]}) == 1
    assert lines[5].startswith("worst relative error")


def test_notebook_runs_the_gradient_check_on_the_students_backprop():
    """Does the notebook's gradient_check_demo cell run asg01_checks.gradient_check on the student's mlp_gradients?"""
    source = notebook.cells_by_grade_id(notebook.read(asg01.MASTER))["gradient_check_demo"].source
    assert "asg01_checks.gradient_check(" in source and "mlp_gradients" in source


# Issue 12's bug classes: a softmax that shifts by the row maxima only above some threshold,
# and functions that cannot return floats for integer input. Each survived the visible
# tests of its time; here we check that each does what its description says.
THRESHOLD_SOFTMAX = ("softmax_shift_above_700", "softmax_shift_above_100", "softmax_shift_above_88",
                     "softmax_shift_beyond_float64_range", "softmax_shift_after_overflow")
FLOAT32_LARGE = np.array([[95.0, 90.0, 80.0]], dtype=np.float32)
VERY_NEGATIVE = np.array([[-1000.0, -1001.0, -1002.0]])


@pytest.mark.parametrize("entry_id", THRESHOLD_SOFTMAX + ("softmax_shift_outside_50",))
def test_threshold_softmax_fails_only_off_the_mixed_large_logits(ref, entry_id):
    """Does each threshold softmax match the reference on the old visible logits, and only a mutant give nan on new ones?"""
    entry = catalogue.by_id()[entry_id]
    softmax = _namespace(ref, entry)["softmax"]
    with np.errstate(all="ignore"):
        for logits in (np.random.default_rng(0).normal(size=(4, 5)), np.array([[1000.0, 999.0, 0.0],
                                                                              [-1000.0, -999.0, -1000.0]])):
            np.testing.assert_allclose(softmax(logits), ref.softmax(logits), rtol=1e-12)
        nan = [bool(np.isnan(softmax(logits)).any()) for logits in (FLOAT32_LARGE, VERY_NEGATIVE)]
    assert any(nan) == (entry.kind == catalogue.MUTANT), nan


@pytest.mark.parametrize("entry_id", ["sigmoid_zeros_like", "sigmoid_inplace_on_copy", "softmax_zeros_like_rows",
                                      "softmax_divide_out_like_input"])
def test_integer_mutants_are_right_on_floats_and_wrong_on_integers(ref, entry_id):
    """Is each integer-input mutant right on float input, but wrong (or raising) on the same values as integers?"""
    entry = catalogue.by_id()[entry_id]
    name = "sigmoid" if entry.function == "sigmoid" else "softmax"
    func, reference = _namespace(ref, entry)[name], getattr(ref, name)
    x = np.array([[-3, 0, 2], [1, 5, -1]])
    np.testing.assert_allclose(func(x.astype(np.float64)), reference(x.astype(np.float64)), rtol=1e-12)
    try:
        wrong = not np.allclose(func(x), reference(x.astype(np.float64)))
    except TypeError:  # numpy's UFuncTypeError: the integer output cannot hold the floats
        wrong = True
    assert wrong
