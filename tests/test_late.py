"""Late work: the LMS archive's times become timestamp.txt; nbgrader's late-penalty step applies the course's rule."""

import datetime
import io
import subprocess
import sys
import tarfile
import zipfile
import zoneinfo

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc
from traitlets import TraitError

import asg01
from mlpcourse import paths, records
from mlpcourse.authoring import notebook, release
from mlpcourse.grading import cellgrades, classroom, collect, coursedir, demo, late
from mlpcourse.reports import report

NOTEBOOK = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])).encode()
LONDON = "Europe/London"
# 17:00 in London, on GMT (UTC) in March.
DUE = "2026-03-05 17:00:00 Europe/London"


def _zip(entries):
    """A zip of ``(name, bytes, (Y, M, D, h, m, s))`` entries, each with the time the LMS wrote for it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, when in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=when), data)
    return buffer.getvalue()


def _timestamp(course, student):
    return (course / "submitted" / student / "asg01" / collect.TIMESTAMP).read_text()


def _utc(text):
    """What nbgrader makes of a timestamp.txt (naive UTC)."""
    return parse_utc(text)


def test_canvas_entry_times_and_late_marker(tmp_path):
    """Does each Canvas upload's entry time become its timestamp.txt, in the LMS's zone, with LATE recorded?"""
    path = tmp_path / "submissions.zip"
    path.write_bytes(_zip([
        ("lovelaceada_4411_99120_asg01.ipynb", NOTEBOOK, (2026, 3, 5, 16, 58, 0)),
        ("babbagecharles_LATE_4412_99121_Copy of asg01.ipynb", NOTEBOOK, (2026, 6, 6, 23, 0, 0)),
        ("hopperg_LATE_4413_99122_notes.pdf", b"%PDF-1.4", (2026, 3, 7, 9, 0, 0)),
    ]))
    report_ = collect.collect(path, tmp_path / "course", asg01.NAME, timezone=LONDON)
    course = tmp_path / "course"
    assert _timestamp(course, "4411") == "2026-03-05 16:58:00 Europe/London"
    assert _utc(_timestamp(course, "4411")) == datetime.datetime(2026, 3, 5, 16, 58)  # GMT: London is UTC
    assert _utc(_timestamp(course, "4412")) == datetime.datetime(2026, 6, 6, 22, 0)  # BST: an hour ahead of UTC
    students = report_["students"]
    assert "marked_late" not in students["4411"] and students["4412"]["marked_late"] is True
    assert students["4412"]["submitted_at"] == "2026-06-06 23:00:00 Europe/London"
    # No notebook, so nothing to time: the marker is still recorded.
    assert students["4413"]["marked_late"] is True and "submitted_at" not in students["4413"]
    assert not (course / "submitted" / "4413" / "asg01" / collect.TIMESTAMP).exists()
    assert records.read(paths.records_folder(course, "asg01") / "collect.json") == report_


def test_blackboard_attempt_time_wins_over_the_entry_time(tmp_path):
    """Is Blackboard's attempt time, written in the entry's name, the one nbgrader reads?"""
    path = tmp_path / "gradebook.zip"
    path.write_bytes(_zip([
        ("Assignment 1_alovelace_attempt_2026-03-05-18-30-00_asg01.ipynb", NOTEBOOK, (2026, 3, 9, 12, 0, 0)),
        ("Assignment 1_alovelace_attempt_2026-03-05-18-30-00.txt", b"Name: Ada\nDate Submitted: ...",
         (2026, 3, 9, 12, 0, 0)),
        ("Assignment 1_cbabbage_attempt_2026-03-04-10-00-00_asg01.ipynb", NOTEBOOK, (2026, 3, 9, 12, 0, 0)),
    ]))
    collect.collect(path, tmp_path / "course", asg01.NAME)
    assert _timestamp(tmp_path / "course", "alovelace") == "2026-03-05 18:30:00 UTC"
    assert _timestamp(tmp_path / "course", "cbabbage") == "2026-03-04 10:00:00 UTC"


def test_moodle_upload_times_and_nested_archives(tmp_path):
    """Does a Moodle folder entry's time count, and a notebook inside an uploaded zip take its upload's time,
    never one the student wrote into their own archive?"""
    inner = _zip([("work/asg01.ipynb", NOTEBOOK, (2020, 1, 1, 0, 0, 0))])
    path = tmp_path / "moodle.zip"
    path.write_bytes(_zip([
        ("Ada Lovelace_1201_assignsubmission_file_/asg01.ipynb", NOTEBOOK, (2026, 3, 5, 12, 0, 0)),
        ("Grace Hopper_1202_assignsubmission_file_/submission.zip", inner, (2026, 3, 6, 9, 15, 30)),
    ]))
    collect.collect(path, tmp_path / "course", asg01.NAME, timezone=LONDON)
    assert _timestamp(tmp_path / "course", "1201") == "2026-03-05 12:00:00 Europe/London"
    assert _timestamp(tmp_path / "course", "1202") == "2026-03-06 09:15:30 Europe/London"


def test_tar_archives_and_entries_without_a_time(tmp_path):
    """Is a tar entry's time (seconds since the epoch) written in the LMS's zone, and a zip entry without one
    left without a timestamp.txt?"""
    when = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=datetime.UTC)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("s1234567/asg01.ipynb")
        info.size, info.mtime = len(NOTEBOOK), when.timestamp()
        archive.addfile(info, io.BytesIO(NOTEBOOK))
    (tmp_path / "class.tar.gz").write_bytes(buffer.getvalue())
    collect.collect(tmp_path / "class.tar.gz", tmp_path / "course", asg01.NAME, timezone=LONDON)
    written = _timestamp(tmp_path / "course", "s1234567")
    assert written == "2026-07-01 13:00:00 Europe/London" and _utc(written) == when.replace(tzinfo=None)

    (tmp_path / "untimed.zip").write_bytes(_zip([("s7654321/asg01.ipynb", NOTEBOOK, collect.ZIP_NO_TIME)]))
    collect.collect(tmp_path / "untimed.zip", tmp_path / "course2", asg01.NAME)
    assert not (tmp_path / "course2" / "submitted" / "s7654321" / "asg01" / collect.TIMESTAMP).exists()


def test_an_unknown_time_zone_is_one_line_naming_the_fix(tmp_path):
    (tmp_path / "a.zip").write_bytes(_zip([("s1234567/asg01.ipynb", NOTEBOOK, (2026, 3, 5, 12, 0, 0))]))
    with pytest.raises(coursedir.CourseError, match="--timezone Europe/London"):
        collect.collect(tmp_path / "a.zip", tmp_path / "course", asg01.NAME, timezone="Mars/Olympus_Mons")


def test_collect_command_takes_the_time_zone(tmp_path):
    """Does `collect --timezone` write the LMS's zone, and a wrong zone stop with one line naming the fix?"""
    (tmp_path / "a.zip").write_bytes(_zip([("s1234567/asg01.ipynb", NOTEBOOK, (2026, 3, 5, 12, 0, 0))]))
    command = [sys.executable, "-m", "mlpcourse", "collect", str(tmp_path / "a.zip"), "--course-dir",
               str(tmp_path / "course"), "--timezone"]
    subprocess.run([*command, LONDON], capture_output=True, text=True, check=True)
    assert _timestamp(tmp_path / "course", "s1234567") == "2026-03-05 12:00:00 Europe/London"
    wrong = subprocess.run([*command, "London"], capture_output=True, text=True)
    assert wrong.returncode == 2 and wrong.stderr.strip().splitlines() == [
        "error: unknown time zone 'London': give the LMS server's as an IANA name, e.g. --timezone Europe/London"]


