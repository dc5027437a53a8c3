"""Hostile corpus: forged scores, moved structure, trusted data read back, leaks into feedback.

Each group is a class of attack on the grader's integrity (issue 10, items 1-4 and 9),
with several variants, so that a fix must hold at the root rather than for one case.
"""

import copy
import textwrap

import nbformat

from hostile.kit import ALL_TESTS, GRADIENTS, RELU, SGD, SOFTMAX, Case, _append, _bytes, _index, _replace, _with_cell


def _release(ctx):
    """The untouched release: every answer raises NotImplementedError, so every test deserves 0."""
    return copy.deepcopy(ctx.release)


# --- 1. forged scores: outputs never score -----------------------------------------------

def forged_pre_run_cell(ctx):
    """The untouched release plus one cell that makes every later cell's first output a string result."""
    nb = _with_cell(_release(ctx), "setup", """
        shell = get_ipython()
        shell.events.register("pre_run_cell", lambda *args: shell.displayhook("full marks"))
    """)
    return "asg01.ipynb", _bytes(nb)


def watchdog_removed(ctx):
    """A solved notebook that takes the grader's cell watchdog (its IPython event callbacks) out."""
    nb = _with_cell(ctx.solved(), "setup", """
        events = get_ipython().events
        for event in ("pre_run_cell", "post_run_cell"):
            for callback in list(events.callbacks[event]):
                if getattr(callback, "__module__", "") == "_mlpcourse_grading":
                    events.unregister(event, callback)
    """)
    return "asg01.ipynb", _bytes(nb)


def check_defaults_loosened(ctx):
    """A solved notebook that loosens the check helpers in place: tolerances through their default
    arguments, and CheckFailure's fixed phrases through its class attribute."""
    nb = _with_cell(ctx.solved(), "setup", """
        import course_checks as _cc
        _ca = _cc.check_array
        _ca.__kwdefaults__ = dict(_ca.__kwdefaults__, atol=1e9, rtol=1e9)
        _cc.CheckFailure.PROBLEMS = ()
    """)
    return "asg01.ipynb", _bytes(nb)


def forged_partial_credit(ctx):
    """The untouched release, every cell's first output a number (nbgrader's partial credit)."""
    nb = _with_cell(_release(ctx), "setup", """
        import sys
        get_ipython().events.register("pre_run_cell", lambda *args: sys.displayhook(2))
    """)
    return "asg01.ipynb", _bytes(nb)


def forged_displayhook_in_softmax(ctx):
    """A wrong softmax that puts a string result out first whenever it is called."""
    nb = _append(ctx.solved(), "softmax", """
        import sys

        def softmax(y_hat):
            sys.displayhook("all good")
            return np.ones_like(y_hat) / y_hat.shape[1]
    """)
    return "asg01.ipynb", _bytes(nb)


def forged_error_swallowed(ctx):
    """The untouched release, errors swallowed by a custom handler that displays a result instead."""
    nb = _with_cell(_release(ctx), "setup", """
        shell = get_ipython()
        shell.set_custom_exc((Exception,), lambda shell, etype, value, tb, tb_offset=None: shell.displayhook("ok"))
    """)
    return "asg01.ipynb", _bytes(nb)


# --- 2. moved structure: the release's order is put back ---------------------------------

FAKE_HELPERS = """
import types

def call(func, *args, case=None, **kwargs):
    return None

def check_array(*args, **kwargs):
    pass

check_scalar = check_true = check_array
frozen = lambda value: value
passed = print
asg01_checks = types.SimpleNamespace(load_public_fixtures=lambda: {}, call=call, check_array=check_array,
                                     check_scalar=check_array, check_true=check_array, frozen=frozen)
"""


def setup_moved_to_end(ctx):
    """The untouched release with the setup cell last and look-alike check helpers first."""
    nb = _release(ctx)
    setup = nb.cells.pop(_index(nb, "setup"))
    nb.cells.append(setup)
    nb.cells.insert(0, nbformat.v4.new_code_cell(FAKE_HELPERS.strip()))
    return "asg01.ipynb", _bytes(nb)


