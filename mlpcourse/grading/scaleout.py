"""Grading thousands of submissions: Dask distributed tasks and a PostgreSQL gradebook.

For a class too large for one machine, grading runs on an existing engine rather
than a home-made one: `Dask distributed <https://distributed.dask.org>`_. One task
grades one shard of students; the scheduler hands tasks to whichever worker is free,
retries the tasks of a worker that died, and shows progress on its dashboard. A
``LocalCluster`` runs the same code on one machine (the tests do); in production
``dask.distributed.Client("tcp://scheduler:8786")`` connects to a cluster started with
``dask scheduler`` / ``dask worker`` on the grading machines, or through
dask-jobqueue on a SLURM or PBS cluster.

Several graders write at once, so the gradebook is a PostgreSQL database, which
nbgrader supports through ``CourseDirectory.db_url`` (any SQLAlchemy URL; name the
driver: ``postgresql+psycopg2://``). Each task grades its students one by one in a
scratch course on its worker with the grading pipeline (``classroom.grade_one``:
repair, contained ``nbgrader autograde --CourseDirectory.db_url=URL``, feedback,
tamper report), whose nbgrader commands run in one long-lived grading process per
task (``mlpcourse.grading.worker``, as in ``classroom``), and every nbgrader command
writes its own student's rows in its own transactions. Students are disjoint between
tasks, so no two writers touch the same row.

What travels where: a task receives its students' submitted files as bytes and
returns the graded notebooks, feedback and records as bytes, which the client
writes into the course folder; so workers need no shared file system for results.
Each worker needs read access to the course's inputs (``nbgrader_config.py``,
``source/``, ``release/``, ``tests_assets/``: a shared folder or the worker's
image), the same Python environment, and the data cache the notebook reads
(``KANNADA_MNIST_DIR``). Credentials belong in ``~/.pgpass`` or the server's
``pg_hba.conf``, not in the URL.

``local_postgres()`` starts a throwaway PostgreSQL server on 127.0.0.1 from the
distribution's packages (``apt-get install postgresql``), for tests and trials.
"""

import contextlib
import glob
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time

from nbgrader.api import Gradebook, MissingEntry

from mlpcourse import paths
from mlpcourse.containment import sandbox
from mlpcourse.grading import classroom, coursedir
from mlpcourse.grading.worker import NbgraderWorker


def shards(students, count):
    """Split ``students`` into ``count`` shards of nearly equal size (round robin)."""
    count = max(1, min(count, len(students)))
    return [students[i::count] for i in range(count)]


def _files(folder):
    """``{relative path: bytes}`` of every file under ``folder``."""
    folder = pathlib.Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def grade_shard(course_inputs, db_url, submissions, assignment, env=None, feedback=True):
    """Grade one shard of students on a Dask worker; the gradebook is ``db_url``.

    Each student goes through the grading pipeline (``classroom.grade_one``) in a
    scratch course on the worker, one after another in one long-lived grading process
    (:class:`mlpcourse.grading.worker.NbgraderWorker`, as ``classroom.grade_class`` uses).

    Parameters
    ----------
    course_inputs : str
        A course directory readable on the worker (config, source, release, tests_assets).
    db_url : str
        The shared gradebook, e.g. ``postgresql+psycopg2://grader@db.example.org/mlp_course``.
    submissions : dict
        ``{student: {relative path: bytes}}``, each student's ``submitted`` folder.
    env : dict, optional
        Extra environment variables for nbgrader and its kernels.
    feedback : bool
        Also write each student's feedback.

    Returns
    -------
    list of dict
        Per student: the ``classroom.Outcome`` fields (``graded``, ``seconds``,
        ``score``, ``max_score``, ``reason``), ``student``, ``record`` (the grades
        read back from the gradebook) and ``files`` (``{folder: {relative path:
        bytes}}`` of ``classroom.result_folders``).
    """
    from mlpcourse.grading import cellgrades, chain

    results = []
    with tempfile.TemporaryDirectory(prefix="grade-shard-") as scratch, contextlib.ExitStack() as stack:
        course = coursedir.make_course(pathlib.Path(scratch) / "course", source_root=course_inputs)
        for student, files in submissions.items():
            for name, content in files.items():
                path = paths.course_folder(course, paths.SUBMITTED_DIRECTORY, assignment, student) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
        autograded_cells = {c["grade_id"] for c in cellgrades.grade_cells(course, db_url, assignment=assignment)
                            if c["kind"] == "auto"}
        release = chain.release_notebook(course, assignment)
        nbgrader = stack.enter_context(NbgraderWorker(course, env))
        nbgrader.start()  # it imports nbgrader while the data cache is checked
        chain.prefetch_data(course, assignment)  # this worker's kernels have no network: fill its cache
        for student in sorted(submissions):
            started = time.perf_counter()
            try:
                fields, record = classroom.grade_one(course, student, db_url, assignment, autograded_cells,
                                                    feedback, env, release, nbgrader)
            except Exception as error:  # one student's upload, never the shard
                fields, record = classroom.zero_one(course, student, db_url, assignment, autograded_cells, feedback,
                                                   error, time.perf_counter() - started)
            files = {str(folder): _files(course / folder) for folder in classroom.result_folders(student, assignment)
                     if (course / folder).is_dir()}
            results.append({"student": student, **fields, "record": record, "files": files})
    return results


