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
# Each assignment's description (mlpcourse.assignment) and its fixture recipe sit beside its
# master notebook: the course's tools read them, students never see them.
from nbgrader.coursedir import CourseDirectory  # noqa: E402

from mlpcourse import assignment  # noqa: E402

c.CourseDirectory.ignore = [*CourseDirectory.class_traits()["ignore"].default(),
                            *sorted({file for name in assignment.names(ROOT)
                                     for file in assignment.load(ROOT, name).unreleased_files})]

# Hidden tests import their assignment's hidden module (and read its fixtures) from
# tests_assets/<assignment>/, which is never released: the grading kernels inherit
# this environment variable. ({assignment} is the one being graded.)
HIDDEN_TESTS = ROOT / "tests_assets" / "{assignment}"
HIDDEN_FOLDERS = [str(folder) for folder in sorted((ROOT / "tests_assets").iterdir()) if folder.is_dir()]
# (Once: the grading commands load this file again for every student.)
if not set(HIDDEN_FOLDERS) <= set(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        path for path in (*HIDDEN_FOLDERS, os.environ.get("PYTHONPATH", "")) if path)

# The same Python kernel for every submission, whatever its metadata says.
c.Execute.kernel_name = "python3"
# Per-cell limit. The longest cell is training, which runs a shortened schedule
# under autograde (a few seconds here); 300 s leaves room for a slow machine.
c.Execute.timeout = 300

# Colab: the course's public GitHub copy (OWNER/NAME; c.ColabLinks.branch defaults to
# "main"). generate_assignment writes it into the release: the Open-in-Colab badge and
# the URL the setup cell fetches the helper files from. Change it, then `make release`.
c.ColabLinks.repository = "your-org/mlp-course"
from nbgrader.converters import GenerateAssignment  # noqa: E402

# (Set as a whole: nbgrader applies a lazy .prepend() twice.)
c.GenerateAssignment.preprocessors = [
    "mlpcourse.authoring.release.ColabLinks", *GenerateAssignment.class_traits()["preprocessors"].default()]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Each written question's mark scheme sits between <!-- BEGIN MARK SCHEME --> and
# <!-- END MARK SCHEME --> in its locked prompt cell: generate_assignment strips it from
# the release, autograde restores the locked cell from the gradebook (so formgrader
# shows it above the student's answer); feedback shows the release's cells only.
# nbgrader's default check wants such regions in task cells only; a locked cell with a
# grade_id is restored too (tests/browser/test_browser_formgrader.py checks all this).
c.ClearMarkScheme.enforce_metadata = False

# Autograde runs every kernel contained (mlpcourse.containment.contain): in a sandbox without
# network or access to this folder, with time, memory and process limits; every test
# cell that passes there is re-run by the grader with trusted code (mlpcourse.containment.judge),
# which alone reads the hidden fixtures. The limits below are sized to the reference
# solution's run (see docs/containment.md); the kernel reads the dataset cache.
from nbgrader.converters import Autograde  # noqa: E402
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, Execute  # noqa: E402

# After the run, the graded notebook (what formgrader, JupyterLab, the feedback and the
# class report show) is made safe to render: no student markup or output can run script.
# Late penalties count from the due date set below (late work, at the end of this file).
# The metadata check is nbgrader's, with its JSON schema checked once (mlpcourse.grading.metadata).
METADATA_CHECK = "mlpcourse.grading.metadata.CheckCellMetadata"
c.Autograde.autograde_preprocessors = [
    replacement for step in Autograde.class_traits()["autograde_preprocessors"].default()
    for replacement in (["mlpcourse.containment.contain.ContainedExecute", "mlpcourse.reports.markup.SanitiseNotebook"]
                        if step is Execute else ["mlpcourse.grading.late.DueDatePenalties"]
                        if step is AssignLatePenalties else [METADATA_CHECK] if step is CheckCellMetadata else [step])
]
c.Autograde.sanitize_preprocessors = [
    METADATA_CHECK if step is CheckCellMetadata else step
    for step in Autograde.class_traits()["sanitize_preprocessors"].default()]
