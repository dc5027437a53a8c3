"""Grading a class with W parallel workers, without losing or double-counting a grade.

``python -m mlpcourse grade [--zip ZIP] --workers W`` runs :func:`grade_class`.

nbgrader keeps grades in a SQLite gradebook, which is not safe for several
``nbgrader autograde`` processes writing at once. So each worker grades in a scratch
course directory of its own, with its own copy of the gradebook, and only this
process (one writer) copies the results into the course's gradebook, through
nbgrader's API:

1. every worker gets a scratch course (config, source, release, tests_assets), a
   copy of the course's gradebook, which already holds the assignment's cells, and a
   long-lived grading process in it (``mlpcourse.grading.worker.NbgraderWorker``: it
   imports nbgrader once and runs each student's ``autograde`` and ``generate_feedback``
   as fresh commands, under the grader's memory cap);
2. workers take students from one queue (each student is graded by exactly one
   worker): copy ``submitted/<student>`` in, grade it there with the grading
   pipeline (``mlpcourse.grading.chain.grade_submission``: repair, contained autograde,
   feedback, tamper report), read the student's grades back from the scratch
   gradebook;
3. as each student finishes, this process writes those grades into the course's
   gradebook (``update_or_create_submission``, then every grade and comment, as
   nbgrader's ``SaveAutoGrades`` would: manual scores already given are kept), copies
   the student's result folders over (``autograded/``, ``feedback/``, the pipeline's
   records), and prints a line with the time left;
4. at the end it re-reads the course's gradebook and checks that every graded
   student has exactly one submission whose every grade equals the worker's, and
   prints a summary: graded, failed to grade, why.

Kernels of different workers share the machine's cores: each worker's BLAS gets
``cores // W`` threads so that W kernels do not oversubscribe the CPU.
"""

import concurrent.futures
import contextlib
import dataclasses
import datetime
import json
import os
import pathlib
import queue
import shutil
import sqlite3
import tempfile
import time

from mlpcourse import gradebook, paths, records
from mlpcourse.containment import sandbox
from mlpcourse.grading import cellgrades, chain, coursedir, tamper
from mlpcourse.grading.worker import NbgraderWorker

# Thread-count variables read by the BLAS/OpenMP libraries numpy and scikit-learn use.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclasses.dataclass
class Outcome:
    """What happened to one student's submission."""

    student: str
    graded: bool
    seconds: float
    worker: int
    score: float = 0.0
    max_score: float = 0.0
    reason: str = ""
    flags: list = dataclasses.field(default_factory=list)  # tamper flags, "where: what"
    hung: list = dataclasses.field(default_factory=list)  # functions that did not return, "softmax (30 s)"
    phases: dict = dataclasses.field(default_factory=dict)  # seconds per step: repair, autograde, ..., merge

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Summary:
    """The result of grading a class."""

    outcomes: list
    workers: int
    seconds: float
    assignment: str

    @property
    def graded(self):
        return [o for o in self.outcomes if o.graded]

    @property
    def failed(self):
        return [o for o in self.outcomes if not o.graded]

    def text(self):
        """The end-of-run summary a TA reads: graded, failed to grade, why."""
        n = len(self.outcomes)
        lines = [f"graded {len(self.graded)} of {n} submissions in {_clock(self.seconds)} with "
                 f"{self.workers} worker{'s' * (self.workers > 1)}"
                 + (f" ({self.seconds / n:.1f} s per submission, "
                    f"{60 * n / self.seconds:.1f} per minute)" if n and self.seconds else "")]
        if self.failed:
            lines.append(f"failed to grade {len(self.failed)}:")
            lines += [f"  {o.student}: {o.reason}" for o in self.failed]
        else:
            lines.append("failed to grade: none")
        flagged = [o.student for o in self.outcomes if o.flags]
        report = paths.records_folder("", self.assignment) / "tamper.md"
        lines.append(f"flagged for review {len(flagged)}: {', '.join(flagged)} (see {report})"
                     if flagged else "flagged for review: none")
        return "\n".join(lines)

    def to_dict(self):
        return {"workers": self.workers, "seconds": self.seconds, "assignment": self.assignment,
                "outcomes": [o.to_dict() for o in self.outcomes]}


