"""The TA's grading chain for one submission: repair -> autograde (contained) -> feedback -> tamper report.

``python -m mlpcourse grade`` runs it for every student of a class, W at a time
(``mlpcourse.grading.classroom.grade_class``), after collecting the LMS zip
(``mlpcourse.grading.collect``).

Contract of :func:`grade_submission` (for callers such as parallel workers)
-------------------------------------------------------------------------
``grade_submission(course_dir, student, assignment, *, db_url=None,
feedback=True, env=None, release=None, worker=None)`` grades one submission and returns a
:class:`SubmissionResult` (status, reason, score, per-cell scores, tamper flags). It

- reads ``submitted/<student>/<assignment>/<assignment>.ipynb`` and never writes
  anything under ``submitted/``;
- writes the repaired copy to ``build/repaired/<student>/<assignment>/``, the graded
  notebook to ``autograded/<student>/<assignment>/``, the feedback (if ``feedback``)
  to ``feedback/<student>/<assignment>/``, and ``repair.json``, ``run.json`` and
  ``tamper.json`` to ``build/submissions/<assignment>/<student>/``;
- leaves the gradebook (``db_url``, default ``course_dir/gradebook.db``) with one
  submission for the student, every grade cell scored: 0 everywhere if the upload is
  missing, unreadable, or could not be graded within its time;
- never raises because of what a submission contains; RuntimeError means the
  course is not ready (no release; autograde not contained by nbgrader_config.py);
- passes ``env`` (extra environment variables, e.g. BLAS thread counts) to nbgrader
  and the kernel;
- runs ``nbgrader autograde --student`` (and ``generate_feedback``) in ``worker``, a
  long-lived grading process of the course directory (:mod:`mlpcourse.grading.worker`:
  nbgrader imported once, a fresh command per student, the grader's memory cap), or
  in a worker started for this submission alone. nbgrader's SQLite gradebook is
  not safe for concurrent writers, so parallel callers each use their own course
  directory, gradebook copy and worker, then copy back ``autograded/<student>`` and
  ``build/submissions/<assignment>/<student>`` and merge the grades.
"""

import contextlib
import dataclasses
import html
import pathlib
import shutil
import time

from mlpcourse import gradebook, paths, records
from mlpcourse.containment import sandbox
from mlpcourse.grading import coursedir, repair, tamper

# Seconds nbgrader needs around the notebook's own run (start-up, sanitising, saving).
NBGRADER_OVERHEAD = 180


@dataclasses.dataclass
class SubmissionResult:
    """What grading one submission gave."""

    student: str
    status: str  # "graded", "unreadable", "no notebook", "failed"
    reason: str = ""
    score: float = 0.0
    max_score: float = 0.0
    cells: dict = dataclasses.field(default_factory=dict)  # grade_id -> (score, max_score)
    flags: list = dataclasses.field(default_factory=list)
    hung: list = dataclasses.field(default_factory=list)  # "softmax (30 s)": functions that did not return
    seconds: float = 0.0
    phases: dict = dataclasses.field(default_factory=dict)  # seconds per step: "repair", "autograde", ...


def config_value(course_dir, section, name, default):
    """A value from the course's ``nbgrader_config.py`` (the default if it sets none)."""
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    except Exception:
        return default
    return config[section].get(name, default) if section in config else default


# The reason a TA reads when nbgrader itself failed (its log's tail follows), and the one a student reads.
NBGRADER_FAILED_PREFIX = "nbgrader autograde failed:"
NBGRADER_FAILED = "the grader could not finish grading this notebook; your TA has the details"


def run_nbgrader(course_dir, args, timeout, env=None):
    """Run ``nbgrader ARGS`` once in ``course_dir``, stopped with its kernels after ``timeout`` s.

    The command runs in a grading worker of its own (:class:`mlpcourse.grading.worker.NbgraderWorker`),
    under the grader's memory cap (``c.ContainedExecute.grader_memory_limit``): should it ever
    run away (whatever the wire format's limits missed), it gets a MemoryError and this
    student is zeroed with the reason, instead of the machine's OOM killer choosing
    among every grading. Returns ``(returncode or None on timeout, output)``. To run many
    commands, keep one worker and call its ``run``: it imports nbgrader once.
    """
    from mlpcourse.grading.worker import NbgraderWorker

    with NbgraderWorker(course_dir, env) as worker:
        return worker.run(args, timeout)


