"""Returning grades and feedback to the LMS: every student's grade and page land on their own row and folder.

The graded demo class (ada, ben, cy) is collected again from an archive as each LMS
names it, with a worksheet or gradebook download as each LMS writes it, and returned.
ada has a non-ASCII name, ben uploaded twice, dora is a participant who submitted
nothing. The grades expected are the gradebook's own, summed cell by cell.
"""

import codecs
import csv
import io
import re
import zipfile

import nbformat
import pytest
from nbgrader.api import Gradebook

import graded_demo
import asg01
from mlpcourse import cli
from mlpcourse.grading import collect, coursedir, lms

# student -> (full name, Moodle participant id, Canvas user id, Blackboard username); dora has no upload.
PEOPLE = {
    "ada": ("Zoë Ångström-Łukasiewicz", "1000401", "5401", "zangstrom"),
    "ben": ("Ben O'Brien Núñez", "1000402", "5402", "bobrien"),
    "cy": ("Cy Young", "1000403", "5403", "cyoung"),
    "dora": ("Dora Mayer", "1000404", "5404", "dmayer"),
}
LMS_ID = {"moodle": 1, "canvas": 2, "blackboard": 3}
UPLOADED = ("ada", "ben", "cy")
# A manual score given to each of ada's written answers, so her grade counts manual points too.
ADA_MANUAL = 2.0
HIDDEN_MARKER = "BEGIN HIDDEN TESTS"


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory, kannada_cache):
    return graded_demo.graded_demo(tmp_path_factory, kannada_cache)


@pytest.fixture(scope="module")
def course(demo_course, tmp_path_factory):
    """A copy of the graded demo in which ada's written answers are graded (ben's are not)."""
    copy = graded_demo.copy_course(demo_course[0], tmp_path_factory.mktemp("lms") / "course")
    with Gradebook(coursedir.default_db_url(copy)) as gradebook:
        for nb in gradebook.find_submission(asg01.NAME, "ada").notebooks:
            for grade in nb.grades:
                if grade.needs_manual_grade:  # as the formgrader saves a manual grade
                    grade.manual_score, grade.needs_manual_grade = ADA_MANUAL, False
        gradebook.db.commit()
    return copy


def _expected(course):
    """``{student: (total, max)}`` from the gradebook, cell by cell."""
    return {student: (sum(score or 0.0 for score, _ in cells.values()), sum(m for _, m in cells.values()))
            for student, cells in coursedir.cell_scores(course, asg01.NAME).items()}


def _notebook(course, student):
    return (course / "submitted" / student / asg01.NAME / f"{asg01.NAME}.ipynb").read_bytes()


OLD_ATTEMPT = nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("first = 1")])).encode()


def _archive(course, scheme, path, people=UPLOADED):
    """The submissions download of ``scheme`` holding the demo's notebooks; return each student's entry prefix."""
    prefixes = {}
    with zipfile.ZipFile(path, "w") as archive:
        def add(name, data, day):
            archive.writestr(zipfile.ZipInfo(name, (2026, 3, day, 10, 0, 0)), data)

        for student in people:
            name, participant, user_id, username = PEOPLE[student]
            uploads = [(f"{asg01.NAME}.ipynb", _notebook(course, student), 2)]
            if student == "ben":  # a resubmission: his first attempt, a day earlier
                uploads.insert(0, (f"Copy of {asg01.NAME}.ipynb", OLD_ATTEMPT, 1))
            for n, (filename, data, day) in enumerate(uploads):
                if scheme == "moodle":  # mod/assign/locallib.php: underscores in names become spaces
                    prefix = f"{name.replace('_', ' ')}_{participant}_assignsubmission_file_"
                    add(f"{prefix}/{filename}", data, day)
                elif scheme == "canvas":
                    prefix = f"{re.sub(r'[^a-z]', '', name.lower())}_{user_id}_{9000 + n}_"
                    add(prefix + (filename if n == 0 else f"{asg01.NAME}-{n}.ipynb"), data, day)
                else:
                    prefix = f"Assignment 1_{username}_attempt_2026-03-0{day}-10-00-00"
                    add(f"{prefix}_{filename}", data, day)
                    add(f"{prefix}.txt", b"Name: ...\nSubmission Field: ...\n", day)
                prefixes.setdefault(student, prefix)
    return prefixes


