"""Containing what a submission can do while nbgrader runs it.

nbgrader runs each submission in a Jupyter kernel with the grader's rights: student
code can read the hidden tests, use the network, fill the memory, fork without end,
hang the grader with one loop, and score by replacing what the tests use.
:class:`ContainedExecute` takes the place of nbgrader's ``Execute`` step in
``autograde`` (``nbgrader_config.py`` sets it up) and relies on existing mechanisms:

- **a sandbox per kernel** (:mod:`mlpcourse.sandbox`): ``unshare`` namespaces, a
  root file system with only the system and Python folders, the data cache and a
  scratch copy of the notebook's folder; no network, not even loopback; a user id
  of its own; ``setrlimit`` limits on memory, processes, file size, open files and
  CPU time (``memory_limit``, ``process_limit``, ...);
- **time**: a per-cell timeout (``timeout``, or ``cell_timeouts[grade_id]`` for the
  cells known to be long) and a total per submission (``total_timeout``). A cell
  that runs out is interrupted (nbclient); a kernel that ignores the interrupt for
  ``interrupt_grace`` seconds is killed and the cells after it are marked as not
  run, which scores them 0;
- **crashes** (``os._exit``, a segfault, ``exit()``): the cell is marked with what
  happened and the cells after it as not run; the submission keeps the points of
  the cells before; other submissions never notice (each has its own kernel);
- **output**: at most ``output_limit`` bytes of output per cell are kept;
- **scores**: a test cell that passes in the kernel is run again by the grader with
  trusted code (:mod:`mlpcourse.judge`); it keeps its points only if that passes
  too. Output on stderr no longer zeroes a test cell: a test fails by raising.

What the run did (cells, times, timeouts, crashes, the grader's verdicts, what
student code changed) is written to ``run.json`` (see :mod:`mlpcourse.records`), for
:mod:`mlpcourse.tamper` and the TA.
"""

import json
import os
import pathlib
import secrets
import time
from queue import Empty

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute
from nbconvert.preprocessors.execute import NotebookClient
from traitlets import Bool, Dict, Integer, List, Unicode

from mlpcourse import inkernel, judge, records, sandbox


def _error_output(ename, message):
    return nbformat.v4.new_output("error", ename=ename, evalue=message,
                                  traceback=[f"\x1b[0;31m{ename}\x1b[0m: {message}"])


def _has_error(cell):
    return any(output.output_type == "error" for output in cell.get("outputs", []))


