"""Limits on everything a grading kernel sends the grader (issue 10, item 8).

Hostile messages are built byte by byte and fed to the real :func:`inkernel.receive`,
:class:`inkernel.Decoder` and :class:`judge.Judge` over Unix sockets: each must end in
a clean ProtocolError or JudgeError with memory, threads and file descriptors bounded
(memory is measured with tracemalloc, which sees numpy's and Python's allocations).
The grading process's own memory cap is checked through :func:`chain.run_nbgrader`.
"""

import io
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile

import IPython
import numpy as np
import pytest

from mlpcourse.containment import inkernel, judge
from mlpcourse.grading import chain

# Most a refused message may make the receiver allocate (it reads the sizes, the
# envelope, and nothing more).
REFUSED_BYTES = 16 * 2**20


def _frame(envelope, data=b"", data_size=None):
    """A message as the wire carries it; ``envelope`` is JSON-able or raw bytes."""
    head = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
    return inkernel.PREFIX.pack(len(head), len(data) if data_size is None else data_size) + head + data


def _value_message(node, index=(), data=b"", data_size=None):
    return _frame({"header": {"op": "value", "value": node}, "arrays": list(index)}, data, data_size)


def _npz_bomb(shape, data_bytes):
    """An .npz whose one entry declares ``shape`` float64 and holds ``data_bytes`` zeros, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("a0.npy", "w", force_zip64=True) as entry:
            np.lib.format.write_array_header_1_0(entry, {"descr": "<f8", "fortran_order": False, "shape": shape})
            chunk = bytes(1 << 24)
            for start in range(0, data_bytes, len(chunk)):
                entry.write(chunk[:data_bytes - start])
    return buffer.getvalue()


class _Sender:
    """Writes ``raw`` into one end of a socket pair from a thread; the test reads the other end."""

    def __init__(self, raw, pause=0.0):
        self.ours, self.theirs = socket.socketpair()
        self.thread = threading.Thread(target=self._write, args=(raw, pause), daemon=True)
        self.thread.start()

    def _write(self, raw, pause):
        try:
            if pause:
                for byte in raw:
                    self.theirs.sendall(bytes([byte]))
                    time.sleep(pause)
            else:
                self.theirs.sendall(raw)
        except OSError:  # the receiver gave up and closed its end
            pass

    def close(self):
        self.ours.close()
        self.thread.join(10)
        self.theirs.close()


def _receive_peak(raw, receive=inkernel.receive, timeout=10):
    """``(outcome, peak bytes allocated)`` of receiving ``raw``: the message, or the exception raised."""
    sender = _Sender(raw)
    sender.ours.settimeout(timeout)
    tracemalloc.start()
    try:
        outcome = receive(sender.ours)
    except Exception as error:
        outcome = error
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        sender.close()
    return outcome, peak


def _session_decoder(arrays):
    return judge.Session(None, None, 0)._decoder(arrays)


# --- the wire format ---------------------------------------------------------------

def test_plain_values_cross_unchanged():
    """Do arrays of every allowed dtype and shape (0-d, empty, strided, big-endian, str) arrive exactly?"""
    arrays = {"f8": np.arange(12.0).reshape(3, 4).T, "f4": np.float32([1.5, -2]), "i8": np.arange(-3, 3),
              "u1": np.arange(250, 256, dtype=np.uint8), "b1": np.array([True, False]),
              "c16": np.array([1 + 2j]), "be": np.arange(3, dtype=">f8"), "U": np.array(["ab", "cde"]),
              "scalar": np.array(2.5), "empty": np.zeros((0, 5))}
    header = {"op": "value", "nested": [1, "two", None, {"k": 3.5}]}
    sender = _Sender(b"")
    try:
        inkernel.send(sender.theirs, header, arrays)
        got_header, got = inkernel.receive(sender.ours)
    finally:
        sender.close()
    assert got_header == header and set(got) == set(arrays)
    for key, array in arrays.items():
        assert got[key].dtype == array.dtype and got[key].shape == array.shape, key
        assert np.array_equal(got[key], array), key


@pytest.mark.parametrize("shape, data_bytes", [((2**27,), 2**30), ((2**34,), 8)], ids=["deflated", "lying"])
def test_compressed_npz_is_never_inflated(shape, data_bytes):
    """Does the attack of record, an .npz of 1 GiB deflated to 1 MB (or whose npy header claims 128 GiB),
    get refused with nothing inflated or allocated?"""
    bomb = _npz_bomb(shape, data_bytes)
    assert len(bomb) < 2 * 2**20
    head = json.dumps({"op": "value", "value": {"t": "array", "k": "a0"}}).encode()
    # As the old wire format framed it (JSON header, then the .npz), and as raw data of its shape.
    old_frame = inkernel.PREFIX.pack(len(head), len(bomb)) + head + bomb
    declared = _value_message({"t": "array", "k": "a0"}, [["a0", "<f8", list(shape)]], bomb)
    for raw in (old_frame, declared):
        outcome, peak = _receive_peak(raw)
        assert isinstance(outcome, inkernel.ProtocolError), outcome
        assert peak < REFUSED_BYTES, peak
    # Declared as what it is, bytes, it arrives as bytes: nothing on this side decompresses.
    honest = _value_message({"t": "array", "k": "a0"}, [["a0", "|u1", [len(bomb)]]], bomb)
    (header, arrays), peak = _receive_peak(honest)
    assert arrays["a0"].tobytes() == bomb and peak < 3 * len(bomb) + 2**16


def test_sizes_are_checked_before_anything_is_read():
    """Does a prefix announcing 4 EiB of data, or a 5 MiB header, get refused at once, without waiting for it?"""
    for raw in (inkernel.PREFIX.pack(10, 2**62), inkernel.PREFIX.pack(5 * 2**20, 0)):
        started = time.monotonic()
        outcome, peak = _receive_peak(raw)
        assert isinstance(outcome, inkernel.ProtocolError), outcome
        assert peak < 2**20 and time.monotonic() - started < 5


@pytest.mark.parametrize("entry", [
    ["a0", "<f8", [2**40]],                       # shape far larger than the data
    ["a0", "<f8", [1]],                           # shape smaller than the data
    ["a0", "<f8", [-1]],
    ["a0", "<f8", [2**27, 2**27, 0]],             # empty, but numpy would overflow computing its size
    ["a0", "<f8", [True]],
    ["a0", "<f8", [1] * 33],
    ["a0", "|O", [2]],                            # objects would need pickle
    ["a0", "|V16", [1]],
    ["a0", "<M8[s]", [2]],
    ["a0", "(2,)<f8", [1]],
    ["a0", "<U0", [16]],
    ["a0", "f8", [2]],
    [0, "<f8", [2]],
], ids=str)
def test_lying_array_entries_are_refused(entry):
    """Does every array entry whose dtype or shape is not allowed, or does not match the data, get refused?"""
    outcome, peak = _receive_peak(_value_message({"t": "array", "k": "a0"}, [entry], bytes(16)))
    assert isinstance(outcome, inkernel.ProtocolError), outcome
    assert peak < 2**20, peak


def test_duplicate_array_keys_are_refused():
    """Does an array list naming one key twice (one of them hidden from the decoder) get refused?"""
    index = [["a0", "<f8", [1]], ["a0", "<f8", [1]]]
    outcome, _ = _receive_peak(_value_message({"t": "array", "k": "a0"}, index, bytes(16)))
    assert isinstance(outcome, inkernel.ProtocolError)


def test_too_many_arrays_are_refused():
    """Does a message of 20,000 empty arrays (over MAX_ARRAYS) get refused, with memory bounded?"""
    index = [[f"a{i}", "<f8", [0]] for i in range(2 * inkernel.MAX_ARRAYS)]
    outcome, peak = _receive_peak(_value_message({"t": "none"}, index))
    assert isinstance(outcome, inkernel.ProtocolError), outcome
    assert peak < 64 * 2**20, peak


def test_deep_json_is_refused():
    """Does a header nested 100,000 deep get refused as a ProtocolError, not a RecursionError?"""
    raw = _frame(b'{"header": ' + b"[" * 100_000 + b"]" * 100_000 + b', "arrays": []}')
    outcome, peak = _receive_peak(raw)
    assert isinstance(outcome, inkernel.ProtocolError), outcome
    assert peak < REFUSED_BYTES


def test_values_nested_too_deeply_are_malformed():
    """Does a value nested past MAX_DEPTH (valid JSON) end the grader's request with a JudgeError?"""
    node = {"t": "none"}
    for _ in range(inkernel.MAX_DEPTH + 5):
        node = {"t": "list", "v": [node]}
    with pytest.raises(judge.JudgeError, match="malformed"):
        judge.Session(None, None, 0)._value({"value": node}, {})