def _roster(path, index, people=PEOPLE):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "lms_id"])
        writer.writerows([student, PEOPLE[student][index]] for student in people)
    return path


def _moodle_worksheet(path, max_grade="100.00"):
    """Moodle's offline grading worksheet as its download writes it (PHP's fputcsv quoting)."""
    rows = [["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
             "Last modified (submission)", "Last modified (grade)", "Feedback comments"]]
    for student, (name, participant, _, _) in PEOPLE.items():
        status = "Submitted for grading" if student in UPLOADED else "No submission"
        submitted = "Monday, 2 March 2026, 10:00 AM" if student in UPLOADED else "-"
        rows.append([f"Participant {participant}", name, f"{student}@example.edu", status, "", max_grade, "Yes",
                     submitted, "-", ""])
    fputcsv = lms.QUOTING[1]
    path.write_text("".join(",".join(f'"{c}"' if fputcsv(c, ",") else c for c in row) + "\n" for row in rows))
    return path


CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Quiz 1 (48200)",
                 f"{asg01.NAME}: MLP from scratch (48213)", "Current Score", "Unposted Current Score",
                 "Final Score", "Unposted Final Score"]


def _canvas_gradebook(path):
    """Canvas's gradebook export (lib/gradebook_exporter.rb), with the byte-order mark option on."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CANVAS_HEADER)
    writer.writerow(["    Points Possible", "", "", "", "", "10.00", "100.00", "(read only)", "(read only)",
                     "(read only)", "(read only)"])
    for student, (name, _, user_id, _) in PEOPLE.items():
        first, last = name.split(" ", 1)
        writer.writerow([f"{last}, {first}", user_id, f"S{user_id}", f"{student}@example.edu", "MLP 2026",
                         "8.00", "", "80.00", "80.00", "8.00", "8.00"])
    path.write_bytes(codecs.BOM_UTF8 + out.getvalue().encode())
    return path


BLACKBOARD_HEADER = ["Last Name", "First Name", "Username", "Student ID", "Last Access", "Availability",
                     "Assignment 1 [Total Pts: 100 Score] |1873201", "Total [Total Pts: up to 110 Score] |1873190"]


def _blackboard_download(path):
    """Blackboard's Grade Center download: tab-delimited UTF-16, every field quoted."""
    rows = [BLACKBOARD_HEADER]
    for student, (name, _, _, username) in PEOPLE.items():
        first, last = name.split(" ", 1)
        rows.append([last, first, username, f"S{username}", "2026-03-02 10:00:00", "Available", "", "0"])
    path.write_bytes("".join("\t".join(f'"{c}"' for c in row) + "\r\n" for row in rows).encode("utf-16"))
    return path


EXPORTS = {
    "moodle": lambda folder: _moodle_worksheet(folder / "Grades-MLP-asg01-4321.csv"),
    "canvas": lambda folder: _canvas_gradebook(folder / "2026-03-09T1000_Grades-MLP_2026.csv"),
    "blackboard": lambda folder: _blackboard_download(folder / "gc_MLP2026_fullgc_2026-03-09-10-00-00.xls"),
}


def _collect_and_return(course, scheme, tmp_path, **options):
    """Collect ``scheme``'s archive of the class, then return; ``(result, prefixes, export)``."""
    prefixes = _archive(course, scheme, tmp_path / f"{scheme}.zip")
    collect.collect(tmp_path / f"{scheme}.zip", course, asg01.NAME,
                    roster=_roster(tmp_path / "roster.csv", LMS_ID[scheme]))
    (tmp_path / "download").mkdir()
    export = EXPORTS[scheme](tmp_path / "download")
    result = lms.return_grades(course, scheme, tmp_path / "out", export=export, assignment=asg01.NAME, **options)
    return result, prefixes, export


def _page(course, student):
    return (course / "feedback" / student / asg01.NAME / f"{asg01.NAME}.html").read_bytes()


