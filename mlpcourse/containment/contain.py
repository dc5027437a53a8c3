"""Containing what a submission can do while nbgrader runs it.

nbgrader runs each submission in a Jupyter kernel with the grader's rights: student
code can read the hidden tests, use the network, fill the memory, fork without end,
hang the grader with one loop, and score by replacing what the tests use.
:class:`ContainedExecute` takes the place of nbgrader's ``Execute`` step in
``autograde`` (``nbgrader_config.py`` sets it up) and relies on existing mechanisms:

- **a sandbox per kernel** (:mod:`mlpcourse.containment.sandbox`): ``unshare`` namespaces, a
  root file system with only the system and Python folders, the data cache and a
  scratch copy of the notebook's folder; no network, not even loopback; a user id
  of its own; ``setrlimit`` limits on memory, processes, file size, open files and
  CPU time (``memory_limit``, ``process_limit``, ...);
- **time**: a limit per cell, derived from the reference solution's recorded run
  (``timings_file``, :mod:`mlpcourse.containment.limits`; ``cell_timeouts`` overrides a cell,
  ``timeout`` and ``test_timeout`` cover cells without a recorded time), and a budget
  per notebook. A cell that runs out is interrupted (nbclient), and the notebook's
  function it was in is made to fail at once from then on (``inkernel.stop_calling``);
  a kernel that ignores the interrupt for ``interrupt_grace`` seconds is killed and
  the cells after it are marked as not run, which scores them 0;
- **crashes** (``os._exit``, a segfault, ``exit()``): the cell is marked with what
  happened and the cells after it as not run; the submission keeps the points of
  the visible tests before; other submissions never notice (each has its own kernel);
- **output**: at most ``output_limit`` bytes per cell and ``notebook_output_limit``
  per notebook are kept, errors included (a cell's first error always, cut short);
- **structure**: before anything runs, the cells are laid out as the release does
  (:mod:`mlpcourse.containment.structure`): a moved locked cell goes back to its place;
- **scores come from verdicts only**: a test cell keeps its points only if it raised
  nothing in the kernel and nothing when the grader ran it again with trusted code
  (:mod:`mlpcourse.containment.judge`). Visible tests are re-run right after their cell; hidden
  tests after the notebook's last cell (then the kernel is stopped), so that hidden
  inputs never reach a later cell's output. When all cells have run, every test
  cell's outputs are rebuilt from its verdict (:func:`verdict_outputs`): nothing
  student code prints, displays or returns (an ``execute_result``, a replaced
  display hook, a stderr stream) can change what nbgrader scores;
- **what the kernel sees**: the released helper files and the student's own files
  (never a notebook: nbgrader's working copy holds the restored locked cells), and
  only the data files named in ``data_files``.

What the run did (cells, times, timeouts, crashes, the grader's verdicts and their
student-safe messages, what student code changed) is written to ``run.json`` (see
:mod:`mlpcourse.records`), for :mod:`mlpcourse.grading.tamper`, the feedback and the TA.
"""

import json
import os
import pathlib
import re
import resource
import secrets
import time
from queue import Empty

import nbformat
import zmq.asyncio
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from nbconvert.preprocessors.execute import NotebookClient
from traitlets import Bool, Dict, Float, Integer, List, Unicode

from mlpcourse import gradebook, paths, records
from mlpcourse.containment import inkernel, judge, limits, sandbox, structure

# Characters of a function's name the grader repeats (it comes from the student's code).
NAME_LIMIT = 64
# Characters of an error kept when its cell's output is over the limit.
ERROR_KEPT = 4000
# Verdicts of a test cell (run.json's "verdict").
PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"
# A frame of a notebook cell's function in an IPython traceback: "Cell In[5], line 3, in relu(x)";
# a method shows its qualified name ("in SGD.step(self, ...)"), a nested function its
# enclosing one's ("in train.<locals>.epoch()").
CELL_FRAME = re.compile(r"^Cell In\[[0-9]{1,10}\], line [0-9]{1,7}, in ([\w.<>]{1,200})", re.MULTILINE)
# The same in faulthandler's dump (innermost first): File "/tmp/ipykernel_7/1234.py", line 3 in relu.
# It names the code bare ("step", "__init__"), so the cell's file (named after its code,
# the same in a restarted kernel) and the line say which function it was.
DUMPED_CELL_FRAME = re.compile(r'File "/tmp/ipykernel_[0-9]{1,10}/([0-9]{1,20}\.py)", line ([0-9]{1,7}) '
                               r'in ([A-Za-z_][A-Za-z0-9_]{0,63})\n')
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def interrupted_function(traceback):
    """The innermost function of the notebook's in an interrupted traceback (list of lines), or None.

    A method is named with its class ("SGD.step"); a function nested in another by the
    outer one, which is what the notebook calls. None for a lambda or a comprehension at
    the top of a cell: no name says which one it was.
    """
    # The frames only: the last entry is the exception's own line, whose message student code writes.
    frames = CELL_FRAME.findall(ANSI.sub("", "\n".join((traceback or [])[:-1])))
    name = frames[-1].split(".<locals>", 1)[0] if frames else None
    return None if name is None or name.startswith("<") else name


