"""The master notebook: its reference solution keeps the seed's interfaces, and what a
student reads (prose, test messages, demo outputs) says what is wrong and where.

The message tests grade catalogue entries through the notebook's own test cells
(``harness.run``) and run the master's cells in a kernel as a student does, hidden
tests removed (``student_view``).
"""

import contextlib
import inspect
import io
import re
import shutil
import subprocess
import sys
import textwrap
import types

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook
from mlpcourse.containment import judge
from mlpcourse.quality import catalogue, harness


def _parameters(func):
    return [(p.name, p.default) for p in inspect.signature(func).parameters.values()]


def test_signatures_are_the_seeds(ref):
    """Do the graded and given functions keep the seed's names, arguments and defaults?"""
    empty = inspect.Parameter.empty
    assert _parameters(ref.linear) == [("x", empty), ("deriv", False)]
    assert _parameters(ref.relu) == [("x", empty), ("deriv", False)]
    assert _parameters(ref.sigmoid) == [("x", empty), ("deriv", False)]
    assert _parameters(ref.softmax) == [("y_hat", empty)]
    assert _parameters(ref.categorical_cross_entropy) == [("y", empty), ("y_soft", empty)]
    assert _parameters(ref.softmax_categorical_cross_entropy) == [
        ("y", empty), ("y_hat", empty), ("return_grad", False)]
    assert _parameters(ref.mlp_gradients) == [
        ("mlp", empty), ("loss_function", empty), ("x", empty), ("y", empty)]
    assert _parameters(ref.MLP.__init__) == [("self", empty), ("input_dim", empty)]
    assert _parameters(ref.MLP.add_layer) == [("self", empty), ("layer_size", empty), ("act_func", ref.linear)]
    assert _parameters(ref.MLP.feed_forward) == [("self", empty), ("X", empty)]
    assert _parameters(ref.SGD.__init__) == [("self", empty), ("lr", 0.01), ("momentum", 0.9)]
    assert _parameters(ref.SGD.step) == [("self", empty), ("parameters", empty), ("grads", empty)]


def test_mlp_attributes_and_shapes_are_the_seeds(ref):
    """Does an MLP keep parameters/act_funcs/activations/weighted_ins with the seed's shapes?"""
    np.random.seed(0)
    mlp = ref.MLP(100)
    mlp.add_layer(64, ref.relu)
    mlp.add_layer(32, ref.relu)
    out = mlp.feed_forward(np.random.normal(size=(512, 100)))
    assert [p["w"].shape for p in mlp.parameters] == [(100, 64), (64, 32)]
    assert [p["b"].shape for p in mlp.parameters] == [(64,), (32,)]
    assert np.all(mlp.parameters[0]["b"] == 0.1)
    assert mlp.act_funcs == [ref.relu, ref.relu]
    assert [a.shape for a in mlp.activations] == [(512, 64), (512, 32)]
    assert [z.shape for z in mlp.weighted_ins] == [(512, 64), (512, 32)]
    assert out is mlp.activations[-1]
    # He initialisation: standard deviation sqrt(2 / fan_in).
    assert abs(mlp.parameters[0]["w"].std() - np.sqrt(2 / 100)) < 0.01


def test_seed_cross_entropy_example_still_gives_its_value(ref):
    """Does the seed's own cross-entropy check (rounded loss 0.032) hold for the reference?"""
    y = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]])
    y_hat = np.array([[10, 1, 1], [0, -1, 9], [100, -9, 9], [0.1, 12, 10]])
    assert round(ref.categorical_cross_entropy(y, ref.softmax(y_hat)), 3) == 0.032


