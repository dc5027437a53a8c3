"""Laying out the uploads in an LMS's archive as nbgrader submissions.

``python -m mlpcourse collect ZIP`` keeps the archive in ``downloaded/<assignment>/archive/``
and reads it in memory: nothing is extracted, so no name in it ever becomes a path.
It names each upload's student and writes the upload, byte for byte, as
``submitted/<student>/<assignment>/<assignment>.ipynb``, whatever the notebook was
called (``Copy of asg01.ipynb``, ``asg01 (1).ipynb``, ``asg01-1.ipynb``).

Whose upload it is
------------------
A student controls the names and contents of the files they upload, never the part
of an entry's name that the LMS writes. So one naming scheme is detected for the
whole archive and applied to every entry, and the student is read from the
LMS-written part only:

===============  =========================================================================
Moodle           ``<Full Name>_<participant id>_assignsubmission_file_/<file>`` (a folder
                 per student) or ``<Full Name>_<participant id>_assignsubmission_file_<file>``
Canvas           ``<lastfirst>_<user id>_<submission id>_<file>``, ``<lastfirst>_LATE_...`` (the
                 LMS marked it late); resubmissions end in ``-1``, ``-2``
Blackboard       ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>`` (the
                 attempt's ``.txt`` receipt is not collected); the assignment name is what
                 every entry's name starts with, up to a ``_``: where both may hold ``_``,
                 the receipts' "Name: First Last (username)" or the roster says which
plain            ``<student id>/<file>`` or ``<student id><separator><anything>.<ext>``,
                 where the id looks like ``s1234567``, ``2023001`` or ``ab123`` (or is in
                 the roster)
===============  =========================================================================

The scheme is the one that fits the most entries; on a tie, the one whose
LMS-written part is shortest (a scheme that fits only by reading into a student's
file name has a longer one). An entry that does not fit it is reported as an
unrecognised name and given to nobody. An uploaded archive (``.zip``, ``.tar.gz``,
...) is unpacked in memory as more files of the student who uploaded it: names
inside it never name a student. Every student's files, nested archives included,
are read within limits (:data:`MAX_FILE_BYTES`, :data:`MAX_STUDENT_BYTES`,
:data:`MAX_STUDENT_FILES`, :data:`MAX_NESTING`, :data:`MAX_RATIO`); what breaks one
(not an archive, a bomb, an impossible attempt time) is refused and reported for
that student alone.

When it was submitted
---------------------
The time of the graded notebook is written to ``timestamp.txt`` beside it, where
``nbgrader autograde`` reads it to count lateness (:mod:`mlpcourse.grading.late`):
Blackboard's attempt time, else the time of the archive's entry (the LMS wrote
it; an uploaded archive's files take the time of the upload that holds them).
Both are the LMS server's wall-clock times: ``timezone`` (an IANA name, default
UTC) says which zone, and is written with the time. Canvas's ``LATE`` marker has no
time: it is recorded (``marked_late``) for the class report to show beside
nbgrader's own count.

The student id is the LMS's id unless a roster CSV (columns ``student_id`` and
``lms_id``) maps it, and must be usable as a folder name. Every file is accounted for
in the report (``build/submissions/<assignment>/collect.json``): collected, not a
notebook, unpacked, refused, unreadable, unrecognised name, unknown student, or
ignored (``__MACOSX``, ``.DS_Store``, receipts, links). The student's other uploads
are copied beside the notebook (an archive as uploaded). A student whose uploads hold
no notebook gets a folder with those files and :data:`NO_NOTEBOOK` saying why, and a
zero when graded.

nbgrader's own ``zip_collect`` is not used: its extractor unpacks archives without
limits, and its collector takes one regular expression for all files, only logs the
files it skips, stops the whole class when a student uploaded two notebooks without
timestamps, and copies notebooks under their uploaded names, which autograde then
does not grade.
"""

import contextlib
import csv
import dataclasses
import datetime
import io
import os
import pathlib
import re
import shutil
import stat
import tarfile
import zipfile

import dateutil.tz

from mlpcourse import paths, records
from mlpcourse.containment import sandbox
from mlpcourse.grading import coursedir, repair

JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$|\.ipynb_checkpoints/)")
ARCHIVES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz")
PLAIN_ID = re.compile(r"[A-Za-z]{0,3}\d{3,}[A-Za-z0-9]*")
# A student id names a folder: no separator, not "." or "..", not hidden.
SAFE_ID = re.compile(r"\w[\w.@+-]{0,99}")
# Each scheme's (LMS-written start of an entry's name, what may follow it). The start is
# matched on its own, so it is its first occurrence: the one the LMS wrote, never one
# found further on, in a name the student chose.
_MOODLE = re.compile(r"[^/]+?_(?P<id>\d+)_assign(?:submission|feedback)_[a-z]+_")
_BLACKBOARD = re.compile(r"(?P<pre>[^/]+?)_attempt_(?P<time>\d{4}(?:-\d\d){5})")
# The first line of a Blackboard receipt (the student's own text comes later in it).
_RECEIPT_NAME = re.compile(r"Name: .*\((?P<username>[^()\s]+)\)")
# Bytes of a receipt read: its first line is all that is used.
MAX_RECEIPT_BYTES = 4096
SCHEMES = {
    "moodle": ((_MOODLE, re.compile(r"/(?P<file>.+)")), (_MOODLE, re.compile(r"(?P<file>[^/]+)"))),
    "canvas": ((re.compile(r"[^_/]+_(?P<late>LATE_|late_)?(?P<id>\d+)_\d+_"), re.compile(r"(?P<file>[^/]+)")),),
    "blackboard": ((_BLACKBOARD, re.compile(r"_(?P<file>[^/]+)")), (_BLACKBOARD, re.compile(r"(?P<receipt>\.txt)"))),
    "plain": ((re.compile(r"(?P<id>[^/]+)/"), re.compile(r"(?P<file>.+)")),
              (re.compile(r"(?P<id>[^_\- ./]+)"), re.compile(r"(?:[_\- ][^/]*)?\.[^./]+"))),
}
# What collect writes in a student's folder besides the notebook; uploads never take these names.
TIMESTAMP = "timestamp.txt"
NO_NOTEBOOK = "no-notebook.txt"
# Uploads copied beside the notebook (archives as uploaded).
COPIED = ("not a notebook", "unpacked", "refused")

# Limits on one student's files (nested archives unpacked), and on archives.
MAX_FILE_BYTES = 64 * 2**20
MAX_STUDENT_BYTES = 256 * 2**20
MAX_STUDENT_FILES = 500
MAX_NESTING = 3  # archives inside the uploaded archive
MAX_RATIO = 200  # unpacked bytes per packed byte, above RATIO_FLOOR
RATIO_FLOOR = 2**20
# A zip entry's time when the zip records none (zip times start in 1980).
ZIP_NO_TIME = (1980, 1, 1, 0, 0, 0)


@dataclasses.dataclass
class Upload:
    """One file of the archive (or of an archive a student uploaded) and what became of it."""

    path: str  # the entry's name; "<uploaded archive's path>!/<name inside>" for files inside uploads
    student: str = None
    scheme: str = None
    filename: str = None
    timestamp: str = None  # the attempt time the LMS wrote in the name (ISO, the archive's time zone)
    status: str = "unrecognised name"
    detail: str = ""
    lms_id: str = None  # the id the LMS wrote, before the roster maps it
    lms_prefix: str = None  # the LMS-written start of the entry's name (Moodle: the submission folder's name)
    entry_time: str = None  # the time of the archive's entry (ISO, the archive's time zone)
    marked_late: bool = False  # the LMS wrote a late marker in the name
    archive: str = dataclasses.field(default=None, repr=False)  # the uploaded archive it came from
    data: bytes = dataclasses.field(default=None, repr=False)

    def row(self):
        """The report's record of this file."""
        return {name: getattr(self, name) for name in ("path", "student", "scheme", "filename", "timestamp",
                                                        "entry_time", "marked_late", "status", "detail")}


class _Refused(Exception):
    """A file or archive is not read: the message says why, for the student and the TA."""


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


def _fit(scheme, name, assignment, roster):
    """The groups of ``name`` read as ``scheme`` (``end``: where its LMS-written part ends), or None."""
    for start, rest in SCHEMES[scheme]:
        lms = start.match(name)
        after = lms and rest.fullmatch(name, lms.end())
        if after and (scheme != "plain" or _is_id(lms["id"], assignment, roster)):
            return {"file": name, **lms.groupdict(), **after.groupdict(), "end": lms.end()}
    return None


