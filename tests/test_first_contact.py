"""First contact, as a newcomer meets the course: a fresh clone, a fresh home folder, no
``KANNADA_MNIST_DIR``, and the digits only at their download address, here a real HTTP
server on 127.0.0.1 named by ``KANNADA_MNIST_URL`` (no other network is touched).

Every grading path fills and verifies the dataset cache before any kernel starts; when
it cannot, grading stops before anyone is graded, with one line naming the settings
that fix it. The 60k training images are not available here, so the newcomer trains on
the offline stand-in (``ASG01_TRAIN_SPLIT=test``, holdout: Dig-MNIST).
"""

import functools
import http.server
import os
import pathlib
import socket
import re
import subprocess
import sys
import threading
import zipfile

import nbformat
import pytest

import asg01
from mlpcourse.authoring import notebook
from mlpcourse.grading import coursedir, demo
from test_commands import fresh_clone

VENV = pathlib.Path(sys.executable).parent.parent
STAND_IN = {"ASG01_TRAIN_SPLIT": "test"}
FULL_MARKS = 65


@pytest.fixture
def data_server(kannada_cache):
    """The Kannada-MNIST files, served from 127.0.0.1 as their download address would; its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(kannada_cache))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def nothing_served():
    """A loopback address where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


@pytest.fixture
def clone(tmp_path):
    """A fresh clone of the course (its files, not the working state), sharing this venv."""
    (VENV / ".installed").touch(exist_ok=True)  # the clone's requirements are not newer: no reinstall
    return fresh_clone(tmp_path / "clone")


def newcomer(tmp_path, url, activated):
    """The environment of a newcomer: a fresh home, no cache setting, data only at ``url``."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {name: value for name, value in os.environ.items()
           if name not in (asg01.DATA_CACHE_ENV, "VIRTUAL_ENV") and not name.startswith("JUPYTER")}
    path = f"{VENV / 'bin'}:/usr/bin:/bin" if activated else "/usr/bin:/bin"
    return {**env, **STAND_IN, "HOME": str(home), "KANNADA_MNIST_URL": url, "no_proxy": "127.0.0.1",
            "PATH": path, "PYTHONPATH": str(tmp_path / "clone")}


def cache_files(tmp_path):
    folder = tmp_path / "home" / ".cache" / "kannada-mnist"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


STAND_IN_FILES = sorted(["X_kannada_MNIST_test-idx3-ubyte.gz", "y_kannada_MNIST_test-idx1-ubyte.gz",
                         "X_dig_MNIST-idx3-ubyte.gz", "y_dig_MNIST-idx1-ubyte.gz"])


def the_error(result, log_prefix="["):
    """The one line a grading path prints when it stops (checked: non-zero exit, no traceback).

    Lines of ``make`` (``make: ***``, or ``make[1]: ***`` when the tests themselves run
    under ``make test``) and nbgrader's log (``[AutogradeApp | INFO]``) are the tools' own,
    not ours.
    """
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    ours = [line for line in result.stderr.splitlines()
            if not re.match(r"make(\[\d+\])?: ", line) and not line.startswith(log_prefix)]
    assert len(ours) == 1 and ours[0].startswith("error: cannot grade: "), result.stderr
    assert "KANNADA_MNIST_URL" in ours[0] and "KANNADA_MNIST_DIR" in ours[0]
    return ours[0]


def autograded_points(course, student):
    scores = coursedir.cell_scores(course, asg01.NAME)[student]
    return sum(score for grade_id, (score, _) in scores.items() if grade_id.startswith("test_"))


@pytest.mark.slow
def test_make_demo_in_a_fresh_clone_downloads_the_data_and_gives_full_marks(clone, data_server, tmp_path):
    """Does the README's first command, in a fresh clone and home, fetch the digits and give ada 65/65?"""
    result = subprocess.run(["make", "demo", f"VENV={VENV}"], cwd=clone, capture_output=True, text=True,
                            env=newcomer(tmp_path, data_server, activated=False))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ada = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["ada"])
    assert ada.split()[-1] == f"{FULL_MARKS}/{FULL_MARKS}", result.stdout
    assert cache_files(tmp_path) == STAND_IN_FILES
    assert autograded_points(clone, "ada") == FULL_MARKS


