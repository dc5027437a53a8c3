"""Checks that the asg01 notebook's test cells use to explain what is wrong: asg01's own part.

Released beside ``asg01.ipynb`` (students import it in Colab or Jupyter); it needs
only numpy and the course's generic checks, ``course_checks`` (released beside it too),
whose names it re-exports: the notebook and the hidden checks import every check from
here. This module holds what only asg01 needs: the test-owned activations and losses,
the gradient check, recorded networks and the SGD checks, and the public fixtures.

Letters used in shapes throughout the assignment: ``N`` batch size, ``D`` input
features, ``H`` hidden units, ``C`` classes; a layer's weights are ``w (n, p)`` and
its bias ``b (p,)``.
"""

import contextlib
import math
import pathlib

import numpy as np

# Every public name of the course's generic checks, re-exported: the notebook and the hidden
# checks import all their checks from this module. (course_checks binds numpy's routines as
# it is imported, that is here, before any student code runs.)
from course_checks import (  # noqa: F401 (re-exported)
    ATOL,
    FAILED,
    FINITE_HINT,
    FLOAT32_ATOL,
    FLOAT32_RTOL,
    IN_PLACE_HINT,
    NOT_FINITE,
    NOT_IMPLEMENTED,
    RAISED,
    RTOL,
    WRONG_SHAPE,
    WRONG_TYPE,
    WRONG_VALUE,
    WRONG_VALUES,
    CheckFailure,
    call,
    check_array,
    check_scalar,
    check_true,
    check_unchanged,
    frozen,
    passed,
    quiet,
    read_only_arrays,
    smoke_passed,
)

# The released reference arrays (source/asg01/assignment.toml names the same file).
PUBLIC_FIXTURES = "asg01_public_fixtures.npz"

# Bound at import, like course_checks' numpy routines.
_ndarray = np.ndarray


def check_training_finished(finished):
    """Fail, saying why, when the training cell stopped before its end (``training_finished``).

    Without this, a network that was never trained fails the accuracy check with a hint
    about hyper-parameters, when the real problem is an error further up.
    """
    check_true(finished is True,
               "the training cell did not finish, so the network was not (fully) trained: it stopped with an "
               "error (scroll up to the training cell, or to the first cell with an error above it)\n"
               "  case: the training run above\n"
               "  hint: fix that first error (Kernel -> Restart & Run All shows it), then run the notebook "
               "again; the accuracy checked here means nothing before training has run to its end.",
               what="the training cell", case="the training run above",
               hint="fix the first error in the notebook, then run it again from the top.")


def load_public_fixtures(directory="."):
    """The public reference arrays, as a dict of name -> read-only ``np.ndarray``.

    Generated from the master notebook's reference solution by
    ``python -m mlpcourse fixtures``; never edit by hand.
    """
    return read_only_arrays(pathlib.Path(directory) / PUBLIC_FIXTURES)


# Activations and a loss owned by the tests, so that the tests of feed_forward,
# mlp_gradients and SGD never depend on the student's relu/sigmoid/softmax: a bug
# there must cost only that function's points.

def tanh_act(x, deriv=False):
    """tanh, or its derivative ``1 - tanh(x)**2`` with respect to ``x``."""
    t = np.tanh(x)
    return 1.0 - t * t if deriv else t


def identity_act(x, deriv=False):
    """The identity, or its derivative (ones)."""
    return np.ones_like(x) if deriv else x


def softplus_act(x, deriv=False):
    """softplus ``log(1 + e^x)``, or its derivative, the logistic function."""
    if deriv:
        return 0.5 * (1.0 + np.tanh(0.5 * x))
    return np.logaddexp(0.0, x)


def logistic_act(x, deriv=False):
    """The logistic function in tanh form, or its derivative ``s(1 - s)``."""
    s = 0.5 * (1.0 + np.tanh(0.5 * x))
    return s * (1.0 - s) if deriv else s


TEST_ACTIVATIONS = {
    "tanh": tanh_act,
    "identity": identity_act,
    "softplus": softplus_act,
    "logistic": logistic_act,
}


