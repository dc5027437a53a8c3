"""The part of the grader that runs inside a grading kernel (there: ``_mlpcourse_grading``).

While grading, every test cell is run twice: by the kernel, as nbgrader always does,
and again by the grader in its own process (:mod:`mlpcourse.containment.judge`), which holds the
hidden fixtures. The grader reaches the student's functions and objects in the kernel
through :func:`serve`: after each test cell it asks the kernel to run
``serve(socket_path, token)``, which answers the grader's requests (look up a name,
call, get or set an attribute) until the grader says it is done.

Values cross as plain data only (None, bools, numbers, strings, numeric numpy arrays,
lists, tuples, dicts); any other object stays where it is and is passed by reference.
Nothing either side sends can make the other side run code it did not choose to run,
or hold more than the wire format's limits: arrays travel as raw bytes whose dtype and
shape are declared, and checked against the limits, before any byte of them is read;
the rest travels as JSON of bounded size (see :func:`receive`).

:func:`observe` lists what student code has changed since the kernel started (numpy,
builtins, the check helpers, ``sys.modules``, IPython's execution machinery, trace
functions, signal handlers and timers), for the TA's tamper report. Student code can
fake or break anything in this module, so the grader treats what it says as
evidence, never as a verdict.

Needs only the standard library and numpy: the grading kernel cannot import
``mlpcourse``. :mod:`mlpcourse.containment.judge` imports this module for the wire format
and the messages' names; :mod:`mlpcourse.containment` describes the whole protocol.
"""

import contextlib
import json
import math
import re
import signal
import socket
import struct
import sys
import time
import types
import warnings

import numpy as np

# Limits of one message (either side refuses a message over them, before reading it):
# the JSON part (a few KB in practice; JSON grows about 25 times when parsed) ...
MAX_HEADER_BYTES = 4 * 2**20
# ... the arrays' bytes (the largest legitimate: test_training's 2,000 held-out digits, 13 MB) ...
MAX_DATA_BYTES = 128 * 2**20
# ... the number of arrays, and of dimensions of one array.
MAX_ARRAYS = 10_000
MAX_NDIM = 32
# Limits of one connection as the grader receives it (see :class:`Connection`); a session
# makes tens of requests, each answered by one message.
MAX_SESSION_MESSAGES = 10_000
MAX_SESSION_BYTES = 512 * 2**20
# Longest string sent (error messages, reprs).
TEXT_LIMIT = 4000
# Deepest nesting of lists, tuples and dicts accepted.
MAX_DEPTH = 20
NUMERIC_KINDS = "biufc"
# The dtypes that may cross: numeric (bool, ints, floats, complex) and fixed-width strings.
DTYPE_PATTERN = re.compile(r"[<>|][biufc](1|2|4|8|16|32)|[<>|]U[1-9][0-9]{0,6}")
# Sizes of a message's two parts, before them.
PREFIX = struct.Struct("!QQ")


# The messages' names (their "op"); mlpcourse.containment's docstring describes each, who
# sends it and what the receiver trusts of it. Defined here, the one module both ends load.
# First message on the grader's socket, from the sandbox's PID 1 / from serve() in the kernel:
LIFELINE, HELLO = "lifeline", "hello"
# The grader's requests in a session ...
NAME, GETATTR, SETATTR, CALL, DONE = "name", "getattr", "setattr", "call", "done"
# ... and the kernel's replies.
VALUE, UNDEFINED, RAISE = "value", "undefined", "raise"
# Not a message: the byte the grader sends on the lifeline after each cell (kill the
# kernel's leftover processes).
SWEEP = b"c"


class ProtocolError(Exception):
    """A message that does not follow the wire format, or is over its limits."""


# --- wire format ----------------------------------------------------------------
#
# A message is PREFIX (the sizes of the envelope and of the data), a JSON envelope
# {"header": {...}, "arrays": [[key, dtype, shape], ...]}, and the arrays' bytes one
# after the other. Nothing is compressed or pickled: a message decodes to at most its
# own size (plus JSON's growth), so the limits above bound what a receiver holds.

