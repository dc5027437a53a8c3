"""The demo class: three submissions that show the grading pipeline end to end.

- ``ada`` submits the release with the master's solutions: full autograded marks;
- ``ben`` submits a partly wrong notebook: a softmax that is not shifted per row and
  an SGD left unwritten, everything else right;
- ``cy`` submits the release untouched: zero.

``python -m mlpcourse demo`` fills the dataset cache, generates the release, lays
these out in ``submitted/``, runs ``nbgrader autograde``, ``generate_feedback`` and
``export``, and prints a table.
"""

import csv
import pathlib

from mlpcourse import paths
from mlpcourse.authoring import notebook, release
from mlpcourse.grading import coursedir, dataset

# ben's softmax: exponentiates first and normalises over the whole array, a common
# mistake that only shows with several rows or large logits.
BEN_SOFTMAX = '''
def softmax(y_hat):
    """Row-wise softmax."""
    exps = np.exp(y_hat)
    soft_out = exps / np.sum(exps)
    return soft_out
'''

STUDENTS = ("ada", "ben", "cy")

# Grade cells each function's points depend on, for the summary table.
FUNCTIONS = {
    "relu": ("test_relu_visible", "test_relu_hidden"),
    "sigmoid": ("test_sigmoid_visible", "test_sigmoid_hidden"),
    "feed_forward": ("test_feed_forward_visible", "test_feed_forward_hidden"),
    "softmax": ("test_softmax_visible", "test_softmax_hidden"),
    "cross_entropy": ("test_cross_entropy_visible", "test_cross_entropy_hidden"),
    "mlp_gradients": ("test_mlp_gradients_visible", "test_mlp_gradients_hidden"),
    "SGD": ("test_sgd_visible", "test_sgd_hidden"),
    "training": ("test_training",),
}


def submissions(release_nb):
    """The demo notebooks, by student id."""
    ada = notebook.solved(release_nb)
    ben = notebook.solved(release_nb)
    cells = notebook.cells_by_grade_id(ben)
    cells["softmax"].source = BEN_SOFTMAX.strip()
    cells["sgd"].source = notebook.cells_by_grade_id(release_nb)["sgd"].source
    return {"ada": ada, "ben": ben, "cy": release_nb}


def run(course_dir=paths.ROOT, log=print):
    """Generate, submit, autograde, give feedback and export in ``course_dir``.

    Returns
    -------
    dict
        ``{student: {grade_id: (score, max_score)}}`` from the gradebook.

    Raises
    ------
    coursedir.CourseError
        Before grading anyone: ``course_dir`` cannot be written, or the dataset
        cannot be had (``dataset.DataUnavailable``).
    """
    course_dir = coursedir.writable_folder(course_dir)
    if not (course_dir / "nbgrader_config.py").exists():
        log(f"creating a course directory in {course_dir}")
        coursedir.make_course(course_dir)
    splits = dataset.grading_splits()
    log(f"checking the Kannada-MNIST cache: training split {splits.train!r}, holdout split {splits.holdout!r}")
    dataset.prepare(course_dir, log=log)
    log("generating the release (nbgrader generate_assignment)")
    release_dir = release.generate(course_dir)
    release_nb = notebook.read(release_dir / f"{paths.ASSIGNMENT}.ipynb")
    for student, nb in submissions(release_nb).items():
        coursedir.submit(course_dir, student, nb)
    log(f"autograding {', '.join(STUDENTS)} (nbgrader autograde)")
    coursedir.nbgrader("autograde", paths.ASSIGNMENT, "--force", course_dir=course_dir)
    log("writing feedback (nbgrader generate_feedback)")
    coursedir.nbgrader("generate_feedback", paths.ASSIGNMENT, "--force", course_dir=course_dir)
    coursedir.nbgrader("export", "--to", "grades.csv", course_dir=course_dir)
    log(f"grades exported to {course_dir / 'grades.csv'}")
    return coursedir.cell_scores(course_dir)


def table(scores):
    """A plain-text table: one row per student, autograded points per function."""
    header = ["student", *FUNCTIONS, "auto total"]
    rows = []
    for student in sorted(scores):
        cells = scores[student]
        row = [student]
        for grade_ids in FUNCTIONS.values():
            got = sum(cells[g][0] for g in grade_ids)
            full = sum(cells[g][1] for g in grade_ids)
            row.append(f"{got:g}/{full:g}")
        auto = [g for ids in FUNCTIONS.values() for g in ids]
        row.append(f"{sum(cells[g][0] for g in auto):g}/{sum(cells[g][1] for g in auto):g}")
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(v).rjust(w) for v, w in zip(r, widths)) for r in [header, *rows])


def exported_totals(course_dir=paths.ROOT):
    """``{student: raw_score}`` as written by ``nbgrader export`` (grades.csv)."""
    with open(pathlib.Path(course_dir) / "grades.csv", newline="") as handle:
        return {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(handle)}
