"""Collecting an LMS archive: one naming scheme per archive, uploads decided by their own student only."""

import datetime
import hashlib
import io
import stat
import subprocess
import sys
import tarfile
import zipfile

import nbformat
import pytest

import asg01
from mlpcourse import paths, records
from mlpcourse.authoring import release
from mlpcourse.grading import chain, classroom, collect, coursedir

NOTEBOOK = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])).encode()
FORGED = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("forged = 1")])).encode()


@pytest.mark.parametrize("path, student, scheme, filename", [
    ("Ada Lovelace_123456_assignsubmission_file_/asg01.ipynb", "123456", "moodle", "asg01.ipynb"),
    ("Ada Lovelace_123456_assignsubmission_file_/work/Copy of asg01.ipynb", "123456", "moodle",
     "Copy of asg01.ipynb"),
    ("Ada Lovelace_123456_assignsubmission_file_Copy of asg01.ipynb", "123456", "moodle", "Copy of asg01.ipynb"),
    ("lovelaceada_4411_99120_asg01 (1).ipynb", "4411", "canvas", "asg01 (1).ipynb"),
    ("lovelaceada_LATE_4411_99120_asg01-1.ipynb", "4411", "canvas", "asg01-1.ipynb"),
    ("Assignment 1_alovelace_attempt_2024-03-01-10-15-00_asg01.ipynb", "alovelace", "blackboard", "asg01.ipynb"),
    ("s1234567_asg01.ipynb", "s1234567", "plain", "s1234567_asg01.ipynb"),
    ("2023001.ipynb", "2023001", "plain", "2023001.ipynb"),
    ("s1234567/Copy of asg01.ipynb", "s1234567", "plain", "Copy of asg01.ipynb"),
])
def test_naming_schemes(path, student, scheme, filename):
    """Is each supported LMS naming scheme read as the right student and file?"""
    found, (upload,) = collect.classify([path], asg01.NAME)
    assert found == scheme
    assert (upload.student, upload.scheme, upload.filename, upload.status) == (student, scheme, filename, "notebook")


@pytest.mark.parametrize("names, status", [
    (["__MACOSX/._asg01.ipynb", "s1234567_asg01.ipynb"], "ignored"),
    ([".DS_Store", "s1234567_asg01.ipynb"], "ignored"),
    (["Assignment 1_alovelace_attempt_2024-03-01-10-15-00.txt"], "ignored"),
    (["Copy of asg01.ipynb", "s1234567_asg01.ipynb"], "unrecognised name"),
    (["asg01_final.ipynb"], "unrecognised name"),
    (["lovelaceada_4411_99120_report.pdf"], "not a notebook"),
])
def test_files_that_are_not_collected_say_why(names, status):
    """Are junk files, receipts, names without a student and non-notebooks told apart?"""
    assert collect.classify(names, asg01.NAME)[1][0].status == status


# Each LMS's archive: two honest students (ids 100 and 200), then the attacker's uploads (id 300),
# named to look like another scheme's entry for student 100 or for 400, who did not submit.
ATTACKER_FILES = ("100_attempt_2099-12-31-23-59-59_asg01.ipynb", "Ada_100_assignsubmission_file_asg01.ipynb",
                  "ada_100_1_asg01.ipynb", "400_attempt_2099-12-31-23-59-59_asg01.ipynb",
                  "Dan_400_assignsubmission_file_asg01.ipynb", "dan_400_4_asg01.ipynb", "100_asg01.ipynb",
                  "x_attempt_2024-13-45-25-61-61_asg01.ipynb")
PREFIXES = {
    "moodle": lambda n: f"Student {n}_{n}_assignsubmission_file_/",
    "canvas": lambda n: f"student{n}_{n}_{n}9_",
    "blackboard": lambda n: f"Assignment 1_{n}_attempt_2024-03-0{n // 100}-10-00-00_",
    "plain": lambda n: f"{n}/",
}


def _archive_names(scheme, attacker_files=ATTACKER_FILES):
    prefix = PREFIXES[scheme]
    return [prefix(100) + "asg01.ipynb", prefix(200) + "asg01.ipynb", prefix(300) + "asg01.ipynb",
            *(prefix(300) + name for name in attacker_files)]


