"""Grades and feedback pages back to the LMS, in the files its bulk upload reads.

``python -m mlpcourse return --lms {moodle,canvas,blackboard,csv} --out DIR`` writes two
files a TA uploads as they are: ``DIR/<the LMS's file's name>`` (the grades) and
``DIR/feedback.zip`` (each graded student's feedback page). A student's grade is the
gradebook's total (autograded tests plus the written answers graded so far); their LMS
id is the one ``collect`` read from the LMS's archive (``collect.json``), else the
roster's ``lms_id``. A graded student without one is refused, by name, before anything
is written; graded students whose written answers are not all graded yet are listed.
Participants the LMS lists who submitted nothing keep their grade cell as it was (empty).

The formats, as each LMS writes and reads them
-----------------------------------------------
Moodle (``--worksheet``: the assignment's offline grading worksheet, *View all
submissions > Download grading worksheet*)
    A CSV whose first row names the columns: ``Identifier`` (``Participant 123456``),
    ``Full name``, ``Email address``, ``Status``, ``Grade``, ``Maximum Grade``, ``Grade
    can be changed``, ``Last modified (submission)``, ``Last modified (grade)``,
    ``Feedback comments``. Moodle's importer (``mod/assign/feedback/offline/
    importgradeslib.php``) finds the ``Identifier``, ``Grade`` and ``Last modified
    (grade)`` columns and each feedback plugin's column by name, reads the number after
    ``Participant`` as the participant id (``get_user_id_for_uniqueid``), skips a row
    whose grade is empty, and skips a grade above the maximum. Only ``Grade`` and
    ``Feedback comments`` of graded participants change; every other cell, and every
    other row byte for byte, stays as downloaded.

    Feedback files (*Upload multiple feedback files in a zip*): Moodle's importer
    (``mod/assign/feedback/file/importziplib.php``) splits each folder name of the zip at
    ``_`` (at most 5 parts) and reads the second part as the participant id and the
    third and fourth as a plugin, so a page goes under the folder of that student in the
    submissions download, ``<Full Name>_<participant id>_assignsubmission_file_/``
    (``mod/assign/locallib.php``, ``download_submissions``; underscores in names are made
    spaces). The folder is the one ``collect`` recorded; for a student collected some
    other way it is built from the worksheet's full name.

Canvas (``--gradebook``: *Grades > Export > Export Entire Gradebook*)
    A CSV (``lib/gradebook_exporter.rb``): ``Student`` (or ``LastName``, ``FirstName``),
    ``ID`` (the Canvas user id, as in the submissions download's names), then ``SIS User
    ID``, ``SIS Login ID``, ``Integration ID``, ``Root Account`` as the course has them,
    ``Section``, custom columns, one column per assignment named ``<title> (<assignment
    id>)``, and totals. Its second row is ``    Points Possible`` with each assignment's
    points, after an optional row naming hidden (manually posted) assignments. The
    upload written keeps the identifying columns and the assignment's column, with the
    points possible row; a column named without an id makes Canvas create the assignment.

Blackboard (``--gradebook``: *Grade Center > Work Offline > Download*, full or one column)
    Tab-delimited (``.xls``) or comma-delimited (``.csv``), in UTF-16 or UTF-8 (a
    byte-order mark says which; written back the same): ``Last Name``,
    ``First Name``, ``Username`` (as in the attempt files' names), ``Student ID``, ``Last
    Access``, ``Availability``, then ``<name> [Total Pts: <points> Score] |<column id>``.
    Blackboard matches students by ``Username`` and columns by the ``|<id>``; a column
    without one becomes a new text column (*Upload Grade Center*, Blackboard Learn
    help). The upload written keeps the file's encoding and delimiter, the identifying
    columns and the assignment's column.

csv (no file in)
    ``grades.csv``: ``student_id``, ``lms_id``, ``score``, ``max_score``, ``auto_score``,
    ``manual_score``, ``late_penalty``, ``written_answers`` (``graded``, ``not graded yet``), ``feedback``
    (its file in the zip), one row per student in the gradebook.

For Canvas, Blackboard and csv, ``feedback.zip`` holds ``<lms id>.html`` per student.
Only the pages ``nbgrader generate_feedback`` wrote with
:class:`mlpcourse.reports.feedback.StudentFeedback` go in (``feedback/<student>/
<assignment>/<notebook>.html`` for the release's notebooks): no hidden tests, no mark
schemes, none of the other files nbgrader copies beside them.
"""

