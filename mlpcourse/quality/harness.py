"""The fast grading harness: a catalogue entry through the master's own test cells.

For each entry (a buggy or a correct rewrite of one graded function, see
:mod:`mlpcourse.quality.catalogue`) the harness plays the part of ``nbgrader autograde`` on a
submission whose target solution cell holds the master's solution followed by the
entry's source (which redefines just that function or class):

- it executes the master notebook's code cells in order, as the grading kernel does
  after nbgrader restores the locked cells, in one namespace, up to (not including)
  the first cell that needs the assignment's data (its description's
  ``data.first_cell``; all of them for an assignment without data): asg01's training
  needs the digits and ~10 s, and its grade cell depends on every function at once
  (see :func:`skipped_grade_cells`);
- it scores every grade cell as this course's contained autograde does
  (:mod:`mlpcourse.containment.contain`): by verdicts only. A test cell keeps its points if it
  raised nothing where the kernel runs it (hidden checks are stand-ins there) and
  nothing when run again with the real hidden checks: visible tests right after
  their cell, hidden tests after the last cell. Nothing a cell prints or returns
  counts;
- each entry runs in its own forked process (a mutant may patch numpy or
  ``sys.modules``), in a fresh copy of ``source/<assignment>`` as working directory and
  with ``tests_assets/<assignment>`` importable, like a grading kernel under ``nbgrader_config.py``;
  an entry that runs longer than ``ENTRY_TIMEOUT`` is killed and scores 0 on the grade
  cells it had not reached.

Workers are separate interpreters (``python -m mlpcourse.quality.harness``), so nothing of the
caller's state (pytest's warning filters, say) leaks into the cells. The agreement of
this fast path with real ``nbgrader autograde`` is tested on a sample of entries
(:func:`autograde`, ``tests/test_harness.py``).
"""

import ast
import dataclasses
import importlib
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from mlpcourse import assignment, paths
from mlpcourse.authoring import notebook
from mlpcourse.containment import judge

# An entry takes about 0.3 s; one that loops forever is stopped after this many seconds.
ENTRY_TIMEOUT = 60.0
WORKERS = 2


@dataclasses.dataclass(frozen=True)
class Cell:
    """One code cell of the master: its grade_id, source and autograded points (or None)."""

    grade_id: str
    source: str
    points: float | None