def send(sock, header, arrays=None):
    """Send one message: a JSON ``header`` and named numpy ``arrays`` (numeric or str).

    Raises ValueError for a message the receiver would refuse (over the limits,
    another dtype, not JSON-able).
    """
    index, blobs = [], []
    for key, array in (arrays or {}).items():
        array = np.asarray(array)
        if not DTYPE_PATTERN.fullmatch(array.dtype.str) or array.ndim > MAX_NDIM:
            raise ValueError(f"cannot send an array of dtype {array.dtype} and {array.ndim} dimensions")
        index.append([key, array.dtype.str, list(array.shape)])
        blobs.append(array.tobytes())  # in C order, whatever the array's layout
    data_size = sum(len(blob) for blob in blobs)
    head = json.dumps({"header": header, "arrays": index}, allow_nan=False).encode()
    if len(head) > MAX_HEADER_BYTES or data_size > MAX_DATA_BYTES or len(index) > MAX_ARRAYS:
        raise ValueError(f"the message is over the limits ({len(head)} bytes of JSON, {len(index)} arrays "
                         f"of {data_size} bytes; at most {MAX_HEADER_BYTES}, {MAX_ARRAYS}, {MAX_DATA_BYTES})")
    sock.sendall(PREFIX.pack(len(head), data_size) + head + b"".join(blobs))


class Connection:
    """A socket that bounds what it receives over its whole life (one grading session).

    Pass it to :func:`send` and :func:`receive` in place of the socket: past
    ``max_messages`` messages or ``max_bytes`` bytes received, :func:`receive` raises
    ProtocolError.
    """

    def __init__(self, sock, max_messages=MAX_SESSION_MESSAGES, max_bytes=MAX_SESSION_BYTES):
        self.sock = sock
        self.messages = 0
        self.received = 0
        self.max_messages = max_messages
        self.max_bytes = max_bytes

    def count_message(self):
        self.messages += 1
        if self.messages > self.max_messages:
            raise ProtocolError(f"more than {self.max_messages} messages on one connection")

    def recv_into(self, buffer, size):
        if self.received + size > self.max_bytes:
            raise ProtocolError(f"more than {self.max_bytes} bytes on one connection")
        count = self.sock.recv_into(buffer, size)
        self.received += count
        return count

    def settimeout(self, timeout):
        self.sock.settimeout(timeout)

    def gettimeout(self):
        return self.sock.gettimeout()

    def sendall(self, data):
        self.sock.sendall(data)