def _check_pages(course, archive, owner_of):
    """Is every entry a student's own page, and does every graded student have one?"""
    owners = {}
    for name in archive.namelist():
        student = owner_of(name)
        assert name.endswith(".html") and student in UPLOADED, name
        assert archive.read(name) == _page(course, student), name
        assert HIDDEN_MARKER not in archive.read(name).decode()
        owners[student] = owners.get(student, 0) + 1
    assert owners == {student: 1 for student in UPLOADED}


@pytest.mark.slow
def test_moodle_worksheet_and_feedback_folders(course, tmp_path):
    """Does each participant's grade and comment land on their worksheet row, their page in their download folder?"""
    result, prefixes, export = _collect_and_return(course, "moodle", tmp_path)
    expected = _expected(course)
    original = lms.read_sheet(export, "worksheet").records
    written = lms.read_sheet(result.grades, "worksheet").records
    assert result.grades.name == export.name and len(written) == len(original)
    header = original[0][0]
    grade, comments, ident = (header.index(c) for c in ("Grade", "Feedback comments", "Identifier"))
    by_participant = {PEOPLE[s][1]: s for s in PEOPLE}
    for (before, raw_before), (after, raw_after) in zip(original, written):
        student = by_participant.get(after[ident].rsplit(" ", 1)[-1])  # as importgradeslib.php reads it
        if student in UPLOADED:
            assert after[grade] == f"{expected[student][0]:.2f}"
            assert after[comments].startswith(f"{expected[student][0]:g} / {expected[student][1]:g}")
            changed = {grade, comments}
            assert [a for i, a in enumerate(after) if i not in changed] == \
                [b for i, b in enumerate(before) if i not in changed]
        else:  # the header, and dora who submitted nothing: byte for byte as downloaded
            assert raw_after == raw_before
    assert "written answers not graded yet" in written[2][0][comments]  # ben's
    with zipfile.ZipFile(result.feedback) as archive:
        for name in archive.namelist():  # the folder is the one in the submissions download
            assert name.split("/")[0] in prefixes.values()

        def owner(name):  # as importziplib.php reads it: the second of at most 5 parts at "_"
            return by_participant[name.split("/")[0].split("_", 4)[1]]

        _check_pages(course, archive, owner)
    assert result.pending == ["ben"] and result.not_submitted == 1


@pytest.mark.slow
def test_canvas_gradebook_import(course, tmp_path):
    """Is the Canvas upload its identifying columns and the assignment's, each student's score on their row?"""
    result, _, export = _collect_and_return(course, "canvas", tmp_path)
    expected = _expected(course)
    assert result.grades.read_bytes().startswith(codecs.BOM_UTF8)  # as exported
    rows = list(csv.reader(io.StringIO(result.grades.read_bytes().decode("utf-8-sig"))))
    column = f"{asg01.NAME}: MLP from scratch (48213)"
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column]
    assert rows[1] == ["    Points Possible", "", "", "", "", "100.00"]
    by_id = {ids[2]: s for s, ids in PEOPLE.items()}
    assert sorted(by_id[row[1]] for row in rows[2:]) == sorted(PEOPLE)
    for row in rows[2:]:
        student = by_id[row[1]]
        assert row[5] == (f"{expected[student][0]:.2f}" if student in UPLOADED else "")
        last, first = row[0].split(", ")
        assert f"{first} {last}" == PEOPLE[student][0]
    with zipfile.ZipFile(result.feedback) as archive:
        _check_pages(course, archive, lambda name: by_id[name.removesuffix(".html")])


@pytest.mark.slow
def test_blackboard_grade_center_upload(course, tmp_path):
    """Is the Blackboard upload UTF-16 and tab-delimited as downloaded, each score on its username's row?"""
    result, _, export = _collect_and_return(course, "blackboard", tmp_path, column="Assignment 1")
    expected = _expected(course)
    data = result.grades.read_bytes()
    assert data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    rows = list(csv.reader(io.StringIO(data.decode("utf-16"), newline=""), delimiter="\t"))
    assert rows[0] == ["Last Name", "First Name", "Username", "Student ID", BLACKBOARD_HEADER[6]]
    assert data.decode("utf-16").startswith('"Last Name"\t"First Name"\t') and "\r\n" in data.decode("utf-16")
    by_username = {ids[3]: s for s, ids in PEOPLE.items()}
    for row in rows[1:]:
        student = by_username[row[2]]
        assert row[4] == (f"{expected[student][0]:.2f}" if student in UPLOADED else "")
    with zipfile.ZipFile(result.feedback) as archive:
        _check_pages(course, archive, lambda name: by_username[name.removesuffix(".html")])