# A value naming one 1 MiB array 1,000 times: 1 GiB if each name were copied (an attacker
# names it a million times; the test stays small enough not to hurt the machine if it fails).
REPEATED = ({"t": "list", "v": [{"t": "array", "k": "a0"}] * 1000}, [["a0", "<f8", [2**17]]], bytes(2**20))


def test_one_array_named_many_times_is_decoded_once():
    """Does a value naming one array 1,000 times get refused instead of copied 1,000 times?"""
    (header, arrays), _ = _receive_peak(_value_message(*REPEATED))
    tracemalloc.start()
    try:
        with pytest.raises(inkernel.ProtocolError):
            _session_decoder(arrays).decode(header["value"])
        assert tracemalloc.get_traced_memory()[1] < 4 * 2**20
    finally:
        tracemalloc.stop()


def test_scalar_node_must_name_a_0d_array():
    """Does a "scalar" node naming a whole array get refused rather than passing the array through?"""
    with pytest.raises(inkernel.ProtocolError):
        _session_decoder({"a0": np.zeros(4)}).decode({"t": "scalar", "k": "a0"})
    assert _session_decoder({"a0": np.array(1.5)}).decode({"t": "scalar", "k": "a0"}) == 1.5


def test_a_trickled_message_times_out_as_a_whole():
    """Does a message sent one byte every 0.2 s end in a timeout after the socket's timeout, not per byte?"""
    raw = _value_message({"t": "str", "v": "x" * 1000})
    sender = _Sender(raw, pause=0.2)
    sender.ours.settimeout(1.5)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            inkernel.receive(sender.ours)
    finally:
        sender.close()
    assert time.monotonic() - started < 3


