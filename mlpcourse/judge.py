"""Re-running test cells in the grader's process, against the student's code in the kernel.

nbgrader scores a test cell by whether it raised in the student's kernel. Student code
runs in that kernel first, so it can replace anything the test relies on: numpy, the
check helpers, ``sys.modules``, IPython's exception handling, the kernel's replies.
So while grading (see :class:`mlpcourse.contain.ContainedExecute`), every test cell
that passes in the kernel is run a second time here, in the grader's process:

- with trusted code only: the instructor's cells as stored in the gradebook (the
  imports, functions and classes of the locked cells, then the test cell itself),
  the check helpers and hidden checks loaded from the course's own files, numpy as
  imported by the grader;
- with data recorded by the grader: values that locked cells computed (``x_val``,
  ``y_val``) are fetched right after those cells ran, so later student cells cannot
  swap them;
- with the student's functions, classes and objects left in the kernel: a name the
  trusted code does not define is looked up in the kernel, and calls, attribute reads
  and writes go there through :func:`mlpcourse.inkernel.serve` (a Unix socket). Only
  plain data comes back (numbers, strings, numeric arrays, lists, tuples, dicts),
  so no object of the student's (an ``__eq__`` that always says yes, an ndarray
  subclass) ever reaches a comparison.

The hidden fixtures are read here and never enter the kernel; failure messages of
hidden checks are stripped of reference values (:func:`redact`). The cell scores its
points only if both runs pass.
"""

import ast
import builtins
import functools
import importlib
import pathlib
import re
import socket
import threading
import time
import types

import numpy as np

from mlpcourse import inkernel

# nbgrader's markers around hidden tests (ClearHiddenTests' default delimiters).
HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"

# Statements of locked cells that the grader runs to define its trusted names (imports
# are bound lazily: a test that never uses matplotlib does not pay for importing it).
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


# Characters of a student's own exception message shown for a hidden check.
OWN_MESSAGE_LIMIT = 200


class JudgeError(Exception):
    """The grader could not finish a session with the kernel (lost contact, bad message, timeout)."""