def _points(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
        return float(meta["points"])
    return None


def fast_path_cells(nb=None, described=None):
    """The master's code cells that the fast path executes, in order.

    Parameters
    ----------
    nb : NotebookNode, optional
        The master notebook; read from ``source/`` when omitted.
    described : assignment.Assignment, optional
        Its description; the course's assignment when omitted.

    Returns
    -------
    list of Cell
        Every code cell before the first that needs the data (every one without data).
    """
    described = described or assignment.load()
    data_section = described.data.first_cell if described.data else None
    cells = []
    for cell in (nb or notebook.read(described.master)).cells:
        if data_section and notebook.grade_id(cell) == data_section:
            return cells
        if cell.cell_type == "code":
            cells.append(Cell(notebook.grade_id(cell), cell.source, _points(cell)))
    if data_section:
        raise ValueError(f"the master notebook has no {data_section!r} cell (data.first_cell of its description)")
    return cells


def grade_cells(nb=None, described=None):
    """``{grade_id: points}`` of the autograded cells the fast path scores."""
    return {cell.grade_id: cell.points for cell in fast_path_cells(nb, described) if cell.points is not None}


def skipped_grade_cells(nb=None, described=None):
    """``{grade_id: points}`` of the autograded cells from the first that needs the data on.

    For asg01 only ``test_training``: it trains the student's whole network on the
    digits, so a bug in any function may cost its points. The fast path leaves such
    cells out of the kill matrix and of the fairness figure; the real-nbgrader sample
    reports them.
    """
    described = described or assignment.load()
    nb = nb or notebook.read(described.master)
    ids = {cell.grade_id for cell in fast_path_cells(nb, described)}
    return {notebook.grade_id(cell): _points(cell) for cell in nb.cells
            if _points(cell) is not None and notebook.grade_id(cell) not in ids}


def solution_source(original, replacement):
    """The source of a submission's solution cell: the master's solution, then the entry.

    Executing the original first keeps everything the entry does not redefine (the
    other function of ``relu_sigmoid``, ``MLP.add_layer``) exactly as in the master.
    Both the fast path and :func:`submission` use this, so they grade the same text.
    """
    return f"{original.rstrip()}\n\n# --- catalogue entry ---\n{replacement.strip()}\n"


def submission(release_nb, entry, master_nb=None, described=None):
    """A student notebook for ``entry``: the solved release with the entry pasted in."""
    described = described or assignment.load()
    master_nb = master_nb or notebook.read(described.master)
    cell = described.functions[entry.function].cell
    result = notebook.solved(release_nb, master_nb)
    target = notebook.cells_by_grade_id(result)[cell]
    target.source = solution_source(notebook.cells_by_grade_id(master_nb)[cell].source, entry.source)
    return result


def feedback_problems(entry, result, described=None):
    """What is missing from the visible tests' messages about ``entry`` (empty if fine).

    When an entry fails its function's visible test, the student reads that message:
    it must name the function and the input case, and show the discrepancy (an
    expected shape or value against the one got, or the exception raised), with a hint
    when the values are wrong. Points lost through stderr output teach nothing.

    Parameters
    ----------
    entry : catalogue.Entry
    result : dict
        The entry's result from :func:`run`.
    described : assignment.Assignment, optional
        The assignment's description; the course's when omitted.
    """
    function = (described or assignment.load()).functions[entry.function]
    problems = []
    for grade_id in function.visible:
        grade = result["grades"][grade_id]
        if grade["score"] >= grade["max"]:
            continue
        message = grade["message"] or ""
        checks = [
            (function.name in message, f"does not name {function.name}"),
            ("case: " in message, "does not name the input case"),
            (any(word in message for word in ("expected", "should", "raised")),
             "shows no discrepancy (expected against got, or the exception)"),
            ("wrong values" not in message or "hint: " in message, "gives no hint for wrong values"),
            (not message.startswith("stderr: "), "costs points through stderr output, not a failed check"),
        ]
        problems += [f"{entry.id}: the visible message {problem}:\n{message}" for ok, problem in checks if not ok]
    return problems


def run(entries, *, workers=WORKERS, timeout=ENTRY_TIMEOUT, nb=None, described=None):
    """Grade every entry with the fast path.

    Parameters
    ----------
    entries : iterable of catalogue.Entry
        Anything with ``id``, ``function`` (a graded function of the description) and ``source``.
    workers : int
        Worker processes running entries side by side.
    timeout : float
        Seconds an entry may run.
    nb : NotebookNode, optional
        The master notebook; read from ``source/`` when omitted.
    described : assignment.Assignment, optional
        The assignment's description; the course's when omitted.

    Returns
    -------
    dict
        ``{entry_id: {"grades": {grade_id: {"score": float, "max": float, "message": str
        or None}}, "errors": {grade_id: str}}}``: every grade cell of :func:`grade_cells`,
        with the error (or stderr text) that cost its points, and the errors raised by
        cells that are not graded (a demo cell that uses a buggy function, say).
    """
    entries = list(entries)
    described = described or assignment.load()
    cells = fast_path_cells(nb, described)
    with tempfile.TemporaryDirectory(prefix="mlpcourse-harness-") as scratch:
        scratch = pathlib.Path(scratch)
        ignore = shutil.ignore_patterns("*.ipynb", "__pycache__", ".ipynb_checkpoints", assignment.DESCRIPTION)
        shutil.copytree(described.source, scratch / "assignment", ignore=ignore)
        shutil.copytree(described.tests_assets, scratch / paths.HIDDEN_DIRECTORY, ignore=ignore)
        job = {
            "assignment": str(scratch / "assignment"),
            "tests_assets": str(scratch / paths.HIDDEN_DIRECTORY),
            "cells": [dataclasses.asdict(cell) for cell in cells],
            "helper_module": described.helper_module,
            "hidden_modules": [described.hidden_module] if described.hidden_module else [],
            "preload": described.harness_preload,
            "timeout": timeout,
        }
        shares = [entries[i::workers] for i in range(workers)]
        env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
        processes = []
        for number, share in enumerate(shares):
            if not share:
                continue
            job_file = scratch / f"job{number}.json"
            job_file.write_text(json.dumps({
                **job,
                "workdir": str(scratch / f"worker{number}"),
                "entries": [{"id": e.id, "cell": described.functions[e.function].cell, "source": e.source}
                            for e in share],
            }))
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "mlpcourse.quality.harness", str(job_file)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        results = {}
        for process in processes:
            out, err = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"harness worker failed (exit {process.returncode}):\n{err[-4000:]}")
            for line in out.splitlines():
                record = json.loads(line)
                results[record.pop("id")] = record
    return {entry.id: results[entry.id] for entry in entries}