def dumped_function(log):
    """``(name, where)`` of the notebook's functions in the last stack dump of the kernel's ``log``
    (None if there is none): the innermost one's name, and ``where``, each function frame's
    ``[cell file name, line, name]``, innermost first.

    Student code can write to the log too: what this returns is the kernel's claim, bounded
    (names of at most 64 characters, lines of at most 7 digits), never trusted as more.
    """
    dump = log.rsplit("most recent call first", 1)
    frames = DUMPED_CELL_FRAME.findall(dump[-1]) if len(dump) > 1 else []
    if not frames:
        return None
    return frames[0][2], [[file, int(line), name] for file, line, name in frames]


def stopped_message(function, seconds, index):
    """What a call to ``function``, stopped after ``seconds`` at cell ``index`` (None: in the grader's
    last check, after the notebook), raises from then on."""
    called = f"cell {index + 1}" if index is not None else "the grader's last check"
    return (f"{function} did not return within {seconds} s when it was called earlier ({called}), "
            "so it was stopped; the grader does not call it again.")


def kernel_call(function, *args):
    """The code that calls ``function(*args)`` of the grader's module in the kernel.

    The grader's requests over Jupyter's own channel: ``snapshot``, ``watch_cells``,
    ``serve`` and ``stop_calling`` of
    :mod:`mlpcourse.containment.inkernel` (see :mod:`mlpcourse.containment`).
    ``args`` are plain values, written as their ``repr``.
    """
    return f"__import__({sandbox.KERNEL_MODULE!r}).{function}({', '.join(map(repr, args))})"


def _kernel_files(trusted):
    """``{file name: text}`` the kernel can import: the grader's module (:mod:`.inkernel`) and,
    for each hidden module, a stand-in that does nothing (the grader's re-run checks)."""
    files = {f"{name}.py": judge.stub_source(checks)
             for name, checks in (trusted.hidden_checks() if trusted else {}).items()}
    files[f"{sandbox.KERNEL_MODULE}.py"] = pathlib.Path(inkernel.__file__).read_text()
    return files


def _error_output(ename, message):
    return nbformat.v4.new_output("error", ename=ename, evalue=message,
                                  traceback=[f"\x1b[0;31m{ename}\x1b[0m: {message}"])


def _has_error(cell):
    return any(output.output_type == "error" for output in cell.get("outputs", []))


def verdict_outputs(outputs, verdict, message):
    """A test cell's outputs rebuilt so that nbgrader's scoring reads only ``verdict``.

    nbgrader's ``determine_grade`` scores a code cell by its first error, stderr
    stream or ``execute_result``; all three are in student code's reach. Here an
    ``execute_result`` becomes a ``display_data`` and a stderr stream becomes stdout
    (both still shown), an error output is kept only under a failed verdict, and a
    failed or not-run verdict puts the grader's own error output first.
    """
    rebuilt = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "execute_result":
            rebuilt.append(nbformat.v4.new_output("display_data", data=output.get("data", {}),
                                                  metadata=output.get("metadata", {})))
        elif kind == "stream" and output.get("name") != "stdout":
            text = "".join(f"[stderr] {line}" for line in str(output.get("text", "")).splitlines(keepends=True))
            rebuilt.append(nbformat.v4.new_output("stream", name="stdout", text=text))
        elif kind == "error" and verdict == PASSED:
            text = f"[an error output, although the test passed] {output.get('ename')}: {output.get('evalue')}\n"
            rebuilt.append(nbformat.v4.new_output("stream", name="stdout", text=text))
        elif kind in ("stream", "display_data", "error"):
            rebuilt.append(output)
    if verdict != PASSED:
        rebuilt.insert(0, _error_output("NotRun" if verdict == NOT_RUN else "TestFailed", message))
    return rebuilt