def test_sgd_velocity_is_a_list_of_dicts_like_parameters(ref):
    """Is SGD.velocity a list of {'w', 'b'} dicts shaped like the parameters after a step?"""
    parameters = [{"w": np.ones((3, 2)), "b": np.ones(2)}]
    optimizer = ref.SGD(lr=0.5, momentum=0.9)
    assert optimizer.velocity == []
    updated = optimizer.step(parameters, [{"w": np.ones((3, 2)), "b": np.ones(2)}])
    assert [set(v) for v in optimizer.velocity] == [{"w", "b"}]
    np.testing.assert_allclose(optimizer.velocity[0]["w"], -0.5)
    np.testing.assert_allclose(updated[0]["b"], 0.5)


# A pickle made the way the original course made its grad_mlp_test.pkl: an MLP
# instance created in a notebook, so pickled as __main__.MLP with __main__.relu.
MAKE_ORIGINAL_PICKLE = textwrap.dedent("""
    import pickle, sys
    import numpy as np
    from mlpcourse.authoring import notebook
    exec(notebook.reference_source(), globals())
    np.random.seed(3)
    mlp = MLP(20)
    mlp.add_layer(16, relu)
    mlp.add_layer(10, linear)
    mlp.feed_forward(np.random.normal(size=(4, 20)))
    with open(sys.argv[1], "wb") as handle:
        pickle.dump(mlp, handle, protocol=2)
""")


@pytest.mark.slow
def test_original_course_pickle_works_in_the_notebook(tmp_path):
    """Does an MLP pickled from __main__ (as the original course did) work with our mlp_gradients?"""
    pickle_path = tmp_path / "grad_mlp_test.pkl"
    subprocess.run([sys.executable, "-c", MAKE_ORIGINAL_PICKLE, str(pickle_path)], cwd=paths.ROOT, check=True)
    assert b"__main__" in pickle_path.read_bytes() and b"MLP" in pickle_path.read_bytes()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\n" + notebook.reference_source()),
                nbformat.v4.new_code_cell(textwrap.dedent(f"""
                    import pickle
                    mlp = pickle.load(open({str(pickle_path)!r}, "rb"))
                    assert sorted(vars(mlp)) == ["act_funcs", "activations", "input_dim", "parameters", "weighted_ins"]
                    x = np.random.default_rng(0).normal(size=(6, 20))
                    y = np.eye(10)[[0, 1, 2, 3, 4, 5]]
                    mlp.feed_forward(x)
                    grads = mlp_gradients(mlp, softmax_categorical_cross_entropy, x, y)
                    print([g["w"].shape for g in grads], [g["b"].shape for g in grads])
                    """))]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert nb.cells[1].outputs[0].text.strip() == "[(20, 16), (16, 10)] [(16,), (10,)]"


# ---------------------------------------------------------------------------
# What students read (issue 12).

# Catalogue entries whose messages the tests below pin.
PINNED = ("sigmoid_deriv_exp_ratio", "sigmoid_zeros_like", "softmax_shift_above_700",
          "softmax_shift_beyond_float64_range", "softmax_zeros_like_rows", "relu_inplace", "sgd_mutates_grads",
          "sgd_class_level_velocity")


@pytest.fixture(scope="module")
def graded():
    """``{entry_id: {grade_id: message}}``: what the notebook's test cells say about each pinned entry."""
    results = harness.run([catalogue.by_id()[entry_id] for entry_id in PINNED])
    return {entry_id: {cell: grade["message"] or "" for cell, grade in result["grades"].items()}
            for entry_id, result in results.items()}


@pytest.fixture(scope="module")
def student_view(tmp_path_factory):
    """``{grade_id: output text}`` of the master's code cells before the data section, hidden
    tests removed, run in a kernel beside the released helper files; ``gd_demo`` runs twice
    (the second as ``gd_demo_again``). An ``execute_result`` shows as ``[echo] ...``."""
    work = tmp_path_factory.mktemp("student")
    for name in ("course_checks.py", "asg01_checks.py", "kannada_mnist.py", "asg01_public_fixtures.npz"):
        shutil.copy(asg01.SOURCE / name, work / name)
    cells, ids = [], []
    for cell in harness.fast_path_cells():
        source = re.sub(rf"### {judge.HIDDEN_BEGIN}.*?### END HIDDEN TESTS\n?", "", cell.source, flags=re.S)
        for grade_id in [cell.grade_id] + (["gd_demo_again"] if cell.grade_id == "gd_demo" else []):
            cells.append(nbformat.v4.new_code_cell(source))
            ids.append(grade_id)
    nb = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()

    def text(output):
        if output.output_type == "stream":
            return output.text
        if output.output_type == "execute_result":
            return "[echo] " + output.data.get("text/plain", "")
        return ""
    return {grade_id: "".join(text(o) for o in cell.outputs) for grade_id, cell in zip(ids, nb.cells)}


