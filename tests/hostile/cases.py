"""The hostile corpus: broken and hostile submissions, each with the outcome it must get.

Every case is a small generator: from the release and the reference solution
(:func:`mlpcourse.authoring.notebook.solved`) it builds the file a student would upload
(``upload`` name and bytes). Beside it, the outcome the grading must give:

- ``zero``: grade cells that must score 0 (cheating that must fail, cells a crash
  never reached, functions the case broke);
- every other grade cell must score what it scores for the **fast control**: the
  reference solution with a one-layer, one-epoch design (so that a case costs no
  training time), graded in the same batch;
- ``status``: ``graded``, or ``unreadable`` / ``no notebook`` (all zero);
- ``flagged``: whether the tamper report must flag it (honest cases never);
- ``incident``: a phrase the run's incidents must contain (timeouts, crashes);
- ``absent``: strings that must not appear in the graded notebook and feedback;
- ``says``: phrases the grader's messages (``run.json``) must contain.

The **control** (the reference solution with its own design, full training) must get
full marks. Cases name themselves after what they test.
"""

import copy
import json

import nbformat

from hostile.kit import (  # noqa: F401 (Context, Case and the groups are part of this module's API)
    ALL_TESTS,
    CCE,
    Case,
    Context,
    FAST_DESIGN,
    GRADIENTS,
    PERSONAL,
    RELU,
    SGD,
    SIGMOID,
    SOFTMAX,
    _append,
    _bytes,
    _index,
    _replace,
    _source,
    _with_cell,
)


def control(ctx):
    return "asg01.ipynb", _bytes(ctx.solved(fast=False))


def fast_control(ctx):
    return "asg01.ipynb", _bytes(ctx.solved())


def copy_of_name(ctx):
    return "Copy of asg01.ipynb", _bytes(ctx.solved())


def numbered_name(ctx):
    return "asg01 (1).ipynb", _bytes(ctx.solved())


def deleted_test_cells(ctx):
    """test_relu_visible and test_sigmoid_hidden deleted; sigmoid wrong: both must still be graded."""
    nb = ctx.solved()
    _replace(nb, "relu_sigmoid", _source(nb, "relu_sigmoid").source + "\n\n\ndef sigmoid(x, deriv=False):\n"
             "    return np.tanh(x)\n")
    for grade_id in ("test_relu_visible", "test_sigmoid_hidden"):
        del nb.cells[_index(nb, grade_id)]
    return "asg01.ipynb", _bytes(nb)


def stripped_metadata(ctx):
    nb = ctx.solved()
    for cell in nb.cells:
        cell.metadata = {}
    return "asg01.ipynb", _bytes(nb)


def duplicated_metadata(ctx):
    """Test, given and answer cells copied with their metadata (copy-paste in Jupyter)."""
    nb = ctx.solved()
    for grade_id in ("test_softmax_visible", "softmax", "linear", "q_nonlinear"):
        i = _index(nb, grade_id)
        twin = copy.deepcopy(nb.cells[i])
        twin["id"] = f"twin-{grade_id}".replace("_", "-")
        nb.cells.insert(i + 1, twin)
    return "asg01.ipynb", _bytes(nb)


def colab_saved(ctx):
    """As Google Colab saves: nbformat 4.0, no cell ids, personal metadata."""
    raw = json.loads(nbformat.writes(ctx.solved()))
    raw["nbformat_minor"] = 0
    raw["metadata"] = {"colab": {"name": "asg01.ipynb", "provenance": [{"file_id": "1AbCdE", "timestamp": 1700000000}],
                                 "authorship_tag": "ABX9TyColabAuthor"},
                       "kernelspec": {"name": "python3", "display_name": "Python 3"},
                       "language_info": {"name": "python"}, "accelerator": "GPU"}
    for n, cell in enumerate(raw["cells"]):
        cell.pop("id", None)
        cell["metadata"].update({"id": f"colab{n:04d}"})
        if cell["cell_type"] == "code":
            cell["metadata"].update({
                "colab": {"base_uri": "https://localhost:8080/", "height": 35},
                "outputId": f"out{n:04d}-private",
                "executionInfo": {"status": "ok", "timestamp": 1700000000000, "user_tz": -60, "elapsed": 12,
                                  "user": {"displayName": "Ada Secretname", "userId": "01234567890123456789",
                                           "photoUrl": "https://lh3.googleusercontent.com/a/private-photo"}}})
    return "asg01.ipynb", json.dumps(raw, indent=2).encode()


