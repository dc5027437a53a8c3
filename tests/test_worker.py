"""The long-lived grading process: nbgrader imported once, nothing of one command reaching the next."""

import os
import pathlib
import resource
import sys

import nbformat
import pytest

import asg01
from mlpcourse import paths, records
from mlpcourse.authoring import notebook, release
from mlpcourse.grading import cellgrades, chain, coursedir, demo
from mlpcourse.grading.worker import NbgraderWorker

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from hostile import cases  # noqa: E402

# A course whose config, in the worker (PROBE set), reports what the process looks like when
# the config is read, then changes it, and, when told by a file in the course, runs away or hangs.
PROBE_CONFIG = """
import os, pathlib, resource, sys, tempfile, time
c = get_config()  # noqa: F821
c.ContainedExecute.grader_memory_limit = {limit}
here = pathlib.Path(__file__).resolve().parent
if os.environ.get("PROBE"):
  print("pid", os.getpid(), "limit", resource.getrlimit(resource.RLIMIT_AS)[0], flush=True)
  print("leak", os.environ.get("LEFT_BY_LAST"), "path", sys.path.count("/left/by/last"), flush=True)
  print("tmp", tempfile.gettempdir(), flush=True)
  os.environ["LEFT_BY_LAST"] = "yes"
  sys.path.append("/left/by/last")
  if (here / "allocate").exists():
      block = bytearray({limit})
  if (here / "hold").exists():  # kept after the command: the process holds over half its cap
      import builtins
      builtins.held = bytearray({limit} * 3 // 5)
  if (here / "hang").exists():
      time.sleep(600)
"""


# A command that succeeds in any folder (it creates an empty gradebook there).
COMMAND = ["db", "student", "list"]


def _lines(output, key):
    return [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith(key + " ")]


@pytest.fixture
def probe_course(tmp_path):
    limit = 2 * 2**30
    (tmp_path / "nbgrader_config.py").write_text(PROBE_CONFIG.format(limit=limit))
    return tmp_path, limit


def test_commands_share_the_process_not_its_state(probe_course):
    """Do two commands run in one process under the cap, each starting without what the last one changed?"""
    course, limit = probe_course
    with NbgraderWorker(course, {"PROBE": "1"}) as worker:
        first_code, first = worker.run(COMMAND, 120)
        second_code, second = worker.run(COMMAND, 120)
        assert worker.started == 1
    assert first_code == second_code == 0, first + second
    # nbgrader reads its config more than once per command: every read of the second starts clean.
    assert _lines(first, "pid")[0] == _lines(second, "pid")[0] == f"{worker.process_id} limit {limit}"
    assert _lines(second, "leak")[0] == "None path 0"
    first_tmp, second_tmp = _lines(first, "tmp")[0], _lines(second, "tmp")[0]
    assert first_tmp != second_tmp and not os.path.exists(first_tmp)  # a fresh TMPDIR each, removed


def test_the_memory_cap_holds_and_a_bloated_process_is_replaced(probe_course):
    """Is allocating past the cap a MemoryError in the worker, and does a process left holding over
    half its cap make way for a fresh one?"""
    course, limit = probe_course
    with NbgraderWorker(course, {"PROBE": "1"}) as worker:
        (course / "allocate").touch()
        _, output = worker.run(COMMAND, 120)
        assert "MemoryError" in output, output
        (course / "allocate").unlink()
        (course / "hold").touch()
        code, output = worker.run(COMMAND, 120)
        assert code == 0 and worker.started == 1, output
        (course / "hold").unlink()
        code, output = worker.run(COMMAND, 120)
        assert code == 0 and worker.started == 2, output
    assert _lines(output, "leak")[0] == "None path 0"


def test_a_command_past_its_time_is_stopped_with_its_process(probe_course):
    """Is a command that hangs stopped after its time (None), its process gone, the next one served?"""
    course, _ = probe_course
    with NbgraderWorker(course, {"PROBE": "1"}) as worker:
        (course / "hang").touch()
        code, _ = worker.run(COMMAND, 3)
        stopped = worker.process_id
        assert code is None and not os.path.exists(f"/proc/{stopped}")
        (course / "hang").unlink()
        code, output = worker.run(COMMAND, 120)
        assert code == 0 and worker.started == 2, output


def test_the_worker_starts_under_the_courses_cap(probe_course):
    """Is the cap set on the worker process itself (prlimit), as on a one-off nbgrader process?"""
    course, limit = probe_course
    with NbgraderWorker(course) as worker:
        worker.start()
        assert resource.prlimit(worker.process_id, resource.RLIMIT_AS)[0] == limit


@pytest.mark.slow
def test_a_hostile_submission_leaves_nothing_for_the_next_student(course):
    """Graded in the same process right after a hostile submission, does an honest one get full marks,
    and its own records only?"""
    release_nb = notebook.read(release.generate(course, asg01.NAME) / f"{asg01.NAME}.ipynb")
    honest = demo.submissions(release_nb)["ada"]
    # The corpus's objects that claim to equal anything, and a class named like the grader's own exceptions.
    _, upload = cases.eq_always_true(cases.Context(release_nb, notebook.read(asg01.MASTER), port=9))
    hostile = nbformat.reads(upload.decode(), as_version=4)
    notebook.cells_by_grade_id(hostile)["relu_sigmoid"].source += '\nJudgeError = type("JudgeError", (Exception,), {})\n'
    coursedir.submit(course, "mallory", hostile, asg01.NAME)
    coursedir.submit(course, "honest", honest, asg01.NAME)
    with NbgraderWorker(course) as worker:
        bad = chain.grade_submission(course, "mallory", asg01.NAME, worker=worker)
        good = chain.grade_submission(course, "honest", asg01.NAME, worker=worker)
        assert worker.started == 1  # the same process graded both
    assert bad.status == "graded" and bad.flags and bad.score < bad.max_score
    assert bad.cells["test_relu_visible"][0] == 0
    autograded = [c["grade_id"] for c in cellgrades.grade_cells(course, assignment=asg01.NAME)
                  if c["kind"] == "auto"]
    assert good.status == "graded" and good.flags == [] and autograded
    assert all(good.cells[cell][0] == good.cells[cell][1] > 0 for cell in autograded), good.cells  # full marks
    run = records.read(paths.records_folder(course, asg01.NAME, "honest") / "run.json")
    assert run["student"] == "honest" and run["observations"] == [] and run["incidents"] == []
    assert all(entry.get("verdict") in (None, "passed") for entry in run["cells"])
    assert (course / "feedback" / "honest" / asg01.NAME / f"{asg01.NAME}.html").exists()