def _failure_tail(output, lines=12):
    useful = [line for line in output.splitlines() if "WARNING] Attribute 'checksum'" not in line]
    return "\n".join(useful[-lines:])


def release_notebook(course_dir, assignment):
    """The released notebook (``nbgrader generate_assignment`` must have run)."""
    path = paths.course_folder(course_dir, paths.RELEASE_DIRECTORY, assignment) / f"{assignment}.ipynb"
    if not path.exists():
        raise RuntimeError(f"{path} does not exist: run `python -m mlpcourse release` first")
    return repair.read_upload(path.read_bytes())


def repair_submission(course_dir, student, assignment, release=None):
    """Write the repaired copy of a student's upload; return ``(status, reason)``.

    ``status`` is ``"repaired"``, ``"unreadable"`` or ``"no notebook"``; the log goes
    to ``repair.json``. Whatever the upload holds, it raises only if the course is not
    ready (no release).
    """
    from mlpcourse.grading import collect

    course_dir = pathlib.Path(course_dir)
    folder = paths.course_folder(course_dir, paths.SUBMITTED_DIRECTORY, assignment, student)
    target = course_dir / paths.REPAIRED / student / assignment
    sandbox.remove_tree(target)
    upload = folder / f"{assignment}.ipynb"
    log_path = paths.records_folder(course_dir, assignment, student) / "repair.json"
    if not upload.exists():
        if (folder / collect.NO_NOTEBOOK).exists():  # collect says why (e.g. an archive it could not open)
            reason = "; ".join((folder / collect.NO_NOTEBOOK).read_text().splitlines())
        else:
            others = sorted(p.name for p in folder.glob("*") if p.name != "timestamp.txt") if folder.exists() else []
            reason = "no notebook was uploaded" + (f" (only {', '.join(others)})" if others else "")
        records.write(log_path, {"status": "no notebook", "reason": reason, "log": []})
        return "no notebook", reason
    release = release or release_notebook(course_dir, assignment)
    try:
        nb, log = repair.repair(repair.read_upload(upload.read_bytes()), release)
    except repair.RepairError as error:
        records.write(log_path, {"status": "unreadable", "reason": str(error), "log": []})
        return "unreadable", f"{upload.name}: {error}"
    except Exception as error:  # a repair bug this upload meets must cost this student only
        reason = f"the notebook could not be repaired ({type(error).__name__}); tell your TA"
        records.write(log_path, {"status": "unreadable", "reason": f"{reason}: {error}", "log": []})
        return "unreadable", f"{upload.name}: {reason}"
    target.mkdir(parents=True)
    import nbformat

    nbformat.write(nb, str(target / f"{assignment}.ipynb"))
    if (folder / "timestamp.txt").exists():
        shutil.copyfile(folder / "timestamp.txt", target / "timestamp.txt")
    extra = sorted(p.name for p in folder.glob("*") if p.name not in (upload.name, "timestamp.txt"))
    if extra:
        log.append({"action": "ignored", "grade_id": None,
                    "detail": f"other uploaded files are not given to the kernel: {', '.join(extra)}"})
    records.write(log_path, {"status": "repaired", "reason": "", "log": log})
    return "repaired", ""


def zero_submission(course_dir, student, reason, assignment, db_url=None, feedback=True):
    """Record a submission that could not be graded: every grade cell scores 0; with ``feedback``, a page says why."""
    gradebook.zero(db_url or coursedir.default_db_url(course_dir), student, assignment, reason)
    sandbox.remove_tree(paths.course_folder(course_dir, paths.AUTOGRADED_DIRECTORY, assignment, student))
    if feedback:
        _write_failure_feedback(course_dir, student, assignment, reason)


def _write_failure_feedback(course_dir, student, assignment, reason):
    folder = paths.course_folder(course_dir, paths.FEEDBACK_DIRECTORY, assignment, student)
    sandbox.remove_tree(folder)
    folder.mkdir(parents=True)
    (folder / f"{assignment}.html").write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Feedback: {0}</title></head><body>"
        "<h1>{0}: your upload could not be graded</h1><p>{1}</p><p>Score: 0. Upload the notebook "
        "(<code>{0}.ipynb</code>, saved from Jupyter or Colab with <em>File &rarr; Download "
        "&rarr; .ipynb</em>) and ask your TA to grade it again.</p></body></html>\n".format(
            html.escape(assignment), html.escape(reason)))


