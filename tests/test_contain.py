"""Containment: the sandbox a grading kernel runs in, and the grader's trusted re-run of tests."""

import asyncio
import io
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time

import nbformat
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook
from mlpcourse.containment import contain, inkernel, judge, sandbox

LIMITS = sandbox.Limits(memory=1 * 2**30, processes=48, file_size=2**20, open_files=256, cpu_seconds=120,
                        tmp_size=8 * 2**20)


class _Kernel:
    """A kernel started in a sandbox the way ContainedExecute starts one, for probing."""

    def __init__(self, workdir, readable=()):
        self.scratch = sandbox.Scratch(workdir, sandbox.sandbox_mode(), LIMITS, list(readable),
                                       {f"{sandbox.KERNEL_MODULE}.py": pathlib.Path(inkernel.__file__).read_text()},
                                       dict(os.environ))
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(self.scratch.judge_socket))
        self.scratch.judge_socket.chmod(0o666)
        self.listener.listen(4)
        self.loop = asyncio.new_event_loop()
        self.km = AsyncKernelManager(
            kernel_name=sandbox.SPEC_NAME, kernel_spec_manager=KernelSpecManager(
                kernel_dirs=[str(self.scratch.spec_dir)]),
            transport="ipc", ip=str(self.scratch.kernel_dir / "ipc"),
            connection_file=str(self.scratch.connection_file))
        self.loop.run_until_complete(self.km.start_kernel(cwd=str(workdir), env=dict(os.environ)))
        self.lifeline, _ = self.listener.accept()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.loop.run_until_complete(self.kc.wait_for_ready(timeout=120))

    def run(self, code, timeout=60):
        """stdout of ``code`` run in the kernel, and the error name if it raised."""
        out, error = io.StringIO(), []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.write(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                error.append(msg["content"]["ename"])

        self.loop.run_until_complete(self.kc.execute_interactive(code, timeout=timeout, output_hook=hook))
        return out.getvalue(), (error or [None])[0]

    def alive(self):
        return self.loop.run_until_complete(self.km.is_alive())

    def close(self):
        self.kc.stop_channels()
        if self.alive():
            self.loop.run_until_complete(self.km.shutdown_kernel(now=True))
        self.listener.close()
        self.scratch.remove()
        self.loop.close()


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    if sandbox.sandbox_mode() is None:
        pytest.skip("namespaces are not available here: the sandbox cannot run")
    workdir = tmp_path_factory.mktemp("work")
    (workdir / "given.txt").write_text("released file")
    (workdir / "asg01.ipynb").write_text('{"cells": [], "hidden": "BEGIN MARK SCHEME"}')
    started = _Kernel(workdir)
    yield started, workdir
    started.close()


@pytest.mark.slow
def test_kernel_runs_as_its_own_user_in_a_copy_of_the_folder(kernel):
    """Does the kernel run under a user id of its own, in a scratch copy of the notebook's folder?"""
    k, workdir = kernel
    out, error = k.run("import os; print(os.getuid(), os.getcwd()); open('mine.txt', 'w').write('x')")
    uid, cwd = out.split()
    assert error is None and int(uid) != 0 and cwd == str(workdir)
    assert not (workdir / "mine.txt").exists()


@pytest.mark.slow
def test_kernel_sees_no_notebook(kernel):
    """Is nbgrader's working copy of the notebook (locked cells restored: mark schemes, hidden tests) out of the kernel's sight?"""
    k, workdir = kernel
    out, error = k.run("import os; print(sorted(os.listdir('.')))")
    assert error is None and "given.txt" in out and "ipynb" not in out


@pytest.mark.slow
def test_kernel_cannot_delete_or_replace_released_files(kernel):
    """Does deleting or overwriting a released file in the notebook's folder fail?"""
    k, workdir = kernel
    out, error = k.run("import os\nfor act in (lambda: os.remove('given.txt'), lambda: open('given.txt', 'w')):\n"
                       "    try:\n        act()\n    except PermissionError:\n        print('refused')")
    assert out.split() == ["refused", "refused"]
    assert (workdir / "given.txt").read_text() == "released file"


@pytest.mark.slow
def test_course_folder_and_hidden_tests_are_out_of_sight(kernel):
    """Are the course folder's sources, hidden tests and gradebook absent from the kernel's file system?"""
    k, _ = kernel
    probes = [asg01.MASTER, asg01.HIDDEN_FIXTURES, asg01.TESTS_ASSETS, paths.ROOT / "gradebook.db",
              pathlib.Path.home() / ".bash_history"]
    out, _ = k.run("import os\n" + "\n".join(f"print(os.path.exists({str(p)!r}))" for p in probes))
    assert out.split() == ["False"] * len(probes)


@pytest.mark.slow
def test_no_network_not_even_loopback(kernel):
    """Does a connection to a server listening on 127.0.0.1 fail, with the server never reached?"""
    k, _ = kernel
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(3)
    port = server.getsockname()[1]
    out, _ = k.run(f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                   "    print('connected')\nexcept OSError as error:\n    print(error.errno)")
    assert out.strip() == "101"  # ENETUNREACH
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()


@pytest.mark.slow
def test_memory_limit_gives_memory_error(kernel):
    """Does allocating more than the memory limit raise MemoryError, leaving the kernel alive?"""
    k, _ = kernel
    _, error = k.run("import numpy as np\nbig = np.ones(2 * 2**30 // 8)")
    assert error == "MemoryError" and k.alive()


@pytest.mark.slow
def test_process_limit_stops_a_fork_burst(kernel):
    """Does forking stop at the process limit, with the kernel still answering?"""
    k, _ = kernel
    out, error = k.run("import os, time\nn = 0\ntry:\n    while n < 1000:\n        if os.fork() == 0:\n"
                       "            time.sleep(2)\n            os._exit(0)\n        n += 1\nfinally:\n    print(n)")
    assert error == "BlockingIOError" and int(out) < LIMITS.processes
    time.sleep(3)
    assert k.run("print(1 + 1)")[0].strip() == "2"


@pytest.mark.slow
def test_file_size_limit(kernel):
    """Does writing a file larger than the limit fail with an error instead of filling the disk?"""
    k, _ = kernel
    _, error = k.run("open('/tmp/big', 'wb').write(b'x' * (2 * 2**20))")
    assert error == "OSError" and k.alive()


@pytest.mark.slow
def test_sandbox_ends_when_the_grader_goes(tmp_path):
    """When the grader's lifeline closes (the grader died), does the kernel die within seconds?"""
    if sandbox.sandbox_mode() is None:
        pytest.skip("namespaces are not available here")
    k = _Kernel(tmp_path)
    try:
        k.lifeline.close()
        k.listener.close()
        deadline = time.monotonic() + 15
        while k.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not k.alive()
    finally:
        k.close()


# --- the trusted re-run -------------------------------------------------------------------

def test_values_cross_as_plain_data_only():
    """Do ndarray subclasses and odd objects arrive as plain arrays or stand-ins, never as themselves?"""
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

    class Anything:
        def __eq__(self, other):
            return True

    refs = []
    encoder = inkernel.Encoder(lambda value: refs.append(value) or {"t": "ref", "id": 0, "type": "Anything",
                                                                    "name": "", "repr": "Anything()"})
    node = encoder.encode([np.arange(3.0).view(Liar), {"w": np.float32(2.5)}, Anything(), (1, "x", None)])
    value = judge.Session(None, None, 0)._decoder(encoder.arrays).decode(node)
    assert type(value[0]) is np.ndarray and value[0].tolist() == [0.0, 1.0, 2.0]
    assert value[1]["w"] == np.float32(2.5) and type(value[2]).__name__ == "Anything"
    assert isinstance(value[2], judge.Remote) and value[3] == (1, "x", None)


def test_in_place_changes_are_mirrored_back():
    """When student code changes an argument in place in the kernel, does the grader's copy change too?"""
    given = [{"w": np.zeros((2, 2)), "b": np.zeros(2)}]
    judge._apply(given, [{"w": np.ones((2, 2)), "b": np.zeros(2)}])
    assert given[0]["w"].sum() == 4


def test_the_kernel_never_replaces_the_graders_reference_arrays():
    """Are a trusted object's read-only arrays (its fixtures) kept when the kernel's copy sets them to anything else?"""
    class Net:
        pass

    net = Net()
    net.x, net.grads = np.arange(3.0), np.zeros(2)
    net.x.flags.writeable = False
    net.recorded = [net.x]
    judge._apply(net, judge._State(x=[0.0, 0.0, 0.0], grads=[1.0], recorded=[[0.0]], added=5))
    assert net.x.tolist() == [0.0, 1.0, 2.0] and net.recorded[0] is net.x  # reference data: kept
    assert net.grads == [1.0] and net.added == 5  # the rest is the student's to change


def test_reference_arrays_survive_any_container_the_kernel_sends_back():
    """Does a list or dict holding the grader's read-only arrays keep them when the kernel sends a
    tuple instead, drops the keys, or cuts the list short?"""
    reference = np.arange(3.0)
    reference.flags.writeable = False

    class Net:
        pass

    net = Net()
    net.recorded, net.by_name, net.batches = [reference], {"x": reference, "n": 1}, [np.zeros(2), reference]
    judge._apply(net, judge._State(recorded=(np.zeros(3),), by_name={"n": 2}, batches=[np.ones(2)]))
    assert net.recorded == [reference] and net.by_name == {"x": reference, "n": 2}
    assert net.batches[0].tolist() == [1.0, 1.0] and net.batches[1] is reference


def test_an_argument_reshaped_in_place_shows_on_the_graders_copy():
    """When student code changes an argument's shape in place, does the grader's copy change shape too
    (so "the input is unchanged" fails), and does a change it cannot mirror (a dtype that cannot
    cross) end the session?"""
    given = np.arange(6.0).reshape(2, 3)
    judge._apply(given, np.zeros((2, 3, 1)))
    assert given.shape == (2, 3, 1) and not given.any()
    with pytest.raises(judge.JudgeError, match="cannot mirror"):
        judge._apply(np.zeros(3), np.array(["a", "b", "c"]))
    with pytest.raises(judge.JudgeError, match="cannot mirror"):  # raw bytes come back as a reference
        judge._apply(np.zeros(3), object())


def _hidden_checks():
    """The hidden checks module and the check helpers, loaded in this process."""
    import importlib.util
    import sys

    sys.path[:0] = [str(asg01.SOURCE), str(asg01.TESTS_ASSETS)]
    try:
        spec = importlib.util.spec_from_file_location("asg01_hidden", asg01.TESTS_ASSETS / "asg01_hidden.py")
        hidden = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(hidden)
    finally:
        del sys.path[:2]
    return hidden


class PayloadError(Exception):
    """An exception of the student's own, named and worded to carry data out."""


def _hidden_failures():
    """``(full message, hidden_message)`` of the hidden checks on wrong implementations.

    Among them, implementations that return or raise their (hidden) input, as a
    student fishing for the hidden inputs would.
    """
    hidden = _hidden_checks()
    ref = notebook.reference_module()

    def raise_input(x, deriv=False):
        raise PayloadError("HIDDEN-INPUT " + repr(np.asarray(x).ravel()[:5]))

    def raise_builtin(y):
        raise ValueError("HIDDEN-INPUT " + repr(np.asarray(y).ravel()[:5]))

    wrong = [
        (hidden.check_relu, lambda x, deriv=False: ref.relu(x, deriv) + 0.1),
        (hidden.check_sigmoid, lambda x, deriv=False: 2 * ref.sigmoid(x, deriv)),
        (hidden.check_softmax, lambda y: np.exp(y) / np.exp(y).sum()),
        (hidden.check_cross_entropy, lambda y, s: 2 * ref.categorical_cross_entropy(y, s)),
        (hidden.check_relu, lambda x, deriv=False: np.asarray(x) * 1e6 + 12345.678),
        (hidden.check_relu, raise_input),
        (hidden.check_softmax, raise_builtin),
    ]
    failures = []
    for check, func in wrong:
        with pytest.raises(AssertionError) as failure:
            check(func)
        failures.append((str(failure.value), judge.hidden_message(failure.value)))
    return failures


def test_hidden_failure_messages_come_from_an_allow_list():
    """Do hidden checks' messages keep the check's own words and lose every value and the student's own text?"""
    import re

    number = r"[-+]?(?:\d[\d.]*(?:e[-+]?\d+)?|nan|inf)"
    failures = _hidden_failures()
    for full, shown in failures:
        assert re.search(rf"(expected|got) {number}", full) or "HIDDEN-INPUT" in full, full
        assert not re.search(rf"(expected|got) {number}", shown), shown
        assert "HIDDEN-INPUT" not in shown and "PayloadError" not in shown and "12345" not in shown, shown
        assert "case:" in shown and "hidden checks do not show values" in shown, shown
    assert "raised an exception\n" in failures[-1][1] and "ValueError" not in failures[-1][1]
    assert "raised an exception\n" in failures[-2][1]  # the student's own class is not named either


def test_a_failure_of_untrusted_origin_gets_the_generic_line():
    """Does an exception whose class the kernel named (not the course's CheckFailure) say nothing of its own?"""
    forged = judge.remote_exception("CheckFailure", "expected 1.5, got HIDDEN")
    forged.problem, forged.what = "has wrong values", "HIDDEN-INPUT"
    trusted = judge.TrustedCode([str(asg01.SOURCE), str(asg01.TESTS_ASSETS)], [])
    assert not trusted.is_trusted_failure(forged)
    assert trusted.is_trusted_failure(trusted.module("asg01_checks").CheckFailure("x"))
    assert judge.hidden_message(forged) == judge.HIDDEN_UNEXPECTED


# --- ContainedExecute on small notebooks -----------------------------------------------------

def _contained_run(tmp_path, sources, **limits):
    """Run ``sources`` (one code cell each) through ContainedExecute; return the notebook and run record."""
    import json

    import nbformat
    from traitlets.config import Config

    from mlpcourse.containment.contain import ContainedExecute

    if sandbox.sandbox_mode() is None:
        pytest.skip("namespaces are not available here")
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    for name, value in {"rerun_tests": False, "timeout": 3, "interrupt_grace": 2, **limits}.items():
        setattr(config.ContainedExecute, name, value)
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    resources = {"metadata": {"path": str(workdir)},
                 "nbgrader": {"student": "ada", "assignment": "tiny", "notebook": "tiny", "db_url": "sqlite://"}}
    nb, _ = ContainedExecute(config=config).preprocess(nb, resources)
    record = json.loads((tmp_path / "build" / "submissions" / "tiny" / "ada" / "run.json").read_text())
    return nb, record


def _errors(cell):
    return [output.ename for output in cell.outputs if output.output_type == "error"]


@pytest.mark.slow
def test_loop_is_interrupted_and_the_notebook_goes_on(tmp_path):
    """Does a cell over its time limit get interrupted, with the following cells still run?"""
    nb, record = _contained_run(tmp_path, ["while True:\n    pass", "print('after')"])
    assert _errors(nb.cells[0]) == ["KeyboardInterrupt", "CellTimeoutError"] or "CellTimeoutError" in _errors(nb.cells[0])
    assert nb.cells[1].outputs[0].text == "after\n"
    assert any("timed out" in incident["what"] for incident in record["incidents"])


@pytest.mark.slow
def test_a_function_that_hung_is_not_waited_for_again(tmp_path):
    """After a function had to be interrupted at its cell's limit, do later calls to it fail at once (and
    calls to a method of the same name, another function, not)?"""
    nb, record = _contained_run(tmp_path, [
        "def spin(x):\n    while True:\n        pass\n\nclass Net:\n    def spin(self):\n        return 1",
        "spin(1)", "spin(2)", "print('after', Net().spin())"])
    assert record["hung"] == [{"function": "spin", "cell": 1, "seconds": 3}]
    assert _errors(nb.cells[2]) == ["TimeoutError"], nb.cells[2].outputs
    assert "spin did not return within 3 s" in nb.cells[2].outputs[0].evalue
    assert record["cells"][2]["seconds"] < 2
    assert nb.cells[3].outputs[0].text == "after 1\n"


def test_the_stack_dump_is_read_within_bounds():
    """Is a kernel log's last stack dump read as bounded claims: a huge line number or name is no frame, not a crash?"""
    real = ('Thread 0x7f (most recent call first):\n  File "/tmp/ipykernel_7/123.py", line 4 in step\n'
            '  File "/tmp/ipykernel_7/456.py", line 2 in <module>\n')
    assert contain.dumped_function(real) == ("step", [["123.py", 4, "step"]])
    forged = real + f'Thread 0x1 (most recent call first):\n  File "/tmp/ipykernel_1/1.py", line {"9" * 5000} in relu\n'
    assert contain.dumped_function(forged) is None
    assert contain.dumped_function(real.replace("in step", "in " + "s" * 65)) is None
    assert contain.dumped_function("no dump here") is None


def test_the_interrupted_function_comes_from_the_frames_not_the_message():
    """Does a KeyboardInterrupt whose message looks like a frame name leave the real innermost frame named?"""
    traceback = ["KeyboardInterrupt                         Traceback (most recent call last)",
                 "Cell In[3], line 2, in softmax(y_hat)\n      1 def softmax(y_hat):\n----> 2     while True:",
                 "KeyboardInterrupt: \nCell In[1], line 1, in check_array"]
    assert contain.interrupted_function(traceback) == "softmax"
    assert contain.interrupted_function(traceback[:1] + traceback[2:]) is None
    assert contain.interrupted_function(["Cell In[1], line 1, in <lambda>()", "KeyboardInterrupt: "]) is None


def test_an_imported_function_is_never_stopped(tmp_path):
    """When a cell that really timed out names an imported function (not the notebook's own), is it left alone?"""
    nb, record = _contained_run(tmp_path, [
        "from textwrap import dedent\nimport time\ntry:\n    time.sleep(100)\nexcept KeyboardInterrupt:\n"
        "    def dedent_frame():\n        raise KeyboardInterrupt\n    dedent_frame.__code__ = dedent_frame.__code__.replace("
        "co_name='dedent', co_qualname='dedent')\n    dedent_frame()",
        "print(dedent('  x'))"])
    assert record["cells"][0]["timed_out"]
    assert nb.cells[1].outputs[0].text == "x\n"


def test_a_timeout_the_cell_only_shows_stops_nothing(tmp_path):
    """Does a cell that prints a fake timeout and interrupt (naming a function) leave that function alone?"""
    nb, record = _contained_run(tmp_path, [
        "def victim():\n    return 'alive'",
        "ip = get_ipython()\nip._showtraceback(KeyboardInterrupt, '', ['Cell In[1], line 2, in victim()'])\n"
        "ip._showtraceback(type('CellTimeoutError', (Exception,), {}), 'Cell execution timed out', ['timed out'])",
        "print(victim())"])
    assert _errors(nb.cells[1]) == ["KeyboardInterrupt", "CellTimeoutError"]  # the fakes were shown
    assert record["hung"] == [] and not any("timed out" in i["what"] for i in record["incidents"])
    assert nb.cells[2].outputs[0].text == "alive\n"


def test_a_method_that_hung_is_named_with_its_class_and_not_waited_for_again(tmp_path):
    """Is a hanging method recorded as Class.method, and only it made to fail at once, wherever it is referred to?"""
    nb, record = _contained_run(tmp_path, [
        "class SGD:\n    def step(self):\n        while True:\n            pass\n\n    def other(self):\n"
        "        return 'other'\n\ndef step():\n    return 'free'\n\nheld = [SGD().step]",
        "SGD().step()", "SGD().step()", "held[0]()", "print(SGD().other(), step())"])
    assert record["hung"] == [{"function": "SGD.step", "cell": 1, "seconds": 3}]
    for index in (2, 3):  # called again, also through a reference taken before it hung
        assert _errors(nb.cells[index]) == ["TimeoutError"], nb.cells[index].outputs
        assert "SGD.step did not return within 3 s" in nb.cells[index].outputs[0].evalue
        assert record["cells"][index]["seconds"] < 2
    assert nb.cells[4].outputs[0].text == "other free\n"


@pytest.mark.slow
def test_loop_ignoring_interrupts_stops_the_kernel(tmp_path):
    """Is a kernel that ignores the interrupt killed, and, with no restart left, the cells after it not run?"""
    nb, record = _contained_run(tmp_path, ["import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                           "while True:\n    pass", "print('after')"], kernel_restarts=0)
    assert "CellTimeoutError" in _errors(nb.cells[0]) and _errors(nb.cells[1]) == ["NotRun"]
    assert record["cells"][1]["status"] == "not run"


@pytest.mark.slow
def test_crash_is_marked_and_the_notebook_goes_on_in_a_new_kernel(tmp_path):
    """Does os._exit mark its cell as a crash, and the cells after it run in a restarted kernel with the state before?"""
    nb, record = _contained_run(tmp_path, ["x = 1", "import os\nos._exit(3)", "print(x)"])
    assert _errors(nb.cells[0]) == [] and _errors(nb.cells[1]) == ["KernelDied"]
    assert nb.cells[2].outputs[0].text == "1\n"
    assert [cell["status"] for cell in record["cells"]] == ["ok", "kernel died", "ok"]


@pytest.mark.slow
def test_a_kernel_that_keeps_dying_stops_the_notebook(tmp_path):
    """After its restarts are used up, are the cells after a crash marked as not run?"""
    crash = "import os\nos._exit(3)"
    nb, record = _contained_run(tmp_path, ["x = 1", crash, crash, crash, "print(x)"], kernel_restarts=2)
    assert [cell["status"] for cell in record["cells"]] == ["ok", "kernel died", "kernel died", "kernel died",
                                                           "not run"]


@pytest.mark.slow
def test_total_time_cap(tmp_path):
    """When the notebook's total time runs out, are the remaining cells marked as not run?"""
    nb, record = _contained_run(tmp_path, ["import time\ntime.sleep(2)"] * 5, total_timeout=5, timeout=10)
    statuses = [cell["status"] for cell in record["cells"]]
    assert statuses[0] == "ok" and statuses[-1] == "not run"
    assert any("all of its time" in incident["what"] for incident in record["incidents"])


@pytest.mark.slow
def test_output_is_cut_at_the_limit(tmp_path):
    """Is a flood of output cut to the limit, with a note saying how much was dropped?"""
    nb, record = _contained_run(tmp_path, ["for i in range(20000):\n    print('x' * 100)"], output_limit=10_000)
    text = "".join(output.get("text", "") for output in nb.cells[0].outputs)
    assert len(text) < 20_000 and "bytes of output not kept" in text


@pytest.mark.slow
def test_error_outputs_count_against_the_limits(tmp_path):
    """Are forged error outputs cut by the cell's and the notebook's limits too, a failing cell still failed?"""
    flood = ("ip = get_ipython()\nfor i in range(3):\n"
             "    ip._showtraceback(ValueError, ValueError('x'), ['A' * 100_000] * 20)\n")
    nb, record = _contained_run(tmp_path, [flood, flood + "raise KeyError('real')"], output_limit=50_000,
                                notebook_output_limit=80_000)
    sizes = [len(nbformat.writes(nbformat.v4.new_notebook(cells=[cell]))) for cell in nb.cells]
    assert all(size < 60_000 for size in sizes), sizes
    assert record["cells"][1]["status"] == "error"
    assert any("bytes of output not kept" in o.get("text", "") for cell in nb.cells for o in cell.outputs)


# --- scores come from verdicts only ----------------------------------------------------------

_TEXT = st.text(max_size=20)
_OUTPUT = st.one_of(
    st.builds(lambda name, text: {"output_type": "stream", "name": name, "text": text},
              st.sampled_from(["stdout", "stderr"]), _TEXT),
    st.builds(lambda text: {"output_type": "execute_result", "data": {"text/plain": text}, "metadata": {},
                            "execution_count": 1}, st.one_of(_TEXT, st.sampled_from(["1", "0.5", "-1", "'x'"]))),
    st.builds(lambda text: {"output_type": "display_data", "data": {"text/plain": text}, "metadata": {}}, _TEXT),
    st.builds(lambda text: {"output_type": "error", "ename": "CheckFailure", "evalue": text, "traceback": []}, _TEXT),
)


@settings(max_examples=300, deadline=None)
@given(outputs=st.lists(_OUTPUT, max_size=6), verdict=st.sampled_from(["passed", "failed", "not run"]))
def test_nbgrader_scores_only_the_verdict(outputs, verdict):
    """Whatever outputs student code produced, does nbgrader's own scoring of the rebuilt cell give exactly the verdict?"""
    import nbformat
    from nbgrader.utils import determine_grade

    from mlpcourse.containment.contain import verdict_outputs

    cell = nbformat.v4.new_code_cell("pass")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_x", "points": 3,
                                 "locked": True, "schema_version": 3}
    cell.outputs = verdict_outputs([nbformat.from_dict(o) for o in outputs], verdict, "why")
    assert determine_grade(cell)[0] == (3 if verdict == "passed" else 0)
    shown = [o for o in cell.outputs if o.output_type != "error"]
    assert len(shown) == len([o for o in outputs if o["output_type"] != "error" or verdict == "passed"])


_REMOUNT_PROBE = """
import os, sys
from mlpcourse.containment import sandbox
source, target, drop = sys.argv[1], sys.argv[2], sys.argv[3] == "drop"
sandbox._mount(None, "/", flags=sandbox.MS_REC | sandbox.MS_PRIVATE)
sandbox._bind(source, target)
if drop:
    sandbox._drop_privileges(None)
try:
    sandbox._mount(None, target, flags=sandbox.MS_REMOUNT | sandbox.MS_BIND)
    open(os.path.join(target, "written"), "w").write("x")
    print("remounted")
except OSError as error:
    print("refused", error.errno)
"""


@pytest.mark.parametrize("drop", [False, True], ids=["as-root-in-its-namespace", "after-dropping-privileges"])
def test_userns_kernel_cannot_remount_its_read_only_folders(tmp_path, drop):
    """Without a user id of its own, can the kernel no longer make a read-only folder writable (it could before dropping)?"""
    import subprocess
    import sys

    if sandbox.sandbox_mode() is None:
        pytest.skip("namespaces are not available here")
    source, target = tmp_path / "python", tmp_path / "mounted"
    source.mkdir()
    target.mkdir()
    result = subprocess.run([*sandbox.unshare_argv("userns"), sys.executable, "-c", _REMOUNT_PROBE, str(source),
                             str(target), "drop" if drop else "keep"], capture_output=True, text=True,
                            cwd=paths.ROOT, env=dict(os.environ, PYTHONPATH=str(paths.ROOT)))
    assert result.stdout.split() == (["refused", "1"] if drop else ["remounted"]), result.stderr
    assert (source / "written").exists() is not drop


@pytest.mark.slow
def test_a_function_that_ignores_interrupts_costs_its_cells_not_the_notebook(tmp_path):
    """When a function ignores the interrupt, is the kernel restarted (cells before run again), the
    function made to fail at once, and the rest of the notebook graded?"""
    nb, record = _contained_run(tmp_path, [
        "import signal\ncount = 41\n\ndef spin():\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "    while True:\n        pass",
        "count += 1", "spin()", "spin()", "print('after', count)"])
    [hung] = record["hung"]
    assert {key: hung[key] for key in ("function", "cell", "seconds")} == {"function": "spin", "cell": 2, "seconds": 3}
    assert hung["where"] and all(file.endswith(".py") and line > 0 for file, line, _ in hung["where"])
    assert "CellTimeoutError" in _errors(nb.cells[2]) and "spin" in nb.cells[2].outputs[-1].evalue
    assert _errors(nb.cells[3]) == ["TimeoutError"] and record["cells"][3]["seconds"] < 2
    assert nb.cells[4].outputs[0].text == "after 42\n"  # the cells before were run again, once
    assert any("restarted" in incident["what"] for incident in record["incidents"])


@pytest.mark.slow
def test_a_method_that_ignores_interrupts_is_told_from_others_of_its_name(tmp_path):
    """When a constructor ignores the interrupt (the dump names it only "__init__"), is only that
    constructor stopped, not every class's?"""
    nb, record = _contained_run(tmp_path, [
        "import signal\n\nclass Stuck:\n    def __init__(self, small=True):\n"
        "        signal.signal(signal.SIGINT, signal.SIG_IGN)\n        while small:\n            pass\n\n"
        "class Fine:\n    def __init__(self):\n        self.ok = 'fine'",
        "Stuck()", "Stuck(small=False)", "print(Fine().ok)"])
    assert [hung["function"] for hung in record["hung"]] == ["__init__"]
    assert _errors(nb.cells[2]) == ["TimeoutError"] and record["cells"][2]["seconds"] < 2
    assert nb.cells[3].outputs[0].text == "fine\n"


def test_an_object_that_hangs_when_looked_at_does_not_stop_the_stopping(tmp_path):
    """Does a global whose __class__ never returns leave the grader able to stop a function that hung?"""
    nb, record = _contained_run(tmp_path, [
        "import time\n\nclass Stuck:\n    @property\n    def __class__(self):\n        while True:\n"
        "            try:\n                time.sleep(1)\n            except KeyboardInterrupt:\n                pass\n\n"
        "stuck = Stuck()\n\ndef spin():\n    while True:\n        pass",
        "spin()", "spin()", "print('after')"])
    assert [hung["function"] for hung in record["hung"]] == ["spin"]
    assert _errors(nb.cells[2]) == ["TimeoutError"] and record["cells"][2]["seconds"] < 2
    assert nb.cells[3].outputs[0].text == "after\n"


def test_the_stopped_message_names_where_the_call_was():
    """Does the message of a stopped function say the cell, or the grader's last check after the notebook?"""
    assert "(cell 4)" in contain.stopped_message("relu", 30, 3)
    assert "(the grader's last check)" in contain.stopped_message("relu", 30, None)


def test_strings_that_compare_strangely_do_not_stop_the_stopping(tmp_path):
    """Does a class whose namespace key is a str subclass with a raising __eq__ leave the grader able to stop
    a function that hung (rather than the kernel failing the request and the grader waiting again)?"""
    nb, record = _contained_run(tmp_path, [
        "armed = False\n\nclass Key(str):\n    __hash__ = str.__hash__\n\n    def __eq__(self, other):\n"
        "        if armed:\n            raise RuntimeError('no')\n        return str.__eq__(self, other)\n\n"
        "Quiet = type('Quiet', (), {Key('__module__'): '__main__', 'x': 1})\n\n"
        "def spin():\n    while True:\n        pass",
        "armed = True\nspin()", "spin()"])
    assert [hung["function"] for hung in record["hung"]] == ["spin"]
    assert _errors(nb.cells[2]) == ["TimeoutError"] and record["cells"][2]["seconds"] < 2


def test_the_kernel_log_is_read_after_a_mark(tmp_path):
    """Is only what the kernel wrote after a mark read (a dump from an earlier kernel is never this cell's)?"""
    (tmp_path / "work").mkdir()
    scratch = sandbox.Scratch(tmp_path / "work", None, LIMITS, [], {}, {})
    try:
        assert scratch.kernel_log_size() == 0 and scratch.kernel_log(since=0) == ""
        scratch.log.write_text("old dump (most recent call first) in spin\n")
        mark = scratch.kernel_log_size()
        with open(scratch.log, "a") as log:
            log.write("new lines\n")
        assert scratch.kernel_log(20_000, since=mark) == "new lines\n"
        assert scratch.kernel_log(4, since=0) == "nes\n"  # the end, within the limit
    finally:
        sandbox.remove_tree(scratch.base)


def test_the_copy_of_nbconverts_preprocess_names_the_installed_and_pinned_nbconvert():
    """Does contain.preprocess say it copies the nbconvert that is installed and pinned (an upgrade must re-check it)?"""
    import importlib.metadata
    import re

    from mlpcourse.containment.contain import ContainedExecute

    copied = re.search(r"from\s+nbconvert (\S+) ", ContainedExecute.preprocess.__doc__).group(1)
    pinned = re.search(r"^nbconvert==(\S+)$", (paths.ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert copied == pinned == importlib.metadata.version("nbconvert")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["root", "userns"])
def test_the_kernel_sees_none_of_the_graders_variables(tmp_path, monkeypatch, mode):
    """Is a secret in the grader's environment out of the kernel's reach: its own environment, and
    every process it can inspect (the sandbox's PID 1 included), even under look-alike names?
    (In userns mode the sandbox's PID 1 has the kernel's user id.)"""
    if mode == "root" and os.geteuid() != 0 or subprocess.run(sandbox.unshare_argv(mode) + ["true"]).returncode:
        pytest.skip(f"the {mode} sandbox is not available here")
    monkeypatch.setattr(sandbox, "sandbox_mode", lambda: mode)
    secrets = {"GRADER_SECRET_TOKEN": "s3cret-plain", "LANGCHAIN_API_KEY": "s3cret-lang",
               "ASG01_GRADER_TOKEN": "s3cret-asg01", "KANNADA_MNIST_URL": "https://ta:s3cret-url@mirror.invalid/"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ASG01_TRAIN_SPLIT", "test")
    nb, _ = _contained_run(tmp_path, ["""
import os
print(sorted(os.environ.items()))
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            print(pid, open(f'/proc/{pid}/environ', 'rb').read())
        except OSError as error:
            print(pid, type(error).__name__)
"""], kernel_env=["ASG01_TRAIN_SPLIT"])
    seen = "".join(output.get("text", "") for output in nb.cells[0].outputs)
    assert "('ASG01_TRAIN_SPLIT', 'test')" in seen  # what the assignment names does reach the kernel
    assert "1 " in seen, seen  # PID 1 was listed, readable or not
    assert not [value for value in secrets.values() if value in seen], seen


def test_a_failed_sandbox_check_is_made_again(monkeypatch):
    """Does one failed check (a loaded machine) leave the next kernel of a long-lived grader sandboxed?"""
    real_argv = sandbox.unshare_argv
    monkeypatch.setattr(sandbox, "_working_mode", [])
    monkeypatch.setattr(sandbox, "unshare_argv", lambda mode: ["false"])
    assert sandbox.sandbox_mode() is None
    monkeypatch.setattr(sandbox, "unshare_argv", real_argv)
    if subprocess.run(real_argv("userns") + ["true"], capture_output=True).returncode:
        pytest.skip("namespaces are not available here")
    assert sandbox.sandbox_mode() in ("root", "userns")


def test_a_folder_chain_deeper_than_pythons_recursion_is_removed(tmp_path):
    """Is a chain of nested folders a kernel made (shutil.rmtree's RecursionError) removed, without raising?"""
    top = tmp_path / "scratch"
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        os.mkdir("scratch", dir_fd=fd)
        here = os.open("scratch", os.O_RDONLY, dir_fd=fd)
        for _ in range(3000):  # relative to an open folder: no path grows past PATH_MAX
            os.mkdir("d", dir_fd=here)
            deeper = os.open("d", os.O_RDONLY, dir_fd=here)
            os.close(here)
            here = deeper
        os.close(here)
    finally:
        os.close(fd)
    with pytest.raises(RecursionError):
        shutil.rmtree(top, ignore_errors=True)
    sandbox.remove_tree(top)
    assert not top.exists()


def test_replacing_a_course_functions_code_is_observed(monkeypatch):
    """Is a course module's function whose code was replaced in place (the function object kept) reported?"""
    import types

    module = types.ModuleType("course_checks_probe")
    exec("def check(x):\n    assert x\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "course_checks_probe", module)
    monkeypatch.setattr(inkernel, "_start", {})
    inkernel.snapshot(["course_checks_probe"])
    assert inkernel.observe() == []
    module.check.__code__ = (lambda x: None).__code__
    assert "the code of course_checks_probe.check was replaced" in inkernel.observe()


def test_loosening_a_course_functions_defaults_or_classes_is_observed(monkeypatch):
    """Are a course function's default arguments changed in place, a course class's attribute, and the
    code of its method, reported?"""
    import types

    module = types.ModuleType("course_checks_probe")
    exec("class CheckFailure(AssertionError):\n    PROBLEMS = ('has wrong values',)\n"
         "    def describe(self):\n        return str(self)\n"
         "def check(x, *, atol=1e-6):\n    assert abs(x) < atol\n", module.__dict__)
    monkeypatch.setitem(sys.modules, "course_checks_probe", module)
    monkeypatch.setattr(inkernel, "_start", {})
    inkernel.snapshot(["course_checks_probe"])
    assert inkernel.observe() == []
    module.check.__kwdefaults__["atol"] = 1e9
    module.CheckFailure.PROBLEMS = ()
    module.CheckFailure.describe.__code__ = (lambda self: "").__code__
    assert inkernel.observe() == ["the default arguments of course_checks_probe.check were changed",
                                  "attributes of the class course_checks_probe.CheckFailure were changed",
                                  "the code of course_checks_probe.CheckFailure.describe was replaced"]


def test_replacing_the_graders_own_kernel_functions_is_observed(monkeypatch):
    """Is swapping the grader's in-kernel serve for a student function reported?"""
    monkeypatch.setattr(inkernel, "_start", {})
    inkernel.snapshot([])
    assert inkernel.observe() == []
    monkeypatch.setattr(inkernel, "serve", lambda *args: None)
    assert f"{inkernel.__name__}.serve was replaced" in inkernel.observe()