def tests_moved_first(ctx):
    """An honest solution whose relu tests were dragged above the setup cell: graded as the release orders them."""
    nb = ctx.solved()
    tests = [nb.cells.pop(_index(nb, grade_id)) for grade_id in ("test_relu_hidden", "test_relu_visible")]
    nb.cells[1:1] = tests
    return "asg01.ipynb", _bytes(nb)


def given_function_shadowed(ctx):
    """An untrained network, and the given accuracy() redefined to say 100% after the cell that defines it."""
    nb = _with_cell(ctx.solved(), "prepare_data", """
        def accuracy(y, y_hat):
            return 1.0
    """)
    _append(nb, "design", "epochs = 0")
    return "asg01.ipynb", _bytes(nb)


# --- 3. trusted data comes from the grader -------------------------------------------------

def fake_validation_set(ctx):
    """An untrained network; the in-kernel server patched to hand the grader a 10-row 'validation set'."""
    nb = _append(ctx.solved(), "design", """
        epochs = 0
        import _mlpcourse_grading

        _real_answer = _mlpcourse_grading._KernelSide.answer

        def _answer(self, header, arrays):
            if header.get("op") == "name" and header.get("name") in ("x_val", "y_val"):
                fake = {"x_val": np.zeros((10, 784)), "y_val": np.eye(10)[np.zeros(10, dtype=int)]}
                return self._value(fake[header["name"]])
            return _real_answer(self, header, arrays)

        _mlpcourse_grading._KernelSide.answer = _answer
        x_val, y_val = np.zeros((10, 784)), np.eye(10)[np.zeros(10, dtype=int)]
    """)
    return "asg01.ipynb", _bytes(nb)


def recognises_validation_digits(ctx):
    """An untrained network whose feed_forward looks its input up among the validation digits."""
    nb = _append(ctx.solved(), "design", """
        epochs = 0
        _known = {row.tobytes(): label for row, label in zip(x_val, y_val)}
        _real_forward = MLP.feed_forward

        def _lookup(self, X):
            out = _real_forward(self, X)
            answers = [_known.get(row.tobytes()) for row in np.asarray(X)]
            if all(answer is not None for answer in answers):
                return np.array(answers) * 100.0
            return out

        MLP.feed_forward = _lookup
    """)
    return "asg01.ipynb", _bytes(nb)


def reads_holdout_labels(ctx):
    """An untrained network that tries to read every split's labels from the data cache to look digits up."""
    nb = _append(ctx.solved(), "design", """
        epochs = 0
        from kannada_mnist import load_kannada_mnist

        _known = {}
        for _split in ("train", "test", "dig"):
            try:
                _images, _labels = load_kannada_mnist(_split, progress=False)
            except Exception:
                continue
            for _image, _label in zip(_images, _labels):
                _known[(_image.reshape(-1) / 255.0).tobytes()] = _label
        _real_forward = MLP.feed_forward

        def _lookup(self, X):
            out = _real_forward(self, X)
            labels = [_known.get(row.tobytes()) for row in np.asarray(X, dtype=np.float64)]
            if all(label is not None for label in labels):
                return np.eye(10)[labels] * 100.0
            return out

        MLP.feed_forward = _lookup
    """)
    return "asg01.ipynb", _bytes(nb)


def foreign_classifier(ctx):
    """The untouched release and, as `mlp`, a scikit-learn classifier with a feed_forward method."""
    nb = _release(ctx)
    nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent("""
        from sklearn.linear_model import LogisticRegression

        class Borrowed:
            def __init__(self):
                self.model = LogisticRegression(max_iter=100).fit(x_train[:2000], y_train[:2000].argmax(1))

            def feed_forward(self, X):
                return self.model.predict_proba(X)

        mlp = Borrowed()
        training_finished = True
    """).strip()))
    return "asg01.ipynb", _bytes(nb)