def _autograde(course_dir, student, assignment, db_url, worker):
    """Autograde a student's repaired upload with nbgrader in ``worker``; return ``(status, reason)``.

    The student is graded when the contained run wrote its record (``run.json``) and
    nbgrader wrote the graded notebook (it removes it when grading fails).
    """
    total = config_value(course_dir, "ContainedExecute", "total_timeout", 1800)
    args = ["autograde", assignment, "--force", "--student", student,
            f"--CourseDirectory.submitted_directory={paths.REPAIRED}"]
    if db_url:
        args.append(f"--CourseDirectory.db_url={db_url}")
    code, output = worker.run(args, total + NBGRADER_OVERHEAD)
    contained = (paths.records_folder(course_dir, assignment, student) / "run.json").exists()
    if contained and paths.course_notebook(course_dir, paths.AUTOGRADED_DIRECTORY, assignment, student).exists():
        return "graded", ""
    if code == 0 and not contained:
        raise RuntimeError("nbgrader autograde ran without mlpcourse.containment.contain.ContainedExecute: "
                           f"check {course_dir / 'nbgrader_config.py'}")
    return "failed", ("grading took longer than the limit and was stopped" if code is None
                      else f"{NBGRADER_FAILED_PREFIX}\n{_failure_tail(output)}")


def grade_submission(course_dir, student, assignment, *, db_url=None, feedback=True, env=None,
                     release=None, worker=None):
    """Repair, autograde (contained), give feedback and report on one submission.

    See the module docstring for the contract. ``release`` (the released notebook)
    may be passed to save reading it once per student. ``worker``: the
    :class:`mlpcourse.grading.worker.NbgraderWorker` of ``course_dir`` that runs the nbgrader
    commands (its own ``env`` applies); without one, a worker is started for this
    submission alone.
    """
    from mlpcourse.grading.worker import NbgraderWorker

    course_dir = pathlib.Path(course_dir).resolve()
    started = time.monotonic()
    phases = {}
    step = _stopwatch(phases)
    with contextlib.ExitStack() as stack:
        worker = worker or stack.enter_context(NbgraderWorker(course_dir, env))
        with step("repair"):
            (paths.records_folder(course_dir, assignment, student) / "run.json").unlink(missing_ok=True)
            status, reason = repair_submission(course_dir, student, assignment, release)
        if status == "repaired":
            with step("autograde"):
                status, reason = _autograde(course_dir, student, assignment, db_url, worker)
        if status != "graded":
            # Zero what could not be graded, and tell the student why. nbgrader's own log is for
            # the TA only: written after the hidden re-runs, it may quote what the kernel sent.
            shown = NBGRADER_FAILED if reason.startswith(NBGRADER_FAILED_PREFIX) else reason
            with step("feedback"):
                zero_submission(course_dir, student, shown, assignment, db_url, feedback)
        elif feedback:
            args = ["generate_feedback", assignment, "--student", student, "--force"]
            if db_url:
                args.append(f"--CourseDirectory.db_url={db_url}")
            with step("feedback"):
                code, output = worker.run(args, NBGRADER_OVERHEAD)
            if code != 0:
                reason = f"feedback could not be generated:\n{_failure_tail(output)}"
    with step("report"):
        found = tamper.report(course_dir, student, assignment)
        run = records.read(paths.records_folder(course_dir, assignment, student) / "run.json") or {}
        cells = coursedir.cell_scores(course_dir, assignment, db_url, [student]).get(student, {})
    return SubmissionResult(
        student=student, status=status, reason=reason,
        score=sum(score for score, _ in cells.values()), max_score=sum(full for _, full in cells.values()),
        cells=cells, flags=[f"{f['where']}: {f['what']}" for f in found["flags"]],
        hung=[f"{hung['function']} ({hung['seconds']} s)" for hung in run.get("hung", [])],
        seconds=round(time.monotonic() - started, 1), phases=phases)


def _stopwatch(phases):
    """``step(name)``: a context manager adding the seconds its block takes to ``phases[name]``."""
    @contextlib.contextmanager
    def step(name):
        started = time.perf_counter()
        try:
            yield
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - started

    return step


def prefetch_data(course_dir, assignment, log=print):
    """Fill and verify the dataset cache before grading anyone: kernels have no network.

    :func:`mlpcourse.grading.dataset.prepare`: the data the assignment's description
    names (none: nothing to do), with its own loader and checksums. Raises
    ``dataset.DataUnavailable`` (one line: what failed, the setting that fixes it)
    rather than let every notebook lose the points that need the data.
    """
    from mlpcourse.grading import dataset

    return dataset.prepare(course_dir, assignment, log)