@pytest.mark.slow
def test_refuses_a_graded_student_without_an_lms_id(course, tmp_path, capsys):
    """Is a graded student the LMS cannot be told about refused by name, with nothing written?"""
    _archive(course, "canvas", tmp_path / "canvas.zip", people=("ada", "ben"))
    # cy, graded, is neither in the archive nor in the roster: his Canvas id is known nowhere.
    collect.collect(tmp_path / "canvas.zip", course, asg01.NAME,
                    roster=_roster(tmp_path / "roster.csv", 2, ("ada", "ben")))
    export = _canvas_gradebook(tmp_path / "gradebook.csv")
    status = cli.main(["return", "--course-dir", str(course), "--lms", "canvas", "--gradebook", str(export),
                       "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and "students cy:" in error and "--roster" in error
    assert not (tmp_path / "out" / export.name).exists()


@pytest.mark.slow
def test_refuses_a_worksheet_out_of_other_points(course, tmp_path):
    """Is a Moodle assignment graded out of other points than the gradebook refused, naming the fix?"""
    _archive(course, "moodle", tmp_path / "moodle.zip")
    collect.collect(tmp_path / "moodle.zip", course, asg01.NAME,
                    roster=_roster(tmp_path / "roster.csv", LMS_ID["moodle"]))
    worksheet = _moodle_worksheet(tmp_path / "worksheet.csv", max_grade="10.00")
    with pytest.raises(coursedir.CourseError, match="maximum grade to 100 points"):
        lms.return_grades(course, "moodle", tmp_path / "out", export=worksheet, assignment=asg01.NAME)


@pytest.mark.slow
def test_plain_csv_command(course, tmp_path, capsys):
    """Does `return --lms csv` write every student's total, ids and page, and list unfinished manual grading?"""
    expected = _expected(course)
    status = cli.main(["return", "--course-dir", str(course), "--lms", "csv", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert status == 0 and "not graded yet" in printed and "ben" in printed
    with open(tmp_path / lms.PLAIN_GRADES, newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    for student in UPLOADED:
        assert float(rows[student]["score"]) == pytest.approx(expected[student][0])
    assert rows["ada"]["manual_score"] != "0" and rows["ada"]["written_answers"] == "graded"
    with zipfile.ZipFile(tmp_path / lms.FEEDBACK_ZIP) as archive:
        ids = {row["feedback"]: student for student, row in rows.items()}
        _check_pages(course, archive, lambda name: ids[name])


@pytest.mark.parametrize("argv, message", [
    (["--lms", "moodle"], "--worksheet"),
    (["--lms", "canvas", "--worksheet", "w.csv"], "--gradebook"),
    (["--lms", "csv", "--gradebook", "g.csv"], "takes no --gradebook"),
])
def test_return_asks_for_the_lms_file(argv, message, tmp_path, capsys):
    """Does `return` say in one line which LMS file it needs, before reading the course?"""
    assert cli.main(["return", "--out", str(tmp_path), *argv]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


def test_sheet_rewrites_a_row_as_the_lms_quoted_it(tmp_path):
    """Are rows left alone kept byte for byte, and a changed row quoted as the LMS quoted it?"""
    path = tmp_path / "sheet.csv"
    path.write_bytes(b'Identifier,"Full name",Grade\r\n"Participant 1","A \xc3\x85",\r\n"Participant 2",B,\r\n')
    sheet = lms.read_sheet(path, "a worksheet")
    (cells, raw), untouched = sheet.records[1], sheet.records[2]
    assert sheet.format([*cells[:2], "65.00"], like=(cells, raw)) == '"Participant 1","A \u00c5",65.00\r\n'
    assert "".join(r for _, r in sheet.records).encode() == path.read_bytes() and untouched[1].endswith("\r\n")
