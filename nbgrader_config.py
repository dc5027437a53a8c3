"""nbgrader configuration of the course; the repository root is the course directory.

Every nbgrader command run from this folder (generate_assignment, validate,
autograde, generate_feedback, export, formgrader) reads this file.
"""

import os
import pathlib

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

ROOT = pathlib.Path(__file__).resolve().parent

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = "mlp-course"

# Hidden tests import asg01_hidden (and read its fixtures) from tests_assets/, which
# is never released: the grading kernels inherit this environment variable.
HIDDEN_TESTS = ROOT / "tests_assets" / "asg01"
os.environ["PYTHONPATH"] = os.pathsep.join(
    path for path in (str(HIDDEN_TESTS), os.environ.get("PYTHONPATH", "")) if path
)

# The same Python kernel for every submission, whatever its metadata says.
c.Execute.kernel_name = "python3"
# Per-cell limit. The longest cell is training, which runs a shortened schedule
# under autograde (a few seconds here); 300 s leaves room for a slow machine.
c.Execute.timeout = 300

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
