"""Running nbgrader on a course directory, and reading grades back.

nbgrader is always run as a separate process (``python -m nbgrader``), exactly as a
TA would run it, with this interpreter's ``bin/`` first on PATH (nbgrader starts
``alembic`` and the kernel by name).
"""

import os
import pathlib
import shutil
import subprocess
import sys

from nbgrader.api import Gradebook

from mlpcourse import paths

# What a working course directory needs besides nbgrader's own folders.
COURSE_FILES = ("nbgrader_config.py", "source", "release", "tests_assets")


def environment(extra=None):
    """The environment for nbgrader and its kernels: this venv's bin/ first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env.get("PATH", "")])
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


def submit(course_dir, student, notebook_node, assignment=paths.ASSIGNMENT):
    """Place ``notebook_node`` as ``submitted/<student>/<assignment>/<assignment>.ipynb``."""
    import nbformat

    folder = pathlib.Path(course_dir) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{assignment}.ipynb"
    nbformat.write(notebook_node, str(path))
    return path


def default_db_url(course_dir):
    """The gradebook nbgrader uses when ``CourseDirectory.db_url`` is not configured."""
    return f"sqlite:///{pathlib.Path(course_dir).resolve() / 'gradebook.db'}"


def cell_scores(course_dir, assignment=paths.ASSIGNMENT):
    """Scores per student and grade cell, from the gradebook.

    Returns
    -------
    dict
        ``{student: {grade_id: (score, max_score)}}`` for every autograded
        submission; manually graded cells count with their current score.
    """
    scores = {}
    with Gradebook(default_db_url(course_dir)) as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            for nb in submission.notebooks:
                scores.setdefault(submission.student_id, {}).update(
                    {grade.name: (grade.score, grade.max_score) for grade in nb.grades})
    return scores
