"""Static checks of the repository's Python: no unused imports or undefined names."""

import subprocess
import sys

from mlpcourse import paths

CHECKED = ("mlpcourse", "tests", "benchmarks", "source", "tests_assets", "nbgrader_config.py")


def test_pyflakes_checks_pass():
    """Does ruff's pyflakes rule set (F) find nothing in the course's Python files?"""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F", "--no-cache", *CHECKED],
                            cwd=paths.ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