@pytest.mark.parametrize("hours_late, share", [(0, 0.0), (0.05, 0.0), (0.1, 0.1), (24, 0.1), (25, 0.2),
                                                (30, 0.2), (24 * 9.5, 1.0), (24 * 40, 1.0)])
def test_the_course_rule(hours_late, share):
    """10 % of the score per started day past the due date, none within 5 minutes' grace, all of it at most."""
    rule = late.LatePenalty(per_period=0.1, period_hours=24, cap=1.0, grace_minutes=5)
    assert rule.late_submission_penalty("s", 40.0, hours_late * 3600) == pytest.approx(40.0 * share)


def test_a_cap_and_a_period_of_an_hour():
    rule = late.LatePenalty(per_period=0.02, period_hours=1, cap=0.3)
    assert rule.late_submission_penalty("s", 50.0, 3 * 3600 + 1) == pytest.approx(50.0 * 0.08)
    assert rule.late_submission_penalty("s", 50.0, 100 * 3600) == pytest.approx(50.0 * 0.3)


@pytest.mark.parametrize("setting", [{"per_period": 1.5}, {"cap": -0.1}, {"period_hours": 0}])
def test_a_rule_out_of_range_is_refused(setting):
    with pytest.raises(TraitError, match="LatePenalty"):
        late.LatePenalty(**setting)