def test_visible_sigmoid_test_catches_a_nan_derivative_at_minus_1000(graded):
    """Does the visible sigmoid test fail exp(-x) / (1 + exp(-x))**2, at x = -1000, with the derivative's own hint?"""
    message = graded["sigmoid_deriv_exp_ratio"]["test_sigmoid_visible"]
    assert message.startswith("CheckFailure: sigmoid(x, deriv=True) contains nan where a finite value is expected\n"
                              "  case: vector [-1000, -50, 0, 50, 1000]\n"
                              "  1 of 5 elements is not finite; the first is at index (0,):\n"
                              "    expected 0, got nan\n"
                              "  hint: compute the derivative from s = sigmoid(x) as s * (1 - s)"), message


def test_notebook_says_where_sigmoid_really_gives_nan():
    """Does the prose say what holds: the plain sigmoid gives 0.0 at -1000, the exp-ratio derivative nan?"""
    prose = notebook.cells_by_grade_id(notebook.read(asg01.MASTER))["intro_relu_sigmoid"].source
    assert "must be `0.0`, not\n`nan`" not in prose
    assert "`sigmoid(x)` and `sigmoid(x, deriv=True)` must be finite" in prose
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.array([-1000.0])
        assert 1 / (1 + np.exp(-x))[0] == 0.0
        assert np.isnan(np.exp(-x) / (1 + np.exp(-x)) ** 2)[0]


def test_a_nan_result_keeps_the_functions_hint(checks):
    """Does a nan or inf result name the element, the expected value, and the check's own hint before the nan advice?"""
    with pytest.raises(checks.CheckFailure) as failure:
        checks.check_array(np.array([[0.5, np.inf]]), np.array([[0.5, 1.0]]), what="f(x)", case="one row",
                           hint="use the stable form.")
    assert str(failure.value) == (
        "f(x) contains inf where a finite value is expected\n  case: one row\n"
        "  1 of 2 elements is not finite; the first is at index (0, 1):\n    expected 1, got inf\n"
        f"  hint: use the stable form. {checks.FINITE_HINT}")
    assert failure.value.problem == checks.NOT_FINITE
    assert judge.hidden_message(failure.value) == (
        f"f(x) {checks.NOT_FINITE}\n  case: one row\n  hint: use the stable form. {checks.FINITE_HINT}\n"
        "  (hidden checks do not show values)")
    with pytest.raises(checks.CheckFailure) as scalar:
        checks.check_scalar(float("nan"), 0.25, what="loss", case="two rows", hint="mean over the batch.")
    assert str(scalar.value).startswith("loss is nan where a finite value is expected\n  case: two rows\n"
                                        "  expected 0.25, got nan\n  hint: mean over the batch. nan or inf")
    assert scalar.value.problem == checks.NOT_FINITE


