"""Hidden checks of asg01, imported by the hidden test cells at grading time.

Never released to students: nbgrader_config.py puts this folder on the grading
kernel's import path. The reference values come from ``asg01_hidden_fixtures.npz``
beside this file, computed by the master notebook's solution
(``python -m mlpcourse fixtures``). Each ``check_*`` raises ``CheckFailure`` (the course's
generic one, from ``course_checks``, which ``asg01_checks`` re-exports with every other
generic check) with a student-readable message on the first problem.

The tests of feed_forward, mlp_gradients and SGD use the test-owned activations and
loss of ``asg01_checks``, never the student's relu/sigmoid/softmax, so that one bug
costs only its own function's points.
"""

import pathlib

import numpy as np

from asg01_checks import (
    ATOL,
    FLOAT32_ATOL,
    FLOAT32_RTOL,
    RTOL,
    WRONG_TYPE,
    WRONG_VALUES,
    CheckFailure,
    RecordedMLP,
    call,
    check_array,
    check_gradients,
    check_scalar,
    check_sgd_run,
    check_true,
    check_unchanged,
    frozen,
    read_only_arrays,
    unpack_net,
)
from kannada_mnist import grading_splits, load_kannada_mnist

FIXTURES = pathlib.Path(__file__).with_name("asg01_hidden_fixtures.npz")


def _fixtures():
    return read_only_arrays(FIXTURES)


def _prefixes(F, start):
    """The stored cases whose names start with ``start`` (e.g. "grad/random"), sorted."""
    return sorted({key.rsplit("/", 1)[0] for key in F if key.startswith(start)})


def _describe(F, prefix):
    """A stored network in words: "batch of 2, layers 3 -> 1 (tanh) -> 4 (identity)"."""
    acts = [str(name) for name in F[f"{prefix}/acts"]]
    sizes = [F[f"{prefix}/w0"].shape[0]] + [F[f"{prefix}/w{i}"].shape[1] for i in range(len(acts))]
    layers = " -> ".join([str(sizes[0])] + [f"{size} ({act})" for size, act in zip(sizes[1:], acts)])
    return f"batch of {F[f'{prefix}/x'].shape[0]}, layers {layers}"


def _tolerances(x):
    return (FLOAT32_ATOL, FLOAT32_RTOL) if np.asarray(x).dtype == np.float32 else (ATOL, RTOL)


def _check_activation(func, name, hints):
    F = _fixtures()
    cases = {
        "act/vector": "1-D vector of 13 values with exact zeros",
        "act/tensor": "3-D array of shape (2, 3, 4)",
        "act/extreme": "extreme values (+-1e5, +-1000, +-710)",
        "act/float32": "5x6 float32 matrix",
        "act/row": "a single row, shape (1, 9)",
        "act/integers": "3x4 integer matrix (dtype int64)",
    }
    for prefix, case in cases.items():
        x = F[f"{prefix}/x"]
        atol, rtol = _tolerances(x)
        for deriv in (False, True):
            given = frozen(x)
            got = call(func, given, deriv=deriv, case=case)
            what = f"{name}(x{', deriv=True' if deriv else ''})"
            ignore = (x == 0) if (name == "relu" and deriv) else None
            check_array(got, F[f"{prefix}/{name}{'_deriv' if deriv else ''}"], what=what, case=case,
                        atol=atol, rtol=rtol, ignore=ignore, hint=hints[deriv])
            if ignore is not None:
                at_zero = np.asarray(got, dtype=np.float64)[ignore]
                # nan fails both comparisons, so it lands here too.
                outside = at_zero[~((at_zero >= 0) & (at_zero <= 1))]
                if outside.size:
                    hint = ("a nan here (from 0 / 0, say) spreads through back-propagation; "
                            "compare x > 0 instead of dividing.")
                    raise CheckFailure(
                        f"{what} at x = 0 should be 0 or 1 (or a subgradient in between), got "
                        f"{outside[0]}\n  case: {case}\n  hint: {hint}",
                        problem=WRONG_VALUES, what=f"{what} at x = 0", case=case, hint=hint)
            check_unchanged(given, x, what="the input x", changed_by=what, case=case)


def check_relu(relu):
    """relu and relu' on vectors, 3-D arrays, extreme, float32 and integer values."""
    _check_activation(relu, "relu", {
        False: "relu(x) = max(0, x) element-wise, for any shape.",
        True: "relu'(x) is 1 where x > 0 and 0 where x < 0.",
    })