import codecs
import csv
import dataclasses
import io
import pathlib
import re
import zipfile

from mlpcourse import gradebook, paths, records
from mlpcourse.grading import collect, coursedir

LMSES = ("moodle", "canvas", "blackboard", "csv")
FEEDBACK_ZIP = "feedback.zip"
PLAIN_GRADES = "grades.csv"
# Zip entries carry this date, so the same grades give the same bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# Moodle's worksheet columns (mod/assign/lang/en/assign.php: recordid, grade, ...).
MOODLE_ID, MOODLE_GRADE, MOODLE_MAX, MOODLE_NAME = "Identifier", "Grade", "Maximum Grade", "Full name"
MOODLE_COMMENTS = "Feedback comments"
MOODLE_FIX = ("pass the worksheet from the assignment's 'View all submissions' page, "
              "Grading action 'Download grading worksheet'")
# The folder of a participant's files in Moodle's submissions download.
MOODLE_FOLDER = "{name}_{participant}_assignsubmission_file_"
CANVAS_IDENTITY = ("Student", "LastName", "FirstName", "ID", "SIS User ID", "SIS Login ID", "Integration ID",
                   "Root Account", "Section")
CANVAS_POINTS = "Points Possible"
CANVAS_COLUMN = re.compile(r"(?P<name>.+) \((?P<id>\d+)\)")
BLACKBOARD_IDENTITY = ("Last Name", "First Name", "Username", "Student ID")
BLACKBOARD_COLUMN = re.compile(r"(?P<name>.+?) \[Total Pts: (?P<points>[^ \]]+) [^\]]*\] \|(?P<id>\d+)")


@dataclasses.dataclass(frozen=True)
class Grade:
    """A graded submission's totals from the gradebook; ``pending``: written answers not all graded.

    ``score`` is what the student gets: as ``nbgrader export`` gives it, the cells' sum less
    the late penalty that nbgrader applied (``late_penalty``), never below 0.
    """

    score: float
    max_score: float
    auto_score: float
    manual_score: float
    late_penalty: float
    pending: bool


@dataclasses.dataclass(frozen=True)
class Identity:
    """A student as the LMS knows them: its id, and the start of their entries' names in its archive."""

    lms_id: str
    prefix: str = None
    scheme: str = None  # the archive's naming scheme, when collect read it


@dataclasses.dataclass
class Returned:
    """What ``return`` wrote, and what the TA should know about it."""

    grades: pathlib.Path
    feedback: pathlib.Path
    returned: dict  # student -> LMS id, for every graded student
    pages: int  # feedback pages in the zip
    not_submitted: int  # the LMS's participants left without a grade
    pending: list  # graded students whose written answers are not all graded yet
    no_page: list  # graded students without a feedback page
    notes: list = dataclasses.field(default_factory=list)


def graded(course_dir, db_url=None, *, assignment):
    """``{student: Grade}`` for every student with a submission in the gradebook.

    The autograded and written parts add up the scores of the assignment's grade cells of
    each kind, in notebook order, as ``cell_grades.csv`` does.
    """
    db_url = db_url or coursedir.default_db_url(course_dir)
    cells = gradebook.grade_cells(course_dir, db_url, assignment)
    max_score = sum(cell["max_score"] for cell in cells)
    found = {}
    for student, submission in gradebook.submissions(db_url, assignment).items():
        scores = submission.grades
        auto, manual = (sum(scores[cell["grade_id"]].score for cell in cells
                            if cell["kind"] == kind and cell["grade_id"] in scores) for kind in ("auto", "manual"))
        found[student] = Grade(submission.total, max_score, auto, manual, submission.late_penalty,
                               submission.needs_manual_grade)
    return found


