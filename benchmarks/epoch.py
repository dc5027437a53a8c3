"""How fast is the network students build? One training epoch, timed against PyTorch.

Times one epoch of mini-batch SGD with momentum on Kannada-MNIST for

- the master notebook's reference solution (imported from the notebook with
  ``mlpcourse.authoring.notebook.reference_module()``, never copied), float64 and float32;
- the same network in PyTorch on the CPU (skipped, saying so, when torch is absent);
- scikit-learn's ``MLPClassifier(solver="sgd")`` with the same sizes, batch and momentum;
- the floor: only the eight matrix products one epoch needs (three forward, three
  weight gradients, two input gradients; the input X needs none), on the same shapes;
- the batch gather alone: copying each shuffled mini-batch's rows out of the training
  set, which the reference's epoch does and the floor does not. With the floor it
  splits the reference's time into matrix products, gather, and the rest (element-wise
  passes and Python).

The network is the one the notebook's ``design`` cell builds (784-256-128-10, ReLU);
the hyper-parameters are the seed's defaults: batch 1024, learning rate 0.1,
momentum 0.9. The training rows are the notebook's 75 % split: 45,000 rows of the
official training set, or, offline (``ASG01_TRAIN_SPLIT=test``), a STAND-IN: the
7,500 training rows of the 10,000 official test digits, replicated to 45,000 rows.

Each timing is the best of ``--repeats`` epochs, taken in rounds that visit every
implementation in turn (the machine may be busy with other work: the minimum is the
least disturbed run, and a busy spell slows all implementations alike). Prints a table and writes the same
figures as JSON (default ``benchmarks/results/epoch.json``, which ``docs/benchmarks.md`` shows)::

    python benchmarks/epoch.py               # or: make bench
"""

import argparse
import os
import pathlib
import platform
import sys
import time
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import run_record  # noqa: E402
from mlpcourse import assignment, records  # noqa: E402
from mlpcourse.authoring import notebook

# The seed's default hyper-parameters (the "batch 1024, SGD momentum 0.9").
# What this benchmark times: asg01's training cell and data.
ASG01 = assignment.load(ROOT, "asg01")
BATCH_SIZE = 1024
LEARNING_RATE = 0.1
MOMENTUM = 0.9
TRAIN_ROWS = 45_000  # the notebook's 75 % training split of the 60,000 official images
DTYPES = ("float64", "float32")


def design(ref):
    """Run the master's ``design`` cell: the recommended network and its epochs.

    Returns
    -------
    sizes : list of int
        Layer widths, input first, e.g. ``[784, 256, 128, 10]``.
    act_names : list of str
        The activation of each layer (``"relu"``, ``"linear"``, ...).
    epochs : int
        The number of epochs the notebook trains for.
    """
    cell = notebook.cells_by_grade_id(notebook.read(ASG01.master))["design"]
    namespace = dict(vars(ref), x_train=np.zeros((1, 784)))
    exec(compile(cell.source, "<design cell>", "exec"), namespace)
    mlp = namespace["mlp"]
    sizes = [mlp.input_dim] + [p["w"].shape[1] for p in mlp.parameters]
    return sizes, [f.__name__ for f in mlp.act_funcs], int(namespace["epochs"])


def load_data(rows):
    """Training rows (N, 784) in [0, 1], one-hot targets (N, 10), a validation split, a label.

    Follows the notebook's ``prepare_data`` cell: pixels / 255, a stratified 25 %
    validation split with ``random_state=0``. With the stand-in data the training
    rows are replicated to ``rows`` rows; the validation rows are never trained on.
    """
    from sklearn.model_selection import train_test_split

    loader = ASG01.source_module(ASG01.data.loader)
    split = os.environ.get("ASG01_TRAIN_SPLIT", "train")
    images, labels = loader.load_kannada_mnist(split)
    x = images.reshape(len(images), -1) / 255.0
    y = np.eye(10)[labels]
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, stratify=labels, random_state=0)
    source = "the official training set" if split == "train" else f"the official '{split}' split"
    if rows <= len(x_train):
        data = f"{rows} of the {len(x_train)} training rows of {source}"
    else:
        data = f"the {len(x_train)} training rows of {source}, replicated to {rows} rows"
    if split != "train":
        data = "STAND-IN data: " + data
    repeat = int(np.ceil(rows / len(x_train)))
    x_train, y_train = np.tile(x_train, (repeat, 1))[:rows], np.tile(y_train, (repeat, 1))[:rows]
    return x_train, y_train, x_val, y_val, data


