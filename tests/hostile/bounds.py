"""Hostile corpus: replies and connections that try to exhaust the grader's memory, threads or time.

Issue 10, item 8. The grader re-runs each visible test right after its cell, in a session
with the kernel (``_mlpcourse_grading.serve``). The reply cases replace the kernel side's
``send``: after an "arming" cell, the next reply the kernel sends (the first answer of the
following visible test's session) is a hostile message. The grader must refuse it
before decoding it: that test gets no verdict and scores 0, and the grader goes on to
grade the rest of the notebook, and the batch, as usual.
"""

from hostile.kit import Case, _bytes, _with_cell

# Replaces the kernel side's send. Each bomb is built when it is sent.
HOSTILE_SEND = """
import io, json, struct, time, zipfile

import _mlpcourse_grading

ARRAY = {"t": "array", "k": "a0"}


def _frame(envelope, data=b"", data_size=None):
    head = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
    return struct.pack("!QQ", len(head), len(data) if data_size is None else data_size) + head + data


def _value(node, index=(), data=b""):
    return _frame({"header": {"op": "value", "value": node}, "arrays": list(index)}, data)


def _npz(shape, data_bytes):
    # An .npz whose npy header declares `shape` float64, holding `data_bytes` zeros, deflated.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("a0.npy", "w", force_zip64=True) as entry:
            np.lib.format.write_array_header_1_0(entry, {"descr": "<f8", "fortran_order": False, "shape": shape})
            for start in range(0, data_bytes, 1 << 24):
                entry.write(bytes(min(1 << 24, data_bytes - start)))
    return buffer.getvalue()


def _old_frame(npz):
    # As the earlier wire format framed a reply: a JSON header, then the arrays as an .npz.
    head = json.dumps({"op": "value", "value": ARRAY}).encode()
    return struct.pack("!QQ", len(head), len(npz)) + head + npz


BOMBS = {
    "npz_deflated": lambda: _old_frame(_npz((2**27,), 2**30)),      # 1 GiB of zeros in 1 MB
    "npz_lying": lambda: _old_frame(_npz((2**34,), 8)),             # an npy header claiming 128 GiB
    "declared": lambda: _value(ARRAY, [["a0", "<f8", [2**37]]], bytes(8)),
    "prefix": lambda: struct.pack("!QQ", 2**20, 2**62),
    "repeated": lambda: _value({"t": "list", "v": [ARRAY] * 120_000}, [["a0", "<f8", [2**20]]], bytes(2**23)),
    "many": lambda: _value({"t": "none"}, [[f"a{i}", "<f8", [0]] for i in range(100_000)]),
    "deep": lambda: _frame(b'{"header": ' + b"[" * 100_000 + b"]" * 100_000 + b', "arrays": []}'),
}
armed = []
_honest_send = _mlpcourse_grading.send


def _hostile_send(sock, header, arrays=None):
    if not (armed and header.get("op") == "value"):
        return _honest_send(sock, header, arrays)
    kind = armed.pop()
    if kind == "trickle":  # an honest reply, one byte every half second
        for byte in _frame({"header": header, "arrays": []}):
            sock.sendall(bytes([byte]))
            time.sleep(0.5)
    else:
        sock.sendall(BOMBS[kind]())


_mlpcourse_grading.send = _hostile_send
"""

# The visible tests, each with the cell right before it.
VISIBLE = {"test_relu_visible": "relu_sigmoid", "test_sigmoid_visible": "test_relu_hidden",
           "test_feed_forward_visible": "mlp_class", "test_softmax_visible": "softmax",
           "test_cross_entropy_visible": "cross_entropy", "test_mlp_gradients_visible": "mlp_gradients",
           "test_sgd_visible": "sgd"}
# Which hostile reply the session of each visible test gets.
BOMBED = {"test_relu_visible": "npz_deflated", "test_sigmoid_visible": "npz_lying",
          "test_feed_forward_visible": "declared", "test_softmax_visible": "prefix",
          "test_cross_entropy_visible": "repeated", "test_mlp_gradients_visible": "many",
          "test_sgd_visible": "deep"}
TRICKLED = ("test_softmax_visible",)


def _armed(ctx, attacks):
    """The fast solution with the hostile send installed and one arming cell before each test of ``attacks``."""
    nb = _with_cell(ctx.solved(), "setup", HOSTILE_SEND)
    for test, kind in attacks.items():
        nb = _with_cell(nb, VISIBLE[test], f"armed.append({kind!r})")
    return "asg01.ipynb", _bytes(nb)


def bomb_replies(ctx):
    """Seven kinds of reply that would inflate on decoding (the .npz of record among them), one per visible test."""
    return _armed(ctx, BOMBED)


def trickled_reply(ctx):
    """An honest reply sent one byte every half second: the message's time runs out as a whole."""
    return _armed(ctx, dict.fromkeys(TRICKLED, "trickle"))


def judge_socket_flood(ctx):
    """1,800 connections to the grader's socket, idle, posing as the sandbox's lifeline, or guessing a
    session's token, held for a second; the tests after it must still be graded."""
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "relu_sigmoid", """
        import json, socket, struct, sys, time

        path = next(folder for folder in sys.path if folder.endswith("/grader")) + "/judge.sock"
        messages = [b""] + [struct.pack("!QQ", len(head), 0) + head for head in (
            json.dumps({"header": {"op": "lifeline"}, "arrays": []}).encode(),
            json.dumps({"header": {"op": "hello", "token": "0" * 32}, "arrays": []}).encode())]
        held, refused = [], 0
        for i in range(1800):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(path)
                sock.setblocking(True)
                sock.sendall(messages[i % 3])
                held.append(sock)
            except OSError:
                refused += 1
                sock.close()
        print(len(held), "connections held,", refused, "refused")
        time.sleep(1)
        for sock in held:
            sock.close()
    """))


CASES = (
    Case("bomb_replies", bomb_replies, zero=tuple(BOMBED), flagged=True, says=("could not re-run",)),
    Case("trickled_reply", trickled_reply, zero=TRICKLED, flagged=True, says=("could not re-run",)),
    Case("judge_socket_flood", judge_socket_flood),
)
