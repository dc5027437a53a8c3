"""Re-running test cells in the grader's process, against the student's code in the kernel.

nbgrader scores a test cell by whether it raised in the student's kernel. Student code
runs in that kernel first, so it can replace anything the test relies on: numpy, the
check helpers, ``sys.modules``, IPython's exception handling, the kernel's replies.
So while grading (see :class:`mlpcourse.containment.contain.ContainedExecute`), every test cell
that passes in the kernel is run a second time here, in the grader's process:

- with trusted code only: the instructor's cells as stored in the gradebook, in the
  release's order (the imports, functions and classes of the locked cells before the
  test, then the test cell itself), the check helpers and hidden checks loaded from
  the course's own files, numpy as imported by the grader;
- with the student's functions, classes, objects and data left in the kernel: a name
  the trusted code does not define is looked up in the kernel, and calls, attribute
  reads and writes go there through :func:`mlpcourse.containment.inkernel.serve` (a Unix
  socket). Only plain data comes back (numbers, strings, numeric arrays, lists,
  tuples, dicts), so no object of the student's (an ``__eq__`` that always says yes,
  an ndarray subclass) ever reaches a comparison. Values a locked cell computed in
  the kernel (``x_val``) are the student's data like any other: a check that needs
  trusted data computes it here from the course's files (test_training's held-out
  digits, whose labels never enter the kernel).

The hidden fixtures are read here and never enter the kernel. A hidden check's
failure message is built from an allow-list (:func:`hidden_message`): the check's
own words, never values nor anything the student's code produced. The cell scores
its points only if both runs pass.
"""

import ast
import builtins
import functools
import importlib
import pathlib
import socket
import threading
import time
import types

import numpy as np

from mlpcourse.containment import inkernel

# nbgrader's markers around hidden tests (ClearHiddenTests' default delimiters).
HIDDEN_BEGIN = "BEGIN HIDDEN TESTS"

# Statements of locked cells that the grader runs to define its trusted names; their
# imports are bound lazily (a test that never uses matplotlib does not pay for importing it).
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

# Shown for a hidden check that stopped on something other than the check helpers' failure.
HIDDEN_UNEXPECTED = "a hidden check stopped on an error in your code"


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


# The kernel names the types it sends: the caches of classes made for them are bounded,
# and so are the names.
CLASS_CACHE = 256
NAME_LIMIT = 64


@functools.lru_cache(maxsize=CLASS_CACHE)
def _remote_class(type_name):
    name = type_name[:NAME_LIMIT] if type_name.isidentifier() else "object"
    return type(name, (Remote,), {"__module__": "kernel"})