def _read_exactly(sock, size, deadline):
    """``size`` bytes from ``sock`` (a bytearray), all of them by ``deadline`` (monotonic, or None)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    done = 0
    while done < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the message did not arrive in time")
            sock.settimeout(remaining)
        count = sock.recv_into(view[done:], min(size - done, 1 << 20))
        if not count:
            raise EOFError("the other side closed the connection")
        done += count
    return buffer


def _layout(index, data_size):
    """``[(key, dtype, shape, offset)]`` for an envelope's array list, checked against the data's size."""
    if not isinstance(index, list) or len(index) > MAX_ARRAYS:
        raise ProtocolError("bad array list")
    layout, offset = [], 0
    for entry in index:
        if not _is_array_entry(entry):
            raise ProtocolError("bad array entry")
        key, dtype, shape = entry[0], np.dtype(entry[1]), tuple(entry[2])
        # Counting empty dimensions as 1 bounds every size numpy computes from the shape.
        if math.prod(max(n, 1) for n in shape) * dtype.itemsize > MAX_DATA_BYTES:
            raise ProtocolError("array over the size limit")
        layout.append((key, dtype, shape, offset))
        offset += math.prod(shape) * dtype.itemsize
    if offset != data_size or len({key for key, *_ in layout}) != len(layout):
        raise ProtocolError("the arrays do not match the data")
    return layout


def _is_array_entry(entry):
    """Whether ``entry`` is ``[key, dtype, shape]``: a string, an allowed dtype, and at
    most MAX_NDIM whole numbers each within MAX_DATA_BYTES."""
    return (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
            and isinstance(entry[1], str) and bool(DTYPE_PATTERN.fullmatch(entry[1]))
            and isinstance(entry[2], list) and len(entry[2]) <= MAX_NDIM
            and all(type(n) is int and 0 <= n <= MAX_DATA_BYTES for n in entry[2]))


def receive(sock):
    """Receive one message from ``sock`` (a socket or a :class:`Connection`); return ``(header, arrays)``.

    Everything is checked before it is read: the sizes of the envelope and the data
    against the limits, the arrays' dtypes and shapes against the data's size. With a
    timeout set on ``sock``, the whole message must arrive within it. Raises
    ProtocolError (bad or too large), EOFError (closed) or OSError (timeout).
    """
    if isinstance(sock, Connection):
        sock.count_message()
    timeout = sock.gettimeout()
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        head_size, data_size = PREFIX.unpack(_read_exactly(sock, PREFIX.size, deadline))
        if head_size > MAX_HEADER_BYTES or data_size > MAX_DATA_BYTES:
            raise ProtocolError(f"message of {head_size} + {data_size} bytes is over the limits")
        try:
            envelope = json.loads(_read_exactly(sock, head_size, deadline))
        except (ValueError, RecursionError) as error:
            raise ProtocolError(f"bad header: {type(error).__name__}") from None
        header = envelope.get("header") if isinstance(envelope, dict) else None
        if not isinstance(header, dict):
            raise ProtocolError("the header is not a JSON object")
        layout = _layout(envelope.get("arrays"), data_size)
        data = _read_exactly(sock, data_size, deadline)
    finally:
        if timeout is not None:
            sock.settimeout(timeout)
    arrays = {key: np.frombuffer(data, dtype, math.prod(shape), offset).reshape(shape)
              for key, dtype, shape, offset in layout}
    return header, arrays


def plain_array(value):
    """A plain ndarray copy of ``value`` (an ndarray, subclass or numpy scalar), or None.

    Subclasses are reduced to their data, so overridden operators never travel.
    """
    try:
        array = np.array(np.ndarray.view(np.asarray(value), np.ndarray), copy=True)
    except Exception:
        return None
    if array.dtype.kind in NUMERIC_KINDS or array.dtype.kind == "U":
        return array
    try:
        return array.astype(np.float64)
    except Exception:
        return None


class Encoder:
    """Turns values into JSON nodes; arrays go to ``self.arrays``.

    Parameters
    ----------
    by_reference : callable
        ``by_reference(value)`` returns a node for a value that cannot travel as
        plain data (a reference), or raises TypeError.
    """

    def __init__(self, by_reference):
        self.arrays = {}
        self.by_reference = by_reference

    def array(self, array, kind):
        key = f"a{len(self.arrays)}"
        self.arrays[key] = array
        return {"t": kind, "k": key}

    def encode(self, value, depth=0):
        if depth > MAX_DEPTH:
            raise TypeError("value nested too deeply")
        kind = type(value)
        if value is None:
            return {"t": "none"}
        if kind is bool:
            return {"t": "bool", "v": value}
        if kind is int:
            return {"t": "int", "v": str(value)}
        if kind is float:
            return {"t": "float", "v": repr(value)}
        if kind is str:
            return {"t": "str", "v": value[:TEXT_LIMIT]}
        if isinstance(value, (np.ndarray, np.generic)):
            array = plain_array(value)
            if array is not None:
                return self.array(array, "array" if isinstance(value, np.ndarray) else "scalar")
        if kind in (list, tuple):
            return {"t": kind.__name__, "v": [self.encode(item, depth + 1) for item in value]}
        if kind is dict:
            return {"t": "dict", "v": [[self.encode(k, depth + 1), self.encode(v, depth + 1)]
                                       for k, v in value.items()]}
        return self.by_reference(value)


class Decoder:
    """Turns JSON nodes back into values; strict about what it accepts.

    Parameters
    ----------
    arrays : dict
        The arrays that came with the message.
    extra : dict
        ``{node type: callable(node) -> value}`` for the node types this side
        accepts beyond plain data.
    """

    def __init__(self, arrays, extra):
        self.arrays = arrays
        self.extra = extra
        # Each array is decoded (copied) once: a key named many times must not multiply it.
        self.used = set()

    def decode(self, node, depth=0):
        """The value of JSON ``node`` (nested ``depth`` deep); ProtocolError for anything
        but well-formed plain data and the ``extra`` types."""
        if depth > MAX_DEPTH or not isinstance(node, dict):
            raise ProtocolError("malformed value")
        kind = node.get("t")
        if kind in self.PLAIN:
            return getattr(self, self.PLAIN[kind])(node, depth)
        if kind in self.extra:
            return self.extra[kind](node)
        raise ProtocolError("unexpected type of value")

    # Node type -> the method that decodes it.
    PLAIN = {"none": "_scalar", "bool": "_scalar", "int": "_scalar", "float": "_scalar", "str": "_scalar",
             "array": "_array", "scalar": "_array", "list": "_sequence", "tuple": "_sequence", "dict": "_dict"}

    def _scalar(self, node, depth):
        kind, value = node.get("t"), node.get("v")
        if kind == "none":
            return None
        if kind == "bool" and isinstance(value, bool):
            return value
        if kind == "int" and isinstance(value, str) and len(value) < 400:
            return int(value)
        if kind == "float" and isinstance(value, str) and len(value) < 40:
            return float(value)
        if kind == "str" and isinstance(value, str):
            return value
        raise ProtocolError("unexpected type of value")

    def _array(self, node, depth):
        if node.get("k") in self.arrays:
            if node["k"] in self.used:
                raise ProtocolError("an array named twice")
            self.used.add(node["k"])
            array = self.arrays[node["k"]]
            if node["t"] == "array":
                return array.copy()
            if array.ndim == 0:
                return array[()]
        raise ProtocolError("unexpected type of value")

    def _sequence(self, node, depth):
        if not isinstance(node.get("v"), list):
            raise ProtocolError("unexpected type of value")
        items = [self.decode(item, depth + 1) for item in node["v"]]
        return items if node["t"] == "list" else tuple(items)

    def _dict(self, node, depth):
        if not isinstance(node.get("v"), list):
            raise ProtocolError("unexpected type of value")
        result = {}
        for pair in node["v"]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ProtocolError("malformed dict")
            key = self.decode(pair[0], depth + 1)
            try:
                result[key] = self.decode(pair[1], depth + 1)
            except TypeError:
                raise ProtocolError("unhashable dict key") from None
        return result


def short_repr(value):
    """``repr(value)`` cut to 200 characters, or a placeholder if repr fails."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    return text[:200]