class Remote:
    """A student object that stays in the kernel; calls and attribute access go there.

    Instances get a class named after the kernel object's type, so a check that
    reports ``type(got).__name__`` reads as it would in the kernel.
    """

    def __init__(self, session, node):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_node", node)
        if node.get("name"):
            object.__setattr__(self, "__qualname__", node["name"])
            object.__setattr__(self, "__name__", node["name"].rsplit(".", 1)[-1])

    def __call__(self, *args, **kwargs):
        return self._session.call(self, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._session.getattr(self, name)

    def __setattr__(self, name, value):
        self._session.setattr(self, name, value)

    def __repr__(self):
        return self._node.get("repr", "<remote object>")


@functools.lru_cache(maxsize=None)
def _remote_class(type_name):
    name = type_name if type_name.isidentifier() else "object"
    return type(name, (Remote,), {"__module__": "kernel"})


def remote_exception(type_name, message):
    """The exception to raise here for one raised by student code in the kernel."""
    cls = getattr(builtins, type_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = _exception_class(type_name if type_name.isidentifier() else "Exception")
    try:
        return cls(message)
    except Exception:
        return _exception_class(type_name)(message)


@functools.lru_cache(maxsize=None)
def _exception_class(name):
    return type(name, (Exception,), {"__module__": "kernel"})


class Session:
    """One connection to :func:`mlpcourse.inkernel.serve` in the kernel.

    Parameters
    ----------
    sock : socket.socket
        Connected, with the kernel's hello already read.
    trusted : TrustedCode
        For sending trusted functions and objects by name.
    deadline : float
        ``time.monotonic()`` after which every request fails.
    """

    def __init__(self, sock, trusted, deadline):
        self.sock = sock
        self.trusted = trusted
        self.deadline = deadline
        self.requests = 0

    def _request(self, header, arrays=None):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise JudgeError("the time for this test ran out")
        self.sock.settimeout(remaining)
        self.requests += 1
        try:
            inkernel.send(self.sock, header, arrays)
            reply, arrays = inkernel.receive(self.sock)
        except (OSError, EOFError, inkernel.ProtocolError) as error:
            raise JudgeError(f"lost contact with the kernel ({type(error).__name__}: {error})") from None
        if reply.get("op") == "raise":
            raise remote_exception(str(reply.get("type")), str(reply.get("message")))
        return reply, arrays

    def _decoder(self, arrays):
        decoder = inkernel.Decoder(arrays, {"ref": lambda node: _remote_class(str(node.get("type")))(self, node)})
        decoder.extra["obj"] = lambda node: _State(decoder.decode(node.get("state")))
        return decoder

    def _encoder(self):
        def by_reference(value):
            if isinstance(value, Remote):
                return {"t": "ref", "id": value._node["id"]}
            found = self.trusted.name_of(value)
            if found is None:
                raise TypeError(f"cannot send a {type(value).__name__} to the kernel")
            module, name = found
            if isinstance(value, types.FunctionType):
                return {"t": "fn", "module": module, "name": name}
            return {"t": "obj", "module": module, "class": name, "state": encoder.encode(dict(vars(value)))}
        encoder = inkernel.Encoder(by_reference)
        return encoder

    def _value(self, reply, arrays):
        try:
            return self._decoder(arrays).decode(reply.get("value"))
        except (inkernel.ProtocolError, ValueError, TypeError) as error:
            raise JudgeError(f"the kernel sent a malformed value ({error})") from None

    def name(self, name):
        """The kernel's value of global ``name``; KeyError if it is not defined there."""
        reply, arrays = self._request({"op": "name", "name": name})
        if reply.get("op") == "undefined":
            raise KeyError(name)
        return self._value(reply, arrays)

    def getattr(self, remote, name):
        reply, arrays = self._request({"op": "getattr", "ref": {"id": remote._node["id"]}, "name": name})
        return self._value(reply, arrays)

    def setattr(self, remote, name, value):
        encoder = self._encoder()
        self._request({"op": "setattr", "ref": {"id": remote._node["id"]}, "name": name,
                       "value": encoder.encode(value)}, encoder.arrays)

    def call(self, remote, args, kwargs):
        encoder = self._encoder()
        header = {"op": "call", "ref": {"id": remote._node["id"]},
                  "args": [encoder.encode(arg) for arg in args],
                  "kwargs": {str(k): encoder.encode(v) for k, v in kwargs.items()}}
        reply, arrays = self._request(header, encoder.arrays)
        decoder = self._decoder(arrays)
        try:
            result = decoder.decode(reply.get("value"))
            after = [decoder.decode(node) for node in reply.get("after", [])]
            kwargs_after = {k: decoder.decode(v) for k, v in reply.get("kwargs_after", {}).items()}
        except (inkernel.ProtocolError, ValueError, TypeError) as error:
            raise JudgeError(f"the kernel sent a malformed value ({error})") from None
        # Student code may change its arguments in place; mirror that onto ours, so
        # that "the input is unchanged" checks see what the student's code did.
        for original, new in zip(args, after):
            _apply(original, new)
        for key, new in kwargs_after.items():
            if key in kwargs:
                _apply(kwargs[key], new)
        return result

    def done(self):
        try:
            self.sock.settimeout(5)
            inkernel.send(self.sock, {"op": "done"})
        except OSError:
            pass


def _apply(original, new):
    """Copy the values of ``new`` (decoded from the kernel) into ``original`` in place."""
    if isinstance(original, np.ndarray) and isinstance(new, np.ndarray):
        if original.shape == new.shape and original.flags.writeable:
            np.copyto(original, new, casting="unsafe")
    elif isinstance(original, list) and isinstance(new, list):
        for i, item in enumerate(new[:len(original)]):
            if _same_kind(original[i], item):
                _apply(original[i], item)
            else:
                original[i] = item
        del original[len(new):]
        original.extend(new[len(original):])
    elif isinstance(original, dict) and isinstance(new, dict):
        for key in [k for k in original if k not in new]:
            del original[key]
        for key, item in new.items():
            if key in original and _same_kind(original[key], item):
                _apply(original[key], item)
            else:
                original[key] = item
    elif isinstance(new, _State) and hasattr(original, "__dict__"):
        for key, item in new.items():
            current = vars(original).get(key)
            if key in vars(original) and _same_kind(current, item):
                _apply(current, item)
            else:
                vars(original)[key] = item


class _State(dict):
    """The attributes of a trusted object as the kernel left them (see :func:`_apply`)."""


def _same_kind(a, b):
    return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or (type(a) is type(b) and type(a) in (list, dict))


def redact(message):
    """A hidden check's failure message without reference values.

    Keeps what helps the student (what, case, shape, index, the value they
    returned, the hint) and drops the expected value and the size of the error,
    from which it could be worked out. A message of the student's own exception is
    cut short, so that it cannot carry the hidden inputs out in bulk.
    """
    number = r"[-+]?(?:\d[\d.]*(?:e[-+]?\d+)?|nan|inf)"
    lines = []
    for line in message.splitlines():
        if re.match(r"\s*(absolute|relative) error\b", line):
            continue
        line = re.sub(rf"\bexpected {number}, got ({number})(?: \(absolute error {number}\))?",
                      r"got \1 (the error is larger than allowed)", line)
        line = re.sub(rf"(expected a finite value) \({number}\)", r"\1", line)
        raised = re.match(r"(.* raised \w+: )(.*)", line)
        if raised and len(raised.group(2)) > OWN_MESSAGE_LIMIT:
            line = raised.group(1) + raised.group(2)[:OWN_MESSAGE_LIMIT] + " [...]"
        lines.append(line)
    return "\n".join(lines)


def _assigned_names(tree):
    """Names bound at module level by the statements of ``tree``."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.With)):
            targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
            if isinstance(node, ast.With):
                targets = [item.optional_vars for item in node.items if item.optional_vars]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, DEFINITIONS):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
            else:
                names.add(node.name)
    return names


def _data_names(tree):
    """Names that the module-level statements of ``tree`` assign values to."""
    names = set()
    for node in tree.body:
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)):
            targets = [node.target]
        elif isinstance(node, ast.With):
            targets = [item.optional_vars for item in node.items if item.optional_vars]
        for target in targets:
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _function_free_names(node):
    """Names a function reads that are neither its parameters nor assigned in it."""
    arguments = node.args
    params = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                              *filter(None, [arguments.vararg, arguments.kwarg])]}
    stored = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loaded - params - stored


def _free_names(tree):
    """Names read by ``tree`` that it does not bind at module level (an over-estimate)."""
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return loaded - _assigned_names(tree)


def python_source(cell_source):
    """A cell's source as plain Python (IPython magics and shell escapes transformed)."""
    try:
        ast.parse(cell_source)
        return cell_source
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(cell_source)


class TrustedCode:
    """The instructor's code for one notebook, ready to re-run its test cells.

    Parameters
    ----------
    module_dirs : list of path
        Folders whose ``*.py`` files are loaded as trusted modules: the assignment's
        source folder (check helpers, data loader) and the hidden tests folder.
        Later folders win on a name clash.
    cells : list of (str, str, bool)
        ``(grade_id, source, is_test)`` of the notebook's locked and test cells as
        stored in the gradebook, in the notebook's order.
    """

    def __init__(self, module_dirs, cells):
        self.modules = {}
        self._module_files = {}
        for folder in module_dirs:
            for path in sorted(pathlib.Path(folder).glob("*.py")):
                self._module_files[path.stem] = path
        self.source_dir = pathlib.Path(module_dirs[0])
        self.cells = {}
        self.order = []
        for grade_id, source, is_test in cells:
            tree = ast.parse(python_source(source))
            definitions = ast.Module(body=[n for n in tree.body if isinstance(n, FUNCTIONS)], type_ignores=[])
            self.cells[grade_id] = {
                "tree": tree, "is_test": is_test, "hidden": HIDDEN_BEGIN in source,
                "code": compile(tree, f"<test {grade_id}>", "exec"),
                "definitions": compile(definitions, f"<cell {grade_id}>", "exec"),
                "imports": _imports(tree),
            }
            self.order.append(grade_id)
        reads = set()
        for cell in self.cells.values():
            if cell["is_test"]:
                reads |= _free_names(cell["tree"])
            for node in ast.walk(cell["tree"]):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    reads |= _function_free_names(node)
        self.recorded = {}
        self.to_record = {}
        for grade_id in self.order:
            cell = self.cells[grade_id]
            if not cell["is_test"]:
                data = _data_names(cell["tree"]) & reads
                if data:
                    self.to_record[grade_id] = sorted(data)

    # --- trusted modules -------------------------------------------------------------

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        root = name.split(".")[0]
        if level == 0 and root in self._module_files:
            return self.module(root)
        return importlib.__import__(name, globals, locals, fromlist, level)

    def builtins(self):
        """Builtins for trusted code: imports of course modules resolve to the trusted copies."""
        table = dict(vars(builtins))
        table["__import__"] = self._import
        table["print"] = lambda *args, **kwargs: None
        return table

    def module(self, name):
        """The trusted copy of course module ``name`` (loaded from its file, once)."""
        if name not in self.modules:
            path = self._module_files[name]
            module = types.ModuleType(name)
            module.__file__ = str(path)
            module.__builtins__ = self.builtins()
            self.modules[name] = module
            exec(compile(path.read_text(), str(path), "exec"), vars(module))
            loader = getattr(module, "load_public_fixtures", None)
            if loader is not None:
                # The trusted checks read the public fixtures from the course, not the kernel's folder.
                module.load_public_fixtures = functools.partial(loader, self.source_dir)
        return self.modules[name]

    def name_of(self, value):
        """``(module, name)`` of a trusted function, or of the class of a trusted object, or None."""
        named = value if isinstance(value, types.FunctionType) else type(value)
        module = self.modules.get(getattr(named, "__module__", None))
        if module is not None and getattr(module, named.__name__, None) is named:
            return module.__name__, named.__name__
        return None

    def hidden_checks(self):
        """Names of the functions the hidden modules define (for the kernel's stub)."""
        names = {}
        for module_name, path in self._module_files.items():
            if path.parent != self.source_dir:
                module = self.module(module_name)
                names[module_name] = sorted(
                    name for name, value in vars(module).items()
                    if isinstance(value, types.FunctionType) and value.__module__ == module_name
                    and not name.startswith("_"))
        return names

    # --- sessions ----------------------------------------------------------------------

    def namespace(self, session, grade_id):
        """The globals for re-running test ``grade_id``: trusted names, then the kernel's."""
        namespace = _Namespace(session, self)
        namespace["__builtins__"] = self.builtins()
        namespace["__name__"] = "__main__"
        for earlier in self.order[:self.order.index(grade_id)]:
            cell = self.cells[earlier]
            if not cell["is_test"]:
                namespace.lazy.update(cell["imports"])
                exec(cell["definitions"], namespace)
                namespace.update(self.recorded.get(earlier, {}))
        return namespace

    def resolve(self, module, attribute):
        """The value an import statement binds: a module, or ``attribute`` of it."""
        if attribute is None:
            return self._import(module, fromlist=("_",) if "." in module else ())
        value = self._import(module, fromlist=(attribute,))
        return getattr(value, attribute)

    def record(self, session, grade_id):
        """Fetch the data that locked cell ``grade_id`` just computed; return the names kept."""
        kept = {}
        for name in self.to_record.get(grade_id, ()):
            try:
                value = session.name(name)
            except KeyError:
                continue
            if not _contains_remote(value):
                kept[name] = value
        self.recorded[grade_id] = kept
        return sorted(kept)

    def rerun(self, session, grade_id):
        """Run test ``grade_id`` here; return None if it passes, else the failure message."""
        cell = self.cells[grade_id]
        namespace = self.namespace(session, grade_id)
        try:
            exec(cell["code"], namespace)
        except JudgeError:
            raise
        except Exception as error:
            # CheckFailure (an AssertionError) carries a message written for students.
            message = str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
            return redact(message) if cell["hidden"] else message
        return None


def _contains_remote(value):
    if isinstance(value, Remote):
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains_remote(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_remote(v) for v in value.values())
    return False


def _imports(tree):
    """``{name: (module, attribute or None)}`` for the module-level imports of ``tree``."""
    bound = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = (alias.name, None)
                else:
                    bound[alias.name.split(".")[0]] = (alias.name.split(".")[0], None)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                bound[alias.asname or alias.name] = (node.module, alias.name)
    return bound


class _Namespace(dict):
    """Globals whose missing names are imported (trusted imports) or looked up in the kernel."""

    def __init__(self, session, trusted):
        super().__init__()
        self._session = session
        self._trusted = trusted
        self.lazy = {}

    def __missing__(self, name):
        if name in self.lazy:
            value = self._trusted.resolve(*self.lazy[name])
        elif name in vars(builtins) or name.startswith("__"):
            raise KeyError(name)
        else:
            value = self._session.name(name)
        self[name] = value
        return value


class Judge:
    """The grader's end of the sessions with one kernel: a Unix socket it listens on.

    Parameters
    ----------
    path : path
        Where to create the socket (visible to the kernel).
    trusted : TrustedCode or None
        None when tests are not re-run: the socket then only carries the
        sandbox's lifeline.
    """

    def __init__(self, path, trusted):
        self.path = str(path)
        self.trusted = trusted
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        pathlib.Path(self.path).chmod(0o666)
        self.server.listen(8)
        self.observations = []
        self._lock = threading.Lock()
        self._lifelines = []
        self._pending = {}  # token -> (work, result dict, event)
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="judge", daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._closed:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(sock,), daemon=True).start()

    def _handle(self, sock):
        sock.settimeout(10)
        try:
            header, _ = inkernel.receive(sock)
        except (OSError, EOFError, inkernel.ProtocolError):
            sock.close()
            return
        if header.get("op") == "lifeline":
            with self._lock:
                self._lifelines.append(sock)
            return
        with self._lock:
            pending = self._pending.pop(header.get("token"), None)
        if header.get("op") != "hello" or pending is None:
            sock.close()  # a connection the grader did not ask for
            return
        work, result, done = pending
        result["connected"] = True
        observations = header.get("observations")
        if isinstance(observations, list):
            result["observations"] = [str(o)[:300] for o in observations[:50]]
        session = Session(sock, self.trusted, result["deadline"])
        try:
            result["value"] = work(session)
        except JudgeError as error:
            result["error"] = str(error)
        except Exception as error:  # a bug in trusted code or a value it cannot handle
            result["error"] = f"the grader's re-run failed: {type(error).__name__}: {error}"
        finally:
            session.done()
            sock.close()
            done.set()

    def expect(self, token, work, timeout):
        """Register ``work(session)`` for the kernel's next connection with ``token``.

        Returns ``(result, event)``: the event is set when the work has finished;
        ``result`` then has ``value`` or ``error`` and the kernel's ``observations``.
        """
        result = {"deadline": time.monotonic() + timeout}
        done = threading.Event()
        with self._lock:
            self._pending[token] = (work, result, done)
        return result, done

    def forget(self, token):
        with self._lock:
            self._pending.pop(token, None)

    def sweep(self):
        """Ask the sandbox to kill every process the kernel started (see mlpcourse.sandbox)."""
        from mlpcourse import sandbox

        with self._lock:
            lifelines = list(self._lifelines)
        for sock in lifelines:
            try:
                sock.sendall(sandbox.SWEEP)
            except OSError:
                pass

    def close(self):
        """Stop listening and drop the kernel's lifeline (its sandbox then ends)."""
        self._closed = True
        for sock in [self.server, *self._lifelines]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        pathlib.Path(self.path).unlink(missing_ok=True)


def stub_source(checks):
    """The kernel's stand-in for a hidden module: functions that do nothing.

    While grading, the hidden checks run in the grader (:meth:`TrustedCode.rerun`);
    the kernel's run of a hidden test cell only needs its imports to succeed.
    """
    lines = ['"""While grading, these checks run in the grader\'s process, not in this kernel."""', ""]
    for name in checks:
        lines += ["", f"def {name}(*args, **kwargs):", "    return None", ""]
    return "\n".join(lines)