def test_a_due_date_that_is_not_a_date_is_refused():
    with pytest.raises(TraitError, match="2027-03-05 17:00:00 Europe/London"):
        late.DueDatePenalties(duedate="next friday-ish at 5")


# Dates nbgrader's parse_utc silently reads as UTC (or, for "+0100", 100 seconds ahead of it).
UNZONED = ["2026-06-05 17:00:00 BST", "2026-06-05 17:00:00 Europe/Londn", "2026-06-05 17:00:00 EDT",
           "2026-06-05T17:00:00 BST", "2026-06-05 17:00:00 +01:00", "2026-06-05 17:00:00 +0100",
           "2026-06-05 17:00:00"]


@pytest.mark.parametrize("duedate", UNZONED)
def test_a_due_date_without_a_known_zone_is_refused(duedate):
    """Is a misspelt, abbreviated or missing zone refused in one line naming the fix, not read as UTC?"""
    with pytest.raises(TraitError, match=r"Europe/London.*\+01:00") as refused:
        late.DueDatePenalties(duedate=duedate)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(("duedate", "utc"), [
    ("2026-06-05 17:00:00 Europe/London", datetime.datetime(2026, 6, 5, 16)),
    ("2026-06-05 17:00:00 UTC", datetime.datetime(2026, 6, 5, 17)),
    ("2026-06-05 17:00:00+01:00", datetime.datetime(2026, 6, 5, 16)),
    ("2026-06-05T17:00:00-04:00", datetime.datetime(2026, 6, 5, 21)),
])
def test_a_due_date_with_a_zone_is_read_in_it(duedate, utc):
    assert late.DueDatePenalties(duedate=duedate).duedate == duedate and parse_utc(duedate) == utc


@pytest.mark.parametrize("duedate", UNZONED[:3])
def test_the_late_list_refuses_a_due_date_without_a_known_zone(tmp_path, monkeypatch, duedate):
    """Does the report's late list stop with one line naming the fix, instead of counting from UTC?"""
    monkeypatch.setenv("PATH", coursedir.search_path())  # the gradebook's alembic, were it opened
    (tmp_path / "nbgrader_config.py").write_text(f"c = get_config()\nc.DueDatePenalties.duedate = {duedate!r}\n")
    with pytest.raises(coursedir.CourseError, match=r"Europe/London.*\+01:00") as refused:
        late.late_submissions(tmp_path, f"sqlite:///{tmp_path / 'gradebook.db'}", assignment=asg01.NAME)
    assert "\n" not in str(refused.value)