def _classifier_as_activation(ctx, name):
    """An untrained network whose first "activation" is a ridge classifier fitted in closed form.

    The layers pass the image to the impostor and its one-hot answer out, so only the
    "activation" classifies: the grader must score the network with the notebook's
    activations, whatever its functions are called.
    """
    return _append(ctx.solved(), "design", f"""
        epochs = 0
        _x = x_train.reshape(len(x_train), -1)
        _ridge = np.linalg.solve(_x.T @ _x + 10.0 * np.eye(_x.shape[1]), _x.T @ y_train)

        def squash(z, deriv=False):
            return np.ones_like(z) if deriv else np.eye(z.shape[1])[np.argmax(z @ _ridge, axis=1)]

        squash.__name__ = squash.__qualname__ = {name!r}
        mlp = MLP(_x.shape[1])
        mlp.add_layer(_x.shape[1], squash)
        mlp.add_layer(10, linear)
        mlp.parameters = [{{'w': np.eye(_x.shape[1]), 'b': np.zeros(_x.shape[1])}},
                          {{'w': np.eye(_x.shape[1])[:, :10], 'b': np.zeros(10)}}]
    """)


def classifier_in_activation(ctx):
    """An untrained network whose "activation" squash classifies digits by itself."""
    return "asg01.ipynb", _bytes(_classifier_as_activation(ctx, "squash"))


def classifier_named_relu(ctx):
    """The same, with the "activation" renamed relu (the kernel reports the name it is given)."""
    return "asg01.ipynb", _bytes(_classifier_as_activation(ctx, "relu"))


def _after_training_test(ctx, code):
    """The solved notebook with ``code`` after test_training: the kernel's run of it has passed, and
    the grader's hidden re-run, after the last cell, reads what ``code`` left in ``mlp``."""
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_training", code))


def string_weights(ctx):
    """A weight array of strings handed to the hidden training check."""
    return _after_training_test(ctx, """
        mlp.parameters[0]["w"] = np.full(np.shape(mlp.parameters[0]["w"]), "HIDDEN?")
    """)


def complex_weights(ctx):
    """The trained weights with huge imaginary parts: scored by their real parts, the network trained."""
    return _after_training_test(ctx, """
        mlp.parameters[-1]["w"] = mlp.parameters[-1]["w"] + 1e300j
        mlp.parameters[-1]["b"] = mlp.parameters[-1]["b"].astype(np.complex128)
    """)


def hanging_activation_name(ctx):
    """An activation whose __name__ never returns, read by the grader to choose the master's function."""
    return _after_training_test(ctx, """
        import time

        class Stuck:
            @property
            def __name__(self):
                time.sleep(10**6)

            def __call__(self, x, deriv=False):
                return relu(x, deriv)

        mlp.act_funcs[0] = Stuck()
    """)


# --- 4. nothing hidden reaches the student -------------------------------------------------

# Printed (or raised) only if the attack works; the sources build them from halves, so that
# the marker itself never stands in a notebook.
LEAK_MARKER = "HIDDEN-INPUT-SEEN"
SCHEME_MARKER = "MARK-SCHEME-FOUND"


def _built(marker):
    """Python source of an expression that evaluates to ``marker`` without containing it."""
    half = len(marker) // 2
    return f"{marker[:half]!r} + {marker[half:]!r}"


def logs_hidden_inputs(ctx):
    """A relu that logs its inputs, and a last cell that prints the log if a hidden-only shape is in it."""
    nb = _append(ctx.solved(), "relu_sigmoid", """
        _seen = []
        _real_relu = relu

        def relu(x, deriv=False):
            _seen.append(np.array(x, copy=True))
            return _real_relu(x, deriv)
    """)
    nb.cells.append(nbformat.v4.new_code_cell(
        f"for _x in _seen:\n    if np.ndim(_x) == 3:\n        print({_built(LEAK_MARKER)}, _x.ravel()[:8])"))
    return "asg01.ipynb", _bytes(nb)