def test_a_connection_bounds_messages_and_bytes():
    """Does a Connection refuse the message past its message limit, and a message past its byte limit?"""
    message = _value_message({"t": "none"})
    sender = _Sender(message * 4)
    try:
        connection = inkernel.Connection(sender.ours, max_messages=3, max_bytes=2**20)
        for _ in range(3):
            assert inkernel.receive(connection)[0]["op"] == "value"
        with pytest.raises(inkernel.ProtocolError, match="messages"):
            inkernel.receive(connection)
    finally:
        sender.close()
    sender = _Sender(_value_message({"t": "none"}, [["a0", "|u1", [4096]]], bytes(4096)))
    try:
        with pytest.raises(inkernel.ProtocolError, match="bytes"):
            inkernel.receive(inkernel.Connection(sender.ours, max_bytes=4000))
    finally:
        sender.close()


def test_sender_refuses_what_the_receiver_would(monkeypatch):
    """Does send raise ValueError for an over-limit or object message, sending nothing?"""
    left, right = socket.socketpair()
    with left, right:
        with pytest.raises(ValueError):
            inkernel.send(left, {"op": "value"}, {"a0": np.array([object()], dtype=object)})
        monkeypatch.setattr(inkernel, "MAX_DATA_BYTES", 1000)
        with pytest.raises(ValueError, match="over the limits"):
            inkernel.send(left, {"op": "value"}, {"a0": np.zeros(1000)})
        right.setblocking(False)
        with pytest.raises(BlockingIOError):
            right.recv(1)


