"""Laying out the uploads in an LMS's zip as nbgrader submissions.

``python -m mlpcourse collect ZIP`` keeps the zip in ``downloaded/<assignment>/archive/``
and extracts it to ``downloaded/<assignment>/extracted/`` with nbgrader's own
``zip_collect`` extractor (nested zips included), as ``nbgrader zip_collect`` would.
It then names each upload's student and writes the upload, byte for byte, as
``submitted/<student>/<assignment>/<assignment>.ipynb``, whatever the notebook was
called (``Copy of asg01.ipynb``, ``asg01 (1).ipynb``, ``asg01-1.ipynb``).

nbgrader's own collection step (``FileNameCollectorPlugin``) is not used: it takes
one regular expression for all files, only logs the files it skips, stops the whole
class when a student uploaded two notebooks without timestamps, and copies
notebooks under their uploaded names, which autograde then does not grade.

Naming schemes recognised (per file, after extraction):

===============  =========================================================================
Moodle           ``<Full Name>_<participant id>_assignsubmission_file_/<file>`` (a folder
                 per student) or ``<Full Name>_<participant id>_assignsubmission_file_<file>``
Canvas           ``<lastfirst>_<user id>_<submission id>_<file>``, ``<lastfirst>_LATE_...``;
                 resubmissions end in ``-1``, ``-2``
Blackboard       ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``
                 (the attempt's ``.txt`` receipt is ignored)
plain file       ``<student id><separator><anything>.ipynb`` or ``<student id>.ipynb``, where
                 the id looks like ``s1234567``, ``2023001`` or ``ab123`` (or is in the roster)
plain folder     ``<student id>/<file>``
===============  =========================================================================

The student id is the LMS's id unless a roster CSV (columns ``student_id`` and
``lms_id``) maps it. Every file is accounted for in the report
(``build/submissions/<assignment>/collect.json``): collected, not a notebook,
unreadable, unrecognised name, or ignored (``__MACOSX``, ``.DS_Store``, receipts).
A student whose uploads hold no notebook still gets a folder in ``submitted/`` with
those files, and a zero when graded.
"""

import csv
import dataclasses
import datetime
import pathlib
import re
import shutil

from mlpcourse import paths, records, repair

JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$|\.ipynb_checkpoints/)")
ARCHIVES = (".zip", ".gz", ".tgz", ".tar")
PLAIN_ID = re.compile(r"[A-Za-z]{0,3}\d{3,}[A-Za-z0-9]*")
SCHEMES = (
    ("moodle", re.compile(r"^(?P<name>[^/]+?)_(?P<id>\d+)_assign(?:submission|feedback)_[a-z]+_/(?P<file>.+)$")),
    ("moodle", re.compile(r"^(?P<name>[^/]+?)_(?P<id>\d+)_assignsubmission_file_(?P<file>[^/]+)$")),
    ("blackboard", re.compile(r"^(?P<assignment>[^/]+?)_(?P<id>[^_/]+)_attempt_"
                              r"(?P<time>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})(?:_(?P<file>[^/]+)|\.txt)$")),
    ("canvas", re.compile(r"^(?P<name>[a-z0-9-]+?)(?:_(?:late|LATE))?_(?P<id>\d+)_(?P<submission>\d+)_(?P<file>[^/]+)$")),
)


@dataclasses.dataclass
class Upload:
    """One file of the archive and what became of it."""

    path: str
    student: str = None
    scheme: str = None
    filename: str = None
    timestamp: str = None
    status: str = "unrecognised name"
    detail: str = ""


def read_roster(path):
    """``{lms id: student id}`` (and ``{student id: student id}``) from a roster CSV."""
    mapping = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            student = (row.get("student_id") or "").strip()
            if student:
                mapping[student] = student
                if (row.get("lms_id") or "").strip():
                    mapping[row["lms_id"].strip()] = student
    return mapping


def classify(relative_path, assignment=paths.ASSIGNMENT, roster=None):
    """An :class:`Upload` for one extracted file (``relative_path`` uses ``/``).

    The first folder of ``relative_path`` is the archive's own (nbgrader's
    extractor puts each archive's files in a folder named after it).
    """
    upload = Upload(relative_path)
    inner = relative_path.split("/", 1)[1] if "/" in relative_path else relative_path
    if JUNK.search(inner) or inner.lower().endswith(ARCHIVES):
        upload.status = "ignored"
        return upload
    for scheme, pattern in SCHEMES:
        match = pattern.match(inner)
        if match:
            found = match.groupdict()
            if scheme == "blackboard" and not found.get("file"):
                upload.status = "ignored"
                upload.detail = "Blackboard receipt"
                return upload
            upload.scheme, upload.student, upload.filename = scheme, found["id"], found["file"].split("/")[-1]
            if found.get("time"):
                upload.timestamp = datetime.datetime.strptime(found["time"], "%Y-%m-%d-%H-%M-%S").isoformat()
            break
    else:
        parts = inner.split("/")
        name = parts[-1]
        if len(parts) >= 2 and _is_id(parts[-2], assignment, roster):
            upload.scheme, upload.student, upload.filename = "plain folder", parts[-2], name
        else:
            match = re.match(r"^(?P<id>[^_\- ./]+)(?:[_\- ](?P<rest>.+))?\.(?P<ext>[^.]+)$", name)
            if match and _is_id(match["id"], assignment, roster):
                upload.scheme, upload.student, upload.filename = "plain file", match["id"], name
    if upload.student is None:
        return upload
    if roster is not None:
        if upload.student not in roster:
            upload.status = "unknown student"
            upload.detail = f"{upload.student} is not in the roster"
            return upload
        upload.student = roster[upload.student]
    upload.status = "notebook" if upload.filename.lower().endswith(".ipynb") else "not a notebook"
    return upload


