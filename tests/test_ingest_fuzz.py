"""Property-based fuzzing (hypothesis) of what reads students' bytes: the collector and the notebook reader.

- The collector, on LMS archives of every scheme whose students upload hostile names
  (other students' ids in other schemes' shapes, paths, ``..``), nested archives
  (other students' folders, archives that are not, corrupt ones) and arbitrary bytes:
  it never raises, writes nothing outside ``submitted/<student>/`` (and its own
  records), every byte it writes for a student is that student's own, and each
  student's folder is what the student's entries alone would give.
- The notebook reader and the repair, on arbitrary JSON, deeply nested JSON and the
  release with mistyped fields: a notebook, or RepairError; a repaired notebook is
  valid and holds every release cell once, in order.
"""

import json
import pathlib
import string
import sys
import tempfile

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import asg01
from mlpcourse import paths, records
from mlpcourse.authoring import notebook
from mlpcourse.grading import collect, repair

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from hostile import cases as corpus  # noqa: E402
from hostile.ingest import _tar_gz as _tar  # noqa: E402
from hostile.ingest import _zip  # noqa: E402

# Archives with an entry name twice are among the inputs.
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
# Deterministic examples (CI reruns the same ones); no example database in the repository.
FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ASSIGNMENT = asg01.NAME

# ---------------------------------------------------------------------------------------------
# The collector


def _lms_entry(scheme, student, n, name):
    """The archive entry an LMS of ``scheme`` makes for ``student``'s ``n``-th upload called ``name``."""
    if scheme == "moodle":
        return f"Student {student}_{student}_assignsubmission_file_/{name}"
    if scheme == "canvas":
        return f"student{student}_{student}_{student}{n}_{name}"
    if scheme == "blackboard":
        return f"Assignment 1_{student}_attempt_2024-03-{1 + n % 28:02d}-10-00-00_{name}"
    return f"{student}/{name}"


IDS = {"moodle": st.integers(1, 10**6).map(str), "canvas": st.integers(1, 10**6).map(str),
       "blackboard": st.from_regex(r"[a-z][a-z0-9.]{1,8}", fullmatch=True), "plain": st.from_regex(r"s\d{7}", fullmatch=True)}
# Names a student gives files to reach another student ({v}) or the file system.
HOSTILE = ("{v}_attempt_2099-12-31-23-59-59_asg01.ipynb", "{v}_attempt_2024-13-45-25-61-61_asg01.ipynb",
           "Victim_{v}_assignsubmission_file_asg01.ipynb", "Victim_{v}_assignsubmission_file_/asg01.ipynb",
           "victim_{v}_1_asg01.ipynb", "victim_LATE_{v}_1_asg01.ipynb", "{v}/asg01.ipynb", "../{v}/asg01.ipynb",
           "../../submitted/{v}/{a}/{a}.ipynb", "{v}.ipynb", "{v}_asg01.ipynb", "Assignment 1_{v}_attempt_"
           "2099-01-01-00-00-00_asg01.ipynb", "..", ".", "/", "/etc/passwd", "timestamp.txt", collect.NO_NOTEBOOK,
           "__MACOSX/._{v}", "{a}.ipynb", "Copy of {a}.ipynb", "{a} (1).ipynb")
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40)


@st.composite
def _upload(draw, student, others, depth=0):
    """``(file name, bytes, every byte string it holds)`` that ``student`` uploads: tagged with their id."""
    victim = draw(st.sampled_from(others))
    name = draw(st.one_of(st.sampled_from(HOSTILE).map(lambda name: name.format(v=victim, a=ASSIGNMENT)), TEXT,
                          st.just("asg01.ipynb")))
    kind = draw(st.sampled_from(["notebook", "bytes", "zip", "tar", "corrupt zip"] if depth < 2 else ["notebook"]))
    tag = f"{student}:{draw(st.integers(0, 10**9))}"
    if kind == "notebook":
        data = json.dumps({"cells": [], "metadata": {"owner": tag}, "nbformat": 4, "nbformat_minor": 5}).encode()
        return name, data, {data}
    if kind == "bytes":
        data = tag.encode() + draw(st.binary(max_size=64))
        return f"{name}.zip" if draw(st.booleans()) else name, data, {data}
    inner = draw(st.lists(_upload(student, others, depth + 1), max_size=4))
    data = (_zip if kind != "tar" else _tar)([(n, d) for n, d, _ in inner])
    if kind == "corrupt zip":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
    held = {data}.union(*(h for _, _, h in inner))
    return draw(st.sampled_from([f"{name}.zip", f"{name}.tar.gz", name])), data, held


