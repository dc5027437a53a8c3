"""A long-lived grading process: nbgrader imported once, a fresh nbgrader command for each student.

Starting ``python -m nbgrader`` costs about 1.6 s of imports before any work, and
grading a submission takes two such commands (``autograde``, ``generate_feedback``).
A :class:`NbgraderWorker` pays that once: it starts ``python -m mlpcourse.grading.worker``
in a course directory, which imports nbgrader and then runs one nbgrader command
after another, each exactly as ``python -m nbgrader ARGS`` would run it there.

What the process keeps from one command to the next is only what importing modules
left: each command gets a new application object (built by its class, never through
traitlets' ``instance()`` singletons), so its configuration is read again from the
course's ``nbgrader_config.py``; and ``os.environ``, ``sys.path`` and the working
folder are put back as they were when the process started, with a fresh ``TMPDIR``
(removed afterwards, like the kernel's scratch folder inside it). Each kernel is
still a fresh sandboxed process (:mod:`mlpcourse.containment.contain`); the grader's
side of the judge is built again for every notebook.

Containment of the grading process itself is as for one ``nbgrader`` process:

- the process runs under the grader's memory cap (``c.ContainedExecute.grader_memory_limit``,
  ``RLIMIT_AS``), set before it has imported anything;
- a command that has not ended after its time is stopped with the whole process
  (and its kernels, whose lifelines close);
- after a command that failed, was stopped or died, or once the process holds more
  than half of its memory cap, the next command gets a fresh process: what one
  submission did to the grader never reaches the next one.

The command's output (nbgrader's log on stderr, and what its kernels print there)
goes to a file of its own, which :meth:`NbgraderWorker.run` returns, as
``run_nbgrader`` returned the process's output.
"""

import contextlib
import os
import pathlib
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import traceback
from multiprocessing.connection import Connection

from mlpcourse.containment import sandbox
from mlpcourse.grading import coursedir

# The end of a worker's own log (outside commands) added to the output of a command it died in.
LOG_TAIL = 4000


def grader_memory_limit(course_dir):
    """Bytes of address space the grading process may use (``c.ContainedExecute.grader_memory_limit``)."""
    from mlpcourse.containment.contain import ContainedExecute
    from mlpcourse.grading.chain import config_value

    return config_value(course_dir, "ContainedExecute", "grader_memory_limit",
                        ContainedExecute.class_traits()["grader_memory_limit"].default())


def _address_space(pid):
    """Bytes of virtual memory process ``pid`` holds (0 if it is gone)."""
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


class NbgraderWorker:
    """One long-lived process running nbgrader commands in ``course_dir``, one at a time.

    Parameters
    ----------
    course_dir : path
        The course directory: the commands run there and its ``nbgrader_config.py``
        gives the memory cap.
    env : dict, optional
        Extra environment variables for nbgrader and its kernels (BLAS thread counts).

    Used as a context manager, or closed with :meth:`close`. Not thread-safe: one
    caller at a time.
    """

    def __init__(self, course_dir, env=None):
        self.course_dir = pathlib.Path(course_dir).resolve()
        self.env = dict(env or {})
        self.memory = grader_memory_limit(self.course_dir)
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="mlpw-"))
        self.process = None
        self.connection = None
        self.started = 0  # processes started so far
        self.process_id = None  # of the last one

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        """Start the process now (it imports nbgrader while the caller goes on); ``run`` starts it if needed."""
        if self.process is not None:
            return
        parent_end, child_end = socket.socketpair()
        with open(self.folder / "worker.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlpcourse.grading.worker", str(child_end.fileno())],
                cwd=self.course_dir, env=coursedir.environment(self.env), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, pass_fds=[child_end.fileno()], start_new_session=True)
        child_end.close()
        # Set on the new process (not with preexec_fn: callers run this from threads) before
        # its interpreter has imported anything.
        with contextlib.suppress(ProcessLookupError):  # it has already ended
            resource.prlimit(self.process.pid, resource.RLIMIT_AS, (self.memory, self.memory))
        self.connection = Connection(parent_end.detach())
        self.started += 1
        self.process_id = self.process.pid

    def _stop(self):
        """End the process (and its kernels) now; the next command starts a fresh one."""
        if self.process is None:
            return
        self.connection.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = self.connection = None

    def close(self):
        """End the process and remove its files."""
        self._stop()
        sandbox.remove_tree(self.folder)

    def run(self, args, timeout):
        """Run ``nbgrader ARGS`` in the worker; return ``(returncode or None on timeout, output)``.

        ``returncode`` is the command's exit status (as ``python -m nbgrader ARGS`` would
        exit), or the process's own (negative: the signal) if it died in the command.
        """
        self.start()
        scratch = pathlib.Path(tempfile.mkdtemp(dir=self.folder, prefix="run-"))
        try:
            log, tmp = scratch / "output.log", scratch / "tmp"
            tmp.mkdir()
            log.touch()
            code, died = None, False
            try:
                self.connection.send((list(args), str(tmp), str(log)))
                if self.connection.poll(timeout):
                    code = self.connection.recv()
            except (EOFError, OSError):  # the process died
                died = True
            except BaseException:  # mid-command: its reply must never be read as the next command's
                self._stop()
                raise
            output = log.read_text(errors="replace")
            if died:
                code = self._reap()
                worker_log = (self.folder / "worker.log").read_text(errors="replace")[-LOG_TAIL:]
                output += f"{worker_log}\nthe grading process ended (exit status {code})\n"
            elif code != 0 or _address_space(self.process.pid) > self.memory // 2:
                self._stop()
        finally:
            sandbox.remove_tree(scratch)  # what a student's kernel left in TMPDIR, however deep
        return code, output

    def _reap(self):
        """After the process died: its exit status (negative: the signal); its kernels are stopped."""
        code = self.process.wait()
        self._stop()
        return code