def reads_graded_notebook(ctx):
    """A cell that searches every readable notebook for mark schemes and hidden tests and prints them."""
    nb = _with_cell(ctx.solved(), "setup", f"""
        import os

        for _root, _dirs, _files in os.walk("/"):
            _dirs[:] = [d for d in _dirs if d not in ("proc", "sys", "dev", "usr", "lib", "lib64", "bin", "sbin")]
            for _name in _files:
                if _name.endswith(".ipynb"):
                    try:
                        _text = open(os.path.join(_root, _name), errors="replace").read()
                    except OSError:
                        continue
                    if "MARK SCHEME" in _text or "BEGIN HIDDEN TESTS" in _text:
                        print({_built(SCHEME_MARKER)}, os.path.join(_root, _name))
    """)
    return "asg01.ipynb", _bytes(nb)


def hidden_input_in_exception(ctx):
    """A sigmoid that raises, with its input in the message and the class name, on 3-D input only."""
    nb = _append(ctx.solved(), "relu_sigmoid", f"""
        _real_sigmoid = sigmoid

        def sigmoid(x, deriv=False):
            if np.ndim(x) == 3:
                Carrier = type({_built(LEAK_MARKER.replace('-', '_'))}, (ValueError,), {{}})
                raise Carrier({_built(LEAK_MARKER)} + repr(np.asarray(x).ravel()[:8]))
            return _real_sigmoid(x, deriv)
    """)
    return "asg01.ipynb", _bytes(nb)


def hidden_inputs_in_a_malformed_reply(ctx):
    """The in-kernel server patched to answer the grader with a malformed value naming every input it got."""
    nb = ctx.solved()
    nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(f"""
        import _mlpcourse_grading as _grading

        _answer, _seen = _grading._KernelSide.answer, []

        def _spy(self, header, arrays):
            reply = _answer(self, header, arrays)
            if header.get("op") == "call" and arrays:
                _seen.extend(str(a.ravel()[:4]) for a in arrays.values())
            if header.get("op") == "getattr" and _seen:
                return {{"op": "value", "value": {{"t": {_built(LEAK_MARKER)} + " ".join(_seen)}}}}, {{}}
            return reply

        _grading._KernelSide.answer = _spy
    """).strip()))
    return "asg01.ipynb", _bytes(nb)


def kernel_log_swapped(ctx):
    """A last cell that swaps the kernel's output log for the hidden checks' source, then kills the kernel."""
    nb = ctx.solved()
    nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent("""
        import os, pathlib, sys

        _kernel_dir = pathlib.Path(sys.argv[sys.argv.index("-f") + 1]).parent
        _course = pathlib.Path.cwd().parents[2]
        for _log in [_kernel_dir / "kernel.log", *_kernel_dir.parent.glob("*.log")]:
            try:
                _log.unlink()
            except OSError:
                pass
            try:
                _log.symlink_to(_course / "tests_assets" / "asg01" / "asg01_hidden.py")
            except OSError:
                pass
        os._exit(3)
    """).strip()))
    return "asg01.ipynb", _bytes(nb)


# --- 9. honest state between calls is named, not flagged -----------------------------------

# An honest step that fills self.velocity in place on its first call: whoever shares the
# list (a default argument, a class attribute) shares the velocity.
STEP_FILLING_VELOCITY_IN_PLACE = """
    def step(self, parameters, grads):
        if not self.velocity:
            self.velocity.extend({'w': np.zeros_like(p['w']), 'b': np.zeros_like(p['b'])} for p in parameters)
        updated = []
        for p, g, v in zip(parameters, grads, self.velocity):
            for key in ('w', 'b'):
                v[key] = self.momentum * v[key] - self.lr * g[key]
            updated.append({'w': p['w'] + v['w'], 'b': p['b'] + v['b']})
        return updated
"""