@pytest.mark.parametrize("scheme", sorted(PREFIXES))
@pytest.mark.parametrize("alone", [False, True], ids=["class", "attacker alone"])
def test_names_a_student_chose_never_name_another(scheme, alone):
    """Whatever the attacker names their files, are they all theirs, in every LMS's archive, even alone in it?"""
    names = _archive_names(scheme)[2 if alone else 0:]
    found, uploads = collect.classify(names, asg01.NAME)
    assert found == scheme
    owners = {u.path: u.student for u in uploads}
    assert [owners[name] for name in names] == (["100", "200"] * (not alone)) + ["300"] * (len(ATTACKER_FILES) + 1)


@pytest.mark.parametrize("prefix", ["student300_300_3009_", "Assignment 1_300_attempt_2024-03-03-10-00-00_", "300_"],
                         ids=["canvas", "blackboard", "plain"])
@pytest.mark.parametrize("forged", ["100_attempt_2099-12-31-23-59-59_asg01.ipynb",
                                    "Ada_100_assignsubmission_file_asg01.ipynb"], ids=["as blackboard", "as moodle"])
def test_forged_names_alone_in_the_archive_stay_their_uploaders(prefix, forged):
    """When the archive holds only an upload named as another LMS's entry (both schemes fit), is it the uploader's?"""
    _, (upload,) = collect.classify([prefix + forged], asg01.NAME)
    assert upload.student == "300"


@pytest.mark.parametrize("entries, expected", [
    # Another scheme's entries do not join the archive's scheme: they are reported, given to nobody.
    (["student1_100_1_asg01.ipynb", "student2_200_2_asg01.ipynb",
      "Ada_100_assignsubmission_file_/asg01.ipynb", "Assignment_100_attempt_2099-12-31-23-59-59_asg01.ipynb"],
     ["100", "200", None, None]),
    # The LMS's part is its first occurrence: a later one, in the student's file name, never counts.
    (["Ada_100_assignsubmission_file_asg01.ipynb", "Eve_300_assignsubmission_file_x_200_assignsubmission_file_/a.ipynb"],
     ["100", None]),
    # Paths and ids a folder name must not be.
    (["student1_100_1_asg01.ipynb", "student1_100_1_../../evil.ipynb", "../submitted/200/asg01.ipynb",
      "/abs/100/asg01.ipynb"], ["100", None, None, None]),
])
def test_entries_outside_the_scheme_go_to_nobody(entries, expected):
    """Are entries that do not fit the archive's one scheme reported as unrecognised, not collected?"""
    _, uploads = collect.classify(entries, asg01.NAME)
    assert [u.student for u in uploads] == expected
    assert all(u.status == "unrecognised name" for u in uploads if u.student is None)


def _blackboard_receipt(title, user):
    """The receipt Blackboard writes beside an attempt (its first lines)."""
    return (f"Name: Some Student ({user})\nAssignment: {title}\nDate Submitted: Friday, 1 March 2024 10:00:00 GMT\n"
            "Comments:\nName: Not Me (someone_else)\n")


def _blackboard_entries(title, users):
    """``(names, receipts)``: each user's notebook and receipt entry, and ``{receipt entry: its text}``."""
    names, receipts = [], {}
    for user in users:
        attempt = f"{title}_{user}_attempt_2024-03-01-10-00-00"
        names += [f"{attempt}_asg01.ipynb", f"{attempt}.txt"]
        receipts[f"{attempt}.txt"] = _blackboard_receipt(title, user)
    return names, receipts


@pytest.mark.parametrize("title, users", [("HW_1", ["ada_l", "bob"]), ("Assignment 1", ["st_1001", "st_1002"]),
                                          ("Assignment 1", ["st_1001"]), ("A_1", ["a_1_b"])])
def test_blackboard_usernames_come_from_the_receipts(title, users):
    """Are Blackboard usernames with underscores read whole, even when all share a start or the title has '_',
    from the receipts' "Name: First Last (username)"?"""
    names, receipts = _blackboard_entries(title, users)
    _, uploads = collect.classify(names, asg01.NAME, receipts=receipts)
    assert [u.student for u in uploads if u.status == "notebook"] == users


def test_blackboard_usernames_without_receipts_are_read_when_only_one_cut_fits():
    """Without receipts, is the one '_' every name shares the title's end, and '..' refused?"""
    names = [f"Assignment 1_{user}_attempt_2024-03-01-10-00-00_asg01.ipynb" for user in ("ada_l", "bob", "..")]
    _, uploads = collect.classify(names, asg01.NAME)
    assert [u.student for u in uploads] == ["ada_l", "bob", None]
    assert "cannot be a student id" in uploads[2].detail