def check_sigmoid(sigmoid):
    """sigmoid and sigmoid' on vectors, 3-D arrays, extreme, float32 and integer values."""
    _check_activation(sigmoid, "sigmoid", {
        False: "sigmoid(x) = 1 / (1 + exp(-x)), floats for any input dtype; it must stay finite for x = +-1000.",
        True: "sigmoid'(x) = sigmoid(x) * (1 - sigmoid(x)), with x the input; it must stay finite for x = +-1000.",
    })


def _run_forward(MLP, F, prefix, case, second_input=False):
    parameters, act_funcs = unpack_net(F, prefix)
    x = F[f"{prefix}/x"]
    mlp = call(MLP, x.shape[1], case=case)
    mlp.parameters = parameters
    mlp.act_funcs = act_funcs
    given = frozen(x)
    out = call(mlp.feed_forward, given, case=case)
    check_unchanged(given, x, what="the input X", changed_by="feed_forward", case=case)
    suffix = ""
    if second_input:
        out = call(mlp.feed_forward, frozen(F[f"{prefix}/x2"]), case=case + ", second call")
        suffix = "_second"
        case += ", second call"
    num_layers = len(parameters)
    check_true(len(mlp.weighted_ins) == num_layers and len(mlp.activations) == num_layers,
               f"after feed_forward on a {num_layers}-layer net, expected {num_layers} weighted_ins and "
               f"{num_layers} activations, got {len(mlp.weighted_ins)} and {len(mlp.activations)}\n"
               f"  case: {case}\n  hint: reset both lists at the start of every call and store one "
               "entry per layer (not the input).",
               what="mlp.weighted_ins and mlp.activations", case=case,
               hint="reset both lists at the start of every call and store one entry per layer (not the input).")
    atol, rtol = _tolerances(x)
    for i in range(num_layers):
        check_array(mlp.weighted_ins[i], F[f"{prefix}/z{i}{suffix}"], what=f"mlp.weighted_ins[{i}] after feed_forward", case=case,
                    atol=atol, rtol=rtol, hint="Z = A_prev @ w + b for this layer.")
        check_array(mlp.activations[i], F[f"{prefix}/a{i}{suffix}"], what=f"mlp.activations[{i}] after feed_forward", case=case,
                    atol=atol, rtol=rtol, hint="A = f(Z) with this layer's act_func.")
    check_array(out, F[f"{prefix}/a{num_layers - 1}{suffix}"], what="the output of feed_forward", case=case,
                atol=atol, rtol=rtol, hint="return the activation of the last layer.")


def check_feed_forward(MLP):
    """feed_forward: batch of 1, 1 and 4 layers, float32, lists reset between calls, random shapes."""
    F = _fixtures()
    _run_forward(MLP, F, "ff/batch1", "batch of 1, layers 7 -> 3 (tanh) -> 2 (identity)")
    _run_forward(MLP, F, "ff/one_layer", "one layer 4 -> 6 (logistic), batch of 5")
    _run_forward(MLP, F, "ff/four_layer", "4 layers 9 -> 7 -> 5 -> 6 -> 3 (tanh, softplus, identity, logistic)")
    _run_forward(MLP, F, "ff/float32", "float32 input, layers 5 -> 3 -> 2")
    _run_forward(MLP, F, "ff/twice", "feed_forward called twice on one net (6 rows, then 2 rows)",
                 second_input=True)
    _run_forward(MLP, F, "ff/width_one", "a hidden layer of one unit: layers 3 -> 1 (tanh) -> 4 (identity)")
    for prefix in _prefixes(F, "ff/random"):
        _run_forward(MLP, F, prefix, f"random net: {_describe(F, prefix)}")


