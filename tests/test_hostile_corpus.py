"""The hostile corpus (tests/hostile/cases.py) graded in one batch through the TA's command.

One LMS zip holds every case plus the controls; ``python -m mlpcourse grade --zip``
collects, repairs, autogrades (contained), writes feedback and the tamper report.
The course uses tight limits (a few seconds per cell) so that the loops cost
little; the product's limits are in nbgrader_config.py.
"""

import hashlib
import io
import pathlib
import re
import socket
import sqlite3
import sys
import threading
import time
import zipfile

import pytest

import asg01
from mlpcourse import paths, records
from mlpcourse.authoring import notebook, release
from mlpcourse.grading import chain, classroom, coursedir, tamper

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from hostile import cases as corpus, ingest  # noqa: E402

# Cases whose graded function (or method) never returns, and its name as the TA reads it.
HUNG = {"loop_in_function": "softmax", "function_ignoring_interrupts": "softmax",
        "method_never_returns": "SGD.step", "method_rebound_never_returns": "_stuck_on_small"}
# Limits of the corpus course (appended to its nbgrader_config.py).
TEST_LIMITS = """
c.ContainedExecute.timeout = 10
c.ContainedExecute.limit_floor = 5
c.ContainedExecute.cell_timeouts = {"load_data": 120, "prepare_data": 120, "train": 120}
c.ContainedExecute.total_timeout = 300
c.ContainedExecute.interrupt_grace = 5
c.ContainedExecute.memory_limit = 3 * 2**30
c.ContainedExecute.process_limit = 64
c.ContainedExecute.output_limit = 256 * 2**10
"""
# The whole batch (about 65 submissions, a dozen of which hit a limit) must end within
# this; it takes about 8 minutes on 2 idle cores.
BATCH_SECONDS = 1200
# Graded a second time: by the CLI (grade --student), and one through grade_submission.
REGRADED = ("os_exit", "sys_modules_tamper")
REGRADED_ALONE = "fast_control"