# --- the judge: sessions and connections -------------------------------------------------

class _Shell:
    """What :func:`inkernel.serve` needs of IPython: the kernel's namespace."""

    user_ns = {"relu": lambda x: np.maximum(x, 0), "big": lambda: np.zeros(2**20)}


@pytest.fixture
def judge_socket(tmp_path, monkeypatch):
    """A Judge on a Unix socket (no trusted code) and the path the 'kernel' connects to."""
    monkeypatch.setattr(IPython, "get_ipython", lambda: _Shell())
    monkeypatch.setattr(judge.Judge, "HELLO_SECONDS", 1)
    path = tmp_path / "judge.sock"
    grader = judge.Judge(path, None)
    yield grader, str(path)
    grader.close()


def _honest_session(grader, path, work, timeout=20):
    """Run ``work(session)`` against the real serve() in a thread; return the judge's result."""
    result, done = grader.expect("honest", work, timeout)
    kernel = threading.Thread(target=inkernel.serve, args=(path, "honest"), daemon=True)
    kernel.start()
    assert done.wait(timeout)
    kernel.join(5)
    return result


def _call_relu(session):
    return session.name("relu")(np.array([-1.0, 2.0])).tolist()


def _hostile_session(grader, path, reply):
    """A kernel that says hello with the expected token, then answers the first request with ``reply``."""
    result, done = grader.expect("hostile", lambda session: session.name("relu"), 20)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        inkernel.send(sock, {"op": "hello", "token": "hostile", "observations": []})
        inkernel.receive(sock)
        try:
            sock.sendall(reply)
        except OSError:  # the judge stopped reading
            pass
        assert done.wait(20)
    return result


def test_a_bomb_reply_costs_only_its_session(judge_socket):
    """Does a kernel answering with a compressed bomb get 'no verdict' for that test, the judge serving on?"""
    grader, path = judge_socket
    bomb = _npz_bomb((2**27,), 2**30)
    head = json.dumps({"op": "value", "value": {"t": "array", "k": "a0"}}).encode()
    replies = [inkernel.PREFIX.pack(len(head), len(bomb)) + head + bomb,
               _value_message({"t": "array", "k": "a0"}, [["a0", "<f8", [2**27]]], bomb),
               _value_message(*REPEATED)]
    for reply in replies:
        tracemalloc.start()
        try:
            result = _hostile_session(grader, path, reply)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert "error" in result and "value" not in result, result
        assert peak < 64 * 2**20, peak
    assert _honest_session(grader, path, _call_relu)["value"] == [0.0, 2.0]


def test_an_oversized_reply_is_a_failure_of_the_students_function(judge_socket, monkeypatch):
    """Does a student function returning more than a message may carry raise in the grader, not hang it?"""
    grader, path = judge_socket
    monkeypatch.setattr(inkernel, "MAX_DATA_BYTES", 2**20)

    def work(session):
        try:
            session.name("big")()
        except TypeError as error:
            return str(error)
        return "returned"

    assert "cannot send the result" in _honest_session(grader, path, work)["value"]


FLOOD = r"""
import json, socket, struct, sys, time
path, count = sys.argv[1], int(sys.argv[2])
head = json.dumps({"header": {"op": "lifeline"}, "arrays": []}).encode()
hello = json.dumps({"header": {"op": "hello", "token": "guess"}, "arrays": []}).encode()
held, refused = [], 0
for i in range(count):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)  # refused at once when the judge's backlog is full
    try:
        sock.connect(path)
        sock.setblocking(True)
        if i % 3 == 1:
            sock.sendall(struct.pack("!QQ", len(head), 0) + head)
        elif i % 3 == 2:
            sock.sendall(struct.pack("!QQ", len(hello), 0) + hello)
        held.append(sock)
    except OSError:
        refused += 1
        sock.close()
print(len(held), refused, flush=True)
sys.stdin.read()
"""


