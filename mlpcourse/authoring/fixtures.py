"""Reference arrays for the notebook's tests, computed by the master's solution.

``python -m mlpcourse fixtures`` writes

- ``source/asg01/asg01_public_fixtures.npz``: used by the visible tests, released;
- ``tests_assets/asg01/asg01_hidden_fixtures.npz``: used by the hidden tests at
  grading time, never released;
- ``tests_assets/asg01/MANIFEST.json``: sha256 of both files and of the reference
  solution's source they were computed from.

Inputs come from ``np.random.default_rng`` seeded per case from the case's name, so a
new case never shifts the others. The .npz files are written byte-stable (fixed zip
timestamps, sorted names, no pickles), so regenerating them on the same numpy gives the
same bytes; ``--check`` compares values, so a different BLAS passes too.
"""

import hashlib
import io
import json
import zipfile
import zlib

import numpy as np

from mlpcourse import paths, records
from mlpcourse.authoring import notebook

# Values a regenerated fixture may differ by from the committed one (different BLAS
# or numpy builds round differently, ~1e-15 relative).
CHECK_RTOL = 1e-10
CHECK_ATOL = 1e-12

# A correct float64 backprop agrees with centred differences to ~1e-9.
REFERENCE_GRADIENT_LIMIT = 1e-7


def _rng(case):
    """A generator seeded from the case name (stable across runs and machines)."""
    return np.random.default_rng(zlib.crc32(case.encode()))


