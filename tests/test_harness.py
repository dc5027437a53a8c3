"""The fast harness grades like nbgrader: same cells, same scoring rule, isolated entries.

The slow test at the end grades a sample of the catalogue with real ``nbgrader
autograde`` and checks that every grade cell gets the same score as on the fast path.
"""

import json

import nbformat
import pytest

import asg01
from mlpcourse import assignment
from mlpcourse.authoring import notebook
from mlpcourse.quality import catalogue, harness
from mlpcourse.quality.catalogue.entry import equivalent, mutant

# A correct sigmoid that writes to file descriptor 2 behind Python's back (the redirect
# in asg01_checks.quiet only catches Python-level writes). Plain nbgrader would score
# the test cells that call it 0; this course's contained autograde scores by verdicts
# and keeps stderr as stdout. Not a catalogue entry: a probe of that rule.
STDERR_PROBE = equivalent("sigmoid", "probe_sigmoid_writes_fd2", "a correct sigmoid that writes to file descriptor 2", """
    import os

    def sigmoid(x, deriv=False):
        os.write(2, b"sigmoid called\\n")
        s = 0.5 * (1 + np.tanh(0.5 * x))
        return s * (1 - s) if deriv else s
""")

# Entries also graded by real nbgrader autograde (10-40 s each, training included),
# with STDERR_PROBE: a mutant caught only by a hidden test, one caught by the visible
# test too, one whose state survives from one run of a test to the next (the grader's
# re-run catches it), and an equivalent that updates the parameters in place (its
# training must keep its points too).
AGREEMENT_SAMPLE = (
    "softmax_shift_mean",
    "mlp_gradients_reversed_order",
    "sgd_class_level_velocity",
    "sgd_inplace_returns",
)


def _scores(result):
    return {cell: grade["score"] for cell, grade in result["grades"].items()}


def test_fast_path_stops_before_the_data_section():
    """Does the fast path run every code cell up to the data section and score the cells before it?"""
    nb = notebook.read(asg01.MASTER)
    ids = [notebook.grade_id(cell) for cell in nb.cells if cell.cell_type == "code"]
    cells = harness.fast_path_cells(nb)
    assert [cell.grade_id for cell in cells] == ids[:ids.index(assignment.load().data.first_cell)]
    autograded = {notebook.grade_id(c): c.metadata.nbgrader["points"] for c in nb.cells
                  if c.metadata.nbgrader.get("grade") and c.cell_type == "code"}
    assert {**harness.grade_cells(nb), **harness.skipped_grade_cells(nb)} == autograded
    assert harness.skipped_grade_cells(nb) == {"test_training": 5}


def test_outputs_never_score():
    """Does a wrong softmax keep losing its points when it forges outputs (display hook, an expression result)?"""
    forger = mutant("softmax", "probe_forged_outputs", "uniform softmax that displays a string as a result", """
        import sys

        def softmax(y_hat):
            sys.displayhook("full marks, please")
            return np.ones_like(y_hat) / y_hat.shape[1]

        "full marks, please"
    """)
    grades = harness.run([forger])["probe_forged_outputs"]["grades"]
    assert grades["test_softmax_visible"]["score"] == grades["test_softmax_hidden"]["score"] == 0
    assert grades["test_relu_visible"]["score"] == 2


def test_reference_keeps_every_point_and_no_cell_raises():
    """Does the master's own solution get full marks on every fast-path cell, with no cell raising?"""
    result = harness.run([catalogue.REFERENCE])["reference"]
    assert {cell: grade["score"] for cell, grade in result["grades"].items()} == harness.grade_cells()
    assert result["errors"] == {}