def check_softmax(softmax):
    """softmax: one row, two classes, rows of very different scale, float32, wide rows, and the
    cases where only an unconditional shift works (float32 around 100, very negative rows alone),
    integer logits."""
    F = _fixtures()
    cases = {
        "softmax/batch1": "a single row of 10 logits",
        "softmax/two_class": "6 rows, 2 classes",
        "softmax/scales": "rows of very different scale (around 1000, 0, -1000, +-5e4)",
        "softmax/float32": "float32 logits, 5x4",
        "softmax/wide": "3 rows of 50 logits",
        "softmax/float32_large": "float32 logits around 100 (exp overflows float32 above 88.7)",
        "softmax/negative_rows": "rows whose logits are all below -700, alone in the batch",
        "softmax/integers": "5x4 integer logits (dtype int64)",
    }
    for prefix, case in cases.items():
        logits = F[f"{prefix}/logits"]
        given = frozen(logits)
        got = call(softmax, given, case=case)
        atol, rtol = _tolerances(logits)
        check_array(got, F[f"{prefix}/probs"], what="softmax(y_hat)", case=case, atol=atol, rtol=rtol,
                    hint="always subtract each row's maximum, whatever the logits, then normalise each row "
                         "on its own (axis=1, keepdims=True); integer logits give float probabilities.")
        check_unchanged(given, logits, what="the input y_hat", changed_by="softmax(y_hat)", case=case)


def check_cross_entropy(categorical_cross_entropy):
    """categorical_cross_entropy: one example, 64 examples, two classes, inputs unchanged."""
    F = _fixtures()
    cases = {
        "cce/batch1": "a single example, 10 classes",
        "cce/large_batch": "64 examples, 10 classes",
        "cce/two_class": "9 examples, 2 classes",
    }
    for prefix, case in cases.items():
        y, y_soft = F[f"{prefix}/y"], F[f"{prefix}/y_soft"]
        given_y, given_soft = frozen(y), frozen(y_soft)
        got = call(categorical_cross_entropy, given_y, given_soft, case=case)
        check_scalar(got, float(F[f"{prefix}/loss"]), what="categorical_cross_entropy(y, y_soft)",
                     case=case, hint="the mean over the batch of -sum(y * log(y_soft)) per row.")
        check_unchanged(given_y, y, what="the input y", changed_by="categorical_cross_entropy", case=case)
        check_unchanged(given_soft, y_soft, what="the input y_soft", changed_by="categorical_cross_entropy",
                        case=case)


def check_mlp_gradients(mlp_gradients):
    """mlp_gradients on recorded nets: batch of 1, 1 and 4 layers, logistic output, float32,
    another loss, one output unit, random shapes; inputs and network left unchanged."""
    F = _fixtures()
    cases = {
        "grad/batch1": "batch of 1, layers 5 -> 4 (tanh) -> 3 (identity)",
        "grad/one_layer_identity": "one identity layer 4 -> 3, batch of 6",
        "grad/one_layer_logistic": "one logistic layer 4 -> 3, batch of 6",
        "grad/four_layer": "4 layers 6 -> 5 -> 4 -> 4 -> 3 (tanh, softplus, tanh, logistic)",
        "grad/wide": "layers 10 -> 2 (tanh) -> 8 (identity), batch of 3",
        "grad/float32": "float32 input, layers 5 -> 4 (softplus) -> 3 (identity)",
        "grad/log_cosh": "another loss (log-cosh), layers 5 -> 4 (tanh) -> 3 (logistic), batch of 4",
        "grad/one_output": "one output unit, layers 4 -> 3 (softplus) -> 1 (identity), batch of 5",
    }
    cases.update({prefix: f"random net: {_describe(F, prefix)}" for prefix in _prefixes(F, "grad/random")})
    for prefix, case in cases.items():
        net = RecordedMLP(F, prefix)
        case = f"{case}, loss {net.loss_name}"
        before = frozen(net.parameters)
        recorded = (frozen(net.weighted_ins), frozen(net.activations))
        x, y = frozen(net.x), frozen(net.y)
        # What the inputs were, kept where student code cannot reach (it gets net, and may set net.x).
        x_before, y_before = frozen(x), frozen(y)
        grads = call(mlp_gradients, net, net.loss_function, x, y, case=case)
        check_gradients(grads, F, prefix, case=case)
        check_unchanged(x, x_before, what="the input x", changed_by="mlp_gradients", case=case)
        check_unchanged(y, y_before, what="the targets y", changed_by="mlp_gradients", case=case)
        for i, layer in enumerate(before):
            for key in ("w", "b"):
                check_unchanged(net.parameters[i][key], layer[key], what=f"mlp.parameters[{i}]['{key}']",
                                changed_by="mlp_gradients", case=case)
        for name, lists in zip(("weighted_ins", "activations"), recorded):
            for i, value in enumerate(lists):
                check_unchanged(getattr(net, name)[i], value, what=f"mlp.{name}[{i}]", changed_by="mlp_gradients",
                                case=case)