@pytest.mark.parametrize("users", [["st_1001", "st_1002"], ["st_1001"]])
def test_blackboard_usernames_that_could_be_cut_two_ways_are_refused_or_read_from_the_roster(users):
    """Without receipts, when the shared start could end the title at two '_'s, is collect refused in one line
    naming the fix, and a roster of the usernames enough to read them?"""
    names = [f"Assignment 1_{user}_attempt_2024-03-01-10-00-00_asg01.ipynb" for user in users]
    with pytest.raises(coursedir.CourseError, match="receipts.*--roster") as refused:
        collect.classify(names, asg01.NAME)
    assert "\n" not in str(refused.value)
    _, uploads = collect.classify(names, asg01.NAME, roster={user: f"s{n}" for n, user in enumerate(users)})
    assert [u.lms_id for u in uploads] == users


def test_blackboard_receipts_are_read_from_the_archive(tmp_path):
    """Does collect read each attempt's receipt from a real archive for the usernames?"""
    names, receipts = _blackboard_entries("Assignment 1", ["st_1001", "st_1002"])
    path = tmp_path / "bb.zip"
    path.write_bytes(_zip({name: receipts.get(name, "").encode() or NOTEBOOK for name in names}))
    report = collect.collect(path, tmp_path / "course", asg01.NAME)
    assert set(report["students"]) == {"st_1001", "st_1002"}


def test_roster_ids_that_cannot_be_folders_are_refused():
    """Is a roster mapping an LMS id to '..' or a path refused rather than written outside submitted/?"""
    _, uploads = collect.classify(["a_1_1_asg01.ipynb", "b_2_2_asg01.ipynb", "c_3_3_asg01.ipynb"],
                                  asg01.NAME, roster={"1": "..", "2": "x/../../y", "3": "s3"})
    assert [u.student for u in uploads] == [None, None, "s3"]


@pytest.mark.parametrize("name, expected", [
    ("asg01.ipynb", True), ("Copy of asg01.ipynb", True), ("asg01 (1).ipynb", True), ("asg01-2.ipynb", True),
    ("Copy of Copy of asg01 (3).ipynb", True), ("ASG01 copy.ipynb", True), ("notes.ipynb", False),
    ("asg02.ipynb", False),
])
def test_released_name_variants(name, expected):
    """Are the names Colab, browsers and LMSs give a copy of the notebook recognised?"""
    assert collect.released_name_of(name, asg01.NAME) is expected


def _zip(files, symlinks=()):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def _tar_gz(files, links=()):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


def _canvas(student, name):
    return f"student{student}_{student}_{student}9_{name}"


@pytest.fixture
def canvas_archive(tmp_path):
    """A Canvas zip: renamed and broken notebooks, nested archives, a non-notebook, and an attacker."""
    files = {
        _canvas(100, "Copy of asg01.ipynb"): NOTEBOOK,
        _canvas(200, "asg01 (1).ipynb"): NOTEBOOK + b" ",
        _canvas(300, "asg01.ipynb"): NOTEBOOK[:20],
        _canvas(400, "asg01.docx"): b"PK\x03\x04word",
        _canvas(500, "submission.tar.gz"): _tar_gz({"work/asg01.ipynb": NOTEBOOK + b"  "},
                                                   links=[("work/secret.ipynb", "/etc/passwd")]),
        _canvas(600, "asg01.zip"): b"this is not a zip",
        # The attacker: their own notebook, and names and nested folders aimed at 100 and 700 (who did not submit).
        _canvas(900, "asg01.ipynb"): NOTEBOOK + b"   ",
        _canvas(900, "100_attempt_2099-12-31-23-59-59_asg01.ipynb"): FORGED,
        _canvas(900, "student100_100_1009_asg01.ipynb"): FORGED,
        _canvas(900, "folders.zip"): _zip({"100/asg01.ipynb": FORGED, "700/asg01.ipynb": FORGED,
                                          "../../../submitted/100/asg01/asg01.ipynb": FORGED,
                                          "student700_700_7009_asg01.ipynb": FORGED},
                                         symlinks=[("link.ipynb", "../../100/asg01.ipynb")]),
        _canvas(900, ".."): b"dots",
        _canvas(900, "timestamp.txt"): b"1999-01-01 00:00:00 UTC",
        "Copy of asg01.ipynb": NOTEBOOK,
        "__MACOSX/._x": b"\x00",
    }
    path = tmp_path / "uploads.zip"
    path.write_bytes(_zip(files))
    return path, files