def identities(course_dir, assignment, roster=None):
    """``{student: Identity}`` from ``collect.json``, then from the roster (``student_id``, ``lms_id``)."""
    report = records.read(paths.records_folder(course_dir, assignment) / "collect.json", {})
    found = {student: Identity(entry["lms_id"], entry.get("lms_prefix"), entry.get("scheme"))
             for student, entry in report.get("students", {}).items() if entry.get("lms_id")}
    if roster:
        for row in _roster_rows(roster):
            student, lms_id = (row.get("student_id") or "").strip(), (row.get("lms_id") or "").strip()
            if student and lms_id and student not in found:
                found[student] = Identity(lms_id)
    return found


def _roster_rows(path):
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise coursedir.CourseError(f"cannot read the roster {path} ({getattr(error, 'strerror', None) or error}): "
                                    "pass a CSV file with student_id and lms_id columns to --roster") from None


def feedback_pages(course_dir, student, assignment):
    """The student's feedback pages: one per notebook of the release that has one."""
    folder = paths.course_folder(course_dir, paths.FEEDBACK_DIRECTORY, assignment, student)
    release = paths.course_folder(course_dir, paths.RELEASE_DIRECTORY, assignment)
    notebooks = sorted(p.stem for p in release.glob("*.ipynb"))
    return [folder / f"{name}.html" for name in notebooks if (folder / f"{name}.html").is_file()]


# --- Reading and writing the LMS's delimited files as they were written ------------------------------


@dataclasses.dataclass
class Sheet:
    """A delimited text file as the LMS wrote it.

    ``records`` are ``(cells, raw)``: the parsed cells and the exact text they came from,
    so that rows left alone are written back byte for byte.
    """

    path: pathlib.Path
    encoding: str  # "utf-8", "utf-8-sig" (a byte-order mark) or "utf-16"
    delimiter: str
    records: list

    @property
    def header(self):
        return self.records[0][0] if self.records else []

    def format(self, cells, like=None):
        """``cells`` as one record of this file, quoted as the record ``like`` (default: the header) is."""
        like_cells, like_raw = like or self.records[0]
        quote = next((q for q in QUOTING if self._record(like_cells, q, like_raw) == like_raw), QUOTING[-1])
        return self._record(cells, quote, like_raw)

    def _record(self, cells, quote, like_raw):
        fields = ('"' + cell.replace('"', '""') + '"' if quote(cell, self.delimiter) else cell for cell in cells)
        ending = re.search(r"[\r\n]*$", like_raw)[0]
        return self.delimiter.join(fields) + ending


# How LMSs quote a field: every field (Blackboard), as PHP's fputcsv does (Moodle), or only where needed.
QUOTING = (lambda cell, delimiter: True,
           lambda cell, delimiter: any(c in cell for c in (delimiter, '"', "\n", "\r", "\t", " ", "\\")),
           lambda cell, delimiter: any(c in cell for c in (delimiter, '"', "\n", "\r")))


def read_sheet(path, what):
    """The :class:`Sheet` in ``path``; ``what`` names the file for the TA ("Moodle's grading worksheet")."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise coursedir.CourseError(f"cannot read {what} {path} ({error.strerror or error}): "
                                    "download it from the LMS again and pass its path") from None
    encoding = ("utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
                else "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise coursedir.CourseError(f"{path} is not text in UTF-8 or UTF-16: pass {what} as the LMS "
                                    "downloaded it, not resaved by a spreadsheet") from None
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    consumed = []

    def lines():
        for line in io.StringIO(text, newline=""):  # split at \n, \r\n or \r, which are kept
            consumed.append(line)
            yield line

    records = []
    try:
        for cells in csv.reader(lines(), delimiter=delimiter):
            records.append((cells, "".join(consumed)))
            consumed.clear()
    except csv.Error as error:
        raise coursedir.CourseError(f"{path} is not {what} ({error}): download it from the LMS again") from None
    return Sheet(path, encoding, delimiter, records)


def _columns(sheet, names, what, fix):
    """``{name: index}`` of the header's ``names``; CourseError naming ``what`` and ``fix`` if one is missing."""
    header = [cell.strip() for cell in sheet.header]
    missing = [name for name in names if name not in header]
    if missing:
        raise coursedir.CourseError(f"{sheet.path} is not {what}: no {' or '.join(map(repr, missing))} column "
                                    f"(its header: {', '.join(header)[:200] or 'empty'}): {fix}")
    return {name: header.index(name) for name in names}


