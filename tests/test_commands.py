"""The README's make commands, run as a user runs them, in a scratch copy of the repo."""

import filecmp
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from mlpcourse import paths

VENV = pathlib.Path(sys.executable).parent.parent


@pytest.fixture
def checkout(tmp_path):
    """A copy of the repository's tracked files (like a fresh clone), sharing this venv."""
    files = subprocess.run(["git", "ls-files"], cwd=paths.ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    files += subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=paths.ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    root = tmp_path / "checkout"
    for name in files:
        if (paths.ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(paths.ROOT / name, root / name)
    return root


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
        comparison = filecmp.dircmp(paths.ROOT / folder, checkout / folder, ignore=["__pycache__"])
        assert comparison.diff_files == [], folder
        assert not comparison.left_only and not comparison.right_only, folder


@pytest.mark.slow
def test_make_check_passes_when_fresh_and_names_the_fix_when_stale(checkout):
    """Does `make check` pass on a fresh copy, and fail naming `make release` after an edit?"""
    assert make(checkout, "check").returncode == 0
    master = checkout / "source" / "asg01" / "asg01.ipynb"
    master.write_text(master.read_text().replace("You will build a small", "You will write a small"))
    result = make(checkout, "check")
    assert result.returncode != 0
    assert "release/ is stale: run `make release`" in result.stdout


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