class _CountingServer:
    """A TCP server on a loopback port that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def lms_zip(uploads, path, extra=lambda ids: {}, absent=()):
    """A zip as Canvas gives it (one LMS scheme per archive), plus macOS junk; and its roster.

    Each student's upload is named ``<lastfirst>_<user id>_<submission id>_<file>``;
    ``extra(ids)`` (``ids``: every roster student's Canvas user id) gives more files
    some students upload, ``{student: [(file name, bytes)]}``, named the same way.
    ``absent`` students are on the roster with nothing uploaded.
    """
    ids = {student: 200000 + n for n, student in enumerate([*uploads, *absent])}
    roster = ["student_id,lms_id", *(f"{student},{lms}" for student, lms in ids.items())]
    more = extra(ids)
    with zipfile.ZipFile(path, "w") as archive:
        for n, (student, (filename, data)) in enumerate(uploads.items()):
            for filename, data in [(filename, data), *more.get(student, ())]:
                archive.writestr(f"student{n}_{ids[student]}_{300000 + n}_{filename}", data)
        archive.writestr("__MACOSX/._asg01.ipynb", b"\x00\x05\x16\x07")
    path.with_suffix(".csv").write_text("\n".join(roster) + "\n")
    return path, path.with_suffix(".csv")


def _tree_hashes(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(pathlib.Path(folder).rglob("*")) if p.is_file()}


def _gradebook_definition(course_dir):
    """The assignment's cells as the gradebook defines them (hostile code must not change them)."""
    with sqlite3.connect(course_dir / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return db.execute("SELECT name, cell_type, locked, source, checksum FROM source_cell ORDER BY name").fetchall()


@pytest.fixture(scope="module")
def batch(tmp_path_factory, kannada_cache):
    """Collect and grade the whole corpus once; hand the tests what happened."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KANNADA_MNIST_DIR", str(kannada_cache))
        env.setenv("ASG01_TRAIN_SPLIT", "test")
        env.setenv("KANNADA_MNIST_URL", "http://127.0.0.1:9/")
        for name in ("GRADER_DB_PASSWORD", "LANGCHAIN_API_KEY", "ASG01_GRADER_TOKEN", "KANNADA_MNIST_TOKEN"):
            env.setenv(name, corpus.GRADER_SECRET)
        root = tmp_path_factory.mktemp("hostile")
        course = coursedir.make_course(root / "course")
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(TEST_LIMITS)
        release_dir = release.generate(course, asg01.NAME)
        server = _CountingServer()
        ctx = corpus.Context(notebook.read(release_dir / "asg01.ipynb"), notebook.read(asg01.MASTER), server.port)
        uploads = {case.name: case.build(ctx) for case in corpus.CASES}
        attacks = [case for case in corpus.CASES if isinstance(case, ingest.Attack)]
        zip_path, roster = lms_zip(uploads, root / "submissions.zip",
                                   lambda ids: {case.name: case.entries(ctx, ids) for case in attacks}, ingest.ABSENT)
        definition = _gradebook_definition(course)
        lines = []
        started = time.monotonic()
        code = pipeline_main(["grade", "--course-dir", str(course), "--zip", str(zip_path), "--roster", str(roster),
                              "--workers", "2"], lines)
        seconds = time.monotonic() - started
        summary = classroom.read_log(course, asg01.NAME)  # before the regrades below overwrite it
        submitted = _tree_hashes(course / "submitted")
        graded = coursedir.cell_scores(course, asg01.NAME)
        scores = {case.name: graded.get(case.name, {}) for case in corpus.CASES}
        students = [argument for name in REGRADED for argument in ("--student", name)]
        pipeline_main(["grade", "--course-dir", str(course), *students], lines)
        regraded = {name: coursedir.cell_scores(course, asg01.NAME, students=[name]).get(name, {})
                    for name in REGRADED}
        alone = chain.grade_submission(course, REGRADED_ALONE, asg01.NAME)
        regraded[REGRADED_ALONE] = alone.cells
        yield {"course": course, "code": code, "lines": lines, "seconds": seconds, "server": server, "summary": summary,
               "scores": scores, "regraded": regraded, "definition": definition, "submitted": submitted,
               "uploads": uploads}


def pipeline_main(argv, lines):
    """Run the CLI in this process, collecting what it prints."""
    from mlpcourse import cli

    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        code = cli.main(argv)
    lines += out.getvalue().splitlines()
    return code


def _case(name):
    return next(case for case in corpus.CASES if case.name == name)


@pytest.mark.slow
def test_batch_finishes_in_bounded_time(batch):
    """Does the TA's grade command get through the whole corpus in time, failing exactly the unreadable uploads?"""
    assert batch["code"] == 1, "\n".join(batch["lines"])  # 1: some uploads could not be graded
    assert sorted(o.student for o in batch["summary"].failed) == sorted(
        case.name for case in corpus.CASES if case.status != "graded"), "\n".join(batch["lines"])
    assert batch["seconds"] < BATCH_SECONDS, f"the batch took {batch['seconds']:.0f} s"


@pytest.mark.slow
def test_control_keeps_full_marks(batch):
    """Does the reference solution, graded beside the corpus, keep every autograded point?"""
    cells = batch["scores"]["control"]
    tests = {g: v for g, v in cells.items() if g.startswith("test_")}
    assert tests and all(score == full for score, full in tests.values()), tests


@pytest.mark.slow
@pytest.mark.parametrize("case", [case for case in corpus.CASES if case.name != "control"],
                         ids=lambda case: case.name)
def test_case_gets_declared_outcome(batch, case):
    """Does each corpus case score 0 exactly where declared, and as the fast control elsewhere?"""
    course = batch["course"]
    scores = batch["scores"][case.name]
    baseline = batch["scores"]["fast_control"]
    outcome = next((o for o in batch["summary"].outcomes if o.student == case.name), None)
    assert outcome is not None and outcome.graded == (case.status == "graded"), outcome
    assert set(scores) == set(baseline), f"{case.name} is missing grade cells in the gradebook"
    for grade_id, (score, full) in scores.items():
        if not grade_id.startswith("test_"):
            continue
        expected = 0.0 if grade_id in case.zero else baseline[grade_id][0]
        assert score == expected, f"{case.name}: {grade_id} scored {score}, expected {expected}"
    result = records.read(paths.records_folder(course, "asg01", case.name) / "repair.json")
    expected_status = {"graded": "repaired", "unreadable": "unreadable", "no notebook": "no notebook"}[case.status]
    assert result["status"] == expected_status
    report = records.read(paths.records_folder(course, "asg01", case.name) / "tamper.json")
    assert bool(report["flags"]) == case.flagged, report["flags"]
    if case.incident:
        run = records.read(paths.records_folder(course, "asg01", case.name) / "run.json")
        assert any(case.incident in incident["what"] for incident in run["incidents"]), run["incidents"]
    if case.says:
        messages = "\n".join(cell.get("message", "") for cell in
                             records.read(paths.records_folder(course, "asg01", case.name) / "run.json")["cells"])
        assert all(phrase in messages for phrase in case.says), messages
    # What grading wrote for the student: their folders' files, but the release's own (public) files.
    released = {file.name: file.read_bytes() for file in (course / "release" / "asg01").iterdir() if file.is_file()}
    for text in case.absent:
        for path in [course / "autograded" / case.name, course / "feedback" / case.name]:
            for file in path.rglob("*"):
                if file.is_file() and released.get(file.name) != file.read_bytes():
                    assert text not in file.read_text(errors="replace"), f"{text!r} in {file}"


@pytest.mark.slow
def test_fast_control_is_not_flagged_or_stopped(batch):
    """Does the fast control run without incidents, re-runs all passing, and the tests it should pass pass?"""
    run = records.read(paths.records_folder(batch["course"], "asg01", "fast_control") / "run.json")
    assert run["sandbox"] == "root" and not run["incidents"] and not run["observations"]
    assert all(c.get("rerun") in (None, "passed") for c in run["cells"])
    passing = [g for g, (score, full) in batch["scores"]["fast_control"].items() if g.startswith("test_") and score]
    assert len(passing) >= 14, passing


@pytest.mark.slow
def test_submitted_files_and_gradebook_intact(batch):
    """Are the uploads in submitted/ byte-identical after grading, and the gradebook's assignment unchanged?"""
    course = batch["course"]
    assert _tree_hashes(course / "submitted") == batch["submitted"]
    assert _gradebook_definition(course) == batch["definition"]
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute("SELECT student.id, COUNT(*) FROM submitted_assignment "
                          "JOIN student ON student.id = submitted_assignment.student_id GROUP BY student.id").fetchall()
    assert sorted(name for name, count in rows if count == 1) == sorted(case.name for case in corpus.CASES)


@pytest.mark.slow
def test_regrading_gives_identical_scores(batch):
    """Does grading the same submissions again (CLI for some, grade_submission for one) give the same scores?"""
    for student, cells in batch["regraded"].items():
        assert cells == batch["scores"][student], student


@pytest.mark.slow
def test_network_probe_never_reaches_loopback_server(batch):
    """Did the server on a loopback port get no connection from the network probe?"""
    assert batch["server"].connections == 0
    graded = (batch["course"] / "autograded" / "network_probe" / "asg01" / "asg01.ipynb").read_text()
    assert "no connection to" in graded and "Network is unreachable" in graded


@pytest.mark.slow
def test_hidden_fixtures_out_of_reach(batch):
    """Did the submission hunting for the hidden fixtures find none of them?"""
    graded = (batch["course"] / "autograded" / "read_hidden_fixtures" / "asg01" / "asg01.ipynb").read_text()
    assert "hidden fixtures not found" in graded


@pytest.mark.slow
def test_feedback_never_shows_hidden_tests(batch):
    """Is every feedback page free of hidden test code, the hidden module and fixture names, and course paths?"""
    course = batch["course"]
    pages = {page.parts[-3]: page for page in (course / "feedback").rglob("*.html")}
    assert set(pages) == {case.name for case in corpus.CASES}
    for student, page in pages.items():
        text = page.read_text()
        uploaded = batch["uploads"][student][1].decode(errors="replace")
        for secret in ("BEGIN HIDDEN TESTS", "asg01_hidden", "hidden_fixtures", "tests_assets", str(course)):
            if secret not in uploaded:  # a student's own code may name them
                assert secret not in text, f"{secret!r} in {page}"


@pytest.mark.slow
def test_tamper_report_lists_exactly_the_flagged_cases(batch):
    """Does the class tamper report flag the hostile cases that tamper, and no honest one?"""
    flagged = {student for student, flags in tamper.read_reports(batch["course"], asg01.NAME).items() if flags}
    assert flagged == {case.name for case in corpus.CASES if case.flagged}
    # The grade command's summary names the same submissions, and its progress lines count their flags.
    summary = batch["summary"]
    assert {o.student for o in summary.outcomes if o.flags} == flagged
    assert f"flagged for review {len(flagged)}: " in summary.text()
    for student in flagged:
        assert any(f"] {student}: " in line and "tamper flag" in line for line in batch["lines"]), student
    text = (paths.records_folder(batch["course"], "asg01") / "tamper.md").read_text()
    assert all(f"## {case.name} — FLAGGED" in text for case in corpus.CASES if case.flagged)


@pytest.mark.slow
def test_collect_report_names_renamed_and_broken_uploads(batch):
    """Does the collect report say which uploads were renamed, unreadable or not notebooks?"""
    report = records.read(paths.records_folder(batch["course"], "asg01") / "collect.json")
    assert report["students"]["copy_of_name"]["renamed_from"] == "Copy of asg01.ipynb"
    assert report["students"]["numbered_name"]["renamed_from"] == "asg01 (1).ipynb"
    assert any("not valid JSON" in p for p in report["students"]["invalid_json"]["problems"])
    assert any("no notebook" in p for p in report["students"]["non_notebook_upload"]["problems"])
    assert any(f["status"] == "ignored" and "__MACOSX" in f["path"] for f in report["files"])


@pytest.mark.slow
def test_class_report_lists_functions_that_did_not_return(batch):
    """Does the class report list each submission that hit a time limit, with the function and the time?"""
    from mlpcourse.reports import report

    crashes = report.compute(batch["course"], assignment=asg01.NAME)["crashes"]
    for student, function in HUNG.items():
        rows = [row["detail"] for row in crashes if row["student_id"] == student]
        assert any(re.search(rf"{re.escape(function)} did not return within \d+ s", row) for row in rows), rows


@pytest.mark.slow
def test_progress_says_which_function_did_not_return(batch):
    """Does the TA's progress line name the function that hit a time limit, and the time?"""
    for student, function in HUNG.items():
        line = next(line for line in batch["lines"] if f"] {student}: " in line)
        assert re.search(rf"did not return: {re.escape(function)} \(\d+ s\)", line), line
