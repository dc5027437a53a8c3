"""asg01's fixture recipe: which reference arrays its tests compare with, and how to compute them.

Run by ``python -m mlpcourse fixtures`` (:mod:`mlpcourse.authoring.fixtures`, the machinery:
seeds, byte-stable files, manifest, staleness), which the ``[fixtures]`` table of
``assignment.toml`` points here. Never released (``nbgrader_config.py``'s
``CourseDirectory.ignore`` keeps it out of release/): it imports the course's tooling.

``build_public`` and ``build_hidden`` run the master's reference solution ``ref`` on
seeded inputs, using the test-owned activations and losses of ``asg01_checks``
(``checks``), and return ``{name: np.ndarray}``. The layout of a stored network is
described in ``asg01_checks`` (above ``unpack_net``).
"""

import numpy as np

from mlpcourse.authoring.fixtures import Builder, case_rng

# A correct float64 backprop agrees with centred differences to ~1e-9.
REFERENCE_GRADIENT_LIMIT = 1e-7


class Asg01Builder(Builder):
    """The cases of asg01's tests: activations, networks, gradients, SGD runs, softmax, cross-entropy."""

    def activations(self, prefix, x):
        """relu, relu', sigmoid, sigmoid' of ``x`` under ``prefix/``."""
        self.put(f"{prefix}/x", x)
        for name, func in (("relu", self.ref.relu), ("sigmoid", self.ref.sigmoid)):
            self.put(f"{prefix}/{name}", func(np.array(x, dtype=np.float64)))
            self.put(f"{prefix}/{name}_deriv", func(np.array(x, dtype=np.float64), deriv=True))

    def net(self, prefix, sizes, acts, batch, dtype=np.float64):
        """A random network and input; records its reference forward pass.

        Returns the reference ``MLP`` after ``feed_forward(x)``.
        """
        rng = case_rng(prefix)
        mlp = self.ref.MLP(sizes[0])
        for size, act in zip(sizes[1:], acts):
            mlp.add_layer(size, self.checks.TEST_ACTIVATIONS[act])
        # Seeded weights (He scale) rather than add_layer's global np.random.
        mlp.parameters = [
            {"w": rng.normal(size=(n, p)) * np.sqrt(2 / n), "b": rng.normal(scale=0.1, size=p)}
            for n, p in zip(sizes[:-1], sizes[1:])
        ]
        x = rng.normal(size=(batch, sizes[0])).astype(dtype)
        self.put(f"{prefix}/x", x)
        self.put(f"{prefix}/acts", np.array(acts))
        for i, layer in enumerate(mlp.parameters):
            self.put(f"{prefix}/w{i}", layer["w"])
            self.put(f"{prefix}/b{i}", layer["b"])
        self.record_forward(prefix, mlp, x)
        return mlp

    def record_forward(self, prefix, mlp, x, suffix=""):
        mlp.feed_forward(x)
        for i, (z, a) in enumerate(zip(mlp.weighted_ins, mlp.activations)):
            self.put(f"{prefix}/z{i}{suffix}", z)
            self.put(f"{prefix}/a{i}{suffix}", a)

    def gradients(self, prefix, sizes, acts, batch, dtype=np.float64, loss="half_squared_error"):
        """A recorded network plus targets, a test-owned loss and the reference gradients."""
        mlp = self.net(prefix, sizes, acts, batch, dtype)
        x = self.arrays[f"{prefix}/x"]
        y = case_rng(prefix + "/y").normal(size=(batch, sizes[-1]))
        self.put(f"{prefix}/y", y)
        self.put(f"{prefix}/loss", np.array(loss))
        loss = self.checks.TEST_LOSSES[loss]
        grads = self.ref.mlp_gradients(mlp, loss, x, y)
        for i, g in enumerate(grads):
            self.put(f"{prefix}/dw{i}", g["w"])
            self.put(f"{prefix}/db{i}", g["b"])
        self._verify_numerically(prefix, mlp, grads, loss, x.astype(np.float64), y)

    def _verify_numerically(self, prefix, mlp, grads, loss, x, y):
        """Refuse to write reference gradients that centred differences contradict."""
        def loss_now():
            return loss(y, mlp.feed_forward(x))

        numeric = self.checks.numerical_gradients(loss_now, mlp.parameters)
        for i, (g, n) in enumerate(zip(grads, numeric)):
            for key in ("w", "b"):
                error = self.checks.relative_error(g[key], n[key])
                if error > REFERENCE_GRADIENT_LIMIT:
                    raise AssertionError(
                        f"reference gradients of {prefix} layer {i} d{key} disagree with "
                        f"centred differences (relative error {error:.2e}): fix the master notebook")

    def sgd_run(self, prefix, sizes, lr, momentum, steps):
        """Initial parameters, per-step gradients, and the reference trajectory."""
        rng = case_rng(prefix)
        parameters = [{"w": rng.normal(size=(n, p)), "b": rng.normal(size=p)}
                      for n, p in zip(sizes[:-1], sizes[1:])]
        self.put(f"{prefix}/lr", lr)
        self.put(f"{prefix}/momentum", momentum)
        self.put(f"{prefix}/steps", steps)
        for l, layer in enumerate(parameters):
            self.put(f"{prefix}/w{l}", layer["w"])
            self.put(f"{prefix}/b{l}", layer["b"])
        optimizer = self.ref.SGD(lr=lr, momentum=momentum)
        for s in range(steps):
            grads = [{"w": rng.normal(size=layer["w"].shape), "b": rng.normal(size=layer["b"].shape)}
                     for layer in parameters]
            parameters = optimizer.step(parameters, grads)
            for l in range(len(parameters)):
                for key in ("w", "b"):
                    self.put(f"{prefix}/g{key}{s}_{l}", grads[l][key])
                    self.put(f"{prefix}/p{key}{s}_{l}", parameters[l][key])
                    self.put(f"{prefix}/v{key}{s}_{l}", optimizer.velocity[l][key])

    def softmax(self, prefix, logits):
        self.put(f"{prefix}/logits", logits)
        self.put(f"{prefix}/probs", self.ref.softmax(np.array(logits, dtype=np.float64)))

    def cross_entropy(self, prefix, labels, logits):
        num_classes = np.shape(logits)[1]
        y = np.eye(num_classes)[labels]
        y_soft = self.ref.softmax(np.asarray(logits, dtype=np.float64))
        self.put(f"{prefix}/y", y)
        self.put(f"{prefix}/y_soft", y_soft)
        self.put(f"{prefix}/loss", self.ref.categorical_cross_entropy(y, y_soft))