def _is_id(text, assignment, roster):
    if roster is not None:
        return text in roster
    return text.lower() != assignment.lower() and bool(PLAIN_ID.fullmatch(text))


def _blackboard_usernames(prefixes, receipts, roster):
    """``{"<title>_<username>": username}``: the assignment's title, which all entries start with, cut off.

    Title and usernames may both hold ``_``, so the title ends at one of the ``_`` s of the
    start all ``prefixes`` share (each leaving a username). When more than one fits, the
    receipts choose (``{prefix: username}``, each from its receipt's "Name: First Last
    (username)"), else the roster (the one cut whose usernames it all holds).

    Raises
    ------
    coursedir.CourseError
        When neither settles where the title ends.
    """
    common = os.path.commonprefix(sorted(set(prefixes)))
    cuts = [at + 1 for at, char in enumerate(common) if char == "_" and all(len(p) > at + 1 for p in prefixes)]
    cuts = [cut for cut in cuts if all(prefix[cut:] == username for prefix, username in receipts.items())]
    if len(cuts) > 1 and roster is not None:
        cuts = [cut for cut in cuts if all(prefix[cut:] in roster for prefix in prefixes)]
    if len(cuts) != 1:
        raise coursedir.CourseError(
            f"the Blackboard entries' names ({common!r}...) do not say where the assignment title ends and the "
            "username begins: download the archive with the attempts' .txt receipts in it, or give --roster with "
            "the usernames as lms_id")
    return {prefix: prefix[cuts[0]:] for prefix in prefixes}


def _receipt_username(text):
    """The username in a Blackboard receipt's first line, "Name: First Last (username)", or None."""
    first = text.split("\n", 1)[0].strip()
    found = _RECEIPT_NAME.fullmatch(first)
    return found and found["username"]


def classify(names, assignment, roster=None, receipts=None):
    """The archive's naming scheme (None if no entry fits one) and an :class:`Upload` per name.

    ``names`` are the archive's file entries (``/``-separated); ``roster`` maps LMS
    ids to student ids (:func:`read_roster`); ``receipts`` maps Blackboard receipt entries
    to their text (:func:`_receipts`); ``assignment``'s name is never read as a plain
    student id. Each upload's status is ``notebook`` or ``not a notebook`` when it names
    a student, else why not.
    """
    uploads = [Upload(name) for name in names]
    for upload in uploads:
        if JUNK.search(upload.path):
            upload.status = "ignored"
    candidates = [u for u in uploads if u.status != "ignored"]
    fits = {scheme: [_fit(scheme, u.path, assignment, roster) for u in candidates] for scheme in SCHEMES}
    scheme = _best_scheme(fits)
    if scheme is None:
        return None, uploads
    usernames = _blackboard_names(fits[scheme], receipts or {}, roster) if scheme == "blackboard" else {}
    for upload, match in zip(candidates, fits[scheme]):
        if match:
            _name(upload, scheme, match, usernames, roster)
    return scheme, uploads


def _best_scheme(fits):
    """The scheme that fits the most entries, the shortest LMS-written parts on a tie, the first in
    :data:`SCHEMES` of equals; None if none fits one. ``fits``: ``{scheme: [its groups of each entry, or None]}``."""
    def rank(scheme):
        matches = [m for m in fits[scheme] if m]
        return len(matches), -sum(m["end"] for m in matches)

    scheme = max(SCHEMES, key=rank)
    return scheme if rank(scheme)[0] else None


def _blackboard_names(fits, receipts, roster):
    """``{"<title>_<username>": username}`` (:func:`_blackboard_usernames`) for Blackboard's ``fits`` (each
    entry's groups, None where it does not fit), the receipts (``{entry name: text}``) naming users where they can."""
    matches = [m for m in fits if m]
    named = {m["pre"]: _receipt_username(receipts.get(m["file"], "")) for m in matches if m.get("receipt")}
    # A receipt naming a user its entry's name does not end with says nothing of where the title ends.
    return _blackboard_usernames([m["pre"] for m in matches],
                                 {pre: user for pre, user in named.items() if user and pre.endswith(f"_{user}")},
                                 roster)


