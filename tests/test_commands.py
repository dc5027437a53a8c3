"""The README's commands, run as a user runs them: make targets in a scratch copy of the
repo, and the one-line errors of ``python -m mlpcourse`` when the user got something wrong."""

import filecmp
import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

import asg01
from mlpcourse import paths
from mlpcourse.authoring import release
from mlpcourse.containment import limits
from mlpcourse.grading import coursedir

VENV = pathlib.Path(sys.executable).parent.parent


def fresh_clone(destination):
    """A copy of the repository's files as a clone would have them (tracked and new, not ignored)."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=paths.ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    root = pathlib.Path(destination)
    for name in filter(None, files):
        if (paths.ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(paths.ROOT / name, root / name)
    return root


@pytest.fixture
def checkout(tmp_path):
    """A copy of the repository's tracked files (like a fresh clone), sharing this venv."""
    return fresh_clone(tmp_path / "checkout")


def make(root, *targets):
    (VENV / ".installed").touch(exist_ok=True)
    return subprocess.run(["make", "-s", *targets, f"VENV={VENV}"], cwd=root, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(root)})


@pytest.mark.slow
def test_make_fixtures_and_release_reproduce_the_committed_files(checkout):
    """Do `make fixtures` and `make release` on a clean copy rewrite identical files?"""
    for target in ("fixtures", "release"):
        result = make(checkout, target)
        assert result.returncode == 0, result.stdout + result.stderr
    for folder in ("source/asg01", "release/asg01", "tests_assets/asg01"):
        comparison = filecmp.dircmp(paths.ROOT / folder, checkout / folder, ignore=["__pycache__", limits.TIMINGS])
        assert comparison.diff_files == [], folder
        assert not comparison.left_only and not comparison.right_only, folder
    # Timings are measurements: the same master and the same cells, not the same seconds.
    committed, measured = (json.loads(limits.path(root, asg01.NAME).read_text())
                           for root in (paths.ROOT, checkout))
    assert measured["master"] == committed["master"] and set(measured["cells"]) == set(committed["cells"])


@pytest.mark.slow
def test_make_check_passes_when_fresh_and_names_the_fix_when_stale(checkout):
    """Does `make check` pass on a fresh copy, and fail naming `make release` after an edit (and the timings
    after an edit of the code)?"""
    assert make(checkout, "check").returncode == 0
    master = checkout / "source" / "asg01" / "asg01.ipynb"
    master.write_text(master.read_text().replace("You will build a small", "You will write a small"))
    result = make(checkout, "check")
    assert result.returncode != 0
    assert "release/ is stale: run `make release`" in result.stdout
    assert "timings.json" not in result.stdout  # prose does not change what the cells take
    master.write_text(master.read_text().replace("self.velocity = []", "self.velocity = []  # one per layer"))
    assert make(checkout, "fixtures").returncode == 0  # the reference's code changed: fixtures first
    result = make(checkout, "check")
    assert result.returncode != 0
    assert "timings.json was measured on another version of the master's code" in result.stdout


def test_make_clean_demo_removes_only_working_state(checkout):
    """Does `make clean-demo` remove nbgrader's working state and keep autograded/README.md?"""
    for folder in ("submitted/ada/asg01", "feedback/ada/asg01", "autograded/ada/asg01"):
        (checkout / folder).mkdir(parents=True)
    (checkout / "gradebook.db").write_text("")
    result = make(checkout, "clean-demo")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (checkout / "autograded").iterdir()) == ["README.md"]
    for name in ("submitted", "feedback", "gradebook.db"):
        assert not (checkout / name).exists()
    assert (checkout / "source" / "asg01" / "asg01.ipynb").exists()


# ---------------------------------------------------------------- user errors: one line, the fix, exit 2