def submitted_students(course_dir, assignment):
    """Students with a ``submitted/<student>/<assignment>`` folder, sorted."""
    return sorted(p.parent.name for p in pathlib.Path(course_dir).glob(f"submitted/*/{assignment}") if p.is_dir())


def sqlite_path(db_url):
    """The file behind a ``sqlite:///`` URL (this module shards SQLite gradebooks only)."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        raise ValueError(f"{db_url} is not a SQLite gradebook: grade it with mlpcourse.grading.scaleout")
    return pathlib.Path(db_url[len(prefix):])


def copy_gradebook(source_url, destination):
    """Copy a SQLite gradebook consistently (sqlite3's online backup); return the copy's URL."""
    with sqlite3.connect(sqlite_path(source_url)) as src, sqlite3.connect(destination) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return f"sqlite:///{destination}"


def thread_environment(workers, cpus=None):
    """Environment variables giving each of ``workers`` kernels its share of the cores.

    A variable the caller has already set is left alone.
    """
    share = str(max(1, (cpus or os.cpu_count() or 1) // workers))
    return {name: os.environ.get(name, share) for name in THREAD_VARIABLES}


def read_submission(db_url, student, assignment):
    """``student``'s :class:`~mlpcourse.grading.gradebook.Submission` in a worker's gradebook (grading leaves one)."""
    return gradebook.submissions(db_url, assignment, [student])[student]


def result_folders(student, assignment):
    """What grading one submission writes besides the gradebook, relative to the course.

    The graded notebook, the feedback, the pipeline's records (``repair.json``,
    ``run.json``, ``tamper.json``) and the repaired upload.
    """
    return [paths.course_folder("", paths.AUTOGRADED_DIRECTORY, assignment, student),
            paths.course_folder("", paths.FEEDBACK_DIRECTORY, assignment, student),
            paths.RECORDS / assignment / student, paths.REPAIRED / student / assignment]


def copy_results(source, destination, student, assignment):
    """Make ``destination``'s result folders for ``student`` those of ``source`` (absent ones removed)."""
    for folder in result_folders(student, assignment):
        target = pathlib.Path(destination) / folder
        sandbox.remove_tree(target)
        if (pathlib.Path(source) / folder).is_dir():
            shutil.copytree(pathlib.Path(source) / folder, target)


def grade_one(course_dir, student, db_url, assignment, autograded_cells, feedback, env, release, worker=None):
    """Grade one submission with the grading pipeline; return ``(Outcome fields, record)``.

    ``mlpcourse.grading.chain.grade_submission`` repairs the upload, autogrades it
    contained, writes feedback and the tamper report, and always leaves exactly one
    submission in the gradebook (zeros if it could not be graded). ``worker``: the
    course's long-lived :class:`mlpcourse.grading.worker.NbgraderWorker`.
    """
    start = time.perf_counter()
    result = chain.grade_submission(course_dir, student, assignment, db_url=db_url, feedback=feedback,
                                    env=env, release=release, worker=worker)
    read_started = time.perf_counter()
    record = read_submission(db_url, student, assignment)
    score, max_score = record.points(autograded_cells)
    phases = {**result.phases, "report": result.phases.get("report", 0.0) + time.perf_counter() - read_started}
    reason = "" if result.status == "graded" else _one_line(f"{result.status}: {result.reason}")
    return {"graded": result.status == "graded", "seconds": time.perf_counter() - start, "score": score,
            "max_score": max_score, "reason": reason, "flags": result.flags, "hung": result.hung,
            "phases": phases}, record


def zero_one(course_dir, student, db_url, assignment, autograded_cells, feedback, error, seconds):
    """Zero ``student``, whose grading raised ``error``; return ``(Outcome fields, record)``.

    A broken submission folder must not stop the class: it scores 0. The student reads
    that the grader failed; the TA reads why (the reason may name the grader's files).
    """
    chain.zero_submission(course_dir, student, f"the grader failed on this upload ({type(error).__name__}); "
                             "your TA has the details", assignment, db_url, feedback)
    record = read_submission(db_url, student, assignment)
    score, max_score = record.points(autograded_cells)
    return {"graded": False, "seconds": seconds, "score": score, "max_score": max_score,
            "reason": _one_line(f"{type(error).__name__}: {error}")}, record