def test_the_course_config_sets_the_plugin_through_nbgraders_mechanism():
    """Does nbgrader_config.py run late penalties through DueDatePenalties with the course's LatePenalty?"""
    from nbgrader.converters import Autograde
    from traitlets.config.loader import PyFileConfigLoader

    from mlpcourse import paths

    config = PyFileConfigLoader("nbgrader_config.py", path=str(paths.ROOT)).load_config()
    autograde = Autograde(config=config)
    steps = [step if isinstance(step, str) else f"{step.__module__}.{step.__name__}"
             for step in autograde.autograde_preprocessors]
    assert "mlpcourse.grading.late.DueDatePenalties" in steps
    assert not any(step.endswith(".AssignLatePenalties") for step in steps)
    step = late.DueDatePenalties(config=config)
    assert step.plugin_class is late.LatePenalty
    assert late.LatePenalty(config=config).late_submission_penalty("s", 10.0, 25 * 3600) > 0


@pytest.mark.slow
def test_a_late_canvas_submission_is_penalised_by_nbgrader(course):
    """Collected from a Canvas zip and graded through real nbgrader (parallel workers' gradebooks), does the late
    submission get the rule's penalty in the course's gradebook, the on-time one none, and the report list it?"""
    release_nb = notebook.read(release.generate(course, asg01.NAME) / "asg01.ipynb")
    solved = nbformat.writes(demo.submissions(release_nb)["ada"]).encode()
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.DueDatePenalties.duedate = {DUE!r}\n")
    archive = course / "canvas.zip"
    archive.write_bytes(_zip([
        ("lovelaceada_4411_99120_asg01.ipynb", solved, (2026, 3, 5, 16, 59, 0)),
        ("babbagecharles_LATE_4412_99121_asg01.ipynb", solved, (2026, 3, 6, 23, 0, 0)),  # 30 hours late
    ]))
    collect.collect(archive, course, asg01.NAME, timezone=LONDON)
    summary = classroom.grade_class(course, workers=1, assignment=asg01.NAME, log=lambda line: None)
    assert all(outcome.graded for outcome in summary.outcomes), summary.outcomes

    due = datetime.datetime(2026, 3, 5, 17, tzinfo=zoneinfo.ZoneInfo(LONDON))
    with Gradebook(coursedir.default_db_url(course)) as gradebook:
        on_time, late_one = (gradebook.find_submission("asg01", student) for student in ("4411", "4412"))
        assert late_one.timestamp == datetime.datetime(2026, 3, 6, 23, 0)  # London is on GMT in March
        assert late_one.score > 0 and not on_time.late_submission_penalty
        # 30 hours late: 2 started days at 10 % each (the course's nbgrader_config.py).
        assert late_one.late_submission_penalty == pytest.approx(round(late_one.score * 0.2, 2))
        penalty, score, on_time_score = late_one.late_submission_penalty, late_one.score, on_time.score

    # What the report and `return` give the LMS is nbgrader export's score: the total less the penalty.
    totals = {row["student_id"]: row for row in cellgrades.rows(course, assignment=asg01.NAME)[1]}
    assert totals["4412"]["late_penalty"] == penalty and totals["4412"]["score"] == pytest.approx(score - penalty)
    assert totals["4411"]["late_penalty"] == 0 and totals["4411"]["score"] == on_time_score

    found = late.late_submissions(course, assignment=asg01.NAME)
    assert found["duedate"] == due.astimezone(datetime.UTC).replace(tzinfo=None).isoformat()
    assert found["submissions"] == [{"student_id": "4412", "submitted_at": "2026-03-06T23:00:00",
                                     "seconds_late": 30 * 3600.0, "penalty": penalty, "score": score - penalty,
                                     "marked_late": True}]
    page = report.write_html(report.compute(course, assignment=asg01.NAME), course).read_text()
    assert (f"<td>4412</td><td>2026-03-06T23:00:00 UTC</td><td>30.0 h</td><td>{penalty:g}</td>"
            f"<td>{score - penalty:g}</td><td>marked late</td>") in page