# --- the kernel's side of a session -------------------------------------------------

_MISSING = object()


@contextlib.contextmanager
def _quiet():
    """Silence numpy floating-point warnings, as the check helpers do."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


class _KernelSide:
    """The objects one session has handed out by reference, and the codec around them."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.objects = []
        # id -> (object, module, class) of objects rebuilt from "obj" nodes, sent back by state;
        # holding the object keeps its id from being reused during the session.
        self.by_state = {}

    def reference(self, value):
        self.objects.append(value)
        return {"t": "ref", "id": len(self.objects) - 1, "type": type(value).__name__,
                "name": str(getattr(value, "__qualname__", "") or "")[:200], "repr": short_repr(value)}

    def encoder(self):
        def by_reference(value):
            if id(value) in self.by_state:
                _, module, name = self.by_state[id(value)]
                return {"t": "obj", "module": module, "class": name,
                        "state": encoder.encode(dict(vars(value)))}
            return self.reference(value)
        encoder = Encoder(by_reference)
        return encoder

    def decoder(self, arrays):
        decoder = Decoder(arrays, {"ref": self._ref, "fn": self._function})
        decoder.extra["obj"] = lambda node: self._object(node, decoder)
        return decoder

    def _ref(self, node):
        index = node.get("id")
        if not isinstance(index, int) or not 0 <= index < len(self.objects):
            raise ProtocolError("unknown reference")
        return self.objects[index]

    def _module(self, name):
        if name == "__main__":
            return None
        module = sys.modules.get(name)
        if module is None:
            module = __import__(name)
        return module

    def _function(self, node):
        module = self._module(node.get("module"))
        name = node.get("name")
        return self.namespace[name] if module is None else getattr(module, name)

    def _object(self, node, decoder):
        cls = getattr(self._module(node.get("module")), node.get("class"))
        value = cls.__new__(cls)
        vars(value).update(decoder.decode(node.get("state")))
        self.by_state[id(value)] = (value, node["module"], node["class"])
        return value

    def answer(self, header, arrays):
        """The reply to one request of the grader."""
        decode = self.decoder(arrays).decode
        op = header.get("op")
        if op == NAME:
            value = self.namespace.get(header.get("name"), _MISSING)
            if value is _MISSING:
                return {"op": UNDEFINED}, {}
            return self._value(value)
        target = self._ref(header.get("ref", {}) if isinstance(header.get("ref"), dict) else {})
        if op == GETATTR:
            return self._value(getattr(target, str(header.get("name"))))
        if op == SETATTR:
            setattr(target, str(header.get("name")), decode(header.get("value")))
            return self._value(None)
        if op == CALL:
            args = [decode(node) for node in header.get("args", [])]
            kwargs = {str(k): decode(v) for k, v in header.get("kwargs", {}).items()}
            with _quiet():
                result = target(*args, **kwargs)
            encoder = self.encoder()
            reply = {"op": VALUE, "value": encoder.encode(result),
                     "after": [encoder.encode(arg) for arg in args],
                     "kwargs_after": {k: encoder.encode(v) for k, v in kwargs.items()}}
            return reply, encoder.arrays
        raise ProtocolError(f"unknown request {op!r}")

    def _value(self, value):
        encoder = self.encoder()
        return {"op": VALUE, "value": encoder.encode(value)}, encoder.arrays