def _number(value, like=""):
    """``value`` with two decimals, as the LMS wrote ``like`` (a decimal comma if it has one)."""
    text = f"{value:.2f}"
    return text.replace(".", ",") if "," in like and "." not in like else text


def _points(text):
    """The number in ``text`` (``100.00``, ``100,00``), or None."""
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return None


def _check_maximum(text, grade_max, where, fix):
    points = _points(text)
    if points is None or abs(points - grade_max) > 1e-9:
        raise coursedir.CourseError(f"{where} is out of {text.strip() or 'nothing'}, the gradebook out of "
                                    f"{grade_max:g}: {fix}")


def _comment(grade, pages):
    """The feedback comment a student reads beside their grade in the LMS."""
    written = "not graded yet" if grade.pending else f"{grade.manual_score:g}"
    attached = f" Your feedback page, {', '.join(p.name for p in pages)}, is attached." if pages else ""
    late = f", late penalty -{grade.late_penalty:g}" if grade.late_penalty else ""
    return (f"{grade.score:g} / {grade.max_score:g}: autograded tests {grade.auto_score:g}, "
            f"written answers {written}{late}.{attached}")


# --- One writer per LMS: (grades file, {zip entry: page}, participants without a grade, notes) -------


def _moodle(sheet, grades, ids, pages):
    """Moodle's worksheet, each graded participant's row filled in, and their pages under their folders."""
    columns, notes = _moodle_columns(sheet)
    by_participant = {int(ids[s].lms_id): s for s in grades if ids[s].lms_id.isdigit()}
    raws, entries, found, not_submitted = [sheet.records[0][1]], {}, set(), 0
    for cells, raw in sheet.records[1:]:
        whole = len(cells) == len(sheet.header)
        participant = re.search(r"(\d+)\s*$", cells[columns[MOODLE_ID]]) if whole else None
        student = participant and by_participant.get(int(participant[1]))
        if not student:
            not_submitted += whole and not cells[columns[MOODLE_GRADE]].strip()
            raws.append(raw)
            continue
        found.add(student)
        filled = _moodle_row(sheet, columns, cells, grades[student], pages[student])
        raws.append(sheet.format(filled, like=(cells, raw)))
        folder = _moodle_folder(ids[student], student, participant[1], filled, columns[MOODLE_NAME])
        entries.update({f"{folder}/{page.name}": page for page in pages[student]})
    _refuse_absent(set(grades) - found, ids, sheet.path, "participant", MOODLE_FIX)
    return raws, entries, not_submitted, notes


def _moodle_columns(sheet):
    """``({column: index}, notes)`` of Moodle's worksheet; the optional columns' index is None where missing."""
    columns = _columns(sheet, (MOODLE_ID, MOODLE_GRADE), "Moodle's grading worksheet", MOODLE_FIX)
    header = [cell.strip() for cell in sheet.header]
    columns.update({c: header.index(c) if c in header else None for c in (MOODLE_MAX, MOODLE_NAME, MOODLE_COMMENTS)})
    notes = [] if columns[MOODLE_COMMENTS] is not None else [
        f"the worksheet has no {MOODLE_COMMENTS!r} column: enable feedback comments in the assignment's "
        "settings to give the comments too"]
    return columns, notes


def _moodle_row(sheet, columns, cells, grade, pages):
    """A copy of a participant's worksheet ``cells`` with their grade and comment; refuses another maximum."""
    maximum, comments = columns[MOODLE_MAX], columns[MOODLE_COMMENTS]
    if maximum is not None:
        _check_maximum(cells[maximum], grade.max_score, f"{MOODLE_MAX} in {sheet.path}",
                       f"set the assignment's maximum grade to {grade.max_score:g} points in Moodle, "
                       "then download the worksheet again")
    filled = list(cells)
    filled[columns[MOODLE_GRADE]] = _number(grade.score, cells[maximum] if maximum is not None else "")
    if comments is not None:
        filled[comments] = _comment(grade, pages)
    return filled


