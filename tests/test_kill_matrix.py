"""The kill matrix and its CI gate: every bug caught and charged once, every correct variant accepted.

One run of ``python -m mlpcourse kill-matrix`` (the whole catalogue through the fast
harness, about a minute on 2 cores) feeds every test here.
"""

import json
import re
import subprocess
import sys

import pytest

from mlpcourse import paths
from mlpcourse.quality import catalogue, killmatrix


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The kill-matrix command's exit status, output and report folder."""
    out = tmp_path_factory.mktemp("kill-matrix")
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "kill-matrix", "--out", str(out)],
                            capture_output=True, text=True, cwd=paths.ROOT)
    return result, out


@pytest.fixture(scope="module")
def matrix(run):
    return json.loads((run[1] / "kill_matrix.json").read_text())


def _failures(run, pattern):
    return [line for line in run[0].stdout.splitlines() if line.startswith("FAIL:") and re.search(pattern, line)]


def test_kill_matrix_command_passes(run):
    """Does `python -m mlpcourse kill-matrix` exit 0, with no gate failure and no change from the golden?"""
    result, _ = run
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "mutants caught" in result.stdout


def test_every_mutant_loses_points_on_its_function(matrix, run):
    """Does every mutant of the catalogue lose points on its own function's grade cells?"""
    assert matrix["summary"]["survivors"] == [], _failures(run, "keeps full marks")
    assert matrix["summary"]["mutants"] == len(catalogue.MUTANTS)


def test_every_equivalent_keeps_every_point(matrix):
    """Does every correct variant of the catalogue, and the master's own solution, keep every point?"""
    assert matrix["summary"]["equivalents_rejected"] == []
    assert matrix["summary"]["equivalents_accepted"] == len(catalogue.EQUIVALENTS)
    assert matrix["entries"][0] == {"id": "reference", "kind": "reference", "function": None,
                                    "description": catalogue.REFERENCE.description, "lost": {}}


def test_every_bug_is_charged_once(matrix):
    """Does every caught mutant lose points only on its own function's grade cells?"""
    assert matrix["summary"]["charged_elsewhere"] == {}
    assert matrix["summary"]["charged_once_share"] == 1.0


def test_visible_failures_name_function_case_and_discrepancy(run):
    """Does every visible-test failure name the function and input case and show the discrepancy?"""
    assert _failures(run, "the visible message") == []


def test_matrix_matches_the_golden_file(matrix):
    """Is the fresh kill matrix the one committed in tests/goldens (else: review, then update it)?"""
    differences = killmatrix.golden_differences(matrix, killmatrix.read_golden())
    assert differences == [], f"run `{killmatrix.UPDATE_COMMAND}` after reviewing:\n" + "\n".join(differences)


def test_a_changed_matrix_fails_and_names_the_update_command(run, tmp_path):
    """Does the command exit 1 naming the update command when the golden differs, and does --update-golden fix it?"""
    _, out = run
    golden = json.loads((out / "kill_matrix.json").read_text())
    golden["entries"][1]["lost"] = {}
    stale = tmp_path / "golden.json"
    stale.write_text(json.dumps(golden))
    command = [sys.executable, "-m", "mlpcourse", "kill-matrix", "--from-json", str(out / "kill_matrix.json"),
               "--out", str(tmp_path / "reports"), "--golden", str(stale)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"changed: {golden['entries'][1]['id']}: lost {{}} ->" in result.stdout
    assert killmatrix.UPDATE_COMMAND in result.stdout
    subprocess.run(command + ["--update-golden"], capture_output=True, text=True, check=True)
    assert json.loads(stale.read_text()) == json.loads((out / "kill_matrix.json").read_text())


def test_gate_names_survivors_cross_charges_and_rejected_equivalents():
    """Does the gate refuse a surviving mutant, a bug charged to another function and a rejected equivalent?"""
    entries = [
        {"id": "reference", "kind": "reference", "function": None, "description": "", "lost": {}},
        {"id": "relu_a", "kind": "mutant", "function": "relu", "description": "a", "lost": {}},
        {"id": "relu_b", "kind": "mutant", "function": "relu", "description": "b",
         "lost": {"test_relu_hidden": 3.0, "test_sgd_visible": 5.0}},
        {"id": "relu_c", "kind": "equivalent", "function": "relu", "description": "c", "lost": {"test_relu_visible": 2.0}},
        {"id": "relu_d", "kind": "mutant", "function": "relu", "description": "d", "lost": {"test_relu_visible": 2.0}},
    ]
    failures = killmatrix.gate_failures({"entries": entries})
    assert len(failures) == 3
    assert "relu_a keeps full marks" in failures[0]
    assert "relu_b (relu) also costs points on ['test_sgd_visible']" in failures[1]
    assert "equivalent relu_c" in failures[2]
    summary = killmatrix.summarise({"entries": entries, "grade_cells": {}, "not_measured": {}})
    assert summary["charged_once"] == 1 and summary["mutants_caught"] == 2 and summary["survivors"] == ["relu_a"]


def test_reports_render_from_the_json_alone(matrix, run, tmp_path):
    """Do the Markdown, HTML and PNG reports come from the JSON, the same bytes every time?"""
    _, out = run
    again = killmatrix.write_reports(matrix, tmp_path)
    for path in again:
        assert path.read_bytes() == (out / path.name).read_bytes(), path.name
    summary = matrix["summary"]
    markdown = (out / "kill_matrix.md").read_text()
    assert f"**Mutants caught: {summary['mutants_caught']} of {summary['mutants']}**" in markdown
    assert f"**Equivalents accepted: {summary['equivalents_accepted']} of {summary['equivalents']}**" in markdown
    page = (out / "kill_matrix.html").read_text()
    assert all(f"<th>{row['id']}</th>" in page for row in matrix["entries"])
    assert (out / "kill_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_make_target_runs_the_command():
    """Does `make kill-matrix` run `python -m mlpcourse kill-matrix`?"""
    result = subprocess.run(["make", "--no-print-directory", "-n", "kill-matrix"], capture_output=True, text=True, cwd=paths.ROOT, check=True)
    assert result.stdout.strip().splitlines()[-1].endswith("-m mlpcourse kill-matrix")