# --- the worker process ------------------------------------------------------------------


def _command(name):
    """nbgrader's application class for subcommand ``name`` (as ``nbgrader NAME`` would run)."""
    from nbgrader.apps.nbgraderapp import NbGraderApp
    from traitlets.utils.importstring import import_item

    app = NbGraderApp.subcommands[name][0]
    return import_item(app) if isinstance(app, str) else app


def _run_command(args):
    """Run one nbgrader command here; return its exit status."""
    from jupyter_core.application import NoStart

    app = None
    try:
        app = _command(args[0])()  # a new object with its own config, not traitlets' instance()
        app.initialize(args[1:])
        app.start()
        return 0
    except NoStart:  # a command that only dispatched to its subcommand (jupyter_core's launch_instance: 0)
        return 0
    except KeyError:
        print(f"nbgrader: unknown command {args[0]!r}", file=sys.stderr)
        return 2
    except SystemExit as stop:  # nbgrader's fail(), or a hook's SystemExit("error: ...")
        if isinstance(stop.code, int) or stop.code is None:
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 (as an uncaught exception ends `python -m nbgrader`)
        traceback.print_exc()
        return 1
    finally:
        # A command with subcommands (``db student list``) makes them through instance(): forget them.
        while app is not None:
            type(app).clear_instance()
            app = getattr(app, "subapp", None)


def _isolated_run(args, tmp, log, start):
    """Run a command with its output going to ``log``, in the process's starting state and a fresh TMPDIR."""
    environ, path, cwd = start
    os.environ.clear()
    os.environ.update(environ, TMPDIR=tmp)
    tempfile.tempdir = None  # read TMPDIR again
    sys.path[:] = path
    os.chdir(cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab", buffering=0) as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            return _run_command(args)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            tempfile.tempdir = None


def serve(fd):
    """The worker process: run each command received on connection ``fd`` until it closes."""
    os.set_inheritable(fd, False)  # not for the kernels
    connection = Connection(fd)
    start = (dict(os.environ), list(sys.path), os.getcwd())
    # What every grading command imports, before the first one is asked for.
    import nbconvert.exporters  # noqa: F401
    import nbgrader.apps.nbgraderapp  # noqa: F401

    import mlpcourse.containment.contain  # noqa: F401
    import mlpcourse.reports.feedback  # noqa: F401
    import mlpcourse.reports.markup  # noqa: F401

    while True:
        try:
            args, tmp, log = connection.recv()
        except EOFError:
            return
        connection.send(_isolated_run(args, tmp, log, start))


if __name__ == "__main__":
    serve(int(sys.argv[1]))