def test_make_demo_without_the_data_stops_before_grading_with_one_line(clone, nothing_served, tmp_path):
    """With nothing serving the digits, does `make demo` fail in one line naming the settings, having graded no one?"""
    result = subprocess.run(["make", "demo", f"VENV={VENV}"], cwd=clone, capture_output=True, text=True,
                            env=newcomer(tmp_path, nothing_served, activated=False))
    line = the_error(result)
    assert f"Could not download X_kannada_MNIST_test-idx3-ubyte.gz from {nothing_served}" in line
    for state in ("submitted", "autograded/ada", "gradebook.db"):
        assert not (clone / state).exists(), state


def _released_with_ada(clone, env):
    """The TA's start: the release in the gradebook (`python -m mlpcourse release`), ada's upload in submitted/."""
    subprocess.run([sys.executable, "-m", "mlpcourse", "release"], cwd=clone, env=env, check=True, capture_output=True)
    release_nb = notebook.read(clone / "release" / asg01.NAME / f"{asg01.NAME}.ipynb")
    return coursedir.submit(clone, "ada", demo.submissions(release_nb)["ada"], asg01.NAME)


@pytest.mark.slow
def test_plain_nbgrader_autograde_fetches_the_data_first(clone, data_server, tmp_path):
    """Does plain `nbgrader autograde asg01` from the course folder fill the cache first, and give ada full marks?"""
    env = newcomer(tmp_path, data_server, activated=True)
    _released_with_ada(clone, env)
    result = subprocess.run(["nbgrader", "autograde", asg01.NAME], cwd=clone, capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert cache_files(tmp_path) == STAND_IN_FILES
    assert autograded_points(clone, "ada") == FULL_MARKS


@pytest.mark.slow
def test_grade_command_without_activation_collects_fetches_and_grades(clone, data_server, tmp_path):
    """Does `.venv/bin/python -m mlpcourse grade --zip` work without activation, fetching the data, ada 65/65?"""
    env = newcomer(tmp_path, data_server, activated=False)
    upload = _released_with_ada(clone, env)
    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(upload, "s1234567_asg01.ipynb")
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "grade", "--zip", archive, "--student", "s1234567"],
                            cwd=clone, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert cache_files(tmp_path) == STAND_IN_FILES
    assert autograded_points(clone, "s1234567") == FULL_MARKS


@pytest.mark.slow
def test_without_the_data_every_grading_command_stops_before_grading_anyone(clone, nothing_served, tmp_path):
    """With nothing serving the digits, do nbgrader, `grade`, `grade --scheduler` stop in one line, grading no one?"""
    env = newcomer(tmp_path, nothing_served, activated=True)
    upload = _released_with_ada(clone, env)
    commands = {
        "nbgrader": ["nbgrader", "autograde", asg01.NAME],
        "grade": [sys.executable, "-m", "mlpcourse", "grade"],
        "grade --scheduler": [sys.executable, "-m", "mlpcourse", "grade", "--scheduler", "tcp://127.0.0.1:9",
                              "--db-url", coursedir.default_db_url(clone)],
    }
    for name, command in commands.items():
        line = the_error(subprocess.run(command, cwd=clone, capture_output=True, text=True, env=env))
        assert "the training split 'test' of Kannada-MNIST" in line, name
        assert not (clone / "autograded" / "ada").exists(), name
        assert "ada" not in coursedir.cell_scores(clone, asg01.NAME), name
    assert nbformat.read(str(upload), 4)  # the upload is untouched, ready for when the data is there