def check_sgd(SGD):
    """SGD: 4 layers over 5 steps, momentum 0 and 0.99, layers of equal shape, two optimisers side by side."""
    F = _fixtures()
    check_sgd_run(SGD, F, "sgd/four_layer", case="4 layers (5 -> 4 -> 3 -> 3 -> 2), lr=0.05, momentum=0.5, 5 steps")
    check_sgd_run(SGD, F, "sgd/plain", case="2 layers, lr=0.2, momentum=0 (plain SGD), 3 steps")
    check_sgd_run(SGD, F, "sgd/slow", case="2 layers, lr=0.01, momentum=0.99, 4 steps")
    check_sgd_run(SGD, F, "sgd/same_shapes", case="3 layers of the same shape (3 -> 3 -> 3 -> 3), lr=0.1, "
                  "momentum=0.9, 3 steps")
    # Two optimisers stepping in turn must not share velocity.
    first = _Interleaved(SGD, F, "sgd/plain")
    second = _Interleaved(SGD, F, "sgd/slow")
    for step in range(3):
        first.step(step)
        second.step(step)


class _Interleaved:
    """One optimiser replaying a recorded run one step at a time."""

    def __init__(self, SGD, F, prefix):
        self.F, self.prefix = F, prefix
        self.layers = len([k for k in F if k.startswith(f"{prefix}/w")])
        self.case = f"two SGD objects used in turn ({prefix.split('/')[1]} run)"
        self.optimizer = call(SGD, lr=float(F[f"{prefix}/lr"]), momentum=float(F[f"{prefix}/momentum"]),
                              case=self.case)
        self.parameters = [{"w": F[f"{prefix}/w{l}"], "b": F[f"{prefix}/b{l}"]} for l in range(self.layers)]

    def step(self, s):
        F, prefix = self.F, self.prefix
        grads = [{"w": F[f"{prefix}/gw{s}_{l}"], "b": F[f"{prefix}/gb{s}_{l}"]} for l in range(self.layers)]
        updated = call(self.optimizer.step, frozen(self.parameters), frozen(grads), case=self.case)
        if not isinstance(updated, (list, tuple)) or len(updated) != self.layers:
            raise CheckFailure(f"SGD.step should return a list of {self.layers} dicts\n  case: {self.case}",
                               problem=WRONG_TYPE, what="the list SGD.step returns", case=self.case)
        for l in range(self.layers):
            for key in ("w", "b"):
                check_array(updated[l][key], F[f"{prefix}/p{key}{s}_{l}"],
                            what=f"updated_parameters[{l}]['{key}'] after step {s + 1}", case=self.case,
                            hint="keep the velocity on the instance (self.velocity), not on the class "
                                 "or in a global, so that two optimisers do not share it.")
        self.parameters = updated


# test_training's verdict: accuracy on digits whose labels never enter the grading kernel.
# The kernel may read only its training split's files; the grader scores on the holdout
# split (kannada_mnist.grading_splits). Offline, the stand-in trains on the official
# test digits and the holdout is Dig-MNIST, harder and out of distribution: the reference
# solution reaches about 64% there after its grading-time training (about 95% on the
# official test digits when trained on the official training set). An untrained network
# scores about 10%.
NEEDED_ACCURACY = {"test": 0.85, "dig": 0.45}
# Digits of the holdout split the network is scored on (a fixed sample).
HOLDOUT_SIZE = 2000
# The activations a layer may use, by the name the notebook gives them: the network is
# scored with the master notebook's own functions of those names.
SCORED_ACTIVATIONS = ("relu", "sigmoid", "linear", "softmax")
# The largest network the grader computes (the notebook's 784-256-128-10 has 4 layers and
# 235,146 weights): checked on the shapes before any arithmetic, so that a few bytes from
# the kernel (a zero-width layer feeding a huge one) cannot ask the grader for gigabytes.
MAX_LAYERS, MAX_UNITS, MAX_WEIGHTS = 32, 4096, 4_000_000