def _one_line(reason):
    """A reason on one line: its first line, and its last if the first only announces it."""
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    text = lines[0] + (f" {lines[-1]}" if lines[0].endswith(":") and len(lines) > 1 else "")
    return text[:300]


class _Worker:
    """A scratch course directory and its long-lived grading process, in which one worker grades
    one student at a time."""

    def __init__(self, number, root, course_dir, db_url, assignment, env):
        self.number = number
        self.course_dir = pathlib.Path(course_dir)
        self.assignment = assignment
        self.env = env
        self.scratch = coursedir.make_course(pathlib.Path(root) / f"worker{number}", source_root=course_dir)
        self.db_url = copy_gradebook(db_url, self.scratch / "gradebook.db")
        self.nbgrader = NbgraderWorker(self.scratch, env)
        self.nbgrader.start()

    def grade(self, student, autograded_cells, feedback, release):
        """Grade ``student`` here; return ``(Outcome, record)``."""
        started = time.perf_counter()
        target = self.scratch / paths.SUBMITTED_DIRECTORY / student
        sandbox.remove_tree(target)
        shutil.copytree(self.course_dir / paths.SUBMITTED_DIRECTORY / student, target)
        copied = time.perf_counter() - started
        fields, record = grade_one(self.scratch, student, self.db_url, self.assignment, autograded_cells,
                                   feedback, self.env, release, self.nbgrader)
        fields["phases"]["copy"] = copied
        return Outcome(student, worker=self.number, **fields), record

    def zero(self, student, autograded_cells, feedback, error, seconds):
        """Zero ``student`` here (see :func:`zero_one`); return ``(Outcome, record)``."""
        fields, record = zero_one(self.scratch, student, self.db_url, self.assignment, autograded_cells, feedback,
                                  error, seconds)
        return Outcome(student, worker=self.number, **fields), record


def grade_class(course_dir, workers=1, students=None, *, assignment,
                db_url=None, feedback=True, log=print, scratch_dir=None):
    """Grade every submission of ``assignment`` with ``workers`` parallel workers.

    Parameters
    ----------
    course_dir : path
        The nbgrader course directory, with ``submitted/<student>/<assignment>/``
        and a gradebook that holds the assignment (``nbgrader generate_assignment``).
    workers : int
        W, the number of submissions graded at once.
    students : list of str, optional
        Default: every student with a submitted folder.
    db_url : str, optional
        The course's SQLite gradebook (default ``course_dir/gradebook.db``).
    feedback : bool
        Also write each student's feedback (``feedback/<student>/``).
    log : callable
        Receives one progress line per student, then the summary.
    scratch_dir : path, optional
        Where the workers' scratch courses go (default: a temporary folder, removed
        at the end).

    Returns
    -------
    Summary
        Also written as JSON to ``course_dir/build/grading/<assignment>.json``; the
        class tamper report goes where the pipeline puts it.
    """
    course_dir = pathlib.Path(course_dir).resolve()
    db_url = db_url or coursedir.default_db_url(course_dir)
    students = sorted(students if students is not None else submitted_students(course_dir, assignment))
    coursedir.require_release(course_dir, db_url, assignment=assignment)
    autograded_cells = {c["grade_id"] for c in cellgrades.grade_cells(course_dir, db_url, assignment=assignment)
                        if c["kind"] == "auto"}
    release = chain.release_notebook(course_dir, assignment)
    chain.prefetch_data(course_dir, assignment)  # grading kernels have no network
    workers = max(1, min(workers, len(students) or 1))
    env = thread_environment(workers)
    start = time.perf_counter()
    outcomes = []
    with tempfile.TemporaryDirectory(dir=scratch_dir, prefix="grade-") as root, contextlib.ExitStack() as stack:
        idle = queue.Queue()  # each worker's scratch course is used by one thread at a time
        for i in range(workers):
            worker = _Worker(i, root, course_dir, db_url, assignment, env)
            stack.callback(worker.nbgrader.close)
            idle.put(worker)

        def grade(student):
            worker = idle.get()
            started = time.perf_counter()
            try:
                return worker.grade(student, autograded_cells, feedback, release) + (worker,)
            except Exception as error:  # one student's upload, never the class
                return worker.zero(student, autograded_cells, feedback, error,
                                   time.perf_counter() - started) + (worker,)
            finally:
                idle.put(worker)

        log(f"grading {len(students)} submissions of {assignment} with {workers} "
            f"worker{'s' * (workers > 1)} ({env['OMP_NUM_THREADS']} BLAS threads each)")
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor:
            futures = [executor.submit(grade, student) for student in students]
            # The one writer: only this loop touches the course's gradebook and folders.
            for future in concurrent.futures.as_completed(futures):
                outcome, record, worker = future.result()
                merged = time.perf_counter()
                if record is not None:
                    gradebook.merge(db_url, record, assignment)
                    copy_results(worker.scratch, course_dir, outcome.student, assignment)
                outcome.phases["merge"] = time.perf_counter() - merged
                outcomes.append(outcome)
                log(progress_line(outcome, len(outcomes), len(students), time.perf_counter() - start))
    summary = Summary(sorted(outcomes, key=lambda o: o.student), workers, time.perf_counter() - start, assignment)
    problems = verify(course_dir, summary, db_url)
    if problems:
        raise RuntimeError("the gradebook does not match what the workers graded:\n" + "\n".join(problems))
    tamper.class_report(course_dir, students, assignment)
    write_log(course_dir, summary)
    log(summary.text())
    return summary