def test_asg01_checks_gives_every_generic_check(checks):
    """Does asg01_checks re-export every public name of course_checks (the notebook imports all checks from it)?"""
    generic = sys.modules[checks.CheckFailure.__module__]
    assert generic.__name__ == "course_checks"
    public = {name for name, value in vars(generic).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert {"CheckFailure", "call", "check_array", "check_unchanged", "read_only_arrays"} <= public
    assert {name for name in public if getattr(checks, name, None) is not getattr(generic, name)} == set()


def test_the_checks_bind_numpy_at_import(checks, monkeypatch):
    """With np.isfinite, np.abs and np.asarray replaced after import, does check_array still fail wrong answers?"""
    monkeypatch.setattr(np, "isfinite", lambda x: np.ones(np.shape(x), dtype=bool))
    monkeypatch.setattr(np, "abs", lambda x: 0 * x)
    monkeypatch.setattr(np, "asarray", lambda *args, **kwargs: np.zeros(3))
    with pytest.raises(checks.CheckFailure, match="contains inf where a finite value is expected"):
        checks.check_array(np.array([np.inf]), np.array([1.0]), what="f(x)", case="c")
    with pytest.raises(checks.CheckFailure, match="has wrong values"):
        checks.check_array(np.array([2.0]), np.array([1.0]), what="f(x)", case="c")


def test_sgd_shape_error_says_where_the_stale_shape_came_from(graded):
    """Does a shape error from a velocity shared across optimisers name the shapes it inherited, and from where?"""
    note = ("note: this SGD object was created just before its first step, yet its velocity already held 2 entries "
            "(shapes (3, 4) and (4,); (4, 2) and (2,)): an earlier SGD object left them there")
    smoke = graded["sgd_class_level_velocity"]["test_sgd_hidden"]
    assert smoke.startswith("CheckFailure: SGD.step raised ValueError: operands could not be broadcast together "
                            "with shapes (3,4) (2,2)"), smoke
    assert note in smoke and "hint: a new SGD object must start with an empty velocity" in smoke
    # The visible test passed in the kernel; the grader's re-run, with a new optimiser, tells why it fails.
    rerun = graded["sgd_class_level_velocity"]["test_sgd_visible"]
    assert rerun.startswith("in the grader's re-run: CheckFailure: SGD.velocity[0]['w'] has wrong values")
    assert note in rerun


def test_inherited_velocity_note_and_hidden_message(checks):
    """Does step_once name the inherited velocity's shapes, while the hidden message shows only the hint?"""
    class SharedSGD:
        velocity = []

        def __init__(self, lr=0.01, momentum=0.9):
            self.lr, self.momentum = lr, momentum

        def step(self, parameters, grads):
            if not self.velocity:
                self.velocity.extend({k: np.zeros_like(p[k]) for k in ("w", "b")} for p in parameters)
            for v, g in zip(self.velocity, grads):
                for k in ("w", "b"):
                    v[k] = self.momentum * v[k] - self.lr * g[k]
            return [{k: p[k] + v[k] for k in ("w", "b")} for p, v in zip(parameters, self.velocity)]

    SharedSGD().step([{"w": np.zeros((3, 4)), "b": np.zeros(4)}], [{"w": np.ones((3, 4)), "b": np.ones(4)}])
    with pytest.raises(checks.CheckFailure) as failure:
        checks.step_once(SharedSGD, case="a new SGD()")
    assert "its velocity already held 1 entry (shapes (3, 4) and (4,))" in str(failure.value)
    assert failure.value.hint == checks.INHERITED_VELOCITY_HINT
    hidden = judge.hidden_message(failure.value)
    assert "(3, 4)" not in hidden and checks.INHERITED_VELOCITY_HINT in hidden and "ValueError" not in hidden
    _, inherited = checks.new_optimizer(SharedSGD, case="c")
    assert inherited
    assert checks.new_optimizer(type("FreshSGD", (), {"__init__": lambda self: setattr(self, "velocity", [])}),
                                case="c")[1] == ""


def test_hidden_cells_say_their_smoke_call_passed(student_view):
    """Does every hidden test cell print a line saying its smoke call passed and that the hidden checks run at grading?"""
    hidden = [grade_id for grade_id in harness.grade_cells() if grade_id.endswith("_hidden")]
    assert len(hidden) == 7
    for grade_id in hidden:
        assert "smoke test passed: " in student_view[grade_id], grade_id
        assert "The hidden checks run when your notebook is graded." in student_view[grade_id], grade_id


def test_visible_tests_say_when_a_function_writes_into_its_input(graded, checks):
    """Does a visible test say which function wrote into which input, the first changed element, and how to avoid it?"""
    message = graded["relu_inplace"]["test_relu_visible"]
    assert message.startswith(
        "CheckFailure: relu(x) changed the input x, an array it was given: the notebook says not to modify them\n"
        "  case: 6x7 matrix, values in [-5, 5], some exact zeros\n"
        "  13 of 42 elements are changed; the first is at index (0, 2):\n"
        "    expected -5 (as given), got 0 (a change of 5)\n"
        f"  hint: {checks.IN_PLACE_HINT}"), message
    assert graded["sgd_mutates_grads"]["test_sgd_visible"].startswith(
        "CheckFailure: SGD.step changed grads[0]['w'], an array it was given")
    assert graded["relu_inplace"]["test_relu_hidden"] == (
        "the input x after relu(x) has wrong values\n  case: 1-D vector of 13 values with exact zeros\n"
        f"  hint: {checks.IN_PLACE_HINT}\n  (hidden checks do not show values)")


def test_check_unchanged_accepts_nan_and_flags_a_new_shape(checks):
    """Does check_unchanged pass an untouched array holding nan, and name a shape change?"""
    x = np.array([1.0, np.nan])
    checks.check_unchanged(x.copy(), x, what="the input x", changed_by="f(x)", case="c")
    given = np.zeros((2, 3))
    given.shape = (3, 2)
    with pytest.raises(checks.CheckFailure, match=r"f\(x\) changed the shape of the input x.*\n.*\n"
                                                  r"  expected shape \(2, 3\) \(as given\), got \(3, 2\)"):
        checks.check_unchanged(given, np.zeros((2, 3)), what="the input x", changed_by="f(x)", case="c")


def test_gradient_check_demo_echoes_nothing_after_its_table(student_view):
    """Does the gradient-check demo print its table and summary only, with no stray value echoed after it?"""
    output = student_view["gradient_check_demo"]
    assert "[echo]" not in output
    assert output.rstrip().splitlines()[-1].startswith("worst relative error")


def test_training_test_can_tell_that_training_never_finished(ref, checks):
    """Does the training cell leave training_finished False when a function raises, and the helper say so?"""
    source = notebook.cells_by_grade_id(notebook.read(asg01.MASTER))["train"].source
    rng = np.random.default_rng(0)
    namespace = dict(vars(ref), GRADING=False, epochs=1, batch_size=8, sgd_lr=0.1, sgd_momentum=0.9, lr_decay=0.7,
                     x_train=rng.normal(size=(16, 4)), y_train=np.eye(2)[rng.integers(0, 2, 16)],
                     x_val=rng.normal(size=(8, 4)), y_val=np.eye(2)[rng.integers(0, 2, 8)],
                     tqdm=lambda batches, **kwargs: batches,
                     get_mini_batches=lambda x, y, size, rng: iter([(x[:size], y[:size])]),
                     accuracy=lambda y, y_hat: 0.5)
    namespace["mlp"] = ref.MLP(4)
    namespace["mlp"].add_layer(2, ref.linear)
    finished = dict(namespace)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(source, finished)  # the reference trains to the end
    assert finished["training_finished"] is True
    checks.check_training_finished(finished["training_finished"])

    def not_implemented(*args):
        raise NotImplementedError()
    stopped = dict(namespace, mlp_gradients=not_implemented)
    with pytest.raises(NotImplementedError):
        exec(source, stopped)
    assert stopped["training_finished"] is False
    with pytest.raises(checks.CheckFailure) as failure:
        checks.check_training_finished(stopped["training_finished"])
    assert str(failure.value).startswith("the training cell did not finish, so the network was not (fully) trained")
    assert (failure.value.what, failure.value.case) == ("the training cell", "the training run above")


@pytest.mark.parametrize("loss, verdict", [(2.41, "fine"), (2.95, "fine"), (2539.6, "too far from ln 10"),
                                           (-2.3, "too far from ln 10"), (float("nan"), "too far from ln 10")])
def test_sanity_check_says_how_far_is_far(loss, verdict):
    """Does the initial-loss check give its accepted range and a verdict (fine for 2.4 and 2.95, not for a bug's loss)?"""
    source = notebook.cells_by_grade_id(notebook.read(asg01.MASTER))["sanity_initial_loss"].source
    out = io.StringIO()
    namespace = {"np": np, "softmax_categorical_cross_entropy": lambda y, y_hat: loss,
                 "mlp": type("Net", (), {"feed_forward": lambda self, x: x})(),
                 "x_train": np.zeros((1000, 2)), "y_train": np.zeros((1000, 2))}
    with contextlib.redirect_stdout(out):
        exec(source, namespace)
    assert re.fullmatch(r"initial loss \S+, expected about ln 10 = 2\.303 \(between 2\.0 and 3\.5\): "
                        + re.escape(verdict) + r".*\n", out.getvalue()), out.getvalue()


def test_gd_demo_is_seeded_and_shows_the_overshoot(student_view):
    """Does the Q3 demo print the same numbers twice, lower losses for lr 0.1 and 1, and distinct higher ones for 10 and 100?"""
    output = student_view["gd_demo"]
    assert output == student_view["gd_demo_again"]
    before = float(re.search(r"loss before the step: ([\d.]+)", output).group(1))
    after = {float(lr): (float(loss), change) for lr, loss, change in
             re.findall(r"lr = (\S+) +loss after one step: +([\d.]+) \((\w+)\)", output)}
    assert set(after) == {0.1, 1.0, 10.0, 100.0}
    assert after[0.1][1] == after[1.0][1] == "lower" and after[1.0][0] < after[0.1][0] < before
    assert after[10.0][1] == after[100.0][1] == "higher"
    assert after[100.0][0] > 5 * after[10.0][0] > 5 * before


def test_integer_inputs_are_stated_and_tested():
    """Do the relu/sigmoid and softmax prose state integer inputs, and the visible tests feed them integer arrays?"""
    cells = notebook.cells_by_grade_id(notebook.read(asg01.MASTER))
    assert "The input may hold floats or (signed) integers" in cells["intro_relu_sigmoid"].source
    assert "The logits may be floats (float64 or float32) or (signed) integers" in cells["intro_softmax"].source
    public = np.load(asg01.PUBLIC_FIXTURES)
    for grade_id, key in [("test_relu_visible", "act/int/x"), ("test_sigmoid_visible", "act/int/x"),
                          ("test_softmax_visible", "softmax/int/logits")]:
        assert f'"{key.rsplit("/", 1)[0]}"' in cells[grade_id].source, grade_id
        assert public[key].dtype == np.int64, key


def test_integer_bugs_fail_the_visible_tests_with_an_integer_hint(graded):
    """Do np.zeros_like sigmoid and softmax fail their visible test on the integer case, with a hint naming zeros_like?"""
    for entry_id, grade_id, case in [
        ("sigmoid_zeros_like", "test_sigmoid_visible", "integer vector [-3, -1, 0, 1, 3] (dtype int64)"),
        ("softmax_zeros_like_rows", "test_softmax_visible", "4x3 integer logits"),
    ]:
        message = graded[entry_id][grade_id]
        assert f"case: {case}" in message and "hint: integers in, floats out: np.zeros_like" in message, message


def test_threshold_softmax_fails_the_visible_test_on_its_own(graded):
    """Does a softmax that shifts only above a threshold fail the visible test on very negative or float32 logits?"""
    assert "case: 2x3 very negative logits alone" in graded["softmax_shift_above_700"]["test_softmax_visible"]
    float32 = graded["softmax_shift_beyond_float64_range"]["test_softmax_visible"]
    assert "case: 2x3 float32 logits (rows [95, 90, 80] and [0, 1, 2])" in float32
    assert "hint: subtract each row's maximum in every batch" in float32