def serve(path, token):
    """Answer the grader's requests on the Unix socket ``path`` until it is done.

    Exceptions raised by student code are sent to the grader (which raises them
    there); a KeyboardInterrupt (the grader's time limit) ends the session.
    """
    from IPython import get_ipython

    shell = get_ipython()
    side = _KernelSide(shell.user_ns if shell is not None else {})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        send(sock, {"op": HELLO, "token": token, "observations": observe()})
        while True:
            header, arrays = receive(sock)
            if header.get("op") == DONE:
                return
            try:
                reply, out = side.answer(header, arrays)
            except (ProtocolError, EOFError):
                raise
            except Exception as error:
                reply, out = {"op": RAISE, "type": type(error).__name__, "message": str(error)[:TEXT_LIMIT]}, {}
            try:
                send(sock, reply, out)
            except (TypeError, ValueError) as error:  # not JSON-able: refuse this value
                send(sock, {"op": RAISE, "type": "TypeError", "message": f"cannot send the result: {error}"})


# --- a function that did not return ---------------------------------------------------

_watchdog = []
# {sha256 of a cell's source: its time limit in seconds} and the notebook's deadline (time.monotonic()).
_cell_limits = {}
_notebook_deadline = []
_monotonic = time.monotonic  # as imported: student code that replaces time.monotonic changes nothing here


def cell_key(source):
    """The key of a cell's limit in :func:`watch_cells`' table: the sha256 of its source."""
    import hashlib

    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def watch_cells(limits, deadline):
    """Arm a watchdog at the start of every cell the grader runs, from IPython's own events.

    ``limits``: ``{cell_key(source): seconds}`` of the notebook's code cells; ``deadline``:
    the notebook's end on ``time.monotonic()``'s clock, which shortens a cell's limit as
    the grader's does. When a cell starts (``pre_run_cell``: the grader's own requests are
    silent and never trigger it), the kernel writes its Python stack to its output log if
    that cell is still running a second before its limit (faulthandler's C thread: it works
    even when the cell ignores interrupts), so that the grader knows which function did not
    return; when the cell ends (``post_run_cell``) the timer is cancelled. A cell whose
    source is not in ``limits`` (one that student code runs itself) leaves the timer alone.
    """
    import os

    from IPython import get_ipython

    if not _watchdog:
        _watchdog.append(os.fdopen(os.dup(2), "w"))
    _cell_limits.clear()
    _cell_limits.update(limits)
    _notebook_deadline[:] = [deadline]
    events = get_ipython().events
    for event, callback in _WATCHDOG_CALLBACKS:
        if not _is_one_of(callback, events.callbacks[event]):
            events.register(event, callback)
    return "ok"


def _is_one_of(value, values):
    return any(item is value for item in values)


def _arm_for_cell(info):
    import faulthandler

    limit = _cell_limits.get(cell_key(info.raw_cell or ""))
    if limit is None:
        return
    seconds = max(1, int(min(limit, _notebook_deadline[0] - _monotonic())))
    faulthandler.dump_traceback_later(max(1, seconds - 1), file=_watchdog[0])


def _disarm_after_cell(result):
    import faulthandler

    faulthandler.cancel_dump_traceback_later()


_WATCHDOG_CALLBACKS = (("pre_run_cell", _arm_for_cell), ("post_run_cell", _disarm_after_cell))


