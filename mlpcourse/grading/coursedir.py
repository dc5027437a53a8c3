"""Running nbgrader on a course directory, checking the course is ready, reading grades back.

nbgrader is always run as a separate process (``python -m nbgrader``), exactly as a
TA would run it, with this interpreter's ``bin/`` first on PATH (nbgrader starts
``alembic`` and the kernel by name).

What a user can get wrong (a course folder that is not one, or not writable, an
assignment not released yet, a student without a submission) raises
:class:`CourseError`, whose message is one line naming the fix.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SQLAlchemyError

from mlpcourse import gradebook, paths

# What a working course directory needs besides nbgrader's own folders.
COURSE_FILES = ("nbgrader_config.py", paths.SOURCE_DIRECTORY, paths.RELEASE_DIRECTORY, paths.HIDDEN_DIRECTORY)


class CourseError(Exception):
    """Something the user fixes: the message is one line saying what is wrong and the fix."""


def search_path():
    """``$PATH`` with this interpreter's ``bin/`` first, whether its environment is activated or not."""
    return os.pathsep.join([str(pathlib.Path(sys.executable).parent), os.environ.get("PATH", "")])


def environment(extra=None):
    """The environment for nbgrader and its kernels: this venv's bin/ first on PATH."""
    env = dict(os.environ, PATH=search_path())
    env.update(extra or {})
    return env


def nbgrader(*args, course_dir=paths.ROOT, check=True, env=None):
    """Run ``nbgrader ARGS`` in ``course_dir``; return the CompletedProcess.

    Output is captured (nbgrader logs to stderr); on failure with ``check`` the
    error includes the log tail.
    """
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course_dir, env=environment(env), capture_output=True, text=True,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} failed (exit {result.returncode}) in {course_dir}:\n"
            + "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        )
    return result


def make_course(destination, source_root=paths.ROOT):
    """Copy the course's inputs into ``destination`` (a fresh working course dir).

    Tests and demos elsewhere grade in such a copy, so that nbgrader's working
    folders and gradebook never mix with the repository's.
    """
    destination = pathlib.Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in COURSE_FILES:
        src = pathlib.Path(source_root) / name
        if src.is_dir():
            shutil.copytree(src, destination / name, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(src, destination / name)
    return destination


def submit(course_dir, student, notebook_node, assignment):
    """Place ``notebook_node`` as ``submitted/<student>/<assignment>/<assignment>.ipynb``."""
    import nbformat

    folder = paths.course_folder(course_dir, paths.SUBMITTED_DIRECTORY, assignment, student)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.ipynb"
    nbformat.write(notebook_node, str(path))
    return path


def default_db_url(course_dir):
    """The gradebook nbgrader uses when ``CourseDirectory.db_url`` is not configured."""
    return f"sqlite:///{pathlib.Path(course_dir).resolve() / 'gradebook.db'}"


def cell_scores(course_dir, assignment, db_url=None, students=None):
    """Scores per student and grade cell, from the gradebook (:func:`mlpcourse.grading.gradebook.submissions`).

    Returns
    -------
    dict
        ``{student: {grade_id: (score, max_score)}}`` for every submission (of
        ``students`` only, when given); a manually graded cell counts with its
        current score.
    """
    found = gradebook.submissions(db_url or default_db_url(course_dir), assignment, students)
    return {student: {name: (grade.score, grade.max_score) for name, grade in submission.grades.items()}
            for student, submission in found.items()}


def course_folder(course_dir, writable=True):
    """``course_dir`` as an absolute path, after checking it is a course folder (this user can write).

    Raises
    ------
    CourseError
        If it holds no ``nbgrader_config.py``, or, with ``writable``, nothing can be
        written in it.
    """
    course_dir = pathlib.Path(course_dir).resolve()
    if not (course_dir / "nbgrader_config.py").is_file():
        raise CourseError(f"{course_dir} is not a course folder (no nbgrader_config.py): "
                          f"pass --course-dir with a copy of {paths.ROOT}, or run the command there")
    return writable_folder(course_dir) if writable else course_dir


def writable_folder(folder):
    """``folder`` as an absolute path, created if needed, after checking that files can be written in it.

    Raises
    ------
    CourseError
        If the folder cannot be created or written to (permissions, read-only file system).
    """
    folder = pathlib.Path(folder).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise CourseError(f"cannot write in the course folder {folder} ({error.strerror or error}): "
                          "make it writable for this user, or pass --course-dir with a folder you can write") from None
    return folder


def require_release(course_dir, db_url=None, *, assignment):
    """Check that ``assignment`` is released in ``course_dir``: its release folder and its gradebook entry.

    Raises
    ------
    CourseError
        Naming the command that releases it, when either is missing or the gradebook
        cannot be opened.
    """
    fix = (f"run `nbgrader generate_assignment {assignment} --force --CourseDirectory.db_url={db_url}` "
           f"in {course_dir}" if db_url else f"run `python -m mlpcourse release --course-dir {course_dir}`")
    if not (paths.course_folder(course_dir, paths.RELEASE_DIRECTORY, assignment) / f"{assignment}.ipynb").is_file():
        raise CourseError(f"{assignment} is not released in {course_dir} (no release/{assignment}/): {fix}")
    db_url = db_url or default_db_url(course_dir)
    # Opening a gradebook that does not exist would create an empty one.
    if db_url.startswith("sqlite:///") and not pathlib.Path(db_url.removeprefix("sqlite:///")).is_file():
        raise CourseError(f"{assignment} is not released yet: there is no gradebook {db_url}: {fix}")
    try:
        with Gradebook(db_url) as book:
            book.find_assignment(assignment)
    except MissingEntry:
        raise CourseError(f"{assignment} is not in the gradebook {db_url}: {fix}") from None
    except SQLAlchemyError as error:  # an unreachable server, a file that is not a gradebook
        reason = " ".join(str(getattr(error, "orig", None) or error).split())
        raise CourseError(f"cannot open the gradebook {db_url} ({reason}): check --db-url") from None


def require_submissions(course_dir, students, assignment):
    """Check that every student in ``students`` has a folder ``submitted/<student>/<assignment>/``.

    Raises
    ------
    CourseError
        Naming the unknown students and how submissions get there.
    """
    missing = [student for student in students
               if not paths.course_folder(course_dir, paths.SUBMITTED_DIRECTORY, assignment, student).is_dir()]
    if missing:
        raise CourseError(f"no submission of {assignment} for {', '.join(missing)} in {course_dir}/submitted/: "
                          "check the student id, or collect the uploads first "
                          "(python -m mlpcourse grade --zip ZIP --student ID)")
