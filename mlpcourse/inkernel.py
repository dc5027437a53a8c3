"""The part of the grader that runs inside a grading kernel (there: ``_asg01_grading``).

While grading, every test cell is run twice: by the kernel, as nbgrader always does,
and again by the grader in its own process (:mod:`mlpcourse.judge`), which holds the
hidden fixtures. The grader reaches the student's functions and objects in the kernel
through :func:`serve`: after each test cell it asks the kernel to run
``serve(socket_path, token)``, which answers the grader's requests (look up a name,
call, get or set an attribute) until the grader says it is done.

Values cross as plain data only (None, bools, numbers, strings, numeric numpy arrays,
lists, tuples, dicts); any other object stays where it is and is passed by reference.
Nothing either side sends can make the other side run code it did not choose to run:
arrays travel as ``.npz`` without pickles, the rest as JSON.

:func:`observe` lists what student code has changed since the kernel started (numpy,
builtins, the check helpers, ``sys.modules``, IPython's execution machinery, trace
functions, signal handlers and timers), for the TA's tamper report. Student code can
fake or break anything in this module, so the grader treats what it says as
evidence, never as a verdict.

Needs only the standard library and numpy: the grading kernel cannot import
``mlpcourse``. :mod:`mlpcourse.judge` imports this module for the wire format.
"""

import contextlib
import io
import json
import signal
import socket
import struct
import sys
import warnings

import numpy as np

# Largest message either side accepts (the validation set crossing once is ~16 MB).
MAX_MESSAGE_BYTES = 128 * 2**20
# Longest string sent (error messages, reprs).
TEXT_LIMIT = 4000
# Deepest nesting of lists, tuples and dicts accepted.
MAX_DEPTH = 20
NUMERIC_KINDS = "biufc"


class ProtocolError(Exception):
    """A message that does not follow the wire format."""


# --- wire format ----------------------------------------------------------------

def send(sock, header, arrays=None):
    """Send one message: a JSON ``header`` and named numpy ``arrays``."""
    payload = b""
    if arrays:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        payload = buffer.getvalue()
    head = json.dumps(header, allow_nan=False).encode()
    sock.sendall(struct.pack("!QQ", len(head), len(payload)) + head + payload)