def _moodle_folder(identity, student, participant, cells, name):
    """The participant's folder in Moodle's submissions download: the one collect read, else one built from
    the worksheet's full name (column ``name``; None: the student id)."""
    if identity.scheme == "moodle":
        return identity.prefix
    full_name = cells[name] if name is not None else student
    return MOODLE_FOLDER.format(name=full_name.replace("_", " "), participant=participant)


def _refuse_absent(absent, ids, path, what, fix):
    if absent:
        listed = ", ".join(f"{s} ({ids[s].lms_id})" for s in sorted(absent))
        raise coursedir.CourseError(f"graded students are not in {path}: {listed}: check each one's LMS id "
                                    f"({what}) in the roster, or {fix}")


def _assignment_column(sheet, pattern, identity, assignment, column):
    """Index of the assignment's column in ``sheet`` (None: a new one named ``column``), and its match."""
    header = [cell.strip() for cell in sheet.header]
    candidates = {i: m for i, m in ((i, pattern.fullmatch(h)) for i, h in enumerate(header)) if m}
    if column:
        return _named_column(header, candidates, identity, column.strip())
    chosen = [i for i, m in candidates.items() if assignment.casefold() in m["name"].casefold()]
    if len(chosen) == 1:
        return chosen[0], candidates[chosen[0]]
    names = ", ".join(repr(header[i]) for i in (chosen or candidates)) or "none"
    raise coursedir.CourseError(f"{'several' if chosen else 'no'} columns of {sheet.path} are named like "
                                f"{assignment} (its assignment columns: {names[:300]}): pass --column with the "
                                "one to fill, or with a new name to create that column")


def _named_column(header, candidates, identity, column):
    """``(index, match)`` of the column the TA named: an assignment column (by its header or its name), else
    any other column but an identifying one (match None), else ``(None, None)``: a new column."""
    for i, match in candidates.items():
        if column in (header[i], match["name"]):
            return i, match
    if column in header and column not in identity:
        return header.index(column), None
    return None, None


@dataclasses.dataclass(frozen=True)
class _Gradebook:
    """How an LMS's gradebook download identifies students and names assignment columns."""

    identity: tuple  # the identifying columns the upload keeps
    key: str  # the column holding the LMS id
    id_name: str  # what that id is called, for messages
    pattern: re.Pattern  # an assignment column's header
    what: str
    fix: str  # how to get the right file


GRADEBOOKS = {
    "canvas": _Gradebook(CANVAS_IDENTITY, "ID", "Canvas user id", CANVAS_COLUMN, "Canvas's gradebook export",
                         "pass the file from the course's Grades page, Export > Export Entire Gradebook"),
    "blackboard": _Gradebook(BLACKBOARD_IDENTITY, "Username", "username", BLACKBOARD_COLUMN,
                             "Blackboard's Grade Center", "pass the file from the Full Grade Center, "
                             "Work Offline > Download (user information included)"),
}


def _reduced(sheet, grades, ids, pages, assignment, column, lms):
    """The Canvas or Blackboard upload: identifying columns and the assignment's column."""
    book = GRADEBOOKS[lms]
    key = _columns(sheet, (book.key,), book.what, book.fix)[book.key]
    header = [cell.strip() for cell in sheet.header]
    max_score = next(iter(grades.values())).max_score if grades else None
    kept, target, heading, notes = _upload_columns(sheet, header, lms, assignment, column, max_score)
    rows = [heading]
    by_id = {ids[s].lms_id: s for s in grades}
    found, not_submitted = set(), 0
    for cells, _ in sheet.records[1:]:
        if len(cells) != len(header):
            continue
        value = cells[target] if target is not None else ""
        lms_id = cells[key].strip()
        if lms == "canvas" and cells[0].strip() == CANVAS_POINTS:
            value = _points_possible(header, target, value, max_score)
        elif not lms_id:
            continue  # Canvas's row naming hidden assignments: not a student
        elif lms_id in by_id:
            found.add(by_id[lms_id])
            value = _number(grades[by_id[lms_id]].score, value)
        else:
            not_submitted += not value.strip()
        rows.append([cells[i] for i in kept] + [value])
    _refuse_absent(set(grades) - found, ids, sheet.path, book.id_name, book.fix)
    return [sheet.format(row) for row in rows], _pages_by_id(grades, ids, pages), not_submitted, notes