def remote_exception(type_name, message):
    """The exception to raise here for one raised by student code in the kernel."""
    type_name = type_name[:NAME_LIMIT]
    cls = getattr(builtins, type_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = _exception_class(type_name if type_name.isidentifier() else "Exception")
    try:
        return cls(message)
    except Exception:
        return _exception_class(type_name)(message)


@functools.lru_cache(maxsize=CLASS_CACHE)
def _exception_class(name):
    return type(name, (Exception,), {"__module__": "kernel"})


class Session:
    """One connection to :func:`mlpcourse.containment.inkernel.serve` in the kernel.

    Parameters
    ----------
    sock : mlpcourse.containment.inkernel.Connection
        The kernel's connection (bounded per session), its hello already read.
    trusted : TrustedCode
        For sending trusted functions and objects by name.
    deadline : float
        ``time.monotonic()`` after which every request fails.
    """

    def __init__(self, sock, trusted, deadline):
        self.sock = sock
        self.trusted = trusted
        self.deadline = deadline

    def _request(self, header, arrays=None):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise JudgeError("the time for this test ran out")
        self.sock.settimeout(remaining)
        try:
            inkernel.send(self.sock, header, arrays)
            reply, arrays = inkernel.receive(self.sock)
        except (OSError, EOFError, inkernel.ProtocolError) as error:
            raise JudgeError(f"lost contact with the kernel ({type(error).__name__}: {error})") from None
        if reply.get("op") == inkernel.RAISE:
            raise remote_exception(str(reply.get("type")), str(reply.get("message"))[:inkernel.TEXT_LIMIT])
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
        reply, arrays = self._request({"op": inkernel.NAME, "name": name})
        if reply.get("op") == inkernel.UNDEFINED:
            raise KeyError(name)
        return self._value(reply, arrays)

    def getattr(self, remote, name):
        reply, arrays = self._request({"op": inkernel.GETATTR, "ref": {"id": remote._node["id"]}, "name": name})
        return self._value(reply, arrays)

    def setattr(self, remote, name, value):
        encoder = self._encoder()
        self._request({"op": inkernel.SETATTR, "ref": {"id": remote._node["id"]}, "name": name,
                       "value": encoder.encode(value)}, encoder.arrays)

    def call(self, remote, args, kwargs):
        encoder = self._encoder()
        header = {"op": inkernel.CALL, "ref": {"id": remote._node["id"]},
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
            inkernel.send(self.sock, {"op": inkernel.DONE})
        except OSError:
            pass


def _apply(original, new):
    """Copy the values of ``new`` (decoded from the kernel) into ``original`` in place.

    What student code did to an argument must show on the grader's copy, or "the input is
    unchanged" checks would pass vacuously: an array whose shape the kernel changed is
    resized in place first (every copy handed out owns its data), and a change that cannot
    be mirrored ends the session (:class:`JudgeError`: the test scores 0). The grader's
    reference data is never touched (:func:`_holds_reference`).
    """
    if isinstance(original, np.ndarray):
        _apply_array(original, new)
    elif isinstance(original, list) and isinstance(new, list):
        _apply_list(original, new)
    elif isinstance(original, dict) and isinstance(new, dict):
        for key in [k for k in original if k not in new and not _holds_reference(original[k])]:
            del original[key]
        _apply_items(original, new)
    elif isinstance(new, _State) and hasattr(original, "__dict__"):
        _apply_items(vars(original), new)


def _apply_array(original, new):
    """Make the grader's array ``original`` hold ``new``, resized first if its shape changed.
    What came back is no numeric array when the kernel changed the array's dtype to one that
    cannot cross (raw bytes, several fields): that cannot be mirrored either."""
    if _is_reference(original):
        return
    if not isinstance(new, np.ndarray):
        raise JudgeError("an argument was changed in a way the grader cannot mirror (it is no longer a numeric array)")
    try:
        if original.shape != new.shape:
            original.resize(new.shape, refcheck=False)
        np.copyto(original, new, casting="unsafe")
    except (TypeError, ValueError) as error:
        raise JudgeError(f"an argument was changed in a way the grader cannot mirror ({error})") from None


def _apply_list(original, new):
    """Make list ``original`` hold ``new``'s items: in place where they are of one kind; never
    replacing or dropping the grader's reference data (:func:`_holds_reference`)."""
    for i, item in enumerate(new[:len(original)]):
        if _same_kind(original[i], item):
            _apply(original[i], item)
        elif not _holds_reference(original[i]):
            original[i] = item
    if not _holds_reference(original[len(new):]):
        del original[len(new):]
    original.extend(new[len(original):])


def _apply_items(original, new):
    """Set ``new``'s items in dict ``original``: in place (:func:`_apply`) where both values are
    of a kind it handles, else by replacing the value; never the grader's reference data."""
    for key, item in new.items():
        current = original.get(key)
        if key in original and _same_kind(current, item):
            _apply(current, item)
        elif not _holds_reference(current):
            original[key] = item


class _State(dict):
    """The attributes of a trusted object as the kernel left them (see :func:`_apply`)."""


def _is_reference(value):
    """A read-only array: the grader's reference data (its fixtures)."""
    return isinstance(value, np.ndarray) and not value.flags.writeable


def _holds_reference(value, depth=0):
    """Whether ``value`` is, or a list, tuple or dict of it holds, the grader's reference data:
    no value from the kernel replaces or removes it, whatever container the kernel sends back."""
    if _is_reference(value):
        return True
    if depth > inkernel.MAX_DEPTH:
        return False
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return any(_holds_reference(item, depth + 1) for item in items)


def _same_kind(a, b):
    return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or (type(a) is type(b) and type(a) in (list, dict))


def hidden_message(error):
    """The student's message for hidden check failure ``error``, from an allow-list.

    Only the parts that the course's own check code wrote are used (``what``,
    ``case``, ``hint``, and ``problem`` if it is one of the class's fixed phrases).
    Values, shapes the student's code returned, its exceptions (message, type, name)
    never appear: a hidden input cannot be written out through a message. What is
    left to the student's choice is which check fails first, and how: a few bits per
    hidden test and submission (docs/containment.md's threat model says so). ``error`` must
    be an instance of a class from a trusted module (see
    :meth:`TrustedCode.is_trusted_failure`), else only a generic line is given.
    """
    problems = getattr(type(error), "PROBLEMS", ())
    problem = getattr(error, "problem", None)
    if problem not in problems:
        return HIDDEN_UNEXPECTED
    lines = [f"{error.what or 'your code'} {problem}"]
    if error.case:
        lines.append(f"  case: {error.case}")
    if error.hint:
        lines.append(f"  hint: {error.hint}")
    lines.append("  (hidden checks do not show values)")
    return "\n".join(lines)


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
        stored in the gradebook, in the release's order.
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
                "source": source, "tree": tree, "is_test": is_test, "hidden": HIDDEN_BEGIN in source,
                "code": compile(tree, f"<test {grade_id}>", "exec"),
                "definitions": compile(definitions, f"<cell {grade_id}>", "exec"),
                "imports": _imports(tree),
            }
            self.order.append(grade_id)

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
        return self.name_of_class(value if isinstance(value, types.FunctionType) else type(value))

    def name_of_class(self, named):
        """``(module, name)`` of a trusted function or class, or None."""
        module = self.modules.get(getattr(named, "__module__", None))
        if module is not None and getattr(module, named.__name__, None) is named:
            return module.__name__, named.__name__
        return None

    def hidden_checks(self):
        """``{module: [check name, ...]}`` for the hidden modules (for the kernel's stand-ins)."""
        return {module_name: public_functions(self.module(module_name))
                for module_name, path in self._module_files.items() if path.parent != self.source_dir}

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
        return namespace

    def resolve(self, module, attribute):
        """The value an import statement binds: a module, or ``attribute`` of it."""
        if attribute is None:
            return self._import(module, fromlist=("_",) if "." in module else ())
        value = self._import(module, fromlist=(attribute,))
        return getattr(value, attribute)

    def rerun(self, session, grade_id):
        """Run test ``grade_id`` here; return None if it passes, else the failure message."""
        cell = self.cells[grade_id]
        namespace = self.namespace(session, grade_id)
        try:
            exec(cell["code"], namespace)
        except JudgeError:
            raise
        except Exception as error:
            if cell["hidden"]:
                return hidden_message(error) if self.is_trusted_failure(error) else HIDDEN_UNEXPECTED
            # CheckFailure (an AssertionError) carries a message written for students.
            return str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
        return None

    def is_trusted_failure(self, error):
        """True if ``error``'s class is defined by a trusted module (not rebuilt from the kernel's)."""
        return self.name_of_class(type(error)) is not None


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

    # Connections handled at once (each in a thread: a session, or a first message being
    # read; a grading run needs one at a time), connections left waiting to be accepted
    # (more wait in the kernel: its connect blocks), and seconds a new connection has to
    # send its first message.
    THREADS = 4
    BACKLOG = 8
    HELLO_SECONDS = 10

    def __init__(self, path, trusted):
        self.path = str(path)
        self.trusted = trusted
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        pathlib.Path(self.path).chmod(0o666)
        self.server.listen(self.BACKLOG)
        self._lock = threading.Lock()
        self._lifelines = []
        self._lifeline_wanted = True
        self._pending = {}  # token -> (work, result dict, event)
        self._slots = threading.BoundedSemaphore(self.THREADS)
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="judge", daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while not self._closed:
            self._slots.acquire()  # accept only when a thread may handle the connection
            try:
                sock, _ = self.server.accept()
            except OSError:
                self._slots.release()
                return
            threading.Thread(target=self._handle, args=(sock,), name="judge-connection", daemon=True).start()

    def _handle(self, sock):
        """Act on one connection: its first message must arrive within HELLO_SECONDS; every
        message is bounded by the wire format, and the session's total by inkernel.Connection."""
        connection = inkernel.Connection(sock)
        try:
            sock.settimeout(self.HELLO_SECONDS)
            try:
                header, _ = inkernel.receive(connection)
            except (OSError, EOFError, inkernel.ProtocolError):
                sock.close()
                return
            with self._lock:
                # The sandbox's lifeline is the first connection, made before the kernel starts
                # (again after expect_lifeline, when the grader restarts the kernel).
                lifeline = header.get("op") == inkernel.LIFELINE and self._lifeline_wanted
                if lifeline:
                    self._lifelines.append(sock)
                    self._lifeline_wanted = False
                pending = self._pending.pop(header.get("token"), None) if header.get("op") == inkernel.HELLO else None
            if lifeline:
                return
            if pending is None:
                sock.close()  # a connection the grader did not ask for
                return
            self._run(connection, header, *pending)
        finally:
            self._slots.release()

    def _run(self, connection, hello, work, result, done):
        """Run ``work`` in a session over ``connection``; the kernel's ``hello`` came first."""
        result["connected"] = True
        observations = hello.get("observations")
        if isinstance(observations, list):
            result["observations"] = [str(o)[:300] for o in observations[:50]]
        session = Session(connection, self.trusted, result["deadline"])
        try:
            result["value"] = work(session)
        except JudgeError as error:
            result["error"] = str(error)
        except Exception as error:  # a bug in trusted code or a value it cannot handle
            result["error"] = f"the grader's re-run failed: {type(error).__name__}: {error}"
        finally:
            session.done()
            connection.sock.close()
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

    def expect_lifeline(self):
        """Drop the old sandbox's lifeline and accept the next sandbox's (the kernel is restarting)."""
        with self._lock:
            old, self._lifelines, self._lifeline_wanted = self._lifelines, [], True
        for sock in old:
            sock.close()

    def sweep(self):
        """Ask the sandbox to kill every process the kernel started (see mlpcourse.containment.sandbox)."""
        with self._lock:
            lifelines = list(self._lifelines)
        for sock in lifelines:
            try:
                sock.sendall(inkernel.SWEEP)
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


def public_functions(module):
    """Sorted names of the public functions ``module`` defines itself: a hidden module's checks."""
    return sorted(name for name, value in vars(module).items()
                  if isinstance(value, types.FunctionType) and value.__module__ == module.__name__
                  and not name.startswith("_"))


def stub_source(checks):
    """The stand-in for a hidden module: functions named ``checks`` that do nothing.

    While grading, the hidden checks run in the grader (:meth:`TrustedCode.rerun`);
    the kernel's run of a hidden test cell only needs its imports to succeed. The
    kernel imports this source from a file; :func:`stub_module` makes it a module.
    """
    lines = ['"""While grading, these checks run in the grader\'s process, not in this kernel."""', ""]
    for name in checks:
        lines += ["", f"def {name}(*args, **kwargs):", "    return None", ""]
    return "\n".join(lines)


def stub_module(module):
    """The stand-in for hidden module ``module``, as a module (for a run without a kernel)."""
    stub = types.ModuleType(module.__name__)
    exec(stub_source(public_functions(module)), vars(stub))
    return stub
