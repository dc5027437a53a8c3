"""Tamper reports: hostile patterns are flagged, honest code never is."""

import dataclasses
import pathlib
import sys

import pytest

import asg01
from mlpcourse import assignment, paths, records
from mlpcourse.authoring import notebook
from mlpcourse.grading import demo, tamper

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from hostile import cases as corpus  # noqa: E402


@pytest.mark.parametrize("code, flag", [
    ("np.allclose = lambda *a, **k: True", "replaces np.allclose"),
    ("import numpy\nnumpy.testing.assert_allclose = print", "replaces numpy.testing.assert_allclose"),
    ("import builtins\nbuiltins.abs = lambda x: 0", "replaces builtins.abs"),
    ("setattr(np, 'isfinite', f)", "setattr on np"),
    ("asg01_checks.check_array = lambda *a, **k: None", "replaces asg01_checks.check_array"),
    ("import sys\nsys.modules['asg01_hidden'] = fake", "edits sys.modules"),
    ("sys.modules.pop('numpy')", "edits sys.modules"),
    ("sys.settrace(tracer)", "sets a trace function"),
    ("import signal\nsignal.signal(signal.SIGALRM, handler)", "installs a signal handler"),
    ("signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)", "starts a timer"),
    ("get_ipython().set_custom_exc((Exception,), swallow)", "changes how IPython runs cells"),
    ("get_ipython().input_transformers_cleanup.append(drop)", "changes how IPython runs cells"),
    ("get_ipython().events.register('pre_run_cell', f)", "changes how IPython runs cells"),
    ("shell = get_ipython()\nshell.set_custom_exc((Exception,), swallow)", "changes how IPython runs cells"),
    ("frame = sys._getframe(1)", "reads the caller's frames"),
    ("import inspect\ninspect.stack()", "reads the caller's frames"),
    ("import gc\ngc.get_objects()", "searches every object in memory"),
    ("import ctypes", "uses ctypes"),
    ("from asg01_hidden import check_relu", "imports asg01_hidden"),
    ("np.load('../../tests_assets/asg01/asg01_hidden_fixtures.npz')", "refers to the hidden tests"),
    ("class Yes:\n    def __eq__(self, other):\n        return True", "defines Yes.__eq__ returning a constant"),
    ("class Liar(np.ndarray):\n    pass", "defines an ndarray subclass"),
])
def test_hostile_patterns_are_flagged(code, flag):
    """Is each pattern with no honest use in this assignment flagged?"""
    flags, _ = tamper.scan_source(code)
    assert any(flag in text for _, text in flags), flags


@pytest.mark.parametrize("code, note", [
    ("import os\nos._exit(0)", "ends the kernel"),
    ("os.fork()", "starts processes"),
    ("import socket\nsocket.create_connection(('127.0.0.1', 80))", "opens network connections"),
    ("import shutil\nshutil.rmtree('..')", "deletes folders"),
    ("sys.exit(1)", "calls sys.exit()"),
])
def test_suspicious_but_possible_code_is_a_note(code, note):
    """Is code that buggy honest work might contain noted, but not flagged?"""
    flags, notes = tamper.scan_source(code)
    assert not flags and any(note in text for _, text in notes)


HONEST = '''
import time, os, math, warnings, sys
import matplotlib.pyplot as plt
np.random.seed(0)
np.seterr(all="ignore")
warnings.filterwarnings("ignore")
plt.rcParams["figure.figsize"] = (8, 4)
print("debug", file=sys.stderr)
start = time.perf_counter()

class Layer:
    """A layer of my own."""
    def __init__(self, n):
        self.n = n
    def __repr__(self):
        return f"Layer({self.n})"

def check(x):
    assert np.all(np.isfinite(x)), "not finite"
    return x

results = {}
results["time"] = time.perf_counter() - start
os.makedirs("plots", exist_ok=True)
plt.savefig(os.path.join("plots", "curves.png"))
'''


def test_honest_code_is_never_flagged():
    """Do common honest idioms (seeding, warnings, stderr prints, plotting, own classes) raise no flag?"""
    flags, _ = tamper.scan_source(HONEST)
    assert flags == []


@pytest.mark.parametrize("name", ["reference", "demo_ben", "untouched_release"])
def test_honest_notebooks_are_never_flagged(name):
    """Do the reference solution, the demo's partly wrong student and the untouched release raise no flag?"""
    release = notebook.read(asg01.RELEASE_NOTEBOOK)
    nb = {"reference": notebook.solved(release), "demo_ben": demo.submissions(release)["ben"],
          "untouched_release": release}[name]
    flags, _ = tamper.static_findings(nb)
    assert flags == []


def test_given_and_test_cells_are_not_scanned():
    """Is code in locked cells (the instructor's) left out of the scan?"""
    release = notebook.read(asg01.RELEASE_NOTEBOOK)
    nb = notebook.solved(release)
    notebook.cells_by_grade_id(nb)["setup"].source += "\nimport ctypes"
    assert tamper.static_findings(nb) == ([], [])


def test_run_findings_flag_changes_and_inconsistent_tests():
    """Are kernel changes and tests that only passed inside the kernel flagged, crashes only noted?"""
    run = {
        "cells": [{"index": 6, "grade_id": "test_relu_visible", "inconsistent": True, "rerun": "failed"},
                  {"index": 9, "grade_id": "test_softmax_hidden", "rerun": "no verdict"}],
        "observations": [{"cell": 6, "what": "numpy.allclose was replaced"}],
        "incidents": [{"cell": 12, "what": "cell timed out after 10.0 s"}],
    }
    flags, notes = tamper.run_findings(run)
    assert {f["what"] for f in flags} == {"numpy.allclose was replaced",
                                          "the test passed inside the kernel but failed when the grader re-ran it"}
    assert flags[0]["where"] == "seen after cell 7 (test_relu_visible)"
    assert len(notes) == 2


def test_reports_are_written_and_read_back(course):
    """Does report() write tamper.json that read_reports() and the class report list?"""
    release = notebook.read(asg01.RELEASE_NOTEBOOK)
    ctx = corpus.Context(release, notebook.read(asg01.MASTER), port=9)
    for student, build in (("honest", corpus.fast_control), ("cheat", corpus.allclose_patched)):
        folder = course / "submitted" / student / "asg01"
        folder.mkdir(parents=True)
        (folder / "asg01.ipynb").write_bytes(build(ctx)[1])
        tamper.report(course, student, asg01.NAME)
    reports = tamper.read_reports(course, asg01.NAME)
    assert reports["honest"] == [] and any("replaces np.allclose" in f for f in reports["cheat"])
    text = tamper.class_report(course, ["cheat", "honest"], asg01.NAME)
    assert "1 of 2 submissions flagged" in text and "## cheat — FLAGGED" in text and "## honest" not in text
    assert records.read(paths.records_folder(course, "asg01") / "tamper.json")["honest"]["flags"] == []


def test_the_assignments_own_modules_come_from_its_description():
    """Are another assignment's helper and hidden modules watched (and asg01's not) when scanning its notebooks?"""
    other = dataclasses.replace(assignment.load(), name="asg02", helper_module="asg02_checks",
                                hidden_module="asg02_hidden", data=None)
    replaces, imports = "asg02_checks.check_close = lambda *args: None", "import asg02_hidden"
    assert tamper.scan_source(replaces, other)[0] and tamper.scan_source(imports, other)[0]
    assert not tamper.scan_source(replaces)[0] and not tamper.scan_source(imports)[0]
    assert not tamper.scan_source("asg01_checks.check_close = None", other)[0]
    assert tamper.scan_source("asg01_checks.check_close = None")[0]