c.ContainedExecute.hidden_directory = str(HIDDEN_TESTS)
# The data settings the assignments' descriptions name (the cache folder, the split).
c.ContainedExecute.kernel_env = sorted({variable for name in assignment.names(ROOT)
                                        for variable in assignment.load(ROOT, name).kernel_env})
# The course's own modules (check helpers, data loaders, hidden checks): student code that
# replaces them or their attributes is reported as tampering.
c.ContainedExecute.course_modules = sorted({module for name in assignment.names(ROOT)
                                            for module in assignment.load(ROOT, name).course_modules})
c.ContainedExecute.data_env = {
    "KANNADA_MNIST_DIR": os.environ.get("KANNADA_MNIST_DIR") or str(pathlib.Path.home() / ".cache" / "kannada-mnist")
}
# Before the first notebook, the dataset cache must hold the training and holdout splits,
# verified (mlpcourse.grading.dataset); otherwise autograde stops before grading anyone, with one
# line naming the setting that fixes it (KANNADA_MNIST_URL, KANNADA_MNIST_DIR).
from mlpcourse.grading import dataset  # noqa: E402

c.Autograde.pre_convert_hook = dataset.autograde_hook(ROOT)
# The kernel may read only the files of its training split: the holdout split, which the
# grader scores the trained network on (asg01_hidden.check_training), stays out of its reach.
c.ContainedExecute.data_files = {"KANNADA_MNIST_DIR": sorted({filename for name in assignment.names(ROOT)
                                                              if assignment.load(ROOT, name).data
                                                              for filename in dataset.kernel_files(ROOT, name)})}
# Time limits come from the reference solution's own run under grading, recorded with the
# release (`make release`): a given, answer or test cell may take limit_multiple times as
# long as it took there, plus limit_floor seconds; the whole notebook likewise, at most
# total_timeout. The student's own cells get `timeout`; tests without a recorded time
# `test_timeout`; c.ContainedExecute.cell_timeouts = {grade_id: seconds} overrides a cell.
c.ContainedExecute.timings_file = str(HIDDEN_TESTS / "timings.json")
c.ContainedExecute.limit_multiple = 20
c.ContainedExecute.limit_floor = 30
c.ContainedExecute.timeout = 120
c.ContainedExecute.test_timeout = 30
c.ContainedExecute.total_timeout = 1800
c.ContainedExecute.memory_limit = 4 * 2**30
# Feedback is built from an allow-list (mlpcourse.reports.feedback): the release's cells, the
# student's own answers and cells, sanitised outputs, and each test's verdict.
from nbgrader.converters import GenerateFeedback  # noqa: E402

# (Set as a whole: nbgrader would apply a lazy .append() twice.)
c.GenerateFeedback.preprocessors = [
    *GenerateFeedback.class_traits()["preprocessors"].default(), "mlpcourse.reports.feedback.StudentFeedback"]
c.StudentFeedback.secret_paths = [str(ROOT)]
# nbconvert's HTML exporter without its whole-page BeautifulSoup pass (half the page's cost).
c.GenerateFeedback.exporter_class = "mlpcourse.reports.feedback.FeedbackExporter"

# Late work (mlpcourse.grading.late; docs/late-and-similarity.md). `collect` writes each
# submission's time from the LMS archive to timestamp.txt; autograde counts the seconds
# past the due date (and a student's extension) and takes the penalty below, which the
# gradebook, nbgrader's export and the class report show. Times are in the time zone
# given with them (the archive's times: `collect --timezone`). None: nothing is late.
c.DueDatePenalties.duedate = None  # e.g. "2027-03-05 17:00:00 Europe/London"
c.AssignLatePenalties.plugin_class = "mlpcourse.grading.late.LatePenalty"
# 10 % of the score for each started day late, all of it at most; none in the first 5 minutes.
c.LatePenalty.per_period = 0.1
c.LatePenalty.period_hours = 24
c.LatePenalty.cap = 1.0
c.LatePenalty.grace_minutes = 5