def half_squared_error(y, y_hat, return_grad=False):
    """Loss ``mean over the batch of 0.5 * sum((y_hat - y)**2)``, or its gradient.

    Parameters
    ----------
    y, y_hat : np.ndarray, shape (N, C)
    return_grad : bool
        If True return ``dL/dy_hat = (y_hat - y) / N``, shape (N, C).
    """
    if return_grad:
        return (y_hat - y) / y.shape[0]
    return float(np.mean(0.5 * np.sum((y_hat - y) ** 2, axis=1)))


def log_cosh_error(y, y_hat, return_grad=False):
    """Loss ``mean over the batch of sum(log(cosh(y_hat - y)))``, or its gradient.

    A second test-owned loss: its gradient ``tanh(y_hat - y) / N`` differs from the
    squared error's ``(y_hat - y) / N``, so an ``mlp_gradients`` that ignores its
    ``loss_function`` argument is caught.

    Parameters
    ----------
    y, y_hat : np.ndarray, shape (N, C)
    return_grad : bool
        If True return ``dL/dy_hat``, shape (N, C).
    """
    d = y_hat - y
    if return_grad:
        return np.tanh(d) / y.shape[0]
    # log(cosh(d)) = log(e^d + e^-d) - log(2), without overflow.
    return float(np.mean(np.sum(np.logaddexp(d, -d) - np.log(2.0), axis=1)))


TEST_LOSSES = {
    "half_squared_error": half_squared_error,
    "log_cosh_error": log_cosh_error,
}


def numerical_gradients(loss_of_parameters, parameters, step=1e-5):
    """Centred-difference estimate of ``d loss / d parameter`` for every weight.

    Parameters
    ----------
    loss_of_parameters : callable
        Returns the loss (float) for the current values in ``parameters``.
    parameters : list of dict
        ``[{'w': (n, p), 'b': (p,)}, ...]``; perturbed in place and restored.
    step : float
        The centred difference step ``h``; error of order ``h**2``.

    Returns
    -------
    list of dict
        Same structure and shapes as ``parameters``.
    """
    estimates = []
    for layer in parameters:
        estimate = {}
        for key in ("w", "b"):
            values = layer[key]
            grad = np.zeros_like(values, dtype=np.float64)
            for index in np.ndindex(values.shape):
                original = values[index]
                values[index] = original + step
                plus = loss_of_parameters()
                values[index] = original - step
                minus = loss_of_parameters()
                values[index] = original
                grad[index] = (plus - minus) / (2 * step)
            estimate[key] = grad
        estimates.append(estimate)
    return estimates


