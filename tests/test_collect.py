"""Collecting an LMS zip: naming schemes, renamed notebooks, and uploads that are not notebooks."""

import hashlib
import io
import subprocess
import sys
import zipfile

import nbformat
import pytest

from mlpcourse import collect, records

NOTEBOOK = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])).encode()


@pytest.mark.parametrize("path, student, scheme, filename", [
    ("subs/Ada Lovelace_123456_assignsubmission_file_/asg01.ipynb", "123456", "moodle", "asg01.ipynb"),
    ("subs/Ada Lovelace_123456_assignsubmission_file_Copy of asg01.ipynb", "123456", "moodle", "Copy of asg01.ipynb"),
    ("subs/lovelaceada_4411_99120_asg01 (1).ipynb", "4411", "canvas", "asg01 (1).ipynb"),
    ("subs/lovelaceada_LATE_4411_99120_asg01-1.ipynb", "4411", "canvas", "asg01-1.ipynb"),
    ("subs/Assignment 1_alovelace_attempt_2024-03-01-10-15-00_asg01.ipynb", "alovelace", "blackboard",
     "asg01.ipynb"),
    ("subs/s1234567_asg01.ipynb", "s1234567", "plain file", "s1234567_asg01.ipynb"),
    ("subs/2023001.ipynb", "2023001", "plain file", "2023001.ipynb"),
    ("subs/s1234567/Copy of asg01.ipynb", "s1234567", "plain folder", "Copy of asg01.ipynb"),
])
def test_naming_schemes(path, student, scheme, filename):
    """Is each supported LMS naming scheme read as the right student and file?"""
    upload = collect.classify(path)
    assert (upload.student, upload.scheme, upload.filename, upload.status) == (student, scheme, filename, "notebook")


@pytest.mark.parametrize("path, status", [
    ("subs/__MACOSX/._asg01.ipynb", "ignored"),
    ("subs/.DS_Store", "ignored"),
    ("subs/Assignment 1_alovelace_attempt_2024-03-01-10-15-00.txt", "ignored"),
    ("subs/Copy of asg01.ipynb", "unrecognised name"),
    ("subs/asg01_final.ipynb", "unrecognised name"),
    ("subs/lovelaceada_4411_99120_report.pdf", "not a notebook"),
])
def test_files_that_are_not_collected_say_why(path, status):
    """Are junk files, receipts, names without a student and non-notebooks told apart?"""
    assert collect.classify(path).status == status


@pytest.mark.parametrize("name, expected", [
    ("asg01.ipynb", True), ("Copy of asg01.ipynb", True), ("asg01 (1).ipynb", True), ("asg01-2.ipynb", True),
    ("Copy of Copy of asg01 (3).ipynb", True), ("ASG01 copy.ipynb", True), ("notes.ipynb", False),
    ("asg02.ipynb", False),
])
def test_released_name_variants(name, expected):
    """Are the names Colab, browsers and LMSs give a copy of the notebook recognised?"""
    assert collect.released_name_of(name) is expected


def _zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def lms_archive(tmp_path):
    """A zip with every scheme, a nested zip, two attempts, a broken and a non-notebook upload."""
    files = {
        "Ada Lovelace_100001_assignsubmission_file_/Copy of asg01.ipynb": NOTEBOOK,
        "lovelacebyron_4411_99120_asg01 (1).ipynb": NOTEBOOK + b" ",
        "Assignment 1_cbabbage_attempt_2024-03-01-10-15-00_asg01.ipynb": NOTEBOOK + b"  ",
        "Assignment 1_cbabbage_attempt_2024-03-02-09-00-00_asg01.ipynb": NOTEBOOK + b"   ",
        "Assignment 1_cbabbage_attempt_2024-03-02-09-00-00.txt": b"receipt",
        "s7654321.zip": _zip({"s7654321/asg01.ipynb": NOTEBOOK + b"    "}),
        "Grace Hopper_100002_assignsubmission_file_/asg01.ipynb": NOTEBOOK[:20],
        "Alan Turing_100003_assignsubmission_file_/asg01.docx": b"PK\x03\x04word",
        "Copy of asg01.ipynb": NOTEBOOK,
        "__MACOSX/._x": b"\x00",
    }
    path = tmp_path / "uploads.zip"
    path.write_bytes(_zip(files))
    return path, files


def test_collect_lays_out_every_upload(tmp_path, lms_archive):
    """Does collect write each student's notebook byte for byte as asg01.ipynb and account for every file?"""
    path, files = lms_archive
    course = tmp_path / "course"
    report = collect.collect(path, course)
    assert set(report["students"]) == {"100001", "4411", "cbabbage", "s7654321", "100002", "100003"}
    for student, key in [("100001", "Ada Lovelace_100001_assignsubmission_file_/Copy of asg01.ipynb"),
                         ("cbabbage", "Assignment 1_cbabbage_attempt_2024-03-02-09-00-00_asg01.ipynb")]:
        written = (course / "submitted" / student / "asg01" / "asg01.ipynb").read_bytes()
        assert hashlib.sha256(written).digest() == hashlib.sha256(files[key]).digest()
    assert report["students"]["100001"]["renamed_from"] == "Copy of asg01.ipynb"
    assert "latest attempt" in report["students"]["cbabbage"]["problems"][0]
    assert (course / "submitted" / "cbabbage" / "asg01" / "timestamp.txt").read_text().startswith("2024-03-02 09:00:00")
    assert any("not valid JSON" in p for p in report["students"]["100002"]["problems"])
    assert (course / "submitted" / "100003" / "asg01" / "asg01.docx").exists()
    assert any("no notebook" in p for p in report["students"]["100003"]["problems"])
    statuses = {f["path"].split("/", 1)[1]: f["status"] for f in report["files"]}
    assert statuses["Copy of asg01.ipynb"] == "unrecognised name"
    assert statuses["__MACOSX/._x"] == "ignored"
    assert (course / "downloaded" / "asg01" / "archive" / "uploads.zip").exists()
    assert records.read(records.folder(course, "asg01") / "collect.json") == report


def test_roster_maps_lms_ids_to_student_ids(tmp_path, lms_archive):
    """With a roster, are LMS ids mapped to course ids and unknown uploads reported?"""
    path, _ = lms_archive
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,lms_id\nada,100001\nbyron,4411\n")
    report = collect.collect(path, tmp_path / "course", roster=roster)
    assert set(report["students"]) == {"ada", "byron"}
    unknown = [f for f in report["files"] if f["status"] == "unknown student"]
    assert {f["detail"].split()[0] for f in unknown} >= {"cbabbage", "100002"}


def test_collect_command_prints_problems(tmp_path, lms_archive):
    """Does `python -m mlpcourse collect ZIP` lay out the class and print what needs the TA's attention?"""
    path, _ = lms_archive
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "collect", str(path), "--course-dir",
                             str(tmp_path / "course")], capture_output=True, text=True, check=True)
    assert "6 students in uploads.zip" in result.stdout
    assert "100003: no notebook among the uploads: asg01.docx" in result.stdout
    assert "unrecognised name: uploads/Copy of asg01.ipynb" in result.stdout