def _name(upload, scheme, match, usernames, roster):
    """Give ``upload`` the student, file name and attempt time its LMS-written part says."""
    if match.get("receipt"):
        upload.status, upload.detail = "ignored", "Blackboard receipt"
        return
    student = lms_id = usernames[match["pre"]] if scheme == "blackboard" else match["id"]
    if roster is not None:
        if student not in roster:
            upload.status, upload.detail = "unknown student", f"{student} is not in the roster"
            return
        student = roster[student]
    if not SAFE_ID.fullmatch(student):
        upload.detail = f"{student!r} cannot be a student id (a folder name)"
        return
    upload.scheme, upload.student = scheme, student
    upload.lms_id, upload.lms_prefix = lms_id, upload.path[:match["end"]]
    upload.marked_late = bool(match.get("late"))
    upload.filename = match["file"].rsplit("/", 1)[-1]
    upload.status = "notebook" if upload.filename.lower().endswith(".ipynb") else "not a notebook"
    if match.get("time"):
        try:
            upload.timestamp = datetime.datetime.strptime(match["time"], "%Y-%m-%d-%H-%M-%S").isoformat()
        except ValueError:
            upload.detail = f"the attempt time {match['time']} is not a date: taken as the earliest attempt"


@contextlib.contextmanager
def _refused_as(what):
    """Turn whatever the archive libraries raise on a student's bytes into :class:`_Refused`."""
    try:
        yield
    except _Refused:
        raise
    except Exception as error:  # hostile bytes make the readers raise anything: it costs their uploader only
        message = (str(error).splitlines() or [""])[0][:100]
        raise _Refused(f"{what} ({type(error).__name__}{': ' * bool(message)}{message})") from None


class _Allowance:
    """What one student may still upload: files and bytes, nested archives unpacked."""

    def __init__(self):
        self.files, self.bytes = MAX_STUDENT_FILES, MAX_STUDENT_BYTES

    def take(self, size):
        if self.files <= 0:
            raise _Refused(f"more than {MAX_STUDENT_FILES} files uploaded")
        if size > MAX_FILE_BYTES:
            raise _Refused(f"larger than {MAX_FILE_BYTES // 2**20} MiB")
        if size > self.bytes:
            raise _Refused(f"the uploads add up to more than {MAX_STUDENT_BYTES // 2**20} MiB")
        self.files -= 1
        self.bytes -= size


@dataclasses.dataclass
class _Member:
    name: str
    size: int
    info: object  # zipfile.ZipInfo or tarfile.TarInfo


