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

# Each written question's mark scheme sits between <!-- BEGIN MARK SCHEME --> and
# <!-- END MARK SCHEME --> in its locked prompt cell: generate_assignment strips it from
# the release, autograde restores the locked cell from the gradebook (so formgrader
# shows it above the student's answer), and generate_feedback strips it again.
# nbgrader's default check wants such regions in task cells only; a locked cell with a
# grade_id is restored too (tests/browser/test_browser_formgrader.py checks all this).
c.ClearMarkScheme.enforce_metadata = False
c.GenerateFeedback.preprocessors.append("nbgrader.preprocessors.ClearMarkScheme")

# Autograde runs every kernel contained (mlpcourse.contain): in a sandbox without
# network or access to this folder, with time, memory and process limits; every test
# cell that passes there is re-run by the grader with trusted code (mlpcourse.judge),
# which alone reads the hidden fixtures. The limits below are sized to the reference
# solution's run (see the README's TA section); the kernel reads the dataset cache.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import Execute  # noqa: E402

c.Autograde.autograde_preprocessors = [
    "mlpcourse.contain.ContainedExecute" if step is Execute else step
    for step in Autograde.class_traits()["autograde_preprocessors"].default()
]
c.ContainedExecute.hidden_directory = str(HIDDEN_TESTS)
c.ContainedExecute.data_env = {
    "KANNADA_MNIST_DIR": os.environ.get("KANNADA_MNIST_DIR") or str(pathlib.Path.home() / ".cache" / "kannada-mnist")
}
c.ContainedExecute.timeout = 120
c.ContainedExecute.cell_timeouts = {"load_data": 300, "train": 900}
c.ContainedExecute.total_timeout = 1800
c.ContainedExecute.memory_limit = 4 * 2**30
# Feedback shows each test's name, points and message, never hidden tests or paths.
c.GenerateFeedback.preprocessors.append("mlpcourse.feedback.SanitiseFeedback")
c.SanitiseFeedback.secret_paths = [str(ROOT)]