def _load_checks():
    """The released check helpers (test-owned activations and loss)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("asg01_checks", paths.SOURCE / "asg01_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Builder:
    """Collects named arrays for one fixture file while running the reference."""

    def __init__(self, ref, checks):
        self.ref = ref
        self.checks = checks
        self.arrays = {}

    def put(self, name, value):
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"fixture {name} would need pickle")
        if name in self.arrays:
            raise KeyError(f"fixture {name} written twice")
        self.arrays[name] = array

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
        rng = _rng(prefix)
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
        y = _rng(prefix + "/y").normal(size=(batch, sizes[-1]))
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
        rng = _rng(prefix)
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
    rng = _rng(case + "/architecture")
    depth = int(rng.integers(1, 5))
    sizes = [int(size) for size in rng.integers(1, 7, size=depth + 1)]
    acts = [str(name) for name in rng.choice(sorted(checks.TEST_ACTIVATIONS), size=depth)]
    return sizes, acts, int(rng.integers(1, 6)), str(rng.choice(sorted(checks.TEST_LOSSES)))


# Randomly shaped networks in the hidden tests, for feed_forward and for mlp_gradients.
RANDOM_NETS = 4


def _one_hot_labels(case, batch, classes):
    return _rng(case + "/labels").integers(0, classes, size=batch)


def build_public(ref, checks):
    """The arrays behind the visible tests: small, readable cases."""
    b = _Builder(ref, checks)
    b.activations("act", _rng("act").integers(-10, 11, size=(6, 7)) / 2.0)
    b.activations("act/big", np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    b.activations("act/int", np.array([-3, -1, 0, 1, 3], dtype=np.int64))
    b.net("ff/two_layer", [6, 5, 4], ["tanh", "identity"], batch=3)
    b.softmax("softmax/random", _rng("softmax/random").normal(size=(7, 5)))
    b.softmax("softmax/equal", np.array([[10.0] * 4, [0.0] * 4]))
    b.softmax("softmax/large", np.array([[1000.0, 999.0, 0.0], [-1000.0, -999.0, -1000.0]]))
    b.softmax("softmax/very_negative", np.array([[-1000.0, -1001.0, -1002.0], [-2000.0, -1999.0, -1998.0]]))
    b.softmax("softmax/float32_overflow", np.array([[95.0, 90.0, 80.0], [0.0, 1.0, 2.0]], dtype=np.float32))
    b.softmax("softmax/int", np.array([[10, 1, 1], [0, -1, 9], [100, -9, 9], [0, 12, 10]], dtype=np.int64))
    b.cross_entropy("cce/small", np.array([0, 2, 0, 1]),
                    np.array([[10, 1, 1], [0, -1, 9], [100, -9, 9], [0.1, 12, 10]], dtype=np.float64))
    b.cross_entropy("cce/random", _one_hot_labels("cce/random", 16, 10),
                    _rng("cce/random").normal(size=(16, 10)))
    b.gradients("grad/two_layer", [6, 5, 3], ["tanh", "identity"], batch=4)
    b.sgd_run("sgd/two_layer", [3, 4, 2], lr=0.1, momentum=0.9, steps=3)
    return b.arrays


def build_hidden(ref, checks):
    """The arrays behind the hidden tests: edge cases the visible tests do not show."""
    b = _Builder(ref, checks)
    b.activations("act/vector", _rng("act/vector").integers(-6, 7, size=13) / 3.0)
    b.activations("act/tensor", _rng("act/tensor").normal(scale=3, size=(2, 3, 4)))
    b.activations("act/extreme", np.array([[-1e5, -1000.0, -710.0, -30.0, 0.0],
                                           [30.0, 710.0, 1000.0, 1e5, -1e-8]]))
    b.activations("act/float32", _rng("act/float32").normal(scale=4, size=(5, 6)).astype(np.float32))
    b.activations("act/row", _rng("act/row").normal(size=(1, 9)))
    b.activations("act/integers", _rng("act/integers").integers(-8, 9, size=(3, 4)))

    b.net("ff/batch1", [7, 3, 2], ["tanh", "identity"], batch=1)
    b.net("ff/one_layer", [4, 6], ["logistic"], batch=5)
    b.net("ff/four_layer", [9, 7, 5, 6, 3], ["tanh", "softplus", "identity", "logistic"], batch=8)
    b.net("ff/float32", [5, 3, 2], ["tanh", "identity"], batch=4, dtype=np.float32)
    twice = b.net("ff/twice", [4, 6, 3], ["softplus", "tanh"], batch=6)
    x2 = _rng("ff/twice/x2").normal(size=(2, 4))
    b.put("ff/twice/x2", x2)
    b.record_forward("ff/twice", twice, x2, suffix="_second")
    b.net("ff/width_one", [3, 1, 4], ["tanh", "identity"], batch=4)
    for k in range(RANDOM_NETS):
        sizes, acts, batch, _ = _random_architecture(f"ff/random{k}", checks)
        b.net(f"ff/random{k}", sizes, acts, batch=batch)

    b.softmax("softmax/batch1", _rng("softmax/batch1").normal(size=(1, 10)))
    b.softmax("softmax/two_class", _rng("softmax/two_class").normal(scale=3, size=(6, 2)))
    b.softmax("softmax/scales", np.array([[1000.0, 999.0, 998.0], [0.0, -1.0, -2.0],
                                          [-1000.0, -1000.5, -1001.0], [5e4, -5e4, 0.0]]))
    b.softmax("softmax/float32", _rng("softmax/float32").normal(scale=2, size=(5, 4)).astype(np.float32))
    b.softmax("softmax/wide", _rng("softmax/wide").normal(scale=5, size=(3, 50)))
    # The batch's maximum stays low in both: a softmax that shifts only above some threshold fails.
    b.softmax("softmax/float32_large",
              _rng("softmax/float32_large").normal(loc=100, scale=10, size=(4, 5)).astype(np.float32))
    b.softmax("softmax/negative_rows", _rng("softmax/negative_rows").normal(loc=-900, scale=50, size=(3, 4)))
    b.softmax("softmax/integers", _rng("softmax/integers").integers(-20, 21, size=(5, 4)))

    b.cross_entropy("cce/batch1", np.array([7]), _rng("cce/batch1").normal(size=(1, 10)))
    b.cross_entropy("cce/large_batch", _one_hot_labels("cce/large_batch", 64, 10),
                    _rng("cce/large_batch").normal(scale=2, size=(64, 10)))
    b.cross_entropy("cce/two_class", _one_hot_labels("cce/two_class", 9, 2),
                    _rng("cce/two_class").normal(size=(9, 2)))

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


def build_all(nb=None):
    """Compute both fixture sets from the master notebook.

    Returns
    -------
    public, hidden : dict of str -> np.ndarray
    """
    ref = notebook.reference_module(nb)
    checks = _load_checks()
    with np.errstate(all="raise", under="ignore"):
        return build_public(ref, checks), build_hidden(ref, checks)


def write_npz(path, arrays):
    """Write ``arrays`` as an .npz whose bytes depend only on the arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[name], order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def read_npz(path):
    """The arrays of an .npz written by :func:`write_npz` (no pickles allowed)."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(nb=None):
    """The manifest for the fixture files as they are on disk now."""
    return {
        "generated_by": "python -m mlpcourse fixtures (do not edit)",
        "reference_sha256": hashlib.sha256(notebook.reference_source(nb).encode()).hexdigest(),
        "files": {
            path.name: {"sha256": _sha256(path), "arrays": len(read_npz(path))}
            for path in (paths.PUBLIC_FIXTURES, paths.HIDDEN_FIXTURES)
        },
    }


def generate():
    """Regenerate both fixture files and the manifest from the master notebook."""
    nb = notebook.read()
    public, hidden = build_all(nb)
    paths.TESTS_ASSETS.mkdir(parents=True, exist_ok=True)
    write_npz(paths.PUBLIC_FIXTURES, public)
    write_npz(paths.HIDDEN_FIXTURES, hidden)
    records.write(paths.FIXTURE_MANIFEST, manifest(nb))
    return public, hidden


def stale_reasons():
    """Why the committed fixtures do not match the master notebook (empty if fresh).

    Recomputes every array and compares values (``CHECK_RTOL``/``CHECK_ATOL`` for
    floats, exact for the rest), and checks the manifest's hashes.
    """
    reasons = []
    nb = notebook.read()
    try:
        recorded = json.loads(paths.FIXTURE_MANIFEST.read_text())
        committed = {path: read_npz(path) for path in (paths.PUBLIC_FIXTURES, paths.HIDDEN_FIXTURES)}
    except (OSError, ValueError) as error:
        return [f"cannot read the fixtures: {error}"]
    if recorded != manifest(nb):
        reasons.append("MANIFEST.json does not match the fixture files or the reference solution")
    for path, fresh in zip((paths.PUBLIC_FIXTURES, paths.HIDDEN_FIXTURES), build_all(nb)):
        old = committed[path]
        name = path.name
        for key in sorted(set(old) ^ set(fresh)):
            reasons.append(f"{name}: array {key} is {'missing' if key in fresh else 'no longer produced'}")
        for key in sorted(set(old) & set(fresh)):
            a, b = old[key], fresh[key]
            if a.shape != b.shape or a.dtype != b.dtype:
                reasons.append(f"{name}: {key} is {a.dtype}{a.shape}, now {b.dtype}{b.shape}")
            elif a.dtype.kind == "f":
                if not np.allclose(a, b, rtol=CHECK_RTOL, atol=CHECK_ATOL, equal_nan=True):
                    reasons.append(f"{name}: {key} values changed")
            elif not np.array_equal(a, b):
                reasons.append(f"{name}: {key} values changed")
    return reasons