def _submitted(course):
    return {p.relative_to(course / "submitted").as_posix() for p in (course / "submitted").rglob("*") if p.is_file()}


def test_collect_lays_out_every_upload(tmp_path, canvas_archive):
    """Does collect write each student's own notebook byte for byte as asg01.ipynb and account for every file?"""
    path, files = canvas_archive
    course = tmp_path / "course"
    report = collect.collect(path, course, asg01.NAME)
    assert report["scheme"] == "canvas"
    assert set(report["students"]) == {"100", "200", "300", "400", "500", "600", "900"}
    for student, key in [("100", _canvas(100, "Copy of asg01.ipynb")), ("200", _canvas(200, "asg01 (1).ipynb")),
                         ("900", _canvas(900, "asg01.ipynb"))]:
        written = (course / "submitted" / student / "asg01" / "asg01.ipynb").read_bytes()
        assert hashlib.sha256(written).digest() == hashlib.sha256(files[key]).digest()
    assert (course / "submitted" / "500" / "asg01" / "asg01.ipynb").read_bytes() == NOTEBOOK + b"  "
    assert report["students"]["100"]["renamed_from"] == "Copy of asg01.ipynb"
    assert any("not valid JSON" in p for p in report["students"]["300"]["problems"])
    assert (course / "submitted" / "400" / "asg01" / "asg01.docx").exists()
    assert any("no notebook" in p for p in report["students"]["400"]["problems"])
    statuses = {f["path"]: f["status"] for f in report["files"]}
    assert statuses["Copy of asg01.ipynb"] == "unrecognised name"
    assert statuses["__MACOSX/._x"] == "ignored"
    assert statuses[_canvas(500, "submission.tar.gz") + "!/work/secret.ipynb"] == "ignored"  # a link, never read
    assert (course / "downloaded" / "asg01" / "archive" / "uploads.zip").exists()
    assert not (course / "downloaded" / "asg01" / "extracted").exists()
    assert records.read(paths.records_folder(course, "asg01") / "collect.json") == report


def test_one_students_uploads_never_reach_another(tmp_path, canvas_archive):
    """Do the attacker's names and nested folders leave student 100 as uploaded and create no student 700?"""
    path, _ = canvas_archive
    course = tmp_path / "course"
    report = collect.collect(path, course, asg01.NAME)
    assert "700" not in report["students"]
    assert (course / "submitted" / "100" / "asg01" / "asg01.ipynb").read_bytes() == NOTEBOOK
    attacker = report["students"]["900"]
    assert attacker["notebook"] == _canvas(900, "asg01.ipynb")  # uploaded directly, named as the assignment
    assert all(u.startswith(_canvas(900, "")) for u in attacker["uploads"])
    # Nothing outside the students' folders, no hidden or reserved names; timestamps come from the LMS only.
    assert _submitted(course) <= {f"{s}/asg01/{name}" for s in report["students"] for name in (
        "asg01.ipynb", "asg01.docx", "submission.tar.gz", "asg01.zip", "folders.zip", "_.", "2-timestamp.txt",
        collect.TIMESTAMP, collect.NO_NOTEBOOK)}
    entry_time = zipfile.ZipFile(path).getinfo(_canvas(900, "asg01.ipynb")).date_time
    assert (course / "submitted" / "900" / "asg01" / "timestamp.txt").read_text() == \
        f"{datetime.datetime(*entry_time)} UTC"
    assert sorted(p.name for p in course.iterdir()) == ["build", "downloaded", "submitted"]


def test_a_broken_upload_costs_its_student_a_reason(tmp_path, canvas_archive):
    """Does a 'zip' that is not one leave its student a folder saying why, which grading reads as the reason?"""
    path, _ = canvas_archive
    course = tmp_path / "course"
    report = collect.collect(path, course, asg01.NAME)
    problems = report["students"]["600"]["problems"]
    assert problems[0] == "no notebook among the uploads: asg01.zip"
    assert "asg01.zip: not a zip or tar archive" in problems
    assert (course / "submitted" / "600" / "asg01" / "asg01.zip").read_bytes() == b"this is not a zip"
    status, reason = chain.repair_submission(course, "600", asg01.NAME)
    assert status == "no notebook" and "asg01.zip: not a zip or tar archive" in reason