def autograde(entries, course_dir, nb=None, name=None):
    """Grade ``entries`` with real ``nbgrader autograde``, one student per entry.

    The slow path the fast one is checked against: each entry becomes the submission
    of student ``entry.id`` (:func:`submission`) in the course directory ``course_dir``
    (a copy made by ``coursedir.make_course``), after ``nbgrader generate_assignment`` has
    recorded the assignment in its gradebook; one ``nbgrader autograde`` call grades them
    all, training cell included. ``name`` is the assignment (default: the course's only one).

    Returns
    -------
    dict
        ``{entry_id: {grade_id: score}}`` for every autograded cell, from the gradebook.
    """
    from mlpcourse.authoring import release
    from mlpcourse.grading import coursedir

    described = assignment.load(course_dir, name)
    master = nb or notebook.read(described.master)
    release_nb = notebook.read(release.generate(course_dir, described.name) / described.notebook_name)
    for entry in entries:
        coursedir.submit(course_dir, entry.id, submission(release_nb, entry, master, described), described.name)
    coursedir.nbgrader("autograde", described.name, "--force", course_dir=course_dir)
    scores = coursedir.cell_scores(course_dir, described.name)
    autograded = {**grade_cells(master, described), **skipped_grade_cells(master, described)}
    return {entry.id: {cell: score for cell, (score, _) in scores[entry.id].items() if cell in autograded}
            for entry in entries}


# ---------------------------------------------------------------------------
# Worker side: runs in `python -m mlpcourse.quality.harness JOB.json`, prints one JSON line
# per entry.

def _silence_output():
    """Send this process's file descriptors 1 and 2 (Python and C writes) to /dev/null.

    The worker's stdout carries its results: nothing a cell prints may reach it.
    """
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(null, fd)
    os.close(null)


def _execute(source, namespace, filename):
    """Run one cell like a kernel; return the exception it raised, or None."""
    try:
        tree = ast.parse(source, filename)
        # Like IPython, the value of a final expression is evaluated (and shown: not scored).
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, filename, "exec"), namespace)
            eval(compile(last, filename, "eval"), namespace)
        else:
            exec(compile(tree, filename, "exec"), namespace)
    except BaseException as error:  # noqa: B036 (a kernel reports SystemExit too)
        return error
    return None


_ABSENT = object()