def vscode_saved(ctx):
    """As VS Code saves: its own kernelspec and interpreter metadata, sources as one string."""
    raw = json.loads(nbformat.writes(ctx.solved()))
    raw["metadata"] = {"kernelspec": {"display_name": ".venv", "language": "python", "name": "python3"},
                       "language_info": {"name": "python", "version": "3.11.7", "codemirror_mode": {"name": "ipython"}},
                       "vscode": {"interpreter": {"hash": "0123456789abcdef"}}}
    for cell in raw["cells"]:
        cell["source"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            cell["metadata"]["vscode"] = {"languageId": "python"}
    return "asg01.ipynb", json.dumps(raw, indent=1).encode()


def jupyterlab_saved(ctx):
    """As JupyterLab 4 saves: execution timing, collapsed and hidden-source cells."""
    raw = json.loads(nbformat.writes(ctx.solved()))
    raw["metadata"]["toc-autonumbering"] = True
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            cell["metadata"]["execution"] = {"iopub.execute_input": "2024-03-01T10:00:00.000Z",
                                             "shell.execute_reply": "2024-03-01T10:00:01.000Z"}
            cell["metadata"]["jupyter"] = {"source_hidden": False, "outputs_hidden": True}
            cell["metadata"]["tags"] = ["draft"]
    return "asg01.ipynb", json.dumps(raw, indent=1).encode()


def invalid_json(ctx):
    data = _bytes(ctx.solved())
    return "asg01.ipynb", data[: len(data) // 2]


def non_notebook_upload(ctx):
    return "asg01.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n"


def stderr_in_tests(ctx):
    """relu and softmax write to stderr and warn every time they run: tests must still pass."""
    nb = ctx.solved()
    _append(nb, "relu_sigmoid", """
        import sys, warnings
        _relu = relu
        def relu(x, deriv=False):
            print("debug: relu called", file=sys.stderr)
            warnings.warn("a warning from relu")
            return _relu(x, deriv=deriv)
    """)
    return "asg01.ipynb", _bytes(nb)


def loop_top_level(ctx):
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_sgd_hidden", "while True:\n    pass"))


def loop_in_function(ctx):
    """softmax never returns on small batches (the tests'); training batches are fine."""
    nb = ctx.solved()
    _append(nb, "softmax", """
        _softmax = softmax
        def softmax(y_hat):
            while len(y_hat) < 8:
                pass
            return _softmax(y_hat)
    """)
    return "asg01.ipynb", _bytes(nb)


def function_ignoring_interrupts(ctx):
    """softmax loops forever on small batches and ignores the interrupt: only its cells and training lost."""
    nb = ctx.solved()
    _append(nb, "softmax", """
        import signal

        _softmax = softmax

        def softmax(y_hat):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            while len(y_hat) < 8:
                pass
            return _softmax(y_hat)
    """)
    return "asg01.ipynb", _bytes(nb)


def method_never_returns(ctx):
    """SGD.step loops forever on small networks (the tests'): a method is named, and stopped, with its class."""
    nb = ctx.solved()
    cell = _source(nb, "sgd")
    first_line = "        if not self.velocity:"
    assert first_line in cell.source, "the master's SGD.step no longer starts by filling its velocity"
    cell.source = cell.source.replace(first_line, "        while parameters[0]['w'].size < 1000:\n"
                                                  "            pass\n" + first_line, 1)
    return "asg01.ipynb", _bytes(nb)


def method_rebound_never_returns(ctx):
    """The same loop in a function bound as SGD.step afterwards: it is named, and stopped, as it was written."""
    nb = ctx.solved()
    _append(nb, "sgd", """
        _step = SGD.step

        def _stuck_on_small(self, parameters, grads):
            while parameters[0]['w'].size < 1000:
                pass
            return _step(self, parameters, grads)

        SGD.step = _stuck_on_small
    """)
    return "asg01.ipynb", _bytes(nb)


def sigint_ignored_loop(ctx):
    """A loop that ignores the interrupt: the kernel is killed and restarted, the rest graded."""
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_mlp_gradients_hidden", """
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            pass
    """))


def huge_allocation(ctx):
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_relu_hidden", """
        big = np.ones((1_000_000, 1000))  # 8 GB
    """))


def output_flood(ctx):
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_relu_hidden", """
        for i in range(300_000):
            print("flood " * 40)
    """))


def fork_burst(ctx):
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_relu_hidden", """
        import os, time
        children = 0
        try:
            for _ in range(100_000):
                if os.fork() == 0:
                    time.sleep(15)
                    os._exit(0)
                children += 1
        finally:
            print("forked", children, "children")
    """))


def file_deletion(ctx):
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_relu_hidden", """
        import os, shutil
        for name in os.listdir("."):
            try:
                os.remove(name)
                print("deleted", name)
            except OSError as error:
                print("could not delete", name, error)
        for target in ("..", "../..", "../../..", "/tmp"):
            try:
                shutil.rmtree(target)
            except OSError as error:
                print("could not delete", target, type(error).__name__)
    """))


def network_probe(ctx):
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_relu_hidden", f"""
        import socket, urllib.request
        for target in [("127.0.0.1", {ctx.port}), ("1.1.1.1", 80)]:
            try:
                socket.create_connection(target, timeout=3).close()
                print("CONNECT" + "ED to", target)
            except OSError as error:
                print("no connection to", target, error)
        try:
            urllib.request.urlopen("http://127.0.0.1:{ctx.port}/", timeout=3)
            print("CONNECT" + "ED over HTTP")
        except OSError as error:
            print("no HTTP:", error)
    """))


def os_exit(ctx):
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_softmax_hidden", "import os\nos._exit(0)"))


def segfault(ctx):
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_cross_entropy_hidden",
                                            "import ctypes\nctypes.string_at(0)"))


def system_exit(ctx):
    nb = _with_cell(ctx.solved(), "test_relu_hidden", "raise SystemExit(1)")
    return "asg01.ipynb", _bytes(_with_cell(nb, "test_sigmoid_hidden", "import sys\nsys.exit('bye')"))


def allclose_patched(ctx):
    """numpy's comparisons and builtins patched, relu wrong: the relu tests must fail."""
    nb = ctx.solved()
    _append(nb, "relu_sigmoid", """
        import builtins
        np.allclose = lambda *args, **kwargs: True
        np.array_equal = lambda *args, **kwargs: True
        np.testing.assert_allclose = lambda *args, **kwargs: None
        np.isfinite = lambda x: np.ones(np.shape(x), dtype=bool)
        builtins.abs = lambda x: 0 * x
        def relu(x, deriv=False):
            return x
    """)
    return "asg01.ipynb", _bytes(nb)


def helpers_replaced(ctx):
    """The check helpers replaced, sigmoid wrong: the sigmoid tests must fail."""
    nb = ctx.solved()
    _append(nb, "relu_sigmoid", """
        import asg01_checks
        def check_array(*args, **kwargs):
            return None
        asg01_checks.check_array = check_array
        asg01_checks.check_gradients = lambda *args, **kwargs: None
        def sigmoid(x, deriv=False):
            return x
    """)
    return "asg01.ipynb", _bytes(nb)


def eq_always_true(ctx):
    nb = ctx.solved()
    _append(nb, "relu_sigmoid", """
        class Anything(float):
            def __eq__(self, other):
                return True
            __le__ = __ge__ = __lt__ = __gt__ = __eq__
            def __sub__(self, other):
                return Anything(0)
            __rsub__ = __sub__
            def __abs__(self):
                return Anything(0)
            def __array__(self, dtype=None, copy=None):
                return np.zeros(())
        def relu(x, deriv=False):
            return Anything(0)
    """)
    return "asg01.ipynb", _bytes(nb)


def ndarray_subclass(ctx):
    nb = ctx.solved()
    _append(nb, "relu_sigmoid", """
        class Liar(np.ndarray):
            def __sub__(self, other):
                return np.zeros(np.shape(other))
            __rsub__ = __sub__
            def __eq__(self, other):
                return np.ones(np.shape(self), dtype=bool)
            def __abs__(self):
                return np.zeros(self.shape)
            def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
                return np.zeros(np.shape(inputs[0]))
        def sigmoid(x, deriv=False):
            return np.zeros(np.shape(x)).view(Liar)
    """)
    return "asg01.ipynb", _bytes(nb)


def read_hidden_fixtures(ctx):
    """relu answers from the hidden fixtures if it can find them, else wrongly."""
    nb = ctx.solved()
    _append(nb, "relu_sigmoid", """
        import glob, os
        def _find_fixtures():
            # Where the hidden fixtures are outside the sandbox: the course folder, three
            # levels up from the notebook (autograded/<student>/asg01), or this repository.
            found = glob.glob("../../../tests_assets/*/*.npz") + glob.glob("/work/main/tests_assets/*/*.npz")
            for top in ("..", "../..", "../../..", "/tmp"):
                found += glob.glob(os.path.join(top, "**", "*hidden_fixtures*"), recursive=True)
            try:
                import asg01_hidden
                found.append(str(getattr(asg01_hidden, "FIXTURES", "")))
            except Exception:
                pass
            return [f for f in found if f and os.path.isfile(f)]
        _found = _find_fixtures()
        print(("hidden fixtures " + "found:") if _found else "hidden fixtures not found", _found[:3])
        _answers = {}
        for _path in _found:
            with np.load(_path) as _data:
                for _key in _data.files:
                    if _key.endswith("/x"):
                        _answers[_data[_key].tobytes()] = (_data[_key[:-1] + "relu"], _data[_key[:-1] + "relu_deriv"])
        def relu(x, deriv=False):
            if np.asarray(x).tobytes() in _answers:
                return _answers[np.asarray(x).tobytes()][int(deriv)]
            return x
    """)
    return "asg01.ipynb", _bytes(nb)


def sys_modules_tamper(ctx):
    """Fake hidden and check modules in sys.modules, relu wrong: the relu tests must fail."""
    nb = ctx.solved()
    _append(nb, "relu_sigmoid", """
        import sys, types
        fake = types.ModuleType("asg01_hidden")
        for name in ("check_relu", "check_sigmoid", "check_feed_forward", "check_softmax",
                     "check_cross_entropy", "check_mlp_gradients", "check_sgd"):
            setattr(fake, name, lambda *args, **kwargs: None)
        sys.modules["asg01_hidden"] = fake
        checks = types.ModuleType("asg01_checks")
        checks.__dict__.update(sys.modules["asg01_checks"].__dict__)
        checks.check_array = lambda *args, **kwargs: None
        sys.modules["asg01_checks"] = checks
        check_array = checks.check_array
        def relu(x, deriv=False):
            return x
    """)
    return "asg01.ipynb", _bytes(nb)


def signal_timer(ctx):
    """A timer whose signal handler keeps disabling the checks, softmax wrong: softmax tests must fail."""
    nb = ctx.solved()
    _append(nb, "softmax", """
        import signal, threading, asg01_checks
        def _disable(*args):
            globals()["check_array"] = lambda *a, **k: None
            asg01_checks.check_array = lambda *a, **k: None
        signal.signal(signal.SIGALRM, _disable)
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        threading.Timer(0.1, _disable).start()
        def softmax(y_hat):
            return np.ones_like(y_hat) / y_hat.shape[1]
    """)
    return "asg01.ipynb", _bytes(nb)


def ipython_hooks(ctx):
    """Errors swallowed and test lines dropped by IPython hooks, cross-entropy wrong."""
    nb = ctx.solved()
    _append(nb, "cross_entropy", """
        shell = get_ipython()
        shell.set_custom_exc((Exception,), lambda *args, **kwargs: None)
        # Turn the cross-entropy test cells into "pass".
        shell.input_transformers_cleanup.append(
            lambda lines: ["pass"] if any("check" in line for line in lines)
            and any("categorical_cross_entropy" in line for line in lines) else lines)
        def categorical_cross_entropy(y, y_soft):
            return 0.0
    """)
    return "asg01.ipynb", _bytes(nb)



# Set in the grader's environment by the batch: no kernel may see it, under any name.
GRADER_SECRET = "grader-secret-7f3a"


def grader_environment(ctx):
    """Prints its environment and every /proc/*/environ it can read (the sandbox's PID 1 too)."""
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "setup", """
        import os
        print(sorted(os.environ.items()))
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    print(pid, open(f"/proc/{pid}/environ", "rb").read())
                except OSError:
                    pass
    """))