def _read_exactly(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(sock):
    """Receive one message; return ``(header, arrays)``."""
    head_size, payload_size = struct.unpack("!QQ", _read_exactly(sock, 16))
    if head_size + payload_size > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {head_size + payload_size} bytes is too large")
    try:
        header = json.loads(_read_exactly(sock, head_size))
    except ValueError as error:
        raise ProtocolError(f"bad header: {error}") from None
    if not isinstance(header, dict):
        raise ProtocolError("the header is not a JSON object")
    arrays = {}
    if payload_size:
        try:
            with np.load(io.BytesIO(_read_exactly(sock, payload_size)), allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (ValueError, OSError) as error:
            raise ProtocolError(f"bad arrays: {error}") from None
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

    def decode(self, node, depth=0):
        if depth > MAX_DEPTH or not isinstance(node, dict):
            raise ProtocolError("malformed value")
        kind = node.get("t")
        value = node.get("v")
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
        if kind in ("array", "scalar") and node.get("k") in self.arrays:
            array = self.arrays[node["k"]]
            return array.copy() if kind == "array" else array[()]
        if kind in ("list", "tuple") and isinstance(value, list):
            items = [self.decode(item, depth + 1) for item in value]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(value, list):
            result = {}
            for pair in value:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ProtocolError("malformed dict")
                key = self.decode(pair[0], depth + 1)
                try:
                    result[key] = self.decode(pair[1], depth + 1)
                except TypeError:
                    raise ProtocolError("unhashable dict key") from None
            return result
        if kind in self.extra:
            return self.extra[kind](node)
        raise ProtocolError(f"unexpected value of type {kind!r}")


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
        if op == "name":
            value = self.namespace.get(header.get("name"), _MISSING)
            if value is _MISSING:
                return {"op": "undefined"}, {}
            return self._value(value)
        target = self._ref(header.get("ref", {}) if isinstance(header.get("ref"), dict) else {})
        if op == "getattr":
            return self._value(getattr(target, str(header.get("name"))))
        if op == "setattr":
            setattr(target, str(header.get("name")), decode(header.get("value")))
            return self._value(None)
        if op == "call":
            args = [decode(node) for node in header.get("args", [])]
            kwargs = {str(k): decode(v) for k, v in header.get("kwargs", {}).items()}
            with _quiet():
                result = target(*args, **kwargs)
            encoder = self.encoder()
            reply = {"op": "value", "value": encoder.encode(result),
                     "after": [encoder.encode(arg) for arg in args],
                     "kwargs_after": {k: encoder.encode(v) for k, v in kwargs.items()}}
            return reply, encoder.arrays
        raise ProtocolError(f"unknown request {op!r}")

    def _value(self, value):
        encoder = self.encoder()
        return {"op": "value", "value": encoder.encode(value)}, encoder.arrays


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
        send(sock, {"op": "hello", "token": token, "observations": observe()})
        while True:
            header, arrays = receive(sock)
            if header.get("op") == "done":
                return
            try:
                reply, out = side.answer(header, arrays)
            except (ProtocolError, EOFError):
                raise
            except Exception as error:
                reply, out = {"op": "raise", "type": type(error).__name__, "message": str(error)[:TEXT_LIMIT]}, {}
            try:
                send(sock, reply, out)
            except (TypeError, ValueError) as error:  # not JSON-able: refuse this value
                send(sock, {"op": "raise", "type": "TypeError", "message": f"cannot send the result: {error}"})


# --- what student code changed -------------------------------------------------------

# Modules whose attributes the tests rely on; a student replacing one is tampering.
GUARDED_MODULES = ("numpy", "numpy.testing", "numpy.linalg", "builtins", "math", "asg01_checks", "kannada_mnist")
# Entries of sys.modules that must keep pointing at the modules imported at start.
GUARDED_SYS_MODULES = GUARDED_MODULES + ("asg01_hidden", "_asg01_grading", "IPython", "ipykernel")
GUARDED_SIGNALS = ("SIGALRM", "SIGVTALRM", "SIGPROF", "SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2")
# Builtins that IPython and ipykernel themselves set while they run a cell.
IPYTHON_BUILTINS = {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__", "__builtins__",
                    "input", "raw_input", "getpass"}
# Code from these packages may register IPython event callbacks (the inline backend does).
TRUSTED_CALLBACK_MODULES = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline", "ipywidgets", "comm", "tqdm")
SHELL_LISTS = ("input_transformers_cleanup", "input_transformers_post", "ast_transformers")

_start = {}


def snapshot():
    """Record the state that :func:`observe` compares with (call before any cell runs)."""
    import importlib

    from IPython import get_ipython

    shell = get_ipython()
    for name in GUARDED_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _start["modules"] = {name: sys.modules[name] for name in GUARDED_SYS_MODULES if name in sys.modules}
    _start["dicts"] = {name: dict(vars(sys.modules[name])) for name in GUARDED_MODULES if name in sys.modules}
    _start["signals"] = {name: signal.getsignal(getattr(signal, name)) for name in GUARDED_SIGNALS
                         if hasattr(signal, name)}
    if shell is not None:
        _start["shell"] = {name: (getattr(shell, name), list(getattr(shell, name))) for name in SHELL_LISTS}
        _start["exceptions"] = (shell.custom_exceptions, shell.CustomTB)
        _start["classes"] = {cls: {key: value for key, value in vars(cls).items() if callable(value)}
                             for cls in _machinery_classes(shell)}
        _start["shadowed"] = {id(obj): set(_shadowed(obj)) for obj in (shell, getattr(shell, "kernel", None))}
    return "ok"


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
    for name, handler in _start["signals"].items():
        if signal.getsignal(getattr(signal, name)) is not handler:
            changes.append(f"a handler for {name} was installed")
    for timer in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"):
        if hasattr(signal, timer) and signal.getitimer(getattr(signal, timer)) != (0.0, 0.0):
            changes.append(f"a timer ({timer}) is running")
    if sys.gettrace() is not None or sys.getprofile() is not None:
        changes.append("a trace or profile function is set (sys.settrace / sys.setprofile)")
    shell = get_ipython()
    if shell is not None and "shell" in _start:
        for name, (before, items) in _start["shell"].items():
            now = getattr(shell, name, None)
            if now is not before or list(now) != items:
                changes.append(f"IPython's {name} were changed")
        if (shell.custom_exceptions, shell.CustomTB) != _start["exceptions"]:
            changes.append("IPython's exception handling was changed (set_custom_exc)")
        for event, callbacks in shell.events.callbacks.items():
            if any(not _callback_is_trusted(callback) for callback in callbacks):
                changes.append(f"a callback was registered for IPython's {event} event")
        for cls, before in _start["classes"].items():
            if any(vars(cls).get(key, _MISSING) is not value for key, value in before.items()):
                changes.append(f"a method of {cls.__module__}.{cls.__qualname__} was replaced")
        for obj in (shell, getattr(shell, "kernel", None)):
            new = [key for key in _shadowed(obj) if key not in _start["shadowed"].get(id(obj), ())]
            if new:
                changes.append(f"methods of the running {type(obj).__name__} were replaced: {', '.join(new[:5])}")
    return changes[:50]