def _is_id(text, assignment, roster):
    if roster is not None:
        return text in roster
    return text.lower() != assignment.lower() and bool(PLAIN_ID.fullmatch(text))


def released_name_of(filename, assignment=paths.ASSIGNMENT):
    """True if ``filename`` is the released notebook under a name tools and LMSs give it."""
    stem = filename.rsplit(".", 1)[0].strip().lower()
    stem = re.sub(r"^(copy of |copy_of_)+", "", stem)
    stem = re.sub(r"([ _-]?\(\d+\)|-\d+|[ _-]copy)+$", "", stem)
    return stem == assignment.lower()


def _choose(notebooks, assignment):
    """The upload to grade among one student's notebooks, and why."""
    def key(upload):
        return (upload.timestamp or "", released_name_of(upload.filename, assignment),
                upload.filename.lower() == f"{assignment}.ipynb", upload.path)
    chosen = max(notebooks, key=key)
    if len(notebooks) == 1:
        return chosen, ""
    others = ", ".join(u.filename for u in notebooks if u is not chosen)
    reason = "the latest attempt" if chosen.timestamp else "the one named like the assignment"
    return chosen, f"several notebooks uploaded ({others} not graded); graded {reason}"


def extract(zip_path, course_dir, assignment=paths.ASSIGNMENT):
    """Keep the archive in ``downloaded/`` and extract it there; return the extracted folder."""
    from nbgrader.plugins.zipcollect import ExtractorPlugin

    downloaded = pathlib.Path(course_dir) / "downloaded" / assignment
    archive, extracted = downloaded / "archive", downloaded / "extracted"
    archive.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(extracted, ignore_errors=True)
    extracted.mkdir(parents=True)
    zip_path = pathlib.Path(zip_path)
    if zip_path.resolve() != (archive / zip_path.name).resolve():
        shutil.copy2(zip_path, archive / zip_path.name)
    ExtractorPlugin().extract(str(archive), str(extracted))
    return extracted


def collect(zip_path, course_dir=paths.ROOT, assignment=paths.ASSIGNMENT, roster=None):
    """Lay out the uploads in ``zip_path`` as ``submitted/<student>/<assignment>/``.

    Parameters
    ----------
    zip_path : path
        The archive the LMS produced.
    course_dir : path
        The nbgrader course directory.
    roster : path, optional
        A CSV with ``student_id`` and ``lms_id`` columns.

    Returns
    -------
    dict
        The report, also written to ``build/submissions/<assignment>/collect.json``:
        ``{"archive", "students": {student: {...}}, "files": [...]}``.
    """
    course_dir = pathlib.Path(course_dir)
    mapping = read_roster(roster) if roster else None
    extracted = extract(zip_path, course_dir, assignment)
    uploads = [classify(path.relative_to(extracted).as_posix(), assignment, mapping)
               for path in sorted(extracted.rglob("*")) if path.is_file()]
    students = {}
    for upload in uploads:
        if upload.status in ("notebook", "not a notebook"):
            students.setdefault(upload.student, []).append(upload)
    report = {"archive": pathlib.Path(zip_path).name, "students": {}, "files": []}
    for student, theirs in sorted(students.items()):
        folder = course_dir / "submitted" / student / assignment
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        notebooks = [u for u in theirs if u.status == "notebook"]
        entry = {"scheme": theirs[0].scheme, "uploads": [u.path for u in theirs], "problems": []}
        if notebooks:
            chosen, why = _choose(notebooks, assignment)
            shutil.copyfile(extracted / chosen.path, folder / f"{assignment}.ipynb")
            entry["notebook"] = chosen.path
            if chosen.filename != f"{assignment}.ipynb":
                entry["renamed_from"] = chosen.filename
            if why:
                entry["problems"].append(why)
            if chosen.timestamp:
                (folder / "timestamp.txt").write_text(chosen.timestamp.replace("T", " ") + " UTC")
            for upload in notebooks:
                upload.status = "collected" if upload is chosen else "not graded (another notebook was chosen)"
            try:
                repair.read_upload((extracted / chosen.path).read_bytes())
            except repair.RepairError as error:
                chosen.status = "unreadable"
                chosen.detail = str(error)
                entry["problems"].append(f"{chosen.filename}: {error}")
        else:
            entry["problems"].append("no notebook among the uploads: " + ", ".join(u.filename for u in theirs))
        for upload in theirs:
            if upload.status == "not a notebook":
                shutil.copyfile(extracted / upload.path, folder / upload.filename)
                entry["problems"].append(f"{upload.filename} is not a notebook (.ipynb)")
        report["students"][student] = entry
    report["files"] = [dataclasses.asdict(u) for u in uploads]
    records.write(records.folder(course_dir, assignment) / "collect.json", report)
    return report


def summary(report):
    """Lines for the TA: one per student with a problem, one per file not collected."""
    lines = [f"{len(report['students'])} students in {report['archive']}"]
    for student, entry in report["students"].items():
        for problem in entry["problems"]:
            lines.append(f"  {student}: {problem}")
        if "renamed_from" in entry:
            lines.append(f"  {student}: graded {entry['renamed_from']!r} as the assignment's notebook")
    for upload in report["files"]:
        if upload["status"] in ("unrecognised name", "unknown student"):
            lines.append(f"  {upload['status']}: {upload['path']} {upload['detail']}".rstrip())
    return lines