def stop_calling(name, message, where=None):
    """Make the notebook's function that did not return raise ``TimeoutError(message)`` when called.

    The grader calls this after it had to interrupt that function at a time limit, so that
    later cells and tests that call it fail at once instead of each waiting for its own
    limit. Which function: with ``where`` (a stack dump's ``[cell file name, line, name]``
    frames, innermost first), the innermost of the notebook's functions whose code has that
    name and is at one of them; otherwise the functions with the qualified name ``name``
    that the traceback showed ("softmax", "SGD.step"). Looked for among the functions the
    notebook's cells define, as globals or in its classes, whatever name they are bound to
    (``SGD.step = stuck``); never an imported one (the check helpers, this module). Their
    code is replaced in place, so that every reference to them (``mlp.act_funcs``, a bound
    method kept earlier) fails too; a closure's code cannot be, so the name bound to it is.
    Returns how many were replaced.
    """
    from IPython import get_ipython

    shell = get_ipython()
    found = _cell_functions(shell.user_ns if shell is not None else {})
    if where:
        chosen = next(([pair for pair in found if _at(pair[0], *frame)] for frame in where
                       if any(_at(function, *frame) for function, _ in found)), [])
    else:
        chosen = [pair for pair in found if _text(pair[0].__qualname__) == name]
    raising = compile(f"def stopped(*args, **kwargs):\n    raise TimeoutError({message!r})\n",
                      "<did not return>", "exec").co_consts[0]
    for function, rebind in chosen:
        if function.__code__.co_freevars:
            def did_not_return(*args, **kwargs):
                raise TimeoutError(message)

            rebind(did_not_return)
        else:
            function.__code__ = raising.replace(co_name=function.__name__, co_qualname=function.__qualname__)
    return len(chosen)


# Only exact types are looked at, through type's own accessors, and only exact strings are
# compared: a student object's __class__, __module__ or __dict__ can be a property that never
# returns, and a str subclass's __eq__ (a dict key's too) can do anything.

def _text(value):
    return value if type(value) is str else None


def _in_a_cell(value):
    """Whether ``value`` is a function one of the notebook's cells defined."""
    import os

    # ipykernel compiles each cell to /tmp/ipykernel_<pid>/<hash of its code>.py.
    if type(value) is not types.FunctionType or _text(value.__module__) != "__main__":
        return False
    filename = _text(value.__code__.co_filename)
    return filename is not None and os.path.basename(os.path.dirname(filename)).startswith("ipykernel_")


def _cell_functions(namespace):
    """``[(function, rebind)]`` for every function the notebook's cells defined: globals, and
    members of its classes; ``rebind(new)`` binds ``new`` where the function was found."""
    found = []
    for key, value in list(namespace.items()):
        if _in_a_cell(value):
            found.append((value, lambda new, key=key: namespace.__setitem__(key, new)))
        elif type(value) is type:
            members = type.__dict__["__dict__"].__get__(value)
            if all(type(key) is str for key in members) and _text(members.get("__module__")) == "__main__":
                found += [(member, lambda new, owner=value, attribute=attribute: type.__setattr__(owner, attribute, new))
                          for attribute, member in list(members.items()) if _in_a_cell(member)]
    return found


def _at(function, file, line, code_name):
    """Whether ``function``'s code is named ``code_name`` and has ``line`` of cell file ``file``."""
    import os

    code = function.__code__
    return (_text(code.co_name) == code_name and os.path.basename(code.co_filename) == file
            and any(at_line == line for *_, at_line in code.co_lines()))


# --- what student code changed -------------------------------------------------------

# Modules whose attributes the tests rely on (with the course's own, given to snapshot);
# a student replacing one is tampering.
GUARDED_MODULES = ("numpy", "numpy.testing", "numpy.linalg", "builtins", "math")
# Entries of sys.modules that must keep pointing at the modules imported at start (with
# the guarded ones and this module itself).
GUARDED_SYS_MODULES = ("IPython", "ipykernel")
GUARDED_SIGNALS = ("SIGALRM", "SIGVTALRM", "SIGPROF", "SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2")
# Builtins that IPython and ipykernel themselves set while they run a cell.
IPYTHON_BUILTINS = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__", "__builtins__",
                    "input", "raw_input", "getpass"}