def matmul_flops(sizes, rows):
    """Floating-point operations of the matrix products of one epoch.

    Per row and layer ``n -> p``: ``2np`` for ``A @ w``, ``2np`` for ``A.T @ delta``
    and, except for the first layer, ``2np`` for ``delta @ w.T``.
    """
    per_row = sum(2 * n * p * (3 if layer else 2) for layer, (n, p) in enumerate(zip(sizes[:-1], sizes[1:])))
    return per_row * rows


def reference_net(ref, sizes, act_names, dtype, seed=0):
    """The reference ``MLP`` with He-initialised parameters cast to ``dtype``."""
    np.random.seed(seed)  # add_layer draws from numpy's global generator, as in the notebook
    mlp = ref.MLP(sizes[0])
    for size, name in zip(sizes[1:], act_names):
        mlp.add_layer(size, getattr(ref, name))
    # add_layer makes float64 arrays; float32 training needs float32 parameters.
    mlp.parameters = [{key: value.astype(dtype) for key, value in layer.items()} for layer in mlp.parameters]
    return mlp


def reference_epoch(ref, mlp, optimizer, x, y, batch_size, rng):
    """One epoch of the notebook's training loop with the reference solution."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        batch = order[start:start + batch_size]
        x_batch, y_batch = x[batch], y[batch]
        mlp.feed_forward(x_batch)
        grads = ref.mlp_gradients(mlp, ref.softmax_categorical_cross_entropy, x_batch, y_batch)
        mlp.parameters = optimizer.step(mlp.parameters, grads)


def floor_epoch(weights, x, batch_size):
    """Only the matrix products of one epoch, on the same shapes (the speed floor)."""
    for start in range(0, len(x), batch_size):
        activations = [x[start:start + batch_size]]
        for w in weights:
            activations.append(activations[-1] @ w)
        delta = activations[-1]
        for i in reversed(range(len(weights))):
            activations[i].T @ delta
            if i:
                delta = delta @ weights[i].T


def gather_epoch(x, y, batch_size, rng):
    """Only the mini-batch row gathers of one epoch, in the reference epoch's order."""
    order = rng.permutation(len(x))
    for start in range(0, len(x), batch_size):
        batch = order[start:start + batch_size]
        x[batch], y[batch]


def accuracy(scores, y):
    return float(np.mean(np.argmax(scores, axis=1) == np.argmax(y, axis=1)))


def reference_runner(ref, sizes, act_names, data, dtype):
    """``(epoch, evaluate)`` for a fresh reference network: train one epoch; validation accuracy."""
    x, y, x_val, y_val = (a.astype(dtype) for a in data)
    rng = np.random.default_rng(0)
    mlp = reference_net(ref, sizes, act_names, dtype)
    optimizer = ref.SGD(lr=LEARNING_RATE, momentum=MOMENTUM)
    epoch = lambda: reference_epoch(ref, mlp, optimizer, x, y, BATCH_SIZE, rng)  # noqa: E731
    evaluate = lambda: accuracy(mlp.feed_forward(x_val), y_val)  # noqa: E731
    epoch.mlp = mlp
    return epoch, evaluate


def floor_runner(sizes, data, dtype):
    """``(epoch, None)``: only the matrix products of one epoch."""
    x = data[0].astype(dtype)
    rng = np.random.default_rng(0)
    weights = [(rng.normal(size=(n, p)) * np.sqrt(2 / n)).astype(dtype) for n, p in zip(sizes[:-1], sizes[1:])]
    return (lambda: floor_epoch(weights, x, BATCH_SIZE)), None