def relative_error(a, b):
    """``max |a - b| / max(|a| + |b|)``, the scale-free gap between two arrays."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a) + np.abs(b)), 1e-300))


# A correct backprop in float64 agrees with centred differences to ~1e-8 or better;
# a wrong one is off by 1e-2 or more.
GRADIENT_CHECK_LIMIT = 1e-6


def gradient_check(mlp, gradients_function, loss_function, x, y):
    """Compare ``gradients_function`` with centred differences, one row per tensor.

    Runs ``mlp.feed_forward`` itself, so it checks a backprop against the forward
    pass of the same network. Prints an aligned table (layer, tensor, shape,
    relative error) in backward order and returns the worst relative error.

    Parameters
    ----------
    mlp : MLP
        A small network (a few hundred weights at most: this is slow on purpose).
    gradients_function : callable
        ``mlp_gradients(mlp, loss_function, x, y)``.
    loss_function : callable
        ``loss_function(y, y_hat, return_grad=False)``.
    x : np.ndarray, shape (N, D)
    y : np.ndarray, shape (N, C)
    """
    mlp.feed_forward(x)
    analytic = gradients_function(mlp, loss_function, x, y)

    def loss():
        return loss_function(y, mlp.feed_forward(x))

    numeric = numerical_gradients(loss, mlp.parameters)
    mlp.feed_forward(x)
    if not isinstance(analytic, (list, tuple)) or len(analytic) != len(numeric):
        print(f"mlp_gradients should return a list of {len(numeric)} dicts (one per layer), got "
              f"{type(analytic).__name__}{f' of length {len(analytic)}' if hasattr(analytic, '__len__') else ''}")
        return math.inf
    print(f"{'layer':>5} {'tensor':>6} {'shape':>10} {'relative error':>15}")
    worst = 0.0
    for i in reversed(range(len(numeric))):
        for key in ("w", "b"):
            got_shape = np.shape(analytic[i][key])
            if got_shape != numeric[i][key].shape:
                error, flag = math.inf, f"  <-- wrong shape {got_shape}"
            else:
                error = relative_error(analytic[i][key], numeric[i][key])
                flag = "" if error < GRADIENT_CHECK_LIMIT else "  <-- too large"
            worst = max(worst, error)
            shape = "x".join(map(str, numeric[i][key].shape))
            print(f"{i:>5} {'d' + key:>6} {shape:>10} {error:>15.2e}{flag}")
    print(f"worst relative error {worst:.2e} (a correct backprop gives below "
          f"{GRADIENT_CHECK_LIMIT:.0e}, usually about 1e-9)")
    return worst


# Fixture layout (see mlpcourse/authoring/fixtures.py, which writes it): a network stored under
# a prefix has "x", "acts" (activation names), "w0", "b0", ..., and when recorded
# "z0", "a0", ... (weighted inputs and activations) and, with targets "y" and a
# test-owned "loss" (a name in TEST_LOSSES), "dw0", "db0", ... (gradients).

def unpack_net(fixtures, prefix):
    """The parameters and test-owned activation functions of a stored network.

    Returns
    -------
    parameters : list of dict
        ``[{'w': (n, p), 'b': (p,)}, ...]`` (fresh copies).
    act_funcs : list of callable
    """
    names = [str(name) for name in fixtures[f"{prefix}/acts"]]
    parameters = [{"w": fixtures[f"{prefix}/w{i}"].copy(), "b": fixtures[f"{prefix}/b{i}"].copy()}
                  for i in range(len(names))]
    return parameters, [TEST_ACTIVATIONS[name] for name in names]


class RecordedMLP:
    """A network whose forward pass on its recorded input was computed by the reference.

    It has the attributes of ``MLP`` (``input_dim``, ``parameters``, ``act_funcs``,
    ``weighted_ins``, ``activations``) already filled, so ``mlp_gradients`` can be
    tested without the student's ``feed_forward``. Calling ``feed_forward`` on the
    recorded input restores the recorded values; any other input is refused.
    """

    def __init__(self, fixtures, prefix):
        self.parameters, self.act_funcs = unpack_net(fixtures, prefix)
        self.x = fixtures[f"{prefix}/x"]
        self.y = fixtures[f"{prefix}/y"]
        self.loss_name = str(fixtures[f"{prefix}/loss"])
        self.loss_function = TEST_LOSSES[self.loss_name]
        self.input_dim = self.x.shape[1]
        self._weighted_ins = [fixtures[f"{prefix}/z{i}"] for i in range(len(self.parameters))]
        self._activations = [fixtures[f"{prefix}/a{i}"] for i in range(len(self.parameters))]
        self.feed_forward(self.x)

    def feed_forward(self, X):
        """Replay the recorded forward pass; ``X`` must be the recorded input."""
        if np.shape(X) != self.x.shape or not np.array_equal(X, self.x):
            raise CheckFailure("the test network can only be run on the batch it was given")
        self.weighted_ins = [z.copy() for z in self._weighted_ins]
        self.activations = [a.copy() for a in self._activations]
        return self.activations[-1]


def recorded_net(fixtures, prefix):
    """A :class:`RecordedMLP` for the network stored under ``prefix``."""
    return RecordedMLP(fixtures, prefix)


def check_gradients(grads, fixtures, prefix, *, case):
    """Compare ``mlp_gradients`` output with the reference, last layer first.

    Stops at the first wrong tensor and says which layers were already right,
    since an error in layer ``i`` usually spreads to every layer below it.
    """
    num_layers = len([k for k in fixtures if k.startswith(f"{prefix}/dw")])
    check_true(isinstance(grads, (list, tuple)) and len(grads) == num_layers,
               f"mlp_gradients should return a list with one dict per layer ({num_layers}), got "
               f"{type(grads).__name__}{f' of length {len(grads)}' if hasattr(grads, '__len__') else ''}"
               f"\n  case: {case}", what="the list mlp_gradients returns", case=case)
    correct = []
    for i in reversed(range(num_layers)):
        layer = grads[i]
        check_true(isinstance(layer, dict) and {"w", "b"} <= set(layer),
                   f"mlp_gradients(...)[{i}] should be a dict with keys 'w' and 'b', got {layer!r:.80}"
                   f"\n  case: {case}", what=f"mlp_gradients(...)[{i}]", case=case)
        expected = {"w": fixtures[f"{prefix}/dw{i}"], "b": fixtures[f"{prefix}/db{i}"]}
        for key, hint in (
            ("w", "dw = A_prev.T @ delta, where delta = g * f'(Z) and A_prev is the input of this layer "
                  "(x for layer 0); the loss gradient already includes 1/N."),
            ("b", "db = delta summed over the batch (axis=0), shape (p,)."),
        ):
            got = layer[key]
            if np.shape(got) != expected[key].shape:
                mirror = fixtures[f"{prefix}/d{key}{num_layers - 1 - i}"].shape
                if np.shape(got) == mirror and mirror != expected[key].shape:
                    hint = "the shapes match the mirror layer: return the gradients in layer order, first layer first."
            try:
                check_array(got, expected[key], what=f"mlp_gradients(...)[{i}]['{key}']", case=case, hint=hint)
            except CheckFailure as failure:
                checked = ", ".join(correct) or "none"
                raise CheckFailure(f"{failure}\n  already correct (backward order): {checked}",
                                   problem=failure.problem, what=failure.what, case=failure.case,
                                   hint=failure.hint) from None
            correct.append(f"layer {i} d{key}")


# For a failure of a new SGD object whose velocity was not empty before its first step.
INHERITED_VELOCITY_HINT = ("a new SGD object must start with an empty velocity: create it in __init__ "
                           "(self.velocity = []), not in the class body, in a default argument "
                           "(velocity=[]) or in a global, which every optimiser shares.")


def _shapes(velocity):
    """The shapes in a velocity list, "(3, 4) and (4,); (4, 2) and (2,)", or "" if it holds other things."""
    if not all(isinstance(layer, dict) and all(isinstance(layer.get(key), _ndarray) for key in ("w", "b"))
               for layer in velocity):
        return ""
    return "; ".join(" and ".join(str(layer[key].shape) for key in ("w", "b")) for layer in velocity)


def new_optimizer(sgd_class, *, case, **kwargs):
    """``sgd_class(**kwargs)``, and a note for failures if its velocity is not empty yet.

    A velocity kept on the class, in a default argument or in a global survives from
    one optimiser to the next; the note says which shapes the new object inherited, so
    that a shape error in its first step can be traced to the earlier optimiser.

    Returns
    -------
    optimizer : SGD
    inherited : str
        "" when ``optimizer.velocity`` is empty, else the note.
    """
    optimizer = call(sgd_class, case=case, **kwargs)
    velocity = getattr(optimizer, "velocity", None)
    if not isinstance(velocity, (list, tuple)) or not velocity:
        return optimizer, ""
    shapes = _shapes(velocity)
    return optimizer, (
        f"note: this SGD object was created just before its first step, yet its velocity already held "
        f"{len(velocity)} entr{'y' if len(velocity) == 1 else 'ies'}{f' (shapes {shapes})' if shapes else ''}: "
        "an earlier SGD object left them there (the notebook's other cells and tests create optimisers too)")


@contextlib.contextmanager
def _explained(inherited):
    """Add the note ``inherited`` (see :func:`new_optimizer`), if any, to a failure inside."""
    try:
        yield
    except CheckFailure as failure:
        if not inherited:
            raise
        raise CheckFailure(f"{failure}\n  {inherited}\n  hint: {INHERITED_VELOCITY_HINT}", problem=failure.problem,
                           what=failure.what, case=failure.case, hint=INHERITED_VELOCITY_HINT,
                           error_type=failure.error_type) from None


def step_once(sgd_class, *, case):
    """One step of a new ``sgd_class()`` on one 2x2 layer: the hidden SGD cell's smoke call."""
    optimizer, inherited = new_optimizer(sgd_class, case=case)
    with _explained(inherited):
        call(optimizer.step, [{"w": np.zeros((2, 2)), "b": np.zeros(2)}],
             [{"w": np.ones((2, 2)), "b": np.ones(2)}], case=case)