# Code from these packages may register IPython event callbacks (the inline backend does).
TRUSTED_CALLBACK_MODULES = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets", "comm", "tqdm")
SHELL_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")

_start = {}


def snapshot(course_modules=()):
    """Record the state that :func:`observe` compares with (call before any cell runs).

    ``course_modules``: the course's own modules the tests rely on (check helpers, data
    loader, the hidden checks' stand-in), guarded like numpy.
    """
    from IPython import get_ipython

    _record_modules(GUARDED_MODULES + tuple(course_modules), (*course_modules, __name__))
    _start["signals"] = {name: signal.getsignal(getattr(signal, name)) for name in GUARDED_SIGNALS
                         if hasattr(signal, name)}
    shell = get_ipython()
    if shell is not None:
        _start["shell"] = {name: (getattr(shell, name), list(getattr(shell, name))) for name in SHELL_LISTS}
        _start["exceptions"] = (shell.custom_exceptions, shell.CustomTB)
        _start["classes"] = {cls: {key: value for key, value in vars(cls).items() if callable(value)}
                             for cls in _machinery_classes(shell)}
        _start["shadowed"] = {id(obj): set(_shadowed(obj)) for obj in (shell, getattr(shell, "kernel", None))}
    return "ok"


def _record_modules(guarded, own):
    """Record the ``guarded`` modules (imported now), their attributes and functions, and the
    attributes of the classes that the ``own`` modules (the course's and this one) define."""
    import importlib

    for name in guarded:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _start["modules"] = {name: sys.modules[name] for name in (*guarded, *GUARDED_SYS_MODULES, __name__)
                         if name in sys.modules}
    # This module too: student code that swaps the grader's own serve or stop_calling is tampering.
    _start["dicts"] = {name: dict(vars(sys.modules[name])) for name in (*guarded, __name__) if name in sys.modules}
    # A function's code and default arguments can be replaced in place (f.__code__ = ...,
    # f.__kwdefaults__["atol"] = ...), keeping the function object.
    _start["codes"] = {(name, key): _function_parts(value) for name, names in _start["dicts"].items()
                       for key, value in names.items() if isinstance(value, types.FunctionType)}
    _record_classes([name for name in own if name in _start["dicts"]])


def _record_classes(own):
    """Record the classes the ``own`` modules define (CheckFailure and its PROBLEMS, ...): their
    attributes, and the code and defaults of their methods (RecordedMLP.feed_forward.__code__ = ...)."""
    _start["classes_of_modules"] = {(name, key): dict(vars(value)) for name in own
                                    for key, value in _start["dicts"][name].items()
                                    if isinstance(value, type) and value.__module__ == name}
    _start["methods"] = {(name, f"{key}.{attribute}"): _function_parts(member)
                         for (name, key), members in _start["classes_of_modules"].items()
                         for attribute, member in members.items() if isinstance(member, types.FunctionType)}


def _machinery_classes(shell):
    kernel = getattr(shell, "kernel", None)
    session = getattr(kernel, "session", None)
    classes = []
    for obj in (shell, kernel, session):
        if obj is not None:
            classes += [cls for cls in type(obj).__mro__ if cls is not object]
    return classes


def _shadowed(obj):
    """Instance attributes of ``obj`` that hide a method of its class."""
    if obj is None:
        return []
    return [key for key in vars(obj) if callable(getattr(type(obj), key, None))]


def _callback_is_trusted(callback):
    owner = getattr(callback, "__self__", None)
    module = getattr(callback, "__module__", None) or getattr(type(owner), "__module__", "") or ""
    return module.split(".")[0] in TRUSTED_CALLBACK_MODULES


def observe():
    """What student code has changed since :func:`snapshot`, as a list of short strings."""
    if not _start:
        return ["the grader's snapshot of the kernel is missing"]
    from IPython import get_ipython

    shell = get_ipython()
    changes = _module_changes() + _execution_changes()
    if shell is not None and "shell" in _start:
        changes += _shell_changes(shell)
    return changes[:50]