class _Archive:
    """The regular files of a zip or tar archive, read in memory within an allowance.

    ``files`` are :class:`_Member` s; ``others`` names the links, devices and such,
    which are never read. Entry names are only read and reported, never used as paths.
    """

    def __init__(self, source, limit=None):
        """``source``: a path or bytes; more than ``limit`` entries is refused."""
        self.handle = open(source, "rb") if isinstance(source, pathlib.Path) else io.BytesIO(source)
        self.size = os.fstat(self.handle.fileno()).st_size if isinstance(source, pathlib.Path) else len(source)
        self.files, self.others, self.reader = [], [], None
        try:
            with _refused_as("a damaged archive"):
                if zipfile.is_zipfile(self.handle):
                    self.reader = zipfile.ZipFile(self.handle)
                    self._list_zip(limit)
                else:
                    self.handle.seek(0)
                    try:
                        self.reader = tarfile.open(fileobj=self.handle, mode="r:*")
                    except tarfile.ReadError:
                        raise _Refused("not a zip or tar archive") from None
                    self._list_tar(limit)
        except _Refused:
            self.close()
            raise

    def _list_zip(self, limit):
        entries = self.reader.infolist()
        if limit is not None and len(entries) > limit:
            raise _Refused(f"holds more than {limit} files")
        for info in entries:
            if stat.S_ISLNK(info.external_attr >> 16):
                self.others.append(info.filename)
            elif not info.is_dir():
                self.files.append(_Member(info.filename, info.file_size, info))

    def _list_tar(self, limit):
        total = 0
        for count, info in enumerate(self.reader, 1):
            if limit is not None and count > limit:
                raise _Refused(f"holds more than {limit} files")
            if info.isfile():
                total += info.size
                # Checked before reading on: tarfile decompresses a member to skip it.
                if total > max(RATIO_FLOOR, MAX_RATIO * self.size):
                    raise _Refused(f"unpacks to more than {MAX_RATIO} times its size (an archive bomb?)")
                self.files.append(_Member(info.name, info.size, info))
            elif not info.isdir():
                self.others.append(info.name)

    def read(self, member, allowance):
        """The bytes of ``member``, charged to ``allowance``; :class:`_Refused` if over it."""
        zipped = isinstance(self.reader, zipfile.ZipFile)
        if zipped and member.size > max(RATIO_FLOOR, MAX_RATIO * member.info.compress_size):
            raise _Refused(f"compressed more than {MAX_RATIO} times (an archive bomb?)")
        allowance.take(member.size)
        with _refused_as("cannot be read from its archive"):
            if zipped:
                with self.reader.open(member.info) as stream:
                    data = stream.read(member.size + 1)
            else:
                data = self.reader.extractfile(member.info).read(member.size + 1)
        if len(data) != member.size:
            raise _Refused("its size differs from the one its archive records")
        return data

    def close(self):
        if self.reader is not None:
            with contextlib.suppress(Exception):  # a reader left half-open by hostile bytes
                self.reader.close()
        self.handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _entry_time(info, zone):
    """The time the archive records for an entry (ISO, wall-clock time in ``zone``), or None.

    A zip records wall-clock time, in the zone of the machine that wrote it; a tar
    records seconds since the epoch.
    """
    try:
        if isinstance(info, zipfile.ZipInfo):
            return None if info.date_time <= ZIP_NO_TIME else datetime.datetime(*info.date_time).isoformat()
        if not info.mtime:
            return None
        return datetime.datetime.fromtimestamp(info.mtime, zone).replace(tzinfo=None).isoformat()
    except (ValueError, OverflowError, OSError):  # a damaged entry's time is no time
        return None


def _take(upload, archive, member, allowance, depth):
    """Read ``upload`` (``member`` of ``archive``) and say what it is; return the files inside, if an archive."""
    try:
        upload.data = archive.read(member, allowance)
        if not upload.filename.lower().endswith(ARCHIVES):
            upload.status = "notebook" if upload.filename.lower().endswith(".ipynb") else "not a notebook"
            return []
        if depth == MAX_NESTING:
            raise _Refused(f"archives nested more than {MAX_NESTING} deep")
        inside = _unpack(upload, allowance, depth + 1)
    except _Refused as error:
        upload.status, upload.detail = "refused", str(error)
        return []
    upload.status = "unpacked"
    return inside


def _unpack(upload, allowance, depth):
    """The files in the uploaded archive ``upload`` (read), as more uploads of its student."""
    found = []
    with _Archive(upload.data, limit=allowance.files) as archive:
        for name in archive.others:
            found.append(Upload(f"{upload.path}!/{name}", upload.student, upload.scheme, status="ignored",
                                detail="a link or device, not a file"))
        for member in archive.files:
            inner = Upload(f"{upload.path}!/{member.name}", upload.student, upload.scheme,
                           member.name.rstrip("/").rsplit("/", 1)[-1], upload.timestamp,
                           entry_time=upload.entry_time, marked_late=upload.marked_late,
                           archive=upload.archive or upload.path)
            found.append(inner)
            if JUNK.search(member.name):
                inner.status = "ignored"
            else:
                found += _take(inner, archive, member, allowance, depth)
    return found


def released_name_of(filename, assignment):
    """True if ``filename`` is the released notebook under a name tools and LMSs give it."""
    stem = filename.rsplit(".", 1)[0].strip().lower()
    stem = re.sub(r"^(copy of |copy_of_)+", "", stem)
    stem = re.sub(r"([ _-]?\(\d+\)|-\d+|[ _-]copy)+$", "", stem)
    return stem == assignment.lower()


def _choose(notebooks, assignment):
    """The upload to grade among one student's notebooks, and why."""
    def key(upload):
        return (upload.timestamp or "", released_name_of(upload.filename, assignment),
                upload.filename.lower() == f"{assignment}.ipynb", upload.archive is None, upload.path)
    chosen = max(notebooks, key=key)
    if len(notebooks) == 1:
        return chosen, ""
    others = ", ".join(u.filename for u in notebooks if u is not chosen)
    reason = "the latest attempt" if chosen.timestamp else "the one named like the assignment"
    return chosen, f"several notebooks uploaded ({others} not graded); graded {reason}"