def deep_folder_chain(ctx):
    """Leaves 3,000 nested folders in its scratch: shutil.rmtree's recursion limit, for the grader's clean-up."""
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "setup", """
        import os, tempfile
        for base in (os.path.expanduser("~"), tempfile.gettempdir(), "."):
            here = os.open(base, os.O_RDONLY)
            for _ in range(3000):
                os.mkdir("d", dir_fd=here)
                deeper = os.open("d", os.O_RDONLY, dir_fd=here)
                os.close(here)
                here = deeper
            os.close(here)
    """))


BASE_CASES = (
    Case("control", control),
    Case("fast_control", fast_control),
    Case("copy_of_name", copy_of_name),
    Case("numbered_name", numbered_name),
    Case("deleted_test_cells", deleted_test_cells, zero=SIGMOID),
    Case("stripped_metadata", stripped_metadata),
    Case("duplicated_metadata", duplicated_metadata),
    Case("colab_saved", colab_saved, absent=PERSONAL),
    Case("vscode_saved", vscode_saved),
    Case("jupyterlab_saved", jupyterlab_saved),
    Case("invalid_json", invalid_json, zero=ALL_TESTS, status="unreadable"),
    Case("non_notebook_upload", non_notebook_upload, zero=ALL_TESTS, status="no notebook"),
    Case("stderr_in_tests", stderr_in_tests),
    Case("loop_top_level", loop_top_level, incident="timed out"),
    # Once softmax had to be stopped it is not called again: training, which needs it, fails at once.
    Case("loop_in_function", loop_in_function, zero=(*SOFTMAX, "test_training"),
         incident="softmax did not return", says=("softmax did not return",)),
    Case("method_never_returns", method_never_returns, zero=(*SGD, "test_training"),
         incident="SGD.step did not return", says=("SGD.step did not return",)),
    Case("method_rebound_never_returns", method_rebound_never_returns, zero=(*SGD, "test_training"),
         incident="_stuck_on_small did not return", says=("_stuck_on_small did not return",)),
    Case("sigint_ignored_loop", sigint_ignored_loop, incident="restarted", flagged=True),
    Case("function_ignoring_interrupts", function_ignoring_interrupts, zero=(*SOFTMAX, "test_training"),
         incident="softmax did not return", flagged=True, says=("softmax did not return",)),
    Case("huge_allocation", huge_allocation),
    Case("output_flood", output_flood, incident="output over the limit"),
    Case("fork_burst", fork_burst),
    Case("file_deletion", file_deletion),
    Case("network_probe", network_probe, absent=("CONNECTED",)),
    Case("os_exit", os_exit, incident="kernel died"),
    Case("segfault", segfault, incident="kernel died", flagged=True),
    Case("system_exit", system_exit),
    Case("allclose_patched", allclose_patched, zero=RELU, flagged=True),
    Case("helpers_replaced", helpers_replaced, zero=SIGMOID, flagged=True),
    Case("eq_always_true", eq_always_true, zero=RELU, flagged=True),
    Case("ndarray_subclass", ndarray_subclass, zero=SIGMOID, flagged=True),
    Case("read_hidden_fixtures", read_hidden_fixtures, zero=RELU, flagged=True,
         absent=("hidden fixtures found",)),
    # Its fake asg01_hidden lacks check_training: the kernel's own run of test_training fails.
    Case("sys_modules_tamper", sys_modules_tamper, zero=(*RELU, "test_training"), flagged=True),
    Case("signal_timer", signal_timer, zero=(*SOFTMAX, "test_training"), flagged=True),
    Case("ipython_hooks", ipython_hooks, zero=CCE, flagged=True),
    Case("grader_environment", grader_environment, absent=(GRADER_SECRET,)),
    Case("deep_folder_chain", deep_folder_chain),
)


# Cases by attack class, each in its own module (they build on the helpers above).
from hostile import bounds, ingest, integrity, markup  # noqa: E402

CASES = BASE_CASES + integrity.CASES + markup.CASES + bounds.CASES + ingest.CASES