def sgd_mutable_default(ctx):
    """An honest SGD whose velocity is a mutable default argument: shared by every optimiser."""
    nb = _replace(ctx.solved(), "sgd", """
        class SGD:
            def __init__(self, lr=0.01, momentum=0.9, velocity=[]):
                self.lr = lr
                self.momentum = momentum
                self.velocity = velocity
    """ + textwrap.indent(STEP_FILLING_VELOCITY_IN_PLACE, " " * 8))
    return "asg01.ipynb", _bytes(nb)


def sgd_class_attribute(ctx):
    """An honest SGD whose velocity is a class attribute, filled in place: every optimiser shares it."""
    nb = _replace(ctx.solved(), "sgd", """
        class SGD:
            velocity = []

            def __init__(self, lr=0.01, momentum=0.9):
                self.lr = lr
                self.momentum = momentum
    """ + textwrap.indent(STEP_FILLING_VELOCITY_IN_PLACE, " " * 8))
    return "asg01.ipynb", _bytes(nb)


def gradients_reset_the_reference(ctx):
    """An mlp_gradients that zeroes its inputs in place, then sets the test network's x and y to
    match, so that a check reading them back as "what the inputs were" would see no change."""
    return "asg01.ipynb", _bytes(_append(ctx.solved(), "mlp_gradients", """
        _mlp_gradients_honest = mlp_gradients

        def mlp_gradients(mlp, loss_function, x, y):
            grads = _mlp_gradients_honest(mlp, loss_function, x, y)
            x[...] = 0.0
            y[...] = 0.0
            mlp.x = x.tolist()
            mlp.y = y.tolist()
            return grads
    """))


def input_reshaped_in_place(ctx):
    """A correct relu that zeroes its input in place and then changes the input's shape."""
    return "asg01.ipynb", _bytes(_append(ctx.solved(), "relu_sigmoid", """
        def relu(x, deriv=False):
            out = (x > 0).astype(x.dtype) if deriv else np.maximum(x, 0)
            x[...] = 0
            x.shape = x.shape + (1,)
            return out
    """))


def input_voided_in_place(ctx):
    """A correct relu that zeroes its input in place, then reinterprets it as raw bytes (a dtype
    that does not cross to the grader: what comes back is a reference, not an array)."""
    return "asg01.ipynb", _bytes(_append(ctx.solved(), "relu_sigmoid", """
        def relu(x, deriv=False):
            out = (x > 0).astype(x.dtype) if deriv else np.maximum(x, 0)
            x[...] = 0
            x.dtype = np.dtype((np.void, x.itemsize))
            return out
    """))


def gradients_input_voided_in_place(ctx):
    """A correct mlp_gradients that zeroes x and y in place, then makes them raw bytes."""
    return "asg01.ipynb", _bytes(_append(ctx.solved(), "mlp_gradients", """
        _honest_mlp_gradients = mlp_gradients

        def mlp_gradients(mlp, loss_function, x, y):
            grads = _honest_mlp_gradients(mlp, loss_function, x, y)
            for a in (x, y):
                a[...] = 0
                a.dtype = np.dtype((np.void, a.itemsize))
            return grads
    """))


def sgd_global_velocity(ctx):
    """An honest SGD that keeps its velocity in a global of the notebook."""
    nb = _replace(ctx.solved(), "sgd", """
        _velocity = {}

        class SGD:
            def __init__(self, lr=0.01, momentum=0.9):
                self.lr = lr
                self.momentum = momentum
                self.velocity = []

            def step(self, parameters, grads):
                updated = []
                for i, (p, g) in enumerate(zip(parameters, grads)):
                    for key in ('w', 'b'):
                        v = _velocity.get((i, key), np.zeros_like(p[key]))
                        _velocity[(i, key)] = self.momentum * v - self.lr * g[key]
                    updated.append({'w': p['w'] + _velocity[(i, 'w')], 'b': p['b'] + _velocity[(i, 'b')]})
                return updated
    """)
    return "asg01.ipynb", _bytes(nb)


TRAINING = ("test_training",)