@st.composite
def _class_archive(draw):
    """``(scheme, entries [(name, bytes)], {student: their entries}, {student: bytes they hold}, roster or None)``."""
    scheme = draw(st.sampled_from(sorted(IDS)))
    students = draw(st.lists(IDS[scheme], min_size=1, max_size=4, unique=True))
    absent = draw(IDS[scheme].filter(lambda s: s not in students))
    owned, held = {}, {}
    for student in students:
        uploads = draw(st.lists(_upload(student, [*students, absent]), min_size=1, max_size=4))
        owned[student] = [(_lms_entry(scheme, student, n, name), data) for n, (name, data, _) in enumerate(uploads)]
        held[student] = set().union(*(inner for _, _, inner in uploads))
    roster = {s: f"id{s}".replace(".", "_") for s in (*students, absent)} if draw(st.booleans()) else None
    entries = draw(st.permutations([entry for student in students for entry in owned[student]]))
    return scheme, entries, owned, held, roster


def _collect(entries, roster, workspace):
    """Collect ``entries`` zipped, in a fresh course under ``workspace``; return ``(course, report)``."""
    workspace.mkdir()
    archive = workspace / "uploads.zip"
    archive.write_bytes(_zip(entries))
    roster_path = None
    if roster:
        roster_path = workspace / "roster.csv"
        roster_path.write_text("student_id,lms_id\n" + "".join(f"{s},{lms}\n" for lms, s in roster.items()))
    course = workspace / "course"
    return course, collect.collect(archive, course, ASSIGNMENT, roster=roster_path)


def _folder(course, student):
    folder = course / "submitted" / student / ASSIGNMENT
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@FUZZ
@given(_class_archive())
def test_collector_keeps_every_student_to_their_own_entries(archive):
    """On any archive: no exception, no write outside submitted/<student>/, only the student's own bytes, and
    each student's folder exactly what their own entries alone give?"""
    _, entries, owned, held, roster = archive
    name = roster.get if roster else (lambda s: s)
    with tempfile.TemporaryDirectory() as scratch:
        course, report = _collect(entries, roster, pathlib.Path(scratch) / "class")
        assert set(report["students"]) <= {name(s) for s in held}
        written = {p.relative_to(course).as_posix() for p in course.rglob("*") if p.is_file() or p.is_symlink()}
        allowed = {"downloaded/asg01/archive/uploads.zip", "build/submissions/asg01/collect.json"}
        assert {p for p in written if not p.startswith("submitted/")} == allowed
        for path in written - allowed:
            _, student, assignment, filename = path.split("/")
            assert student in report["students"] and assignment == ASSIGNMENT and not filename.startswith(".")
        for student in held:
            if name(student) not in report["students"]:
                continue
            folder = _folder(course, name(student))
            for filename, data in folder.items():
                assert filename in (collect.TIMESTAMP, collect.NO_NOTEBOOK) or data in held[student], filename
            alone = [entry for entry in entries if entry in owned[student]]
            alone_course, alone_report = _collect(alone, roster, pathlib.Path(scratch) / f"alone-{student}")
            assert _folder(alone_course, name(student)) == folder
            assert alone_report["students"][name(student)] == report["students"][name(student)]