def _network_scores(mlp, x, case):
    """The scores of the network ``mlp`` describes, on ``x`` (N, 784): (N, 10).

    Computed here, in the grader, from the network's parameters (``mlp.parameters``,
    plain data) and the *names* of its activations (``mlp.act_funcs``), with the master
    notebook's relu, sigmoid, linear and softmax. No student code runs, so what is
    measured is the trained MLP: not whatever ``feed_forward`` returns, and not a
    classifier hidden in an "activation".
    """
    what = "the trained network (mlp.parameters and mlp.act_funcs)"
    hint = "train the MLP of the notebook: mlp.parameters holds one {'w': (n, p), 'b': (p,)} dict per layer."
    parameters, act_funcs = mlp.parameters, list(mlp.act_funcs)
    check_true(isinstance(parameters, list) and len(parameters) >= 1 and len(act_funcs) == len(parameters)
               and all(isinstance(layer, dict) and {"w", "b"} <= set(layer) for layer in parameters),
               "mlp.parameters should be a list of {'w', 'b'} dicts, one per activation in mlp.act_funcs",
               what=what, case=case, hint=hint)
    shapes = [(np.shape(layer["w"]), np.shape(layer["b"])) for layer in parameters]
    check_true(len(parameters) <= MAX_LAYERS
               and all(len(w) == 2 and 1 <= w[1] <= MAX_UNITS and b == (w[1],) for w, b in shapes)
               and sum(w[0] * w[1] for w, _ in shapes) <= MAX_WEIGHTS,
               f"the network must have at most {MAX_LAYERS} layers of 1 to {MAX_UNITS} units and "
               f"{MAX_WEIGHTS:,} weights in all, each layer a 2-D 'w' and a matching 'b'",
               what=what, case=case, hint=hint)
    names = [getattr(act, "__name__", type(act).__name__) for act in act_funcs]
    others = [f"layer {i}: {name}" for i, name in enumerate(names) if name not in SCORED_ACTIVATIONS]
    check_true(not others,
               f"the network is scored with the notebook's activations ({', '.join(SCORED_ACTIVATIONS)}), "
               f"given to add_layer by name; found {'; '.join(others)}",
               what=what, case=case,
               hint="build the network with mlp.add_layer(size, relu) (or sigmoid) and linear for the last layer.")
    reference = _reference_activations()
    a = x
    for layer, name in zip(parameters, names):
        w, b = _normal(layer["w"]), _normal(layer["b"])
        check_true(w.ndim == 2 and w.shape[0] == a.shape[1] and b.shape == (w.shape[1],),
                   f"a layer's weights {w.shape} and bias {b.shape} do not fit its input of width {a.shape[1]}",
                   what=what, case=case, hint=hint)
        a = _normal(reference[name](a @ w + b))
    check_true(a.shape[1] == 10, f"the last layer has {a.shape[1]} units, not one per digit (10)",
               what=what, case=case, hint=hint)
    return a


# Below this, a weight, bias or activation is taken as 0: the product of two values above it is
# a normal float, while arithmetic that produces subnormal numbers is about a hundred times slower.
# No prediction rests on values that small.
NEGLIGIBLE = 1e-100


def _normal(values):
    """``values`` as float64 with magnitudes below :data:`NEGLIGIBLE` set to 0."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.abs(values) < NEGLIGIBLE, 0.0, values)


def _reference_activations():
    """The master notebook's activation functions, executed from its solution cells."""
    from mlpcourse.authoring import notebook

    reference = notebook.reference_module()
    return {name: getattr(reference, name) for name in SCORED_ACTIVATIONS}


def check_training(mlp):
    """The trained network on held-out digits the kernel never saw labels of."""
    _, split = grading_splits()
    needed = NEEDED_ACCURACY[split]
    images, labels = load_kannada_mnist(split, progress=False)
    sample = np.random.default_rng(0).permutation(len(images))[:HOLDOUT_SIZE]
    x, labels = images[sample].reshape(len(sample), -1) / 255.0, labels[sample]
    case = f"{len(sample)} held-out digits the network has never seen"
    scores = _network_scores(mlp, x, case)
    accuracy = float(np.mean(np.argmax(scores, axis=1) == labels))
    check_true(accuracy >= needed,
               f"the trained network classifies {accuracy:.1%} of held-out digits correctly; "
               f"{needed:.0%} is needed for these points",
               what="the trained network", case=case,
               hint=f"it must classify at least {needed:.0%} of held-out digits correctly; a network that "
                    "does well on your validation digits but not here has not learnt to generalise.")