def check_sgd_run(sgd_class, fixtures, prefix, *, case):
    """Run ``SGD.step`` on recorded gradients; check parameters and velocity each step.

    The stored run has ``lr``, ``momentum``, ``steps``, the initial ``w{l}``/``b{l}``,
    per step ``s`` the gradients ``gw{s}_{l}``/``gb{s}_{l}`` and the reference
    parameters ``pw{s}_{l}``/``pb{s}_{l}`` and velocities ``vw{s}_{l}``/``vb{s}_{l}``.
    """
    lr, momentum = float(fixtures[f"{prefix}/lr"]), float(fixtures[f"{prefix}/momentum"])
    optimizer, inherited = new_optimizer(sgd_class, lr=lr, momentum=momentum, case=case)
    with _explained(inherited):
        _run_steps(optimizer, fixtures, prefix, case)


def _run_steps(optimizer, fixtures, prefix, case):
    """The steps of :func:`check_sgd_run`, on ``optimizer``."""
    steps = int(fixtures[f"{prefix}/steps"])
    num_layers = len([k for k in fixtures if k.startswith(f"{prefix}/w")])
    parameters = [{"w": fixtures[f"{prefix}/w{l}"], "b": fixtures[f"{prefix}/b{l}"]} for l in range(num_layers)]
    for s in range(steps):
        grads = [{"w": fixtures[f"{prefix}/gw{s}_{l}"], "b": fixtures[f"{prefix}/gb{s}_{l}"]}
                 for l in range(num_layers)]
        grads_given = frozen(grads)
        updated = call(optimizer.step, frozen(parameters), grads_given, case=f"{case}, step {s + 1}")
        here = f"{case}, after step {s + 1}"
        check_true(isinstance(updated, (list, tuple)) and len(updated) == num_layers,
                   f"SGD.step should return a list of {num_layers} dicts, got {type(updated).__name__}"
                   f"\n  case: {here}", what="the list SGD.step returns", case=here)
        velocity = getattr(optimizer, "velocity", None)
        check_true(isinstance(velocity, (list, tuple)) and len(velocity) == num_layers,
                   f"SGD.velocity should be a list of {num_layers} dicts like the parameters, got "
                   f"{type(velocity).__name__}{f' of length {len(velocity)}' if hasattr(velocity, '__len__') else ''}"
                   f"\n  case: {here}", what="SGD.velocity", case=here)
        for l in range(num_layers):
            for key in ("w", "b"):
                check_unchanged(grads_given[l][key], grads[l][key], what=f"grads[{l}]['{key}']",
                                changed_by="SGD.step", case=here,
                                hint="SGD.step must not modify the gradients it is given: compute "
                                     "lr * g into a new array (v = momentum * v - lr * g).")
                check_array(velocity[l][key], fixtures[f"{prefix}/v{key}{s}_{l}"],
                            what=f"SGD.velocity[{l}]['{key}']", case=here,
                            hint="v = momentum * v - lr * grad, with one velocity per layer and per "
                                 "tensor, starting at zeros and kept between calls.")
                check_array(updated[l][key], fixtures[f"{prefix}/p{key}{s}_{l}"],
                            what=f"SGD.step(...)[{l}]['{key}'] (the updated parameters)", case=here,
                            hint="w = w + v (after updating v); biases are updated too.")
        parameters = [{"w": fixtures[f"{prefix}/pw{s}_{l}"], "b": fixtures[f"{prefix}/pb{s}_{l}"]}
                      for l in range(num_layers)]