def _file_name(filename, taken):
    """``filename`` made a plain name for the student's folder: not hidden, not taken, not too long."""
    name = re.sub(r"[^\w .,()+@=-]", "_", filename).strip()
    name = "_" + name[1:] if name.startswith(".") else name
    name = name.encode()[:120].decode(errors="ignore") or "upload"
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{n}-{name}"
    taken.add(candidate.lower())
    return candidate


def _lay_out(course_dir, student, assignment, files, timezone):
    """Write ``submitted/<student>/<assignment>/`` from the student's files (read); return their report entry.

    ``timezone`` names the zone of the archive's times, written with the submission's.
    """
    folder = paths.course_folder(course_dir, paths.SUBMITTED_DIRECTORY, assignment, student)
    sandbox.remove_tree(folder)
    folder.mkdir(parents=True)
    # The LMS's names for the student, which `return` writes grades and feedback back under.
    entry = {"scheme": files[0].scheme, "lms_id": files[0].lms_id, "lms_prefix": files[0].lms_prefix,
             "uploads": [u.path for u in files], "problems": []}
    if any(upload.marked_late for upload in files):
        entry["marked_late"] = True
    notebooks = [u for u in files if u.status == "notebook"]
    if notebooks:
        _write_notebook(folder, notebooks, entry, assignment, timezone)
    _write_other_files(folder, files, entry, assignment)
    if not notebooks:
        entry["problems"].insert(0, "no notebook among the uploads: " + ", ".join(u.filename for u in files))
        (folder / NO_NOTEBOOK).write_text("\n".join(entry["problems"]) + "\n")
    return entry


def _write_notebook(folder, notebooks, entry, assignment, timezone):
    """Write the chosen one of a student's ``notebooks`` as ``<assignment>.ipynb`` (and its time); note why in ``entry``."""
    chosen, why = _choose(notebooks, assignment)
    (folder / f"{assignment}.ipynb").write_bytes(chosen.data)
    entry["notebook"] = chosen.path
    if chosen.filename != f"{assignment}.ipynb":
        entry["renamed_from"] = chosen.filename
    if why:
        entry["problems"].append(why)
    submitted_at = chosen.timestamp or chosen.entry_time
    if submitted_at:
        entry["submitted_at"] = f"{submitted_at.replace('T', ' ')} {timezone}"
        (folder / TIMESTAMP).write_text(entry["submitted_at"])
    for upload in notebooks:
        upload.status = "collected" if upload is chosen else "not graded (another notebook was chosen)"
    try:
        repair.read_upload(chosen.data)
    except repair.RepairError as error:
        chosen.status, chosen.detail = "unreadable", str(error)


def _write_other_files(folder, files, entry, assignment):
    """Copy the student's other uploaded files beside the notebook (never over it); note their problems."""
    taken = {f"{assignment}.ipynb", TIMESTAMP, NO_NOTEBOOK}
    for upload in files:
        if upload.status == "not a notebook":
            entry["problems"].append(f"{upload.filename} is not a notebook (.ipynb)")
        elif upload.detail and upload.status != "ignored":
            entry["problems"].append(f"{upload.filename}: {upload.detail}")
        if upload.archive is None and upload.data is not None and upload.status in COPIED:
            (folder / _file_name(upload.filename, taken)).write_bytes(upload.data)


def _keep(zip_path, course_dir, assignment):
    """Copy the archive into ``downloaded/<assignment>/archive/`` (where nbgrader keeps it); return the copy."""
    zip_path = pathlib.Path(zip_path)
    folder = pathlib.Path(course_dir) / paths.DOWNLOADED_DIRECTORY / assignment / "archive"
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / zip_path.name
    if zip_path.resolve() != kept.resolve():
        shutil.copy2(zip_path, kept)
    return kept