def _open_files():
    return len(os.listdir("/proc/self/fd"))


def test_a_connection_flood_is_bounded(judge_socket):
    """Do 1,800 connections (idle, fake lifelines, guessed tokens) hold at most Judge.THREADS threads and
    sockets here, and does an honest session work while the flooding process still holds its connections?"""
    grader, path = judge_socket
    peaks = {"threads": 0, "files": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peaks["threads"] = max(peaks["threads"], threading.active_count())
            peaks["files"] = max(peaks["files"], _open_files())
            time.sleep(0.005)

    flood = subprocess.Popen([sys.executable, "-c", FLOOD, path, "1800"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    # Counted with the flood's two pipes open, before it connects (starting Python takes longer).
    threads, files = threading.active_count(), _open_files()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        held, refused = map(int, flood.stdout.readline().split())
        time.sleep(3 * judge.Judge.HELLO_SECONDS)  # what the judge accepted times out meanwhile
        stop.set()
        sampler.join()
        started = time.monotonic()
        assert _honest_session(grader, path, _call_relu)["value"] == [0.0, 2.0]
        assert time.monotonic() - started < 5
    finally:
        flood.communicate("", timeout=30)
    assert held + refused == 1800 and refused > held
    assert peaks["threads"] <= threads + 1 + judge.Judge.THREADS, peaks  # the sampler and the judge's threads
    assert peaks["files"] <= files + judge.Judge.THREADS + 1, peaks      # and one lifeline kept


def test_only_the_first_lifeline_is_kept(judge_socket):
    """Do later 'lifeline' connections get closed by the judge instead of being kept (and swept) forever?"""
    grader, path = judge_socket
    socks = []
    for _ in range(20):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        inkernel.send(sock, {"op": "lifeline"})
        socks.append(sock)
    try:
        # The judge's threads race for the lock, so any one of them may be the kept one.
        open_socks, deadline = set(socks), time.monotonic() + 10
        while len(open_socks) > 1 and time.monotonic() < deadline:
            readable, _, _ = select.select(list(open_socks), [], [], 0.5)
            for sock in readable:
                assert sock.recv(1) == b""  # closed by the judge
                open_socks.discard(sock)
        assert len(open_socks) == 1, f"{len(open_socks)} lifelines kept"
        grader.sweep()
        kept = open_socks.pop()
        kept.settimeout(5)
        assert kept.recv(1) == b"c"
    finally:
        for sock in socks:
            sock.close()


# --- the grading process --------------------------------------------------------------------

PROBE_CONFIG = """
import os, resource
c = get_config()  # noqa: F821
c.ContainedExecute.grader_memory_limit = {limit}
if os.environ.get("BOUNDS_PROBE"):
    print("limit", resource.getrlimit(resource.RLIMIT_AS)[0], flush=True)
    try:
        block = bytearray({limit})
        print("allocated", flush=True)
    except MemoryError:
        print("MemoryError", flush=True)
"""


def test_the_grading_process_runs_under_its_memory_cap(tmp_path):
    """Does nbgrader started by run_nbgrader run under the configured address-space cap, so that
    allocating past it is a MemoryError there, not the machine's OOM killer?"""
    limit = 2 * 2**30
    (tmp_path / "nbgrader_config.py").write_text(PROBE_CONFIG.format(limit=limit))
    code, output = chain.run_nbgrader(tmp_path, ["list"], 120, env={"BOUNDS_PROBE": "1"})
    assert f"limit {limit}" in output, output
    assert "MemoryError" in output and "allocated" not in output, output