def test_collecting_again_starts_clean(tmp_path, canvas_archive):
    """After an archive with broken uploads, does the next archive collect on its own, unaffected?"""
    path, _ = canvas_archive
    course = tmp_path / "course"
    collect.collect(path, course, asg01.NAME)
    second = tmp_path / "second.zip"
    second.write_bytes(_zip({_canvas(600, "asg01.ipynb"): NOTEBOOK}))
    report = collect.collect(second, course, asg01.NAME)
    assert set(report["students"]) == {"600"} and [f["path"] for f in report["files"]] == [_canvas(600, "asg01.ipynb")]
    assert sorted(p.name for p in (course / "submitted" / "600" / "asg01").iterdir()) == ["asg01.ipynb",
                                                                                     collect.TIMESTAMP]


def test_blackboard_attempts(tmp_path):
    """Is the latest attempt graded with its time, and an impossible attempt time a problem of that student only?"""
    files = {
        "A1_cbabbage_attempt_2024-03-01-10-15-00_asg01.ipynb": NOTEBOOK,
        "A1_cbabbage_attempt_2024-03-02-09-00-00_asg01.ipynb": NOTEBOOK + b" ",
        "A1_cbabbage_attempt_2024-03-02-09-00-00.txt": b"receipt",
        "A1_alovelace_attempt_2024-13-45-25-61-61_asg01.ipynb": NOTEBOOK + b"  ",
        "A1_ghopper_attempt_2024-03-01-10-15-00_asg01.ipynb": b"{}",
        "A1_ghopper_attempt_2024-03-02-10-15-00_asg01.zip": _zip({"asg01.ipynb": NOTEBOOK + b"   "}),
    }
    path = tmp_path / "bb.zip"
    path.write_bytes(_zip(files))
    course = tmp_path / "course"
    report = collect.collect(path, course, asg01.NAME)
    assert report["scheme"] == "blackboard" and set(report["students"]) == {"cbabbage", "alovelace", "ghopper"}
    assert "latest attempt" in report["students"]["cbabbage"]["problems"][0]
    folder = course / "submitted" / "cbabbage" / "asg01"
    assert (folder / "asg01.ipynb").read_bytes() == NOTEBOOK + b" "
    assert (folder / "timestamp.txt").read_text() == "2024-03-02 09:00:00 UTC"
    assert (course / "submitted" / "alovelace" / "asg01" / "asg01.ipynb").read_bytes() == NOTEBOOK + b"  "
    assert any("is not a date" in p for p in report["students"]["alovelace"]["problems"])
    # A notebook inside an attempt's archive is of that attempt: the later attempt wins.
    assert (course / "submitted" / "ghopper" / "asg01" / "asg01.ipynb").read_bytes() == NOTEBOOK + b"   "


@pytest.mark.parametrize("limit, value, upload, why", [
    ("MAX_FILE_BYTES", 1000, _zip({"asg01.ipynb": b" " * 2000}), "larger than"),
    ("MAX_STUDENT_BYTES", 3000, _zip({f"{n}.ipynb": b" " * 1000 for n in range(4)}), "add up to more than"),
    ("MAX_STUDENT_FILES", 3, _zip({f"{n}.ipynb": NOTEBOOK for n in range(5)}), "holds more than"),
    ("MAX_NESTING", 1, _zip({"a.zip": _zip({"b.zip": _zip({"asg01.ipynb": NOTEBOOK})})}), "nested more than"),
    ("RATIO_FLOOR", 1000, _zip({"asg01.ipynb": b"\x00" * 10**6}), "compressed more than"),
    ("RATIO_FLOOR", 1000, _tar_gz({"asg01.ipynb": b"\x00" * 10**6}), "unpacks to more than"),
])
def test_archives_are_read_within_limits(tmp_path, monkeypatch, limit, value, upload, why):
    """Are oversized, overfull, overnested and overcompressed uploads refused, the other students collected?"""
    monkeypatch.setattr(collect, limit, value)
    path = tmp_path / "limits.zip"
    path.write_bytes(_zip({_canvas(100, "upload.zip"): upload, _canvas(200, "asg01.ipynb"): NOTEBOOK}))
    report = collect.collect(path, tmp_path / "course", asg01.NAME)
    assert any(why in f["detail"] for f in report["files"] if f["status"] == "refused"), report["files"]
    assert report["students"]["200"]["notebook"] == _canvas(200, "asg01.ipynb")