def _upload_columns(sheet, header, lms, assignment, column, max_score):
    """``(kept, target, heading, notes)``: the indices of the identifying columns the upload keeps and of the
    assignment's column (None: a new one named ``column``), the upload's header row, and notes on the column."""
    book = GRADEBOOKS[lms]
    kept = [header.index(name) for name in book.identity if name in header]
    target, match = _assignment_column(sheet, book.pattern, book.identity, assignment, column)
    notes = _column_notes(lms, header, target, match, column, max_score)
    return kept, target, [header[i] for i in kept] + [header[target] if target is not None else column], notes


def _column_notes(lms, header, target, match, column, max_score):
    """Notes on the assignment's column (a new one); refuses a Blackboard column out of another maximum."""
    if target is None:
        return [f"a new column {column!r} will be created by the upload" + (
            ": Blackboard makes it a text column worth 0 points: set its points after uploading"
            if lms == "blackboard" else "")]
    if lms == "blackboard" and match and max_score is not None:
        _check_maximum(match["points"], max_score, f"the column {header[target]!r}",
                       f"set its points possible to {max_score:g} in the Grade Center, then download it again")
    return []


def _points_possible(header, target, value, max_score):
    """The value of Canvas's Points Possible row in the assignment's column (checked against the gradebook's)."""
    if target is None:
        return _number(max_score or 0)
    if max_score is not None and value.strip() not in ("", "(read only)"):
        _check_maximum(value, max_score, f"the column {header[target]!r}",
                       f"set its points possible to {max_score:g} in Canvas, then export the gradebook again")
    return value


def _pages_by_id(grades, ids, pages):
    """``{<lms id>.html (or <lms id>_<page> for several): page}``."""
    entries = {}
    for student in grades:
        theirs = pages[student]
        for page in theirs:
            entries[f"{ids[student].lms_id}.html" if len(theirs) == 1 else f"{ids[student].lms_id}_{page.name}"] = page
    return entries


def _plain(grades, ids, pages, everyone):
    entries = _pages_by_id(grades, ids, pages)
    page_of = {page: name for name, page in entries.items()}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student_id", "lms_id", "score", "max_score", "auto_score", "manual_score", "late_penalty",
                     "written_answers", "feedback"])
    for student in everyone:
        grade = grades.get(student)
        if grade is None:
            writer.writerow([student, ids[student].lms_id if student in ids else "", "", "", "", "", "", "", ""])
            continue
        writer.writerow([student, ids[student].lms_id, f"{grade.score:g}", f"{grade.max_score:g}",
                         f"{grade.auto_score:g}", f"{grade.manual_score:g}", f"{grade.late_penalty:g}",
                         "not graded yet" if grade.pending else "graded",
                         " ".join(page_of[p] for p in pages[student])])
    return [out.getvalue()], entries, len(everyone) - len(grades), []


def _output_folder(out):
    out = pathlib.Path(out).resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise coursedir.CourseError(f"cannot create the folder {out} ({error.strerror or error}): "
                                    "pass --out a folder you can write") from None
    return out