def gather_runner(data, dtype):
    """``(epoch, None)``: only the batch row gathers of one epoch."""
    x, y = (a.astype(dtype) for a in data[:2])
    rng = np.random.default_rng(0)
    return (lambda: gather_epoch(x, y, BATCH_SIZE, rng)), None


def torch_runner(sizes, data, dtype):
    """``(epoch, evaluate)`` for the same network in PyTorch on the CPU, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    x, y, x_val, y_val = (torch.from_numpy(a.astype(dtype)) for a in data)
    labels = y.argmax(dim=1)
    generator = torch.Generator().manual_seed(0)
    layers = []
    for n, p in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n, p, dtype=getattr(torch, dtype)), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])  # a linear output layer: the loss applies softmax
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    loss_function = torch.nn.CrossEntropyLoss()  # mean over the batch, as the notebook's loss

    def epoch():
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), BATCH_SIZE):
            batch = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss_function(net(x[batch]), labels[batch]).backward()
            optimizer.step()

    def evaluate():
        with torch.no_grad():
            return accuracy(net(x_val).numpy(), y_val.numpy())

    return epoch, evaluate


def sklearn_runner(sizes, data, dtype):
    """``(epoch, evaluate)`` for scikit-learn's MLPClassifier with the same sizes and optimiser."""
    from sklearn.neural_network import MLPClassifier

    x, y, x_val, y_val = (a.astype(dtype) for a in data)
    labels = np.argmax(y, axis=1)
    model = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver="sgd",
                          batch_size=BATCH_SIZE, learning_rate_init=LEARNING_RATE, momentum=MOMENTUM,
                          nesterovs_momentum=False, alpha=0.0, random_state=0)
    return (lambda: model.partial_fit(x, labels, classes=np.arange(10))), \
        (lambda: accuracy(model.predict_proba(x_val), y_val))