def test_roster_maps_lms_ids_to_student_ids(tmp_path, canvas_archive):
    """With a roster, are LMS ids mapped to course ids and unknown uploads reported?"""
    path, _ = canvas_archive
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,lms_id\nada,100\nbyron,200\neve,900\n")
    report = collect.collect(path, tmp_path / "course", asg01.NAME, roster=roster)
    assert set(report["students"]) == {"ada", "byron", "eve"}
    unknown = [f for f in report["files"] if f["status"] == "unknown student"]
    assert {f["detail"].split()[0] for f in unknown} == {"300", "400", "500", "600"}


def test_an_archive_that_is_not_one_is_a_course_error(tmp_path):
    """Is a TA's archive that is not one refused with one line naming the fix?"""
    path = tmp_path / "uploads.zip"
    path.write_bytes(b"not an archive")
    with pytest.raises(coursedir.CourseError, match="download the submissions from the LMS again"):
        collect.collect(path, tmp_path / "course", asg01.NAME)


def test_collect_command_prints_problems(tmp_path, canvas_archive):
    """Does `python -m mlpcourse collect ZIP` lay out the class and print what needs the TA's attention?"""
    path, _ = canvas_archive
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "collect", str(path), "--course-dir",
                             str(tmp_path / "course")], capture_output=True, text=True, check=True)
    assert "7 students in uploads.zip (canvas names)" in result.stdout
    assert "400: no notebook among the uploads: asg01.docx" in result.stdout
    assert "unrecognised name: Copy of asg01.ipynb" in result.stdout


@pytest.mark.slow
def test_a_grading_crash_costs_its_student_only(course, monkeypatch):
    """When grading one student raises, does the class go on, with that student at 0 and a feedback page?"""
    release.generate(course, asg01.NAME)
    for student in ("boom", "calm"):
        (course / "submitted" / student / "asg01").mkdir(parents=True)
    original = chain.grade_submission

    def grade(course_dir, student, *args, **kwargs):
        if student == "boom":
            raise KeyError("a bug the upload found")
        return original(course_dir, student, *args, **kwargs)

    monkeypatch.setattr(chain, "grade_submission", grade)
    summary = classroom.grade_class(course, workers=2, assignment=asg01.NAME, log=lambda line: None)
    assert {o.student: o.graded for o in summary.outcomes} == {"boom": False, "calm": False}
    boom = next(o for o in summary.outcomes if o.student == "boom")
    assert boom.reason.startswith("KeyError") and boom.max_score > 0 and boom.score == 0
    assert all(score == 0 for score, _ in coursedir.cell_scores(course, asg01.NAME)["boom"].values())
    page = (course / "feedback" / "boom" / "asg01" / "asg01.html").read_text()
    assert "the grader failed on this upload (KeyError)" in page and str(course) not in page


@pytest.mark.slow
def test_nbgraders_log_reaches_the_ta_not_the_student(course, monkeypatch):
    """When nbgrader itself fails, does the student's page say so in fixed words, the TA's reason keep the log?"""
    from mlpcourse.authoring import notebook
    from mlpcourse.grading import coursedir, demo

    release_nb = notebook.read(release.generate(course, asg01.NAME) / "asg01.ipynb")
    coursedir.submit(course, "ada", demo.submissions(release_nb)["ada"], asg01.NAME)
    tail = f"{chain.NBGRADER_FAILED_PREFIX}\nValueError: KERNEL-SAID-THIS"
    monkeypatch.setattr(chain, "_autograde", lambda *args: ("failed", tail))
    result = chain.grade_submission(course, "ada", asg01.NAME)
    assert result.status == "failed" and "KERNEL-SAID-THIS" in result.reason
    page = (course / "feedback" / "ada" / "asg01" / "asg01.html").read_text()
    assert "KERNEL-SAID-THIS" not in page and chain.NBGRADER_FAILED in page