def return_grades(course_dir, lms, out, export=None, roster=None, column=None, db_url=None, *, assignment):
    """Write the grades upload and ``feedback.zip`` for ``lms`` into ``out``.

    Parameters
    ----------
    course_dir : path
        The graded course directory (gradebook, ``feedback/``, ``build/submissions/``).
    lms : str
        One of :data:`LMSES`.
    out : path
        The folder to write into (created if needed); not the one ``export`` is in.
    export : path, optional
        The LMS's file to fill in: Moodle's grading worksheet, Canvas's or Blackboard's
        gradebook download. Not for ``csv``.
    roster : path, optional
        A CSV with ``student_id`` and ``lms_id``: LMS ids of students ``collect`` did not see.
    column : str, optional
        Canvas, Blackboard: the column to fill (default: the one named like the assignment).
    assignment : str
        The assignment whose grades are returned.

    Returns
    -------
    Returned

    Raises
    ------
    coursedir.CourseError
        A graded student has no LMS id, or is not in ``export``; ``export`` is not the
        LMS's file; its maximum differs from the gradebook's; ``out`` cannot be written.
    """
    course_dir = pathlib.Path(course_dir)
    grades = graded(course_dir, db_url, assignment=assignment)
    ids = _returnable_identities(course_dir, lms, grades, assignment, roster)
    pages = {student: feedback_pages(course_dir, student, assignment) for student in grades}
    out = _output_folder(out)
    if lms == "csv":
        everyone = sorted(set(gradebook.student_ids(db_url or coursedir.default_db_url(course_dir))) | set(grades))
        raws, entries, not_submitted, notes = _plain(grades, ids, pages, everyone)
        grades_path, encoding = out / PLAIN_GRADES, "utf-8"
    else:
        what = "Moodle's grading worksheet" if lms == "moodle" else f"{lms.capitalize()}'s gradebook"
        sheet = read_sheet(export, what)
        grades_path, encoding = out / sheet.path.name, sheet.encoding
        if grades_path == sheet.path.resolve():
            raise coursedir.CourseError(f"--out {out} holds {sheet.path.name}, which would be overwritten: "
                                        "pass --out another folder")
        if lms == "moodle":
            raws, entries, not_submitted, notes = _moodle(sheet, grades, ids, pages)
        else:
            raws, entries, not_submitted, notes = _reduced(sheet, grades, ids, pages, assignment, column, lms)
    grades_path.write_bytes("".join(raws).encode(encoding))
    feedback_path = _write_feedback_zip(out / FEEDBACK_ZIP, entries)
    return Returned(grades_path, feedback_path, {s: ids[s].lms_id for s in sorted(grades)}, len(entries),
                    not_submitted, sorted(s for s, g in grades.items() if g.pending),
                    sorted(s for s in grades if not pages[s]), notes)


def _returnable_identities(course_dir, lms, grades, assignment, roster):
    """``{student: Identity}`` covering every graded student, with ids ``lms`` knows and, but for Moodle's
    folder names, ids that can name a file (the csv return falls back to the student id)."""
    ids = identities(course_dir, assignment, roster)
    if lms == "csv":
        ids.update({s: Identity(s) for s in grades if s not in ids})
    unknown = sorted(s for s in grades if s not in ids)
    if unknown:
        raise coursedir.CourseError(f"no LMS id for the graded students {', '.join(unknown)}: collect their uploads "
                                    "from the LMS's archive (python -m mlpcourse collect ZIP), or pass --roster with a "
                                    "student_id,lms_id row for each")
    other = sorted({ids[s].scheme for s in grades} - {None, "plain", lms}) if lms != "csv" else []
    if other:
        raise coursedir.CourseError(f"the uploads were collected from a {' and '.join(other)} archive, whose ids "
                                    f"{lms} does not know: return them with --lms {other[0]}")
    unsafe = sorted(ids[s].lms_id for s in grades if not collect.SAFE_ID.fullmatch(ids[s].lms_id))
    if unsafe and lms != "moodle":
        raise coursedir.CourseError(f"LMS ids that cannot name a file: {', '.join(map(repr, unsafe))}: "
                                    "correct them in the roster")
    return ids


def _write_feedback_zip(path, entries):
    """``feedback.zip`` at ``path`` from ``{name in the zip: page}``, byte-stable (fixed entry dates); return it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, page in sorted(entries.items()):
            archive.writestr(zipfile.ZipInfo(name, ZIP_DATE), page.read_bytes(), zipfile.ZIP_DEFLATED)
    return path


def summary(result):
    """Lines for the TA: what was written, what to upload where, and what needs them."""
    lines = [f"wrote {result.grades}: {len(result.returned)} graded students"
             + (f", {result.not_submitted} without a submission left ungraded" if result.not_submitted else ""),
             f"wrote {result.feedback}: {result.pages} feedback pages"]
    if result.pending:
        lines.append(f"written answers not graded yet (their grade counts what is graded so far): "
                     f"{', '.join(result.pending)}: grade them in the formgrader, then return again")
    if result.no_page:
        lines.append(f"no feedback page for {', '.join(result.no_page)}: run `nbgrader generate_feedback` "
                     "(python -m mlpcourse grade writes them)")
    return lines + [f"note: {note}" for note in result.notes]