class ContainedExecute(Execute):
    """nbgrader's Execute, run in a sandbox, with time limits per cell and per
    notebook, crash handling, output limits, and test cells re-run by the grader."""

    timeout = Integer(
        120, allow_none=True,
        help="Seconds any one cell that is not a test may run (unless cell_timeouts names it)").tag(config=True)
    test_timeout = Integer(
        60, help="Seconds a test cell may run, in the kernel and again in the grader's re-run "
                 "(unless cell_timeouts names it)").tag(config=True)
    cell_timeouts = Dict(
        {}, help="Seconds for named cells (grade_id -> seconds), e.g. the training cell").tag(config=True)
    total_timeout = Integer(
        1800, help="Seconds all cells of one notebook may run together (at most; see timings_file)").tag(config=True)
    timings_file = Unicode(
        "", help="The reference solution's recorded cell times (mlpcourse.containment.limits). When set, a cell the file "
                 "names may take limit_multiple * its time + limit_floor, unless cell_timeouts names it, "
                 "and the notebook the same of the total, within total_timeout; {assignment} stands for the assignment "
                 "being graded").tag(config=True)
    limit_multiple = Float(10.0, help="How many times the reference's time a cell may take").tag(config=True)
    limit_floor = Integer(30, help="Seconds added to every derived limit").tag(config=True)
    interrupt_grace = Integer(
        10, help="Seconds a timed-out cell has to stop after the interrupt before the kernel is killed"
    ).tag(config=True)
    kernel_restarts = Integer(
        2, help="Times a killed or dead kernel is restarted per notebook, the cells before run again "
                "silently, so that the rest of the notebook is graded").tag(config=True)
    memory_limit = Integer(4 * 2**30, help="Bytes of address space per kernel process").tag(config=True)
    grader_memory_limit = Integer(
        6 * 2**30,
        help="Bytes of address space of the grading process (nbgrader autograde, run by the course's grade "
             "command). RLIMIT_AS counts virtual memory: the reference run's grader peaks at 0.85 GiB with 2 "
             "BLAS threads, and a session may hold 0.5 GiB the kernel sent. Kernels start under it and can "
             "only lower their own limit, so it must not be below memory_limit").tag(config=True)
    process_limit = Integer(256, help="Processes and threads of one kernel").tag(config=True)
    file_size_limit = Integer(256 * 2**20, help="Largest file the kernel may write (bytes)").tag(config=True)
    open_files_limit = Integer(1024, help="Open files per kernel process").tag(config=True)
    tmp_size = Integer(512 * 2**20, help="Bytes of the kernel's private /tmp").tag(config=True)
    output_limit = Integer(1 * 2**20, help="Bytes of output kept per cell").tag(config=True)
    notebook_output_limit = Integer(16 * 2**20, help="Bytes of output kept per notebook").tag(config=True)
    readable_paths = List(
        Unicode(), [], help="Extra paths the kernel may read").tag(config=True)
    data_env = Dict(
        {}, help="Environment variables naming data folders (name -> folder): the kernel gets them, "
                 "and may read the folders (it has no network to download anything)").tag(config=True)
    data_files = Dict(
        {}, help="For a data folder of data_env (name -> list of file names): the only files of it the "
                 "kernel may read. A folder not named here is readable whole").tag(config=True)
    hidden_directory = Unicode(
        "", help="Folder of the hidden test modules (never visible to the kernel); {assignment} stands "
                 "for the assignment being graded").tag(config=True)
    kernel_env = List(
        Unicode(), [], help="Names of the environment variables the kernel keeps besides nbgrader's, "
                            "the locale's and the BLAS libraries' (an assignment's data settings)").tag(config=True)
    course_modules = List(
        Unicode(), [], help="The course's own modules the notebooks' tests rely on (check helpers, data "
                            "loaders, hidden checks): replacing them or their attributes is tampering").tag(config=True)
    use_sandbox = Bool(
        True, help="Run kernels in a sandbox when the machine allows it").tag(config=True)
    rerun_tests = Bool(
        True, help="Re-run passing test cells in the grader's process and score by verdicts. False is for "
                   "testing the containment alone: tests then score as in plain nbgrader, and the hidden "
                   "tests run in the kernel, which can read their folder").tag(config=True)

    # --- setup ---------------------------------------------------------------------

    def _course_cells(self):
        """The release's cells, and ``{grade_id: DefinedCell}`` from the gradebook."""
        info = self.resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        release = pathlib.Path(coursedir.format_path(coursedir.release_directory, ".", info["assignment"]))
        path = release / f"{info['notebook']}.ipynb"
        if not path.exists():
            raise RuntimeError(f"{path} does not exist: run `python -m mlpcourse release` first")
        release_cells = nbformat.read(str(path), as_version=4).cells
        return release_cells, gradebook.definition(info["db_url"], info["assignment"], info["notebook"])

    def _trusted_code(self, release_cells, cells):
        """The instructor's code cells (from the gradebook, in the release's order) and modules."""
        code = []
        for cell in release_cells:
            grade_id = structure.grade_id(cell)
            defined = cells.get(grade_id)
            if cell.cell_type == "code" and defined and (defined.locked or defined.test):
                code.append((grade_id, defined.source, defined.test))
        coursedir = CourseDirectory(config=self.config)
        source_dir = coursedir.format_path(coursedir.source_directory, ".", self.resources["nbgrader"]["assignment"])
        module_dirs = [source_dir] + ([self._for_assignment(self.hidden_directory)] if self.hidden_directory else [])
        return judge.TrustedCode(module_dirs, code)

    def _readable_data(self, env):
        """The data paths the kernel may read: each data_env folder, or only its data_files."""
        paths = []
        for name in self.data_env:
            folder = pathlib.Path(env[name])
            files = self.data_files.get(name)
            paths += [str(folder)] if files is None else [str(folder / file) for file in files]
        return paths

    def create_kernel_manager(self):
        self.km = AsyncKernelManager(
            kernel_name=sandbox.SPEC_NAME,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self._scratch.spec_dir)]),
            transport="ipc", ip=str(self._scratch.kernel_dir / "ipc"),
            connection_file=str(self._scratch.connection_file), config=self.config)
        return self.km

    def _for_assignment(self, path):
        """A configured path with ``{assignment}`` replaced by the assignment being graded."""
        return path.format(assignment=self.resources["nbgrader"]["assignment"])

    def _limits(self):
        """``({grade_id: seconds}, notebook budget)`` from the reference's timings, if configured."""
        if not self.timings_file:
            return {}, self.total_timeout
        timings = json.loads(pathlib.Path(self._for_assignment(self.timings_file)).read_text())
        derived, total = limits.derive(timings, self.limit_multiple, self.limit_floor)
        return derived, min(total, self.total_timeout)

    def _limit(self, grade_id):
        """Seconds one cell, or a test's re-run, may take (a re-run is not bounded by the notebook's deadline)."""
        default = self.test_timeout if self._is_test(grade_id) else self.timeout
        return self.cell_timeouts.get(grade_id) or self._derived.get(grade_id) or default or self.total_timeout

    def _cell_limit(self, cell):
        limit = self._limit(structure.grade_id(cell))
        remaining = self._deadline - time.monotonic()
        return max(1, int(min(limit, remaining)))

    # --- running -------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        """Run the notebook contained; return ``(nb, resources)`` as nbconvert does.

        A copy of ``nbconvert.preprocessors.ExecutePreprocessor.preprocess`` from
        nbconvert 7.17.2 (nbgrader's ``Execute`` does not override it), changed where
        the containment needs it, since that method has no hook for any of it:

        - before the kernel starts, :meth:`_contain`: the run record, the limits, the
          cells laid out as the release's and the instructor's code read from the
          gradebook, the sandbox's scratch folder and kernel spec, the grader's socket;
        - ``setup_kernel`` gets the kernel's environment and folder (nbconvert passes
          none), kept to start the same kernel again after a crash (:meth:`_restart`);
        - after ``kernel_info``: the kernel's snapshot for :func:`inkernel.observe`;
        - each cell goes through :meth:`_run_cell` (time limit, crash, output limit,
          re-run by the grader) instead of straight to ``preprocess_cell``; the hidden
          re-runs follow the last cell;
        - whatever happens, :meth:`_finish`: the socket closed, the scratch folder
          removed, the verdicts applied to the test cells and ``run.json`` written.

        Unchanged: ``NotebookClient.__init__`` called again to reset the client's state,
        ``reset_execution_trackers``, nbconvert's private ``_check_assign_resources``,
        the ``language_info`` metadata and ``set_widgets_metadata``. nbconvert, nbclient
        and jupyter_client are pinned in ``requirements.txt``: after upgrading them,
        compare this method with the new ``ExecutePreprocessor.preprocess`` and update
        the version above (tests/test_contain.py checks that it names the installed one).
        """
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._contain()
        started = time.monotonic()
        try:
            with self.setup_kernel(**self._kernel_launch):
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
                self._silent(kernel_call("snapshot", list(self.course_modules)), 60)
                self._record["startup_seconds"] = round(time.monotonic() - started, 2)
                self._deadline = time.monotonic() + self._budget
                self._watch_cells()
                for index, cell in enumerate(self.nb.cells):
                    self._run_cell(index, cell)
                self._rerun_hidden()
        finally:
            self._finish(started)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _contain(self):
        """Everything before the kernel starts: the run record and the limits, the cells in
        the release's structure and the trusted code, the sandbox's scratch folder and kernel
        spec, the grader's socket, and the kernel's launch arguments (``_kernel_launch``)."""
        info = self.resources["nbgrader"]
        self._record = {"student": info["student"], "assignment": info["assignment"],
                        "notebook": info["notebook"], "cells": [], "observations": [], "incidents": [],
                        "hung": []}
        self._output_used, self._output_dropped, self._errors_kept = {}, {}, set()
        self._derived, self._budget = self._limits()
        self._record["limits"] = {"cells": self._derived, "total": self._budget}
        _, cap = resource.getrlimit(resource.RLIMIT_AS)
        if cap != resource.RLIM_INFINITY and cap < self.memory_limit:
            raise RuntimeError(f"the grading process may use {cap} bytes, less than the kernel's memory_limit "
                               f"({self.memory_limit}): raise c.ContainedExecute.grader_memory_limit")
        trusted = self._restore_structure() if self.rerun_tests else None
        mode = sandbox.sandbox_mode() if self.use_sandbox else None
        if mode is None:
            self._incident("the kernel ran without a sandbox (namespaces unavailable or disabled)")
        self._record["sandbox"] = mode
        workdir = self.resources.get("metadata", {}).get("path") or "."
        env = dict(os.environ, NBGRADER_EXECUTION=os.environ.get("NBGRADER_EXECUTION", "autograde"))
        # Resolved: the sandbox mounts real paths, and the kernel must find its files where they are mounted.
        env.update({name: os.path.realpath(pathlib.Path(folder).expanduser()) for name, folder in self.data_env.items()})
        readable = [*self.readable_paths, *self._readable_data(env)]
        in_kernel = [self._for_assignment(self.hidden_directory)] if trusted is None and self.hidden_directory else []
        self._scratch = sandbox.Scratch(workdir, mode, self._sandbox_limits(), readable + in_kernel,
                                        _kernel_files(trusted), env, in_kernel, keep_env=self.kernel_env)
        self._judge = judge.Judge(self._scratch.judge_socket, trusted)
        # The launch gets the kernel's environment only: jupyter_client would hand the
        # sandbox's PID 1 (or an unsandboxed kernel) whatever it is given.
        self._kernel_launch = {"env": self._scratch.kernel_env, "cwd": workdir}
        self.timeout_func = self._cell_limit
        # nbclient waits this long for an interrupted cell to stop before giving up on the kernel.
        self.iopub_timeout = self.interrupt_grace
        # The sandbox goes with the kernel: no need to wait for a polite shutdown.
        self.shutdown_kernel = "immediate"
        self._replies = {}
        self._hidden_pending = []  # (index, cell, grade_id, entry) of hidden tests that passed in the kernel
        self._kernel_lost = False
        self._restarts = 0
        self._stopped = None

    def _restore_structure(self):
        """Lay the cells out as the release's (:mod:`~mlpcourse.containment.structure`); return
        the instructor's code for the re-runs (:class:`~mlpcourse.containment.judge.TrustedCode`)."""
        release_cells, course_cells = self._course_cells()
        self.nb.cells, self._record["structure"] = structure.restore(
            self.nb.cells, release_cells,
            {name: cell.source for name, cell in course_cells.items() if cell.locked or cell.test})
        return self._trusted_code(release_cells, course_cells)

    def _sandbox_limits(self):
        return sandbox.Limits(
            memory=self.memory_limit, processes=self.process_limit, file_size=self.file_size_limit,
            open_files=self.open_files_limit, cpu_seconds=2 * self.total_timeout * (os.cpu_count() or 1),
            tmp_size=self.tmp_size)

    def _finish(self, started):
        """Whatever happened: close the grader's socket, remove the scratch folder (the log's
        end kept if the notebook stopped), apply the verdicts and write ``run.json``."""
        self._judge.close()
        self._record["seconds"] = round(time.monotonic() - started, 2)
        if self._stopped:
            self._record["kernel_log_tail"] = self._scratch.kernel_log()
        self._scratch.remove()
        self._apply_verdicts()
        self._write_record()

    def on_cell_executed(self, **kwargs):
        """nbgrader's hook (it records a reply's error the outputs lack), plus the reply's status."""
        super().on_cell_executed(**kwargs)
        self._replies[kwargs["cell_index"]] = kwargs["execute_reply"]["content"].get("status")

    def _incident(self, text, index=None):
        self._record["incidents"].append({"cell": index, "what": text})

    def _run_cell(self, index, cell):
        """Run one code cell within its limits; then sweep the sandbox, and have the grader
        re-run the cell if it is a test that passed (a hidden test after the last cell)."""
        if cell.cell_type != "code" or not cell.source.strip():
            return
        grade_id = structure.grade_id(cell)
        entry = {"index": index, "grade_id": grade_id, "test": self._is_test(grade_id)}
        self._record["cells"].append(entry)
        if self._stopped is None and self._deadline - time.monotonic() < 1:
            self._stop("the notebook used all of its time", index)
        if self._stopped:
            cell.outputs = [_error_output("NotRun", f"This cell was not run: {self._stopped}.")]
            entry["status"] = "not run"
            return
        self._execute(index, cell, entry)
        self._limit_output(index, cell)
        if self._stopped:
            return
        self._judge.sweep()
        if not entry["test"] or entry["status"] != "ok":
            return
        if self._judge.trusted.cells[grade_id]["hidden"]:
            self._hidden_pending.append((index, cell, grade_id, entry))
        else:
            self._rerun(index, cell, grade_id, entry)

    def _execute(self, index, cell, entry):
        """Run ``cell`` in the kernel within its time limit; record its status and time in ``entry``."""
        started = time.monotonic()
        limit = entry["limit"] = self._cell_limit(cell)
        # The kernel's watchdog (watch_cells) arms as the cell starts: only a stack dump
        # written to its log after this point can be this cell's (the log outlives restarts).
        self._log_before_cell = self._scratch.kernel_log_size()
        self._interrupted = False
        try:
            self.preprocess_cell(cell, self.resources, index)
            failed = _has_error(cell) or self._replies.get(index) != "ok"
            entry["status"] = "error" if failed else "ok"
        except DeadKernelError:
            self._kernel_died(index, cell, entry)
        except CellTimeoutError:
            self._killed_after_timeout(index, cell, entry, limit)
        entry["seconds"] = round(time.monotonic() - started, 2)
        if self._interrupted:
            self._timed_out(index, cell, entry)

    async def _async_handle_timeout(self, timeout, cell=None):
        """nbclient's step at a cell's time limit (it interrupts the kernel), noted by the grader:
        a cell's own outputs could show a timeout (an error named CellTimeoutError) that never was."""
        self._interrupted = True
        return await super()._async_handle_timeout(timeout, cell)

    def _kernel_died(self, index, cell, entry):
        """The kernel died running ``cell``: say so in the cell, then restart it or stop."""
        cell.outputs.append(_error_output("KernelDied", self._death_message()))
        entry["status"] = "kernel died"
        self._kernel_lost = True
        self._incident("the kernel died", index)
        self._restart_or_stop("the kernel died while running an earlier cell", index)

    def _killed_after_timeout(self, index, cell, entry, limit):
        """``cell`` ignored the interrupt at its time limit: kill the kernel, note the function
        it was in (from the watchdog's stack dump), then restart the kernel or stop."""
        self._kill_kernel()  # first: what the kernel writes to its log from now on is not read
        dumped = dumped_function(self._scratch.kernel_log(20_000, since=self._log_before_cell))
        hung, where = dumped or (None, None)
        cell.outputs.append(_error_output(
            "CellTimeoutError", f"This cell ran longer than {limit} s and did not stop "
                                "when interrupted, so the kernel was stopped."
                                + (f" It was in {hung}, which is not called again." if hung else "")))
        entry["status"] = "killed after timeout"
        entry["timed_out"] = True
        if hung:
            hung = hung[:NAME_LIMIT]
            entry["hung"] = hung
            self._record["hung"].append({"function": hung, "cell": index, "seconds": limit, "where": where})
            self._incident(f"{hung} did not return within {limit} s and ignored the interrupt", index)
        self._restart_or_stop("the kernel was stopped because an earlier cell did not end", index)

    def _timed_out(self, index, cell, entry):
        """``cell`` ran out of time: record it, and if the interrupt stopped it, make the
        function it was in fail at once from now on."""
        entry["timed_out"] = True
        self._incident(f"cell timed out after {entry['seconds']} s", index)
        if self._kernel_lost:
            return
        # The interrupt's traceback is the last KeyboardInterrupt (the cell may have shown others).
        interrupted = next((o for o in reversed(cell.outputs) if o.output_type == "error"
                            and o.get("ename") == "KeyboardInterrupt"), None)
        if interrupted is not None:
            self._stop_calling(interrupted_function(interrupted.get("traceback")), entry["limit"], index, entry)

    def _limit_output(self, index, cell):
        """Say how much of the cell's output was dropped (see :meth:`output`); shorten its errors."""
        dropped = self._output_dropped.pop(index, 0)
        if dropped:
            cell.outputs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"\n[{dropped} bytes of output not kept: limit {self.output_limit}]\n"))
            self._incident(f"output over the limit: {dropped} bytes dropped", index)
        _shorten_errors(cell, self.output_limit)

    def _is_test(self, grade_id):
        trusted = self._judge.trusted
        return trusted is not None and grade_id in trusted.cells and trusted.cells[grade_id]["is_test"]

    def _rerun_hidden(self):
        """Re-run the hidden tests that passed in the kernel, now that no student cell is left to run;
        then read once more what student code changed."""
        # The hidden re-runs together get at most the notebook's budget again: a kernel that
        # stalls every session cannot hold a grading worker for a test limit per hidden test.
        deadline = time.monotonic() + self._budget
        self._hidden_phase = True  # no restart from here: a fresh kernel would miss what later cells defined
        for index, cell, grade_id, entry in self._hidden_pending:
            if self._kernel_lost or time.monotonic() > deadline - 1:
                entry["rerun"] = "not run"
                why = (f"the kernel had stopped by then ({self._stopped})" if self._kernel_lost
                       else "the time for them had run out")
                entry["rerun_message"] = ("The hidden checks of this test run after the notebook's last cell, "
                                          f"and {why}, so it scores 0.")
                continue
            self._rerun(index, cell, grade_id, entry, min(self._limit(grade_id), deadline - time.monotonic()))
        if not self._kernel_lost:
            # What student code changed, read once more at the end: the tamper report must not
            # depend on whether any test passed (observations arrive with each session).
            self._session(lambda session: None, None, self.test_timeout)

    def _rerun(self, index, cell, grade_id, entry, limit=None):
        started = time.monotonic()
        result = self._session(lambda session: self._judge.trusted.rerun(session, grade_id), index,
                               limit or self._limit(grade_id))
        entry["rerun_seconds"] = round(time.monotonic() - started, 2)
        if "error" in result:
            entry["rerun"] = "no verdict"
            entry["rerun_error"] = result["error"]  # for the TA: it may quote what the kernel sent
            # Hidden inputs may be in the kernel by now, and the error can quote the kernel's words.
            why = ("the session ended without a verdict" if self._judge.trusted.cells[grade_id]["hidden"]
                   else result["error"])
            entry["rerun_message"] = (f"The grader could not re-run this test outside your notebook's kernel "
                                      f"({why}), so it scores 0.")
            return
        if result.get("value") is None:
            entry["rerun"] = "passed"
            return
        entry["rerun"] = "failed"
        message = result["value"]
        if not self._judge.trusted.cells[grade_id]["hidden"]:
            message = self._explain_inconsistency(index, cell, grade_id, entry, message)
        entry["rerun_message"] = message

    def _explain_inconsistency(self, index, cell, grade_id, entry, message):
        """Why a visible test that passed in the kernel failed in the grader's re-run.

        The test's code runs once more in the kernel, silently. If it fails there too,
        the student's code keeps state between calls or between objects (a mutable
        default argument, a class attribute): an honest bug, named as such. If it
        passes again there, only the grader's trusted run disagrees with the kernel:
        the record marks the cell ``inconsistent`` for the tamper report.
        """
        source = self._judge.trusted.cells[grade_id]["source"]
        try:
            reply = self._silent(source, self._limit(grade_id))
            if reply is None:
                run_sync(self.km.interrupt_kernel)()
                self._silent(None, self.interrupt_grace)
        except DeadKernelError:
            reply = None
        if reply is not None and reply["content"].get("status") != "ok":
            entry["state_carried"] = True
            return ("This test passed when your notebook ran it, but failed when it ran again (the grader "
                    "re-runs every test with fresh inputs and fresh objects, and running it once more in "
                    "your kernel fails too). Your code keeps state between calls or between objects: for "
                    "example a mutable default argument (def __init__(self, velocity=[])), a class "
                    "attribute shared by all instances, or a global. Make each call and each object start "
                    f"fresh.\n{message}")
        entry["inconsistent"] = True
        return ("This test passed in the notebook but failed when the grader re-ran it "
                f"outside your kernel:\n{message}")

    def _apply_verdicts(self):
        """Set every test cell's verdict, message and outputs (see :func:`verdict_outputs`)."""
        cells = {entry["index"]: entry for entry in self._record["cells"]}
        for index, cell in enumerate(self.nb.cells):
            grade_id = structure.grade_id(cell)
            if cell.cell_type != "code" or not self._is_test(grade_id):
                continue
            entry = cells.get(index) or {"index": index, "grade_id": grade_id, "test": True, "status": "not run"}
            if index not in cells:
                self._record["cells"].append(entry)
            entry["verdict"], entry["message"] = self._verdict(entry, cell)
            cell.outputs = verdict_outputs(cell.get("outputs", []), entry["verdict"], entry["message"])
        self._record["cells"].sort(key=lambda entry: entry["index"])

    def _verdict(self, entry, cell):
        """``(verdict, student-safe message)`` of a test cell from what the kernel and the grader found."""
        if entry.get("status") in (None, "not run"):
            return NOT_RUN, f"This test was not run: {self._stopped or 'the notebook stopped earlier'}."
        if entry.get("timed_out"):
            hung = entry.get("hung")
            return FAILED, (f"This test did not finish within its time limit ({entry['limit']} s)"
                            + (f": {hung} did not return, so it was stopped; later calls to it fail at once."
                               if hung else "."))
        if entry["status"] != "ok":
            # The kernel's own run, before any hidden input entered it: its error is the student's to see.
            error = next((o for o in cell.outputs if o.output_type == "error"), None)
            if error is None:
                return FAILED, "This test failed when your notebook ran it."
            return FAILED, f"{error.get('ename')}: {error.get('evalue')}"
        if entry.get("rerun") == "passed":
            return PASSED, ""
        return FAILED, entry.get("rerun_message") or "This test was not re-run by the grader, so it scores 0."

    def _session(self, work, index, timeout):
        """Let the grader run ``work(session)`` against this kernel; return its result."""
        token = secrets.token_hex(16)
        result, done = self._judge.expect(token, work, timeout)
        code = kernel_call("serve", str(self._scratch.judge_socket), token)
        try:
            reply = self._silent(code, timeout + self.interrupt_grace)
        except DeadKernelError:
            reply = None
            self._kernel_lost = True
            self._incident("the kernel died while the grader re-ran a test", index)
            self._stop("the kernel died while the grader re-ran an earlier test", index)
        if reply is None and not self._kernel_lost:
            run_sync(self.km.interrupt_kernel)()
            try:
                reply = self._silent(None, self.interrupt_grace)
            except DeadKernelError:
                reply = None
            if reply is not None:
                self._stop_calling(interrupted_function(reply["content"].get("traceback")), timeout, index)
            if reply is None:
                self._incident("the kernel did not answer the grader and was stopped", index)
                self._stop("the kernel stopped answering while the grader re-ran an earlier test", index)
                self._kill_kernel()
        if reply is None or result.get("connected"):
            done.wait(5)
        self._judge.forget(token)
        for observation in result.get("observations", []):
            if observation not in {o["what"] for o in self._record["observations"]}:
                self._record["observations"].append({"cell": index, "what": observation})
        if not done.is_set():
            result.setdefault("error", "the kernel never connected")
        return result

    def _silent(self, code, timeout):
        """Run ``code`` silently in the kernel and return the shell reply, or None after
        ``timeout`` seconds. With ``code`` None, wait again for the last request's reply."""
        return run_sync(self._async_silent)(code, timeout)

    async def _async_silent(self, code, timeout):
        if code is not None:
            self._pending_msg = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False,
                                                stop_on_error=False)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(remaining, 1)))
            except Empty:
                if not await ensure_async(self.kc.is_alive()):
                    raise DeadKernelError("Kernel died") from None
                continue
            if msg["parent_header"].get("msg_id") == self._pending_msg:
                return msg

    def _watch_cells(self):
        """Have the kernel arm its watchdog as each cell starts (:func:`.inkernel.watch_cells`):
        every code cell's limit, by its source's :func:`.inkernel.cell_key` (a source found
        twice gets the longer limit), and the notebook's deadline. One request per kernel,
        not two per cell (each a few milliseconds of both processes' time)."""
        limits = {}
        for cell in self.nb.cells:
            if cell.cell_type == "code":
                key = inkernel.cell_key(cell.source)
                limits[key] = max(limits.get(key, 0), self._limit(structure.grade_id(cell)))
        try:
            self._silent(kernel_call("watch_cells", limits, self._deadline), self.interrupt_grace)
        except DeadKernelError:
            pass  # the first cell finds it dead

    def _restart_or_stop(self, reason, index):
        """After the kernel was lost at cell ``index``: restart it and carry on, or stop the notebook."""
        if not self._restart(index):
            self._stop(reason, index)

    def _restart(self, upto):
        """Start a fresh kernel and run the cells before ``upto`` in it again, silently.

        The notebook then goes on as if the lost cell had failed: the student keeps the
        points of everything that does not need what was lost. Cells that timed out or
        killed the kernel are not run again, and the functions that did not return are
        made to fail at once after the cell that stopped them. Returns whether the
        kernel is back.
        """
        if self._restarts >= self.kernel_restarts or self._deadline - time.monotonic() < 5:
            return False
        self._restarts += 1
        started = time.monotonic()
        entries = {entry["index"]: entry for entry in self._record["cells"]}
        try:
            self._kill_kernel()
            self.kc.stop_channels()
            # Shutting the kernel down destroyed the manager's zmq context: the new kernel gets its own.
            self.km.context = zmq.asyncio.Context()
            self._judge.expect_lifeline()
            run_sync(self.async_start_new_kernel)(**self._kernel_launch)
            run_sync(self.async_start_new_kernel_client)()
            self._silent(kernel_call("snapshot", list(self.course_modules)), 60)
            self._watch_cells()
            for index, cell in enumerate(self.nb.cells[:upto + 1]):
                entry = entries.get(index, {})
                lost = entry.get("timed_out") or entry.get("status") in ("kernel died", "killed after timeout")
                if index < upto and cell.cell_type == "code" and cell.source.strip() and not lost:
                    if self._silent(cell.source, self._cell_limit(cell)) is None:
                        raise TimeoutError(f"cell {index + 1} did not end when run again")
                for hung in self._record["hung"]:
                    if hung["cell"] == index:
                        self._stop_calling(hung["function"], hung["seconds"], index, force=True,
                                           where=hung.get("where"))
        except Exception as error:  # noqa: BLE001 (any failure: the notebook stops as before)
            self._incident(f"the kernel could not be restarted ({type(error).__name__}: {error})", upto)
            self._kill_kernel()
            return False
        self._kernel_lost = False
        self._incident(f"the kernel was restarted and cells 1-{upto} run again "
                       f"({time.monotonic() - started:.0f} s)", upto)
        return True

    def _stop_calling(self, function, seconds, index, entry=None, force=False, where=None):
        """After ``function`` had to be interrupted, make later calls to it fail at once.

        ``index``: the cell it was called from (None: the grader's last check, after the
        notebook). ``force``: again, in a restarted kernel (the function is already recorded).
        ``where``: the stack dump's ``[cell file, line, name]`` frames, which say which function
        it was when its name alone does not (see :func:`inkernel.stop_calling`).
        """
        function = function[:NAME_LIMIT] if function else function
        if function is None or (not force and function in {hung["function"] for hung in self._record["hung"]}):
            return
        seconds = round(seconds)
        message = stopped_message(function, seconds, index)
        try:
            reply = self._silent(kernel_call("stop_calling", function, message, where), self.interrupt_grace)
        except DeadKernelError:
            reply = None
        stopped = reply is not None and reply.get("content", {}).get("status") == "ok"
        if force:
            if not stopped:
                raise TimeoutError(f"the kernel did not stop {function} when asked")
            return
        if reply is None:
            # Stuck in the grader's own request: the kernel is of no more use. After the
            # notebook (the hidden re-runs), no restart: a fresh kernel would lack later cells' work.
            self._incident(f"the kernel did not answer the request to stop {function}, so it was stopped", index)
            self._kill_kernel()
            if getattr(self, "_hidden_phase", False):
                self._stop("the kernel stopped answering the grader", index)
            else:
                self._restart_or_stop("the kernel stopped answering the grader", index)
            return
        if not stopped:
            self._incident(f"{function} did not return within {seconds} s, and the kernel failed to stop it", index)
            return
        self._record["hung"].append({"function": function, "cell": index, "seconds": seconds})
        self._incident(f"{function} did not return within {seconds} s: later calls to it fail at once", index)
        if entry is not None:
            entry["hung"] = function

    def _kill_kernel(self):
        self._kernel_lost = True
        try:
            run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as error:  # already gone
            self.log.warning("stopping the kernel: %s", error)

    def _stop(self, reason, index):
        if not self._stopped:
            self._stopped = reason
            self._incident(f"stopped: {reason}", index)

    def _death_message(self):
        tail = self._scratch.kernel_log(400).strip().splitlines()[-3:]
        detail = f" Its last words: {' | '.join(tail)}" if tail else ""
        return ("The kernel died while running this cell (for example os._exit, a segmentation fault, "
                f"exit(), or running out of memory), so the cells after it were not run.{detail}")

    def output(self, outs, msg, display_id, cell_index):
        """Keep an output while its cell and the notebook are within their output limits.

        Errors count too; the first error of a cell is always kept (it says why the cell
        failed), cut to :data:`ERROR_KEPT` characters.
        """
        content = msg.get("content", {})
        size = len(json.dumps(content, default=str))
        used = self._output_used.get(cell_index, 0) + size
        total = sum(self._output_used.values()) + size
        if used > self.output_limit or total > self.notebook_output_limit:
            first_error = msg["msg_type"] == "error" and cell_index not in self._errors_kept
            if not first_error:
                self._output_dropped[cell_index] = self._output_dropped.get(cell_index, 0) + size
                return None
            content["evalue"] = str(content.get("evalue", ""))[:ERROR_KEPT]
            content["traceback"] = _tail(content.get("traceback", []), ERROR_KEPT)
            size = len(json.dumps(content, default=str))
        if msg["msg_type"] == "error":
            self._errors_kept.add(cell_index)
        self._output_used[cell_index] = self._output_used.get(cell_index, 0) + size
        return super().output(outs, msg, display_id, cell_index)

    def _write_record(self):
        coursedir = CourseDirectory(config=self.config)
        folder = paths.records_folder(coursedir.root, self._record["assignment"], self._record["student"])
        records.write(folder / "run.json", self._record)


def _tail(lines, limit):
    """The last of ``lines`` (strings) that fit in ``limit`` characters, the first of them cut to fit."""
    kept, used = [], 0
    for line in reversed([str(line) for line in lines or []]):
        if used + len(line) > limit:
            kept.append(line[len(line) - (limit - used):] if limit > used else "")
            break
        kept.append(line)
        used += len(line)
    return kept[::-1]


def _shorten_errors(cell, limit):
    """Cut each error's message to ``limit`` characters and its traceback to its last ``limit``."""
    for output in cell.outputs:
        if output.output_type == "error":
            output.evalue = output.evalue[:limit]
            output.traceback = _tail(output.traceback, limit)