def best_interleaved(epochs, repeats):
    """The shortest time of each ``epochs[name]()`` over ``repeats`` rounds, after a warm-up round.

    Rounds visit every implementation in turn, so a busy spell on the machine slows
    them alike instead of one of them.
    """
    for epoch in epochs.values():
        epoch()
    best = {name: float("inf") for name in epochs}
    for _ in range(repeats):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            epoch()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def bench_dtype(ref, sizes, act_names, data, dtype, repeats, epochs):
    """Timings, GFLOP/s, accuracies and ratios for one dtype."""
    runners = {
        "reference": reference_runner(ref, sizes, act_names, data, dtype),
        "torch": torch_runner(sizes, data, dtype),
        "sklearn": sklearn_runner(sizes, data, dtype),
        "floor": floor_runner(sizes, data, dtype),
        "gather": gather_runner(data, dtype),
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Maximum iterations.*")  # scikit-learn, one epoch per call
        seconds = best_interleaved({name: r[0] for name, r in runners.items() if r}, repeats)
        entry = {name: ({"seconds": seconds[name]} if runner else None) for name, runner in runners.items()}
        entry["reference"]["parameters_dtype"] = str(runners["reference"][0].mlp.parameters[0]["w"].dtype)
        fresh = {"reference": reference_runner(ref, sizes, act_names, data, dtype),
                 "torch": torch_runner(sizes, data, dtype), "sklearn": sklearn_runner(sizes, data, dtype)}
        for name, runner in fresh.items():
            if runner:
                for _ in range(epochs):
                    runner[0]()
                entry[name]["accuracy"] = runner[1]()
    flops = matmul_flops(sizes, len(data[0]))
    for timing in entry.values():
        if timing:
            timing["gflops"] = flops / timing["seconds"] / 1e9
    reference = entry["reference"]["seconds"]
    del entry["gather"]["gflops"]  # no arithmetic
    entry["breakdown"] = {  # the reference's epoch, in seconds
        "matrix products (floor)": entry["floor"]["seconds"],
        "batch gather": entry["gather"]["seconds"],
        "the rest (element-wise passes, Python)": reference - entry["floor"]["seconds"] - entry["gather"]["seconds"],
    }
    entry["ratios"] = {
        "reference/floor": reference / entry["floor"]["seconds"],
        "reference/torch": reference / entry["torch"]["seconds"] if entry["torch"] else None,
        "reference/sklearn": reference / entry["sklearn"]["seconds"],
    }
    return entry


def blas_info():
    """Which BLAS numpy calls, with which kernel and how many threads (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    return [{key: info.get(key) for key in ("internal_api", "architecture", "num_threads", "version")}
            for info in threadpool_info() if info.get("user_api") == "blas"]


def run(rows=TRAIN_ROWS, repeats=3, epochs=None):
    """Every timing and accuracy, as a JSON-ready dict."""
    ref = notebook.reference_module()
    sizes, act_names, design_epochs = design(ref)
    epochs = design_epochs if epochs is None else epochs
    x_train, y_train, x_val, y_val, data_label = load_data(rows)
    data = (x_train, y_train, x_val, y_val)
    flops = matmul_flops(sizes, rows)
    results = {dtype: bench_dtype(ref, sizes, act_names, data, dtype, repeats, epochs) for dtype in DTYPES}
    return {
        "network": {"sizes": sizes, "activations": act_names, "batch_size": BATCH_SIZE,
                    "learning_rate": LEARNING_RATE, "momentum": MOMENTUM},
        "data": data_label, "rows": rows, "validation_rows": len(x_val),
        "accuracy_epochs": epochs, "repeats": repeats, "matmul_gflop_per_epoch": flops / 1e9,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                    "blas": blas_info(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")},
        "torch": "measured" if results["float64"]["torch"] else "skipped: PyTorch is not installed "
                 "(optional: pip install torch)",
        "results": results,
    }


def table(report):
    """The benchmark as a plain-text table (seconds per epoch, best of the repeats)."""
    lines = [f"one epoch of {report['rows']} rows, batch {report['network']['batch_size']}, "
             f"network {'-'.join(map(str, report['network']['sizes']))} ({report['data']})",
             f"{'implementation':<16}{'dtype':<9}{'s/epoch':>9}{'GFLOP/s':>9}{'accuracy':>10}"
             f"  (validation, after {report['accuracy_epochs']} epochs)"]
    for dtype, entry in report["results"].items():
        for name in ("reference", "torch", "sklearn", "floor", "gather"):
            timing = entry[name]
            if timing is None:
                lines.append(f"{name:<16}{dtype:<9}{'skipped: PyTorch is not installed':>38}")
                continue
            acc = f"{timing['accuracy']:.2%}" if "accuracy" in timing else "-"
            gflops = f"{timing['gflops']:9.1f}" if "gflops" in timing else f"{'-':>9}"
            lines.append(f"{name:<16}{dtype:<9}{timing['seconds']:9.3f}{gflops}{acc:>10}")
    lines.append("ratios of the reference's epoch time:")
    for dtype, entry in report["results"].items():
        parts = [f"{key} {value:.2f}x" if value is not None else f"{key} n/a" for key, value in entry["ratios"].items()]
        lines.append(f"  {dtype}: " + ", ".join(parts))
    lines.append("the reference's epoch: matrix products + batch gather + the rest:")
    for dtype, entry in report["results"].items():
        parts = [f"{seconds:.3f} s {name}" for name, seconds in entry["breakdown"].items()]
        lines.append(f"  {dtype}: " + " + ".join(parts))
    blas = report["machine"]["blas"]
    lines.append("BLAS: " + ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']} kernel, "
                                       f"{b['num_threads']} threads)" for b in blas))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=TRAIN_ROWS, help="training rows per epoch (default 45000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per implementation (best is kept)")
    parser.add_argument("--epochs", type=int, help="epochs before measuring accuracy (default: the notebook's)")
    parser.add_argument("--json", default=str(run_record.RESULTS / "epoch.json"),
                        help="where to write JSON (default: benchmarks/results/, which the docs show)")
    args = parser.parse_args(argv)
    recorded = run_record.start(__file__, argv)
    report = run(args.rows, args.repeats, args.epochs)
    report["recorded"] = run_record.finish(recorded)
    print(table(report))
    print(f"wrote {records.write(args.json, report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