def _receipts(archive):
    """``{entry name: text}`` of the Blackboard receipts in ``archive`` (their start; unreadable ones left out)."""
    receipts = {}
    for member in archive.files:
        attempt = _BLACKBOARD.match(member.name)  # as classify reads it: the LMS's part, then ".txt" only
        if attempt and member.name[attempt.end():] == ".txt":
            try:
                receipts[member.name] = archive.read(member, _Allowance())[:MAX_RECEIPT_BYTES].decode("utf-8",
                                                                                                       "replace")
            except _Refused:
                continue
    return receipts


def collect(zip_path, course_dir, assignment, roster=None, timezone="UTC"):
    """Lay out the uploads in ``zip_path`` as ``submitted/<student>/<assignment>/``.

    Parameters
    ----------
    zip_path : path
        The archive the LMS produced (a zip, or a tar archive).
    course_dir : path
        The nbgrader course directory.
    assignment : str
        The assignment the uploads are submissions of.
    roster : path, optional
        A CSV with ``student_id`` and ``lms_id`` columns.
    timezone : str
        The time zone of the times in the archive (the LMS server's), an IANA name
        such as ``Europe/London``.

    Returns
    -------
    dict
        The report, also written to ``build/submissions/<assignment>/collect.json``:
        ``{"archive", "scheme", "students": {student: {...}}, "files": [...]}``.

    Raises
    ------
    coursedir.CourseError
        If ``zip_path`` is not an archive, or ``timezone`` not a time zone.
    """
    zone = dateutil.tz.gettz(timezone) if timezone else None
    if zone is None:
        raise coursedir.CourseError(f"unknown time zone {timezone!r}: give the LMS server's as an IANA name, "
                                    "e.g. --timezone Europe/London")
    course_dir = pathlib.Path(course_dir)
    mapping = read_roster(roster) if roster else None
    try:
        archive = _Archive(_keep(zip_path, course_dir, assignment))
    except _Refused as error:
        raise coursedir.CourseError(f"{zip_path}: {error}: download the submissions from the LMS again") from None
    with archive:
        scheme, uploads = classify([member.name for member in archive.files], assignment, mapping,
                                   _receipts(archive))
        students, inside = _collect_students(archive, uploads, course_dir, assignment, zone, timezone)
        others = [Upload(name, status="ignored", detail="a link or device, not a file") for name in archive.others]
    files = [row for index, upload in enumerate(uploads) for row in [upload, *inside.get(index, ())]] + others
    report = {"archive": pathlib.Path(zip_path).name, "scheme": scheme, "students": dict(sorted(students.items())),
              "files": [upload.row() for upload in files]}
    records.write(paths.records_folder(course_dir, assignment) / "collect.json", report)
    return report


def _collect_students(archive, uploads, course_dir, assignment, zone, timezone):
    """``(students, inside)``: each student's report entry, their uploads (``archive``'s entries, classified
    as ``uploads``) read and laid out; and ``{index: the files in that entry}`` of the entries that are archives.

    ``zone`` is ``timezone``'s, in which the archive's entry times are read.
    """
    students = {}  # student -> indices of their entries, in the archive's order (one pass over a tar)
    for index, upload in enumerate(uploads):
        if upload.student and upload.status in ("notebook", "not a notebook"):
            students.setdefault(upload.student, []).append(index)
    inside = {}
    for student, indices in students.items():
        allowance, theirs = _Allowance(), []
        for index in indices:
            uploads[index].entry_time = _entry_time(archive.files[index].info, zone)
            inside[index] = _take(uploads[index], archive, archive.files[index], allowance, 0)
            theirs += [uploads[index], *inside[index]]
        students[student] = _lay_out(course_dir, student, assignment, theirs, timezone)
        for upload in theirs:
            upload.data = None
    return students, inside


def summary(report):
    """Lines for the TA: one per student with a problem, one per file not collected."""
    names = f"{report['scheme']} names" if report["scheme"] else "no entry named as Moodle, Canvas, Blackboard or plain"
    lines = [f"{len(report['students'])} students in {report['archive']} ({names})"]
    for student, entry in report["students"].items():
        for problem in entry["problems"]:
            lines.append(f"  {student}: {problem}")
        if "renamed_from" in entry:
            lines.append(f"  {student}: graded {entry['renamed_from']!r} as the assignment's notebook")
    for upload in report["files"]:
        if upload["status"] in ("unrecognised name", "unknown student"):
            lines.append(f"  {upload['status']}: {upload['path']} {upload['detail']}".rstrip())
    return lines