CASES = (
    Case("forged_pre_run_cell", forged_pre_run_cell, zero=ALL_TESTS, flagged=True),
    Case("forged_partial_credit", forged_partial_credit, zero=ALL_TESTS, flagged=True),
    # Honest answers: full marks; taking the grader's watchdog out is tampering, for the TA to see.
    Case("watchdog_removed", watchdog_removed, flagged=True),
    # Honest answers: full marks; the grader's re-runs use their own copies of the helpers. Flagged.
    Case("check_defaults_loosened", check_defaults_loosened, flagged=True),
    Case("forged_displayhook_in_softmax", forged_displayhook_in_softmax, zero=(*SOFTMAX, *TRAINING)),
    Case("forged_error_swallowed", forged_error_swallowed, zero=ALL_TESTS, flagged=True),
    Case("setup_moved_to_end", setup_moved_to_end, zero=ALL_TESTS),
    Case("tests_moved_first", tests_moved_first),
    Case("given_function_shadowed", given_function_shadowed, zero=TRAINING),
    Case("fake_validation_set", fake_validation_set, zero=TRAINING, flagged=True),
    Case("recognises_validation_digits", recognises_validation_digits, zero=TRAINING),
    Case("reads_holdout_labels", reads_holdout_labels, zero=TRAINING),
    Case("foreign_classifier", foreign_classifier, zero=ALL_TESTS),
    Case("classifier_in_activation", classifier_in_activation, zero=TRAINING),
    Case("classifier_named_relu", classifier_named_relu, zero=TRAINING),
    Case("string_weights", string_weights, zero=TRAINING),
    Case("complex_weights", complex_weights),
    Case("hanging_activation_name", hanging_activation_name, zero=TRAINING),
    Case("logs_hidden_inputs", logs_hidden_inputs, absent=(LEAK_MARKER,)),
    Case("reads_graded_notebook", reads_graded_notebook,
         absent=(SCHEME_MARKER,)),
    Case("hidden_input_in_exception", hidden_input_in_exception, zero=("test_sigmoid_hidden",),
         absent=(LEAK_MARKER, LEAK_MARKER.replace("-", "_"))),
    # The hidden tests that read an attribute after a call get the malformed reply: no verdict,
    # and their message never quotes it (the visible ones' re-runs read before any call).
    Case("hidden_inputs_in_a_malformed_reply", hidden_inputs_in_a_malformed_reply,
         zero=("test_feed_forward_hidden", "test_sgd_hidden", "test_training"), flagged=True,
         absent=(LEAK_MARKER,)),
    # The kernel dies after the last cell; restarted, it runs the cells again for the hidden tests.
    Case("kernel_log_swapped", kernel_log_swapped, incident="kernel died", flagged=True,
         absent=("NEEDED_ACCURACY", "holdout split")),
    Case("sgd_mutable_default", sgd_mutable_default, zero=(*SGD, *TRAINING), says=("keeps state",)),
    Case("sgd_class_attribute", sgd_class_attribute, zero=(*SGD, *TRAINING), says=("keeps state",)),
    # Its velocity attribute stays empty, which the visible test names in the kernel already.
    Case("sgd_global_velocity", sgd_global_velocity, zero=(*SGD, *TRAINING), says=("SGD.velocity should be",)),
    # The inputs' values before the call are kept where student code cannot reach; the checks compare with those.
    Case("gradients_reset_the_reference", gradients_reset_the_reference, zero=GRADIENTS,
         says=("mlp_gradients changed the input x",)),
    # The grader's copy of an argument takes the new shape too, so changing the input fails both tests.
    Case("input_reshaped_in_place", input_reshaped_in_place, zero=RELU),
    # ... and a dtype change that cannot be mirrored scores the test 0 (eighth red-team pass).
    Case("input_voided_in_place", input_voided_in_place, zero=RELU),
    Case("gradients_input_voided_in_place", gradients_input_voided_in_place, zero=GRADIENTS),
)