class ContainedExecute(Execute):
    """nbgrader's Execute, run in a sandbox, with time limits per cell and per
    notebook, crash handling, output limits, and test cells re-run by the grader."""

    timeout = Integer(
        120, allow_none=True,
        help="Seconds any one cell may run (unless cell_timeouts names it)").tag(config=True)
    cell_timeouts = Dict(
        {}, help="Seconds for named cells (grade_id -> seconds), e.g. the training cell").tag(config=True)
    total_timeout = Integer(
        1800, help="Seconds all cells of one notebook may run together").tag(config=True)
    interrupt_grace = Integer(
        10, help="Seconds a timed-out cell has to stop after the interrupt before the kernel is killed"
    ).tag(config=True)
    memory_limit = Integer(4 * 2**30, help="Bytes of address space per kernel process").tag(config=True)
    process_limit = Integer(256, help="Processes and threads of one kernel").tag(config=True)
    file_size_limit = Integer(256 * 2**20, help="Largest file the kernel may write (bytes)").tag(config=True)
    open_files_limit = Integer(1024, help="Open files per kernel process").tag(config=True)
    tmp_size = Integer(512 * 2**20, help="Bytes of the kernel's private /tmp").tag(config=True)
    output_limit = Integer(1 * 2**20, help="Bytes of output kept per cell").tag(config=True)
    readable_paths = List(
        Unicode(), [], help="Extra paths the kernel may read").tag(config=True)
    data_env = Dict(
        {}, help="Environment variables naming data folders (name -> folder): the kernel gets them, "
                 "and may read the folders (it has no network to download anything)").tag(config=True)
    hidden_directory = Unicode(
        "", help="Folder of the hidden test modules (never visible to the kernel)").tag(config=True)
    use_sandbox = Bool(
        True, help="Run kernels in a sandbox when the machine allows it").tag(config=True)
    rerun_tests = Bool(
        True, help="Re-run passing test cells in the grader's process. If False, the hidden tests run in "
                   "the kernel as in plain nbgrader, and the kernel can read their folder").tag(config=True)

    # --- setup ---------------------------------------------------------------------

    def _trusted_code(self):
        """The instructor's cells of this notebook (from the gradebook) and modules."""
        info = self.resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
            sources = {cell.name: (cell.source, cell.locked) for cell in notebook.source_cells}
            tests = {cell.name for cell in notebook.grade_cells if cell.cell_type == "code"}
        cells = []
        for cell in self.nb.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and grade_id in sources and (sources[grade_id][1] or grade_id in tests):
                cells.append((grade_id, sources[grade_id][0], grade_id in tests))
        coursedir = CourseDirectory(config=self.config)
        source_dir = coursedir.format_path(coursedir.source_directory, ".", info["assignment"])
        module_dirs = [source_dir] + ([self.hidden_directory] if self.hidden_directory else [])
        return judge.TrustedCode(module_dirs, cells)

    def create_kernel_manager(self):
        self.km = AsyncKernelManager(
            kernel_name=sandbox.SPEC_NAME,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(self._scratch.spec_dir)]),
            transport="ipc", ip=str(self._scratch.kernel_dir / "ipc"),
            connection_file=str(self._scratch.connection_file), config=self.config)
        return self.km

    def _cell_limit(self, cell):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        limit = self.cell_timeouts.get(grade_id, self.timeout) or self.total_timeout
        remaining = self._deadline - time.monotonic()
        return max(1, int(min(limit, remaining)))

    # --- running -------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        info = self.resources["nbgrader"]
        self._record = {"student": info["student"], "assignment": info["assignment"],
                        "notebook": info["notebook"], "cells": [], "observations": [], "incidents": []}
        self._output_used, self._output_dropped = {}, {}
        trusted = self._trusted_code() if self.rerun_tests else None
        mode = sandbox.sandbox_mode() if self.use_sandbox else None
        if mode is None:
            self._incident("the kernel ran without a sandbox (namespaces unavailable or disabled)")
        self._record["sandbox"] = mode
        limits = sandbox.Limits(
            memory=self.memory_limit, processes=self.process_limit, file_size=self.file_size_limit,
            open_files=self.open_files_limit, cpu_seconds=2 * self.total_timeout * (os.cpu_count() or 1),
            tmp_size=self.tmp_size)
        # Hidden test cells import stand-ins that do nothing: the grader's re-run checks.
        stubs = {f"{name}.py": judge.stub_source(checks)
                 for name, checks in (trusted.hidden_checks() if trusted else {}).items()}
        stubs[f"{sandbox.KERNEL_MODULE}.py"] = pathlib.Path(inkernel.__file__).read_text()
        workdir = self.resources.get("metadata", {}).get("path") or "."
        env = dict(os.environ, NBGRADER_EXECUTION=os.environ.get("NBGRADER_EXECUTION", "autograde"))
        env.update({name: str(pathlib.Path(folder).expanduser()) for name, folder in self.data_env.items()})
        readable = [*self.readable_paths, *(env[name] for name in self.data_env)]
        in_kernel = [self.hidden_directory] if trusted is None and self.hidden_directory else []
        self._scratch = sandbox.Scratch(workdir, mode, limits, readable + in_kernel, stubs, env, in_kernel)
        self._judge = judge.Judge(self._scratch.judge_socket, trusted)
        self.timeout_func = self._cell_limit
        # nbclient waits this long for an interrupted cell to stop before giving up on the kernel.
        self.iopub_timeout = self.interrupt_grace
        # The sandbox goes with the kernel: no need to wait for a polite shutdown.
        self.shutdown_kernel = "immediate"
        started = time.monotonic()
        self._stopped = None
        try:
            with self.setup_kernel(env=env, cwd=workdir):
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
                self._silent(f"__import__({sandbox.KERNEL_MODULE!r}).snapshot()", 60)
                self._record["startup_seconds"] = round(time.monotonic() - started, 2)
                self._deadline = time.monotonic() + self.total_timeout
                for index, cell in enumerate(self.nb.cells):
                    self._run_cell(index, cell)
        finally:
            self._judge.close()
            self._record["seconds"] = round(time.monotonic() - started, 2)
            if self._stopped:
                self._record["kernel_log_tail"] = self._scratch.kernel_log()
            self._scratch.remove()
            self._write_record()
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _incident(self, text, index=None):
        self._record["incidents"].append({"cell": index, "what": text})

    def _run_cell(self, index, cell):
        if cell.cell_type != "code" or not cell.source.strip():
            return
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        entry = {"index": index, "grade_id": grade_id, "test": self._is_test(grade_id)}
        self._record["cells"].append(entry)
        if self._stopped is None and self._deadline - time.monotonic() < 1:
            self._stop("the notebook used all of its time", index)
        if self._stopped:
            cell.outputs = [_error_output("NotRun", f"This cell was not run: {self._stopped}.")]
            entry["status"] = "not run"
            return
        started = time.monotonic()
        try:
            self.preprocess_cell(cell, self.resources, index)
            entry["status"] = "error" if _has_error(cell) else "ok"
        except DeadKernelError:
            cell.outputs.append(_error_output("KernelDied", self._death_message()))
            entry["status"] = "kernel died"
            self._stop("the kernel died while running an earlier cell", index)
        except CellTimeoutError:
            cell.outputs.append(_error_output(
                "CellTimeoutError", f"This cell ran longer than {self._cell_limit(cell)} s and did not stop "
                                    "when interrupted, so the kernel was stopped."))
            entry["status"] = "killed after timeout"
            self._stop("the kernel was stopped because an earlier cell did not end", index)
            self._kill_kernel()
        entry["seconds"] = round(time.monotonic() - started, 2)
        if any(o.output_type == "error" and o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            entry["timed_out"] = True
            self._incident(f"cell timed out after {entry['seconds']} s", index)
        dropped = self._output_dropped.pop(index, 0)
        if dropped:
            cell.outputs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"\n[{dropped} bytes of output not kept: limit {self.output_limit}]\n"))
            self._incident(f"output over the limit: {dropped} bytes dropped", index)
        _shorten_errors(cell, self.output_limit)
        if entry["test"]:
            _stderr_to_stdout(cell)
        if self._stopped:
            return
        self._judge.sweep()
        trusted = self._judge.trusted
        if trusted is None or entry["status"] != "ok":
            return
        if entry["test"]:
            self._rerun(index, cell, grade_id, entry)
        elif grade_id in trusted.to_record:
            started = time.monotonic()
            self._session(lambda session: trusted.record(session, grade_id), index, 60)
            entry["record_seconds"] = round(time.monotonic() - started, 2)

    def _is_test(self, grade_id):
        trusted = self._judge.trusted
        return trusted is not None and grade_id in trusted.cells and trusted.cells[grade_id]["is_test"]

    def _rerun(self, index, cell, grade_id, entry):
        hidden = self._judge.trusted.cells[grade_id]["hidden"]
        started = time.monotonic()
        result = self._session(lambda session: self._judge.trusted.rerun(session, grade_id), index,
                               self._cell_limit(cell))
        entry["rerun_seconds"] = round(time.monotonic() - started, 2)
        if "error" in result:
            entry["rerun"] = "no verdict"
            message = (f"The grader could not re-run this test outside your notebook's kernel "
                       f"({result['error']}), so it scores 0.")
        elif result.get("value") is None:
            entry["rerun"] = "passed"
            return
        else:
            entry["rerun"] = "failed"
            message = result["value"]
            if not hidden:
                entry["inconsistent"] = True
                message = ("This test passed in the notebook but failed when the grader re-ran it "
                           f"outside your kernel:\n{message}")
        entry["rerun_message"] = message
        cell.outputs.append(_error_output("CheckFailure", message))

    def _session(self, work, index, timeout):
        """Let the grader run ``work(session)`` against this kernel; return its result."""
        token = secrets.token_hex(16)
        result, done = self._judge.expect(token, work, timeout)
        code = f"__import__({sandbox.KERNEL_MODULE!r}).serve({str(self._scratch.judge_socket)!r}, {token!r})"
        try:
            reply = self._silent(code, timeout + self.interrupt_grace)
        except DeadKernelError:
            reply = None
            self._incident("the kernel died while the grader re-ran a test", index)
            self._stop("the kernel died while the grader re-ran an earlier test", index)
        if reply is None and not self._stopped:
            run_sync(self.km.interrupt_kernel)()
            try:
                reply = self._silent(None, self.interrupt_grace)
            except DeadKernelError:
                reply = None
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

    def _kill_kernel(self):
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
        if msg["msg_type"] != "error":
            size = len(json.dumps(msg.get("content", {}), default=str))
            used = self._output_used.get(cell_index, 0) + size
            if used > self.output_limit:
                self._output_dropped[cell_index] = self._output_dropped.get(cell_index, 0) + size
                return None
            self._output_used[cell_index] = used
        return super().output(outs, msg, display_id, cell_index)

    def _write_record(self):
        coursedir = CourseDirectory(config=self.config)
        folder = records.folder(coursedir.root, self._record["assignment"], self._record["student"])
        records.write(folder / "run.json", self._record)


def _shorten_errors(cell, limit):
    """Cut error messages and traceback lines to ``limit`` characters (error outputs are always kept)."""
    for output in cell.outputs:
        if output.output_type == "error":
            output.evalue = output.evalue[:limit]
            output.traceback = [line[:limit] for line in output.traceback[:200]]


def _stderr_to_stdout(cell):
    """Keep a test cell's stderr output, as stdout: nbgrader would score it 0."""
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == "stderr":
            output.name = "stdout"
            output.text = "".join(f"[stderr] {line}" for line in output.text.splitlines(keepends=True))