def test_each_entry_runs_in_its_own_process():
    """Does an entry that breaks numpy for its own process leave the next entry's grades alone?"""
    saboteur = mutant("softmax", "probe_breaks_numpy", "replaces np.exp and hides the hidden checks", """
        import sys

        np.exp = lambda x: x
        sys.modules["asg01_hidden"] = None
    """)
    results = harness.run([saboteur, catalogue.REFERENCE], workers=1)
    assert _scores(results["reference"]) == harness.grade_cells()
    sabotaged = _scores(results["probe_breaks_numpy"])
    assert sabotaged["test_softmax_visible"] == sabotaged["test_sgd_hidden"] == 0


def test_an_entry_that_hangs_is_stopped_and_scores_zero_from_there():
    """Does an endless softmax get stopped at the timeout, keeping the cells graded before it?"""
    endless = mutant("softmax", "probe_endless_softmax", "never returns", """
        def softmax(y_hat):
            while True:
                pass
    """)
    result = harness.run([endless], timeout=5)["probe_endless_softmax"]["grades"]
    assert result["test_relu_visible"]["score"] == 2
    assert result["test_mlp_gradients_visible"]["score"] == 0
    assert "longer than 5 s" in result["test_softmax_visible"]["message"]


def test_stderr_output_is_scored_by_the_course_rule():
    """Does stderr output cost a test cell its points exactly when the course's autograde says so?"""
    result = harness.run([STDERR_PROBE])[STDERR_PROBE.id]["grades"]
    assert result["test_sigmoid_visible"]["score"] == 2
    assert result["test_relu_visible"]["score"] == 2


def test_a_passing_test_is_rerun_against_the_state_it_left():
    """Does a test that passes once but not twice (state kept on the class) lose its points, as the grader's re-run makes it?"""
    result = harness.run([catalogue.by_id()["sgd_class_level_velocity"]])["sgd_class_level_velocity"]["grades"]
    visible = result["test_sgd_visible"]
    assert visible["score"] == 0
    assert visible["message"].startswith("in the grader's re-run: CheckFailure: SGD.velocity[0]['w']")


def test_feedback_check_flags_a_message_without_function_or_case():
    """Does the feedback check reject a visible-test message that names neither the function nor the case?"""
    entry = catalogue.by_id()["softmax_axis0"]
    vague = {"grades": {"test_softmax_visible": {"score": 0.0, "max": 3.0,
                                                 "message": "AssertionError: arrays differ"}}}
    problems = harness.feedback_problems(entry, vague)
    assert len(problems) == 3 and "does not name softmax" in problems[0]


@pytest.mark.slow
def test_fast_path_agrees_with_nbgrader_autograde(course):
    """Does real nbgrader autograde give every sampled entry the same score per grade cell as the fast path?"""
    entries = [catalogue.by_id()[entry_id] for entry_id in AGREEMENT_SAMPLE] + [STDERR_PROBE]
    real = harness.autograde(entries, course)
    fast = harness.run(entries)
    for entry in entries:
        assert {cell: real[entry.id][cell] for cell in harness.grade_cells()} == _scores(fast[entry.id]), \
            json.dumps({"entry": entry.id, "real": real[entry.id], "fast": fast[entry.id]}, indent=1)
    print("test_training through real autograde:", {entry.id: real[entry.id]["test_training"] for entry in entries})
    for entry in entries:
        if entry.kind == catalogue.EQUIVALENT:
            assert real[entry.id]["test_training"] == 5, f"{entry.id} lost its training points"
    # The notebook's asides ran in the real kernel: the tiny batch was learnt by heart.
    graded = nbformat.read(str(course / "autograded" / "sgd_inplace_returns" / asg01.NAME
                               / f"{asg01.NAME}.ipynb"), as_version=4)
    outputs = {notebook.grade_id(cell): "".join(o.get("text", "") for o in cell.get("outputs", []))
               for cell in graded.cells if cell.cell_type == "code"}
    assert "times faster" in outputs["vectorise_timing"]
    tiny_loss = float(outputs["overfit_tiny_batch"].split("loss ")[1].split()[0])
    assert tiny_loss < 0.05 and "accuracy 100%" in outputs["overfit_tiny_batch"]