@FUZZ
@given(st.lists(st.tuples(TEXT, st.binary(max_size=200)), max_size=8))
def test_collector_never_raises_on_any_entry_names(entries):
    """On arbitrary entry names and bytes, does collect account for every entry without raising?"""
    with tempfile.TemporaryDirectory() as scratch:
        course, report = _collect(entries, None, pathlib.Path(scratch) / "class")
        assert records.read(paths.records_folder(course, ASSIGNMENT) / "collect.json") == report
        assert all(f["status"] for f in report["files"])
        assert all((course / "submitted" / s / ASSIGNMENT).is_dir() for s in report["students"])


# ---------------------------------------------------------------------------------------------
# The notebook reader and the repair

RELEASE = notebook.read(asg01.RELEASE_NOTEBOOK)
SOLVED = json.loads(nbformat.writes(corpus.Context(RELEASE, notebook.read(asg01.MASTER), port=9).solved()))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                      max_size=4), max_leaves=20)


def _deep(depth, leaf=0):
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


def _read_and_repair(data):
    """Read and repair ``data``; the repaired notebook, or None if it raised RepairError (only that)."""
    try:
        nb, _ = repair.repair(repair.read_upload(data), RELEASE)
    except repair.RepairError:
        return None
    nbformat.validate(nb)
    assert [notebook.grade_id(c) for c in nb.cells if notebook.grade_id(c)] == \
        [notebook.grade_id(c) for c in RELEASE.cells if notebook.grade_id(c)]
    return nb


@FUZZ
@given(st.one_of(st.binary(max_size=300), JSON.map(lambda value: json.dumps(value).encode()),
                 st.integers(0, 5000).map(lambda depth: b'{"cells": [' + b'{"x": [' * depth + b"0" + b"]}" * depth
                                          + b"]}")))
def test_reader_takes_anything(data):
    """On arbitrary bytes, JSON and deep nesting, does reading and repairing give a notebook or RepairError?"""
    _read_and_repair(data)


CELL_FIELDS = ("cell_type", "source", "metadata", "id", "outputs", "execution_count", "attachments")


@FUZZ
@given(st.data())
def test_repair_takes_any_mistyped_notebook(data):
    """With random fields of the solved release replaced (nbgrader metadata, sources, types, ids, deep values),
    does repair give a valid notebook with every release cell once, or RepairError?"""
    raw = json.loads(json.dumps(SOLVED))
    for _ in range(data.draw(st.integers(1, 4))):
        cell = raw["cells"][data.draw(st.integers(0, len(raw["cells"]) - 1))]
        value = data.draw(st.one_of(JSON, st.integers(1, 400).map(_deep)))
        where = data.draw(st.sampled_from(["nbgrader", "grade_id", "metadata", *CELL_FIELDS]))
        if where == "nbgrader":
            cell["metadata"]["nbgrader"] = value
        elif where == "grade_id":
            cell["metadata"].setdefault("nbgrader", {})["grade_id"] = value
        else:
            cell[where] = value
    if data.draw(st.booleans()):
        raw["metadata"] = data.draw(JSON)
    _read_and_repair(json.dumps(raw).encode())


# Sources Python's parser refuses in every way it has: syntax, null bytes, nesting, size.
UNPARSABLE = st.one_of(st.text(string.printable, max_size=40), st.just("x = 1\x00"),
                       st.integers(1, 100_000).map(lambda n: "-" * n + "1"),
                       st.integers(1, 3000).map(lambda n: "f" + "(" * n + ")" * n), st.integers(1, 5000).map("[".__mul__))


@settings(FUZZ, max_examples=25)
@given(UNPARSABLE)
def test_repair_takes_any_answer_source(source):
    """Do answer cells that lost their metadata and hold any text (not Python, too deep to parse) repair?"""
    raw = json.loads(json.dumps(SOLVED))
    for cell in raw["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            cell["source"] = source
            del cell["metadata"]["nbgrader"]
    assert _read_and_repair(json.dumps(raw).encode()) is not None