def _quiet(line):
    """A log that drops its lines (the workers' cache checks print nothing)."""


def prepare_gradebook(course_dir, db_url, assignment):
    """Put the assignment's cells into the gradebook at ``db_url`` (``nbgrader generate_assignment``)."""
    coursedir.nbgrader("generate_assignment", assignment, "--force", f"--CourseDirectory.db_url={db_url}",
                     course_dir=course_dir)


def grade_class(client, course_dir, db_url, shard_count=None, students=None, *, assignment, env=None,
                feedback=True, log=print):
    """Autograde a class on a Dask cluster, one task per shard of students.

    Parameters
    ----------
    client : dask.distributed.Client
        Connected to a ``LocalCluster`` or a real cluster.
    course_dir : path
        The course directory, readable by the workers at the same path, with
        ``submitted/``; the autograded notebooks are written back into it.
    db_url : str
        The shared (PostgreSQL) gradebook, already holding the assignment
        (``prepare_gradebook``).
    shard_count : int, optional
        Number of tasks (default: one per worker thread of the cluster).
    env : dict, optional
        Extra environment variables for nbgrader and its kernels on the workers.
    feedback : bool
        Also write each student's feedback.
    log : callable
        Receives a line per student as its shard finishes, then the summary.

    Returns
    -------
    classroom.Summary
        The same outcome summary as ``classroom.grade_class``; the gradebook has been
        checked against what the tasks read back (``classroom.verify``).
    """
    from dask.distributed import as_completed

    from mlpcourse.grading import chain, tamper

    course_dir = pathlib.Path(course_dir).resolve()
    students = sorted(students if students is not None else classroom.submitted_students(course_dir, assignment))
    with Gradebook(db_url) as gradebook:  # also creates nbgrader's default course row before the writers start
        try:
            gradebook.find_assignment(assignment)
        except MissingEntry:
            raise RuntimeError(f"{assignment} is not in the gradebook {db_url}: run prepare_gradebook first") from None
    # Every worker fills and checks its own data cache before any shard starts: a worker that
    # cannot get the data stops the class before anyone is graded (the loader's one-line reason).
    client.run(chain.prefetch_data, str(course_dir), assignment, _quiet)
    threads = sum(client.nthreads().values())
    groups = shards(students, shard_count or threads)
    log(f"grading {len(students)} submissions of {assignment} as {len(groups)} Dask tasks "
        f"on {len(client.nthreads())} workers ({threads} threads)")
    start = time.perf_counter()
    futures = [
        client.submit(grade_shard, str(course_dir), db_url,
                      {s: _files(paths.course_folder(course_dir, paths.SUBMITTED_DIRECTORY, assignment, s))
                       for s in group},
                      assignment, env, feedback, pure=False)
        for group in groups
    ]
    shard_of = {future.key: number for number, future in enumerate(futures)}
    outcomes = []
    for future in as_completed(futures):
        for result in future.result():
            files = result.pop("files")
            outcome = classroom.Outcome(worker=shard_of[future.key],
                                       **{k: v for k, v in result.items() if k != "record"})
            for folder in classroom.result_folders(outcome.student, assignment):
                sandbox.remove_tree(course_dir / folder)
                for name, content in files.get(str(folder), {}).items():
                    (course_dir / folder / name).parent.mkdir(parents=True, exist_ok=True)
                    (course_dir / folder / name).write_bytes(content)
            outcomes.append(outcome)
            log(classroom.progress_line(outcome, len(outcomes), len(students), time.perf_counter() - start))
    summary = classroom.Summary(sorted(outcomes, key=lambda o: o.student), len(groups), time.perf_counter() - start,
                               assignment)
    problems = classroom.verify(course_dir, summary, db_url)
    if problems:
        raise RuntimeError("the gradebook does not match what the tasks graded:\n" + "\n".join(problems))
    tamper.class_report(course_dir, students, assignment)
    classroom.write_log(course_dir, summary)
    log(summary.text())
    return summary


def postgres_bin():
    """The folder of PostgreSQL's server programs (Debian keeps them off PATH), or None."""
    initdb = shutil.which("initdb")
    if initdb:
        return pathlib.Path(initdb).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return pathlib.Path(found[-1]).parent if found else None


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def local_postgres(database="gradebook"):
    """A throwaway PostgreSQL server on 127.0.0.1; yields the database's SQLAlchemy URL.

    The cluster lives in a fresh temporary folder and is removed afterwards. Run as
    root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
    Authentication is ``trust``, on loopback only.
    """
    import psycopg2

    bindir = postgres_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL's initdb was not found: apt-get install postgresql")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = pathlib.Path(tempfile.mkdtemp(prefix="grading-postgres-"))
    data = folder / "data"
    if as_user:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()

    def run(*args):
        subprocess.run([*as_user, *map(str, args)], check=True, capture_output=True, text=True)

    try:
        run(bindir / "initdb", "-D", data, "--auth=trust", "--username=grader", "--encoding=UTF8")
        run(bindir / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}", "start")
        try:
            connection = psycopg2.connect(host="127.0.0.1", port=port, user="grader", dbname="postgres")
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{database}"')
            connection.close()
            # SQLAlchemy 2.1 defaults to psycopg 3 for postgresql://; name the psycopg2 driver.
            yield f"postgresql+psycopg2://grader@127.0.0.1:{port}/{database}"
        finally:
            run(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        sandbox.remove_tree(folder)