def mlpcourse(*args, env=None):
    """``.venv/bin/python -m mlpcourse ARGS`` as a user runs it: the environment not activated."""
    env = {**os.environ, "PATH": "/usr/bin:/bin", **(env or {})}
    return subprocess.run([sys.executable, "-m", "mlpcourse", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=paths.ROOT)


def error_line(result):
    """The one line a user error prints on stderr (checked: exit 2, nothing else, no traceback)."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def unreleased(tmp_path_factory):
    """A course folder whose assignment was never released (no gradebook)."""
    return coursedir.make_course(tmp_path_factory.mktemp("unreleased") / "course")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A course folder with asg01 released (nbgrader generate_assignment) and ada's submission."""
    course = coursedir.make_course(tmp_path_factory.mktemp("released") / "course")
    release.generate(course, asg01.NAME)
    (course / "submitted" / "ada" / asg01.NAME).mkdir(parents=True)
    return course


@pytest.mark.parametrize("command", [["grade"], ["export-cells"], ["report"]])
def test_no_release_in_the_gradebook_names_the_release_command(unreleased, command):
    """Before the release is in the gradebook, do grade, export-cells and report say to run `release`, in one line?"""
    line = error_line(mlpcourse(*command, "--course-dir", unreleased))
    assert "asg01 is not released yet" in line
    assert f"run `python -m mlpcourse release --course-dir {unreleased}`" in line
    assert not (unreleased / "gradebook.db").exists()  # no empty gradebook left behind


def test_a_due_date_without_a_zone_stops_grade_before_anyone_is_graded(tmp_path):
    """Does `grade` refuse a due date nbgrader would read as UTC in one line, before any work?"""
    course = coursedir.make_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nc.DueDatePenalties.duedate = '2027-03-05 17:00:00 BST'\n")
    line = error_line(mlpcourse("grade", "--course-dir", course))
    assert "c.DueDatePenalties.duedate" in line and "Europe/London" in line
    assert not (course / "gradebook.db").exists()


@pytest.mark.slow
def test_release_command_puts_the_assignment_in_the_gradebook(tmp_path, grading_env):
    """Does the command the error names fix it: after `release --course-dir`, does grade get past the check?"""
    course = coursedir.make_course(tmp_path / "course")
    assert mlpcourse("release", "--course-dir", course).returncode == 0
    result = mlpcourse("grade", "--course-dir", course)  # nobody submitted: nothing to grade
    assert result.returncode == 0, result.stderr
    assert "grading 0 submissions of asg01" in result.stdout


@pytest.mark.parametrize("make_zip, why", [
    (lambda folder: folder / "missing.zip", "(No such file or directory)"),
    (lambda folder: folder, "(Is a directory)"),
])
def test_a_missing_or_unreadable_zip_is_one_line(unreleased, tmp_path, make_zip, why):
    """Is a zip that is missing or not a file reported in one line, before anything is collected or graded?"""
    path = make_zip(tmp_path)
    line = error_line(mlpcourse("grade", "--course-dir", unreleased, "--zip", path))
    assert line == (f"error: cannot read the zip {path} {why}: download the submissions from the LMS again and "
                    "pass that file's path to --zip")
    assert not (unreleased / "downloaded").exists()


@pytest.mark.parametrize("content", [b"<html>session expired</html>", "truncated"])
def test_a_file_that_is_not_a_zip_is_one_line(tmp_path, content):
    """Is an archive that is not one (an HTML page, a zip cut short) reported in one line, with nobody collected?"""
    path = tmp_path / "submissions.zip"
    if content == "truncated":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("s1234567_asg01.ipynb", "{}" * 5000)
        content = path.read_bytes()[:-30]
    path.write_bytes(content)
    line = error_line(mlpcourse("collect", path, "--course-dir", tmp_path / "course"))
    assert line.startswith(f"error: {path}: ") and "download the submissions from the LMS again" in line
    assert not (tmp_path / "course" / "submitted").exists()


def test_a_roster_without_its_columns_is_one_line(unreleased, tmp_path):
    """Does a roster without student_id/lms_id stop grade and collect, naming the columns it needs?"""
    archive = tmp_path / "uploads.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("s1234567_asg01.ipynb", "{}")
    roster = tmp_path / "roster.csv"
    roster.write_text("Student ID,Canvas ID\ns1,100\n")
    for command in (["grade", "--zip", archive, "--course-dir", unreleased], ["collect", archive, "--course-dir",
                                                                             tmp_path / "elsewhere"]):
        line = error_line(mlpcourse(*command, "--roster", roster))
        assert line == (f"error: the roster {roster} has no student_id or lms_id column (its header: "
                        "Student ID,Canvas ID): its first line must name the columns student_id,lms_id")
    assert not (tmp_path / "elsewhere").exists()
    assert "--roster maps the LMS ids in a --zip" in error_line(
        mlpcourse("grade", "--course-dir", unreleased, "--roster", roster))


@pytest.mark.slow
def test_an_unknown_student_is_one_line(released, grading_env):
    """Does `grade --student` with an id that has no submission say so, before grading anyone?"""
    line = error_line(mlpcourse("grade", "--course-dir", released, "--student", "ada", "--student", "s999"))
    assert line.startswith(f"error: no submission of asg01 for s999 in {released}/submitted/: check the student id")
    assert not (released / "autograded").exists()


def test_not_a_course_folder_is_one_line(tmp_path):
    """Is a --course-dir without nbgrader_config.py reported with the fix?"""
    line = error_line(mlpcourse("grade", "--course-dir", tmp_path))
    assert line == (f"error: {tmp_path} is not a course folder (no nbgrader_config.py): pass --course-dir with a "
                    f"copy of {paths.ROOT}, or run the command there")


@pytest.mark.parametrize("command", [["grade"], ["demo"], ["release"], ["export-cells"]])
def test_an_unwritable_course_folder_is_one_line(unreleased, command):
    """On a read-only course folder, does each command stop in one line that says so, before any work?"""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to mount the course folder read-only")
    script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"')
    result = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", str(unreleased), sys.executable, "-m",
                             "mlpcourse", *command, "--course-dir", str(unreleased)],
                            capture_output=True, text=True, cwd=paths.ROOT, env={**os.environ, "PATH": "/usr/bin:/bin"})
    assert error_line(result) == (f"error: cannot write in the course folder {unreleased} (Read-only file system): "
                                  "make it writable for this user, or pass --course-dir with a folder you can write")


def test_console_script_reports_the_same_error_after_activation(unreleased):
    """Does `mlpcourse grade`, the console script of an activated environment, behave like `python -m mlpcourse`?"""
    result = subprocess.run([VENV / "bin" / "mlpcourse", "grade", "--course-dir", unreleased], capture_output=True,
                            text=True, env={**os.environ, "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
                                            "VIRTUAL_ENV": str(VENV)})
    assert "asg01 is not released yet" in error_line(result)