def _child(job, entry, write_fd):
    """Execute the cells for one entry; send one JSON line per cell to write_fd."""
    os.chdir(job["workdir"])
    hidden = {name: sys.modules[name] for name in job["hidden_modules"]}
    # What the kernel imports: the hidden checks run only in the grader's re-run.
    sys.modules.update({name: judge.stub_module(module) for name, module in hidden.items()})
    _silence_output()
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    deferred = []  # hidden tests that passed in the "kernel": re-run after the last cell

    def rerun(number, cell, source):
        # The grader's run sees the state the kernel's left (class attributes, say), but
        # imports the real hidden checks; the kernel's modules are put back after.
        kernel_state = {name: sys.modules.get(name, _ABSENT) for name in hidden}
        sys.modules.update(hidden)
        error = _execute(source, namespace, f"<cell {number} {cell['grade_id']}, re-run>")
        for name, module in kernel_state.items():
            if module is _ABSENT:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        if error is None:
            report(cell, None)
        elif judge.HIDDEN_BEGIN in source:
            report(cell, judge.hidden_message(error) if isinstance(error, AssertionError) else judge.HIDDEN_UNEXPECTED)
        else:
            report(cell, f"in the grader's re-run: {type(error).__name__}: {error}")

    def report(cell, message):
        score = cell["points"] if message is None else 0.0
        channel.write(json.dumps({"grade_id": cell["grade_id"], "score": score,
                                  "max": cell["points"], "message": message}) + "\n")

    with os.fdopen(write_fd, "w", buffering=1) as channel:
        for number, cell in enumerate(job["cells"]):
            source = cell["source"]
            if cell["grade_id"] == entry["cell"]:
                source = solution_source(source, entry["source"])
            error = _execute(source, namespace, f"<cell {number} {cell['grade_id']}>")
            if cell["points"] is None:
                if error is not None:
                    channel.write(json.dumps({"grade_id": cell["grade_id"], "ungraded_error":
                                              f"{type(error).__name__}: {error}"}) + "\n")
            elif error is not None:
                report(cell, f"{type(error).__name__}: {error}")
            elif judge.HIDDEN_BEGIN in source:
                deferred.append((number, cell, source))
            else:
                rerun(number, cell, source)
        for number, cell, source in deferred:
            rerun(number, cell, source)


def _run_entry(job, entry):
    """Fork a child for ``entry``, collect its grade cells, kill it after the timeout."""
    # A fresh working directory for every entry, at the same path (see _worker).
    shutil.rmtree(job["workdir"])
    shutil.copytree(job["assignment"], job["workdir"])
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        code = 0
        try:
            _child(job, entry, write_fd)
        except BaseException:  # noqa: B036 (report, never return into the worker's loop)
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    deadline = time.monotonic() + job["timeout"]
    buffer, status = b"", None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            status = f"the entry ran longer than {job['timeout']:g} s and was stopped"
            break
        ready, _, _ = select.select([read_fd], [], [], left)
        if ready:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            buffer += chunk
    os.close(read_fd)
    _, wait_status = os.waitpid(pid, 0)
    if status is None and wait_status != 0:
        status = f"the grading process died (wait status {wait_status})"
    grades, errors = {}, {}
    for line in buffer.decode().splitlines():
        record = json.loads(line)
        grade_id = record.pop("grade_id")
        if "ungraded_error" in record:
            errors[grade_id] = record["ungraded_error"]
        else:
            grades[grade_id] = record
    for cell in job["cells"]:
        if cell["points"] is not None and cell["grade_id"] not in grades:
            grades[cell["grade_id"]] = {"score": 0.0, "max": cell["points"],
                                        "message": status or "the cell was not run"}
    return {"grades": grades, "errors": errors}


def _worker(job_file):
    """Grade the entries of ``job_file`` one after the other, one forked child each.

    The children run in ``job["workdir"]``, like a kernel in the submission's folder.
    Before forking, the worker imports the helper and hidden modules and runs the
    description's ``harness.preload`` (asg01's reads the fixture files once, which
    ``asg01_checks.read_only_arrays`` caches per path, read-only), so every child starts
    where a kernel would be after its first import, minus the file reads; a child's
    changes to those modules die with it.
    """
    job = json.loads(pathlib.Path(job_file).read_text())
    shutil.copytree(job["assignment"], job["workdir"])
    os.chdir(job["workdir"])
    sys.path[:0] = [job["workdir"], job["tests_assets"]]
    for name in ([job["helper_module"]] if job["helper_module"] else []) + job["hidden_modules"]:
        importlib.import_module(name)
    exec(compile(job["preload"], "<harness.preload of the description>", "exec"), {"HIDDEN_FOLDER": job["tests_assets"]})
    for entry in job["entries"]:
        sys.stdout.write(json.dumps({"id": entry["id"], **_run_entry(job, entry)}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _worker(sys.argv[1])