def progress_line(outcome, done, total, elapsed):
    """One line of progress: the student, the outcome, elapsed time and an estimate of the time left."""
    left = elapsed / done * (total - done)
    if outcome.graded:
        what = f"graded {outcome.score:g}/{outcome.max_score:g}"
    else:
        what = f"FAILED ({outcome.reason})"
    if outcome.hung:
        what += f", did not return: {', '.join(outcome.hung)}"
    if outcome.flags:
        what += f", {len(outcome.flags)} tamper flag{'s' * (len(outcome.flags) > 1)}"
    return (f"[{done:{len(str(total))}d}/{total}] {outcome.student}: {what} in {outcome.seconds:.1f} s"
            f" | elapsed {_clock(elapsed)}, about {_clock(left)} left")


def _clock(seconds):
    return str(datetime.timedelta(seconds=round(seconds)))


def verify(course_dir, summary, db_url=None):
    """Problems found by comparing the gradebook with the workers' outcomes (empty if none).

    Every graded student must have a submission in the gradebook, with a grade for
    every grade cell and none other, and autograded points equal to the worker's.
    """
    db_url = db_url or coursedir.default_db_url(course_dir)
    assignment = summary.assignment
    cells = cellgrades.grade_cells(course_dir, db_url, assignment=assignment)
    autograded = {c["grade_id"] for c in cells if c["kind"] == "auto"}
    cells = {c["grade_id"] for c in cells}
    found = gradebook.submissions(db_url, assignment)
    problems = []
    for outcome in summary.graded:
        if outcome.student not in found:
            problems.append(f"{outcome.student}: no submission in the gradebook")
            continue
        names = sorted(found[outcome.student].grades)
        if names != sorted(cells):
            problems.append(f"{outcome.student}: grades for {names}, expected one per cell {sorted(cells)}")
        auto, _ = found[outcome.student].points(autograded)
        if abs(auto - outcome.score) > 1e-9:
            problems.append(f"{outcome.student}: {auto:g} autograded points in the gradebook, "
                            f"the worker gave {outcome.score:g}")
    return problems


def log_path(course_dir, assignment):
    """Where ``grade_class`` writes its outcomes (read by the class report)."""
    return pathlib.Path(course_dir) / paths.BUILD_DIRECTORY / "grading" / f"{assignment}.json"


def read_log(course_dir, assignment):
    """The ``Summary`` of the last class grading of ``assignment``, or None if there was none."""
    path = log_path(course_dir, assignment)
    if not path.exists():
        return None
    log = json.loads(path.read_text())
    return Summary([Outcome(**o) for o in log["outcomes"]], log["workers"], log["seconds"], log["assignment"])


def write_log(course_dir, summary):
    return records.write(log_path(course_dir, summary.assignment), summary.to_dict())