def _module_changes():
    """Guarded modules replaced in ``sys.modules``, or attributes of them replaced."""
    changes = []
    for name, module in _start["modules"].items():
        if sys.modules.get(name) is not module:
            changes.append(f"sys.modules['{name}'] was replaced")
    for name, before in _start["dicts"].items():
        now = vars(_start["modules"][name])
        for key, value in before.items():
            if name == "builtins" and key in IPYTHON_BUILTINS:
                continue
            if now.get(key, _MISSING) is not value:
                changes.append(f"{'' if name == 'builtins' else name + '.'}{key} was replaced")
            elif (name, key) in _start["codes"]:
                changes += _function_changes(f"{name}.{key}", _function_parts(value), _start["codes"][(name, key)])
    for (name, key), before in _start["classes_of_modules"].items():
        now = vars(_start["dicts"][name][key])
        if now.keys() != before.keys() or any(now[attribute] is not value for attribute, value in before.items()):
            changes.append(f"attributes of the class {name}.{key} were changed")
    for (name, method), before in _start["methods"].items():
        key, attribute = method.split(".", 1)
        changes += _function_changes(f"{name}.{method}", _function_parts(_start["classes_of_modules"][(name, key)]
                                                                         [attribute]), before)
    return changes


def _callback_changes(callbacks):
    """IPython event callbacks (``{event: [callback]}``) registered by student code, and the
    grader's watchdog taken out; compared by identity (a student's callback may define ==)."""
    changes = []
    own = [callback for _, callback in _WATCHDOG_CALLBACKS]
    for event, registered in callbacks.items():
        if any(not _is_one_of(callback, own) and not _callback_is_trusted(callback) for callback in registered):
            changes.append(f"a callback was registered for IPython's {event} event")
    if _notebook_deadline and any(not _is_one_of(callback, callbacks.get(event, ()))
                                  for event, callback in _WATCHDOG_CALLBACKS):
        changes.append("the grader's cell watchdog was removed from IPython's events")
    return changes


def _function_parts(function):
    """What a function does, besides its name: its code and default arguments (copied: they can change in place)."""
    kwdefaults = function.__kwdefaults__
    return function.__code__, function.__defaults__, None if kwdefaults is None else dict(kwdefaults)


def _function_changes(name, now, before):
    """What changed between two :func:`_function_parts` of function ``name``, compared by identity
    (never ``==``: a value student code put there may define it to do anything)."""
    (code, defaults, kwdefaults), (code_before, defaults_before, kwdefaults_before) = now, before
    if code is not code_before:
        return [f"the code of {name} was replaced"]
    same_kwdefaults = (kwdefaults is None) == (kwdefaults_before is None) and (
        kwdefaults is None or (len(kwdefaults) == len(kwdefaults_before) and all(
            key in kwdefaults and kwdefaults[key] is value for key, value in kwdefaults_before.items())))
    if defaults is not defaults_before or not same_kwdefaults:
        return [f"the default arguments of {name} were changed"]
    return []


def _execution_changes():
    """Signal handlers, timers and trace or profile functions set."""
    changes = []
    for name, handler in _start["signals"].items():
        if signal.getsignal(getattr(signal, name)) is not handler:
            changes.append(f"a handler for {name} was installed")
    for timer in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"):
        if hasattr(signal, timer) and signal.getitimer(getattr(signal, timer)) != (0.0, 0.0):
            changes.append(f"a timer ({timer}) is running")
    if sys.gettrace() is not None or sys.getprofile() is not None:
        changes.append("a trace or profile function is set (sys.settrace / sys.setprofile)")
    return changes


def _shell_changes(shell):
    """Changes to IPython's and ipykernel's machinery: input and AST transformers,
    exception handling, event callbacks, methods of their classes and objects."""
    changes = []
    for name, (before, items) in _start["shell"].items():
        now = getattr(shell, name, None)
        if now is not before or list(now) != items:
            changes.append(f"IPython's {name} were changed")
    if (shell.custom_exceptions, shell.CustomTB) != _start["exceptions"]:
        changes.append("IPython's exception handling was changed (set_custom_exc)")
    changes += _callback_changes(shell.events.callbacks)
    for cls, before in _start["classes"].items():
        if any(vars(cls).get(key, _MISSING) is not value for key, value in before.items()):
            changes.append(f"a method of {cls.__module__}.{cls.__qualname__} was replaced")
    for obj in (shell, getattr(shell, "kernel", None)):
        new = [key for key in _shadowed(obj) if key not in _start["shadowed"].get(id(obj), ())]
        if new:
            changes.append(f"methods of the running {type(obj).__name__} were replaced: {', '.join(new[:5])}")
    return changes