def _random_architecture(case, checks):
    """Layer sizes (1 to 6 units, 1 to 4 layers), activations, batch size (1 to 5) and loss.

    Seeded from ``case``: the hidden tests see many shapes (width-1 layers, batches
    of one, square layers), so a bug that shows only for some shapes is caught.
    """
    rng = case_rng(case + "/architecture")
    depth = int(rng.integers(1, 5))
    sizes = [int(size) for size in rng.integers(1, 7, size=depth + 1)]
    acts = [str(name) for name in rng.choice(sorted(checks.TEST_ACTIVATIONS), size=depth)]
    return sizes, acts, int(rng.integers(1, 6)), str(rng.choice(sorted(checks.TEST_LOSSES)))


# Randomly shaped networks in the hidden tests, for feed_forward and for mlp_gradients.
RANDOM_NETS = 4


def _one_hot_labels(case, batch, classes):
    return case_rng(case + "/labels").integers(0, classes, size=batch)


def build_public(ref, checks):
    """The arrays behind the visible tests: small, readable cases."""
    b = Asg01Builder(ref, checks)
    b.activations("act", case_rng("act").integers(-10, 11, size=(6, 7)) / 2.0)
    b.activations("act/big", np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    b.activations("act/int", np.array([-3, -1, 0, 1, 3], dtype=np.int64))
    b.net("ff/two_layer", [6, 5, 4], ["tanh", "identity"], batch=3)
    b.softmax("softmax/random", case_rng("softmax/random").normal(size=(7, 5)))
    b.softmax("softmax/equal", np.array([[10.0] * 4, [0.0] * 4]))
    b.softmax("softmax/large", np.array([[1000.0, 999.0, 0.0], [-1000.0, -999.0, -1000.0]]))
    b.softmax("softmax/very_negative", np.array([[-1000.0, -1001.0, -1002.0], [-2000.0, -1999.0, -1998.0]]))
    b.softmax("softmax/float32_overflow", np.array([[95.0, 90.0, 80.0], [0.0, 1.0, 2.0]], dtype=np.float32))
    b.softmax("softmax/int", np.array([[10, 1, 1], [0, -1, 9], [100, -9, 9], [0, 12, 10]], dtype=np.int64))
    b.cross_entropy("cce/small", np.array([0, 2, 0, 1]),
                    np.array([[10, 1, 1], [0, -1, 9], [100, -9, 9], [0.1, 12, 10]], dtype=np.float64))
    b.cross_entropy("cce/random", _one_hot_labels("cce/random", 16, 10),
                    case_rng("cce/random").normal(size=(16, 10)))
    b.gradients("grad/two_layer", [6, 5, 3], ["tanh", "identity"], batch=4)
    b.sgd_run("sgd/two_layer", [3, 4, 2], lr=0.1, momentum=0.9, steps=3)
    return b.arrays


def build_hidden(ref, checks):
    """The arrays behind the hidden tests: edge cases the visible tests do not show."""
    b = Asg01Builder(ref, checks)
    b.activations("act/vector", case_rng("act/vector").integers(-6, 7, size=13) / 3.0)
    b.activations("act/tensor", case_rng("act/tensor").normal(scale=3, size=(2, 3, 4)))
    b.activations("act/extreme", np.array([[-1e5, -1000.0, -710.0, -30.0, 0.0],
                                           [30.0, 710.0, 1000.0, 1e5, -1e-8]]))
    b.activations("act/float32", case_rng("act/float32").normal(scale=4, size=(5, 6)).astype(np.float32))
    b.activations("act/row", case_rng("act/row").normal(size=(1, 9)))
    b.activations("act/integers", case_rng("act/integers").integers(-8, 9, size=(3, 4)))

    b.net("ff/batch1", [7, 3, 2], ["tanh", "identity"], batch=1)
    b.net("ff/one_layer", [4, 6], ["logistic"], batch=5)
    b.net("ff/four_layer", [9, 7, 5, 6, 3], ["tanh", "softplus", "identity", "logistic"], batch=8)
    b.net("ff/float32", [5, 3, 2], ["tanh", "identity"], batch=4, dtype=np.float32)
    twice = b.net("ff/twice", [4, 6, 3], ["softplus", "tanh"], batch=6)
    x2 = case_rng("ff/twice/x2").normal(size=(2, 4))
    b.put("ff/twice/x2", x2)
    b.record_forward("ff/twice", twice, x2, suffix="_second")
    b.net("ff/width_one", [3, 1, 4], ["tanh", "identity"], batch=4)
    for k in range(RANDOM_NETS):
        sizes, acts, batch, _ = _random_architecture(f"ff/random{k}", checks)
        b.net(f"ff/random{k}", sizes, acts, batch=batch)

    b.softmax("softmax/batch1", case_rng("softmax/batch1").normal(size=(1, 10)))
    b.softmax("softmax/two_class", case_rng("softmax/two_class").normal(scale=3, size=(6, 2)))
    b.softmax("softmax/scales", np.array([[1000.0, 999.0, 998.0], [0.0, -1.0, -2.0],
                                          [-1000.0, -1000.5, -1001.0], [5e4, -5e4, 0.0]]))
    b.softmax("softmax/float32", case_rng("softmax/float32").normal(scale=2, size=(5, 4)).astype(np.float32))
    b.softmax("softmax/wide", case_rng("softmax/wide").normal(scale=5, size=(3, 50)))
    # The batch's maximum stays low in both: a softmax that shifts only above some threshold fails.
    b.softmax("softmax/float32_large",
              case_rng("softmax/float32_large").normal(loc=100, scale=10, size=(4, 5)).astype(np.float32))
    b.softmax("softmax/negative_rows", case_rng("softmax/negative_rows").normal(loc=-900, scale=50, size=(3, 4)))
    b.softmax("softmax/integers", case_rng("softmax/integers").integers(-20, 21, size=(5, 4)))

    b.cross_entropy("cce/batch1", np.array([7]), case_rng("cce/batch1").normal(size=(1, 10)))
    b.cross_entropy("cce/large_batch", _one_hot_labels("cce/large_batch", 64, 10),
                    case_rng("cce/large_batch").normal(scale=2, size=(64, 10)))
    b.cross_entropy("cce/two_class", _one_hot_labels("cce/two_class", 9, 2),
                    case_rng("cce/two_class").normal(size=(9, 2)))

    b.gradients("grad/batch1", [5, 4, 3], ["tanh", "identity"], batch=1)
    b.gradients("grad/one_layer_identity", [4, 3], ["identity"], batch=6)
    b.gradients("grad/one_layer_logistic", [4, 3], ["logistic"], batch=6)
    b.gradients("grad/four_layer", [6, 5, 4, 4, 3], ["tanh", "softplus", "tanh", "logistic"], batch=7)
    b.gradients("grad/wide", [10, 2, 8], ["tanh", "identity"], batch=3)
    b.gradients("grad/float32", [5, 4, 3], ["softplus", "identity"], batch=5, dtype=np.float32)
    b.gradients("grad/log_cosh", [5, 4, 3], ["tanh", "logistic"], batch=4, loss="log_cosh_error")
    b.gradients("grad/one_output", [4, 3, 1], ["softplus", "identity"], batch=5)
    for k in range(RANDOM_NETS):
        sizes, acts, batch, loss = _random_architecture(f"grad/random{k}", checks)
        b.gradients(f"grad/random{k}", sizes, acts, batch=batch, loss=loss)

    b.sgd_run("sgd/four_layer", [5, 4, 3, 3, 2], lr=0.05, momentum=0.5, steps=5)
    b.sgd_run("sgd/plain", [3, 4, 2], lr=0.2, momentum=0.0, steps=3)
    b.sgd_run("sgd/slow", [2, 3, 2], lr=0.01, momentum=0.99, steps=4)
    b.sgd_run("sgd/same_shapes", [3, 3, 3, 3], lr=0.1, momentum=0.9, steps=3)
    return b.arrays
