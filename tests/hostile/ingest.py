"""Hostile corpus: uploads whose names or nested archives try to decide other students' grades.

The batch's archive is one Canvas zip (``lms_zip`` in tests/test_hostile_corpus.py). Each
case uploads what its ``build`` gives; an :class:`Attack` also uploads its ``entries``:
files it names itself (the LMS puts its own prefix before each name) aimed at other
students. The targets are ``ingest_victim`` and ``control`` (both must keep their scores)
and ``ingest_absentee`` (:data:`ABSENT`: on the roster, uploads nothing, and must get no
submission). Every payload aimed at them is the untouched release, which scores 0: a
hijack would show as a victim's lost points or an absentee's submission.

Issue 10, items 6 and 7: names in another LMS's scheme (a far-future Blackboard attempt,
Moodle and Canvas prefixes, plain ids), nested archives holding other students' folders,
impossible timestamps, "zips" that are not, archive bombs, ``..`` and slashes, notebooks
of deeply nested JSON, and nbgrader metadata that is not an object.
"""

import copy
import dataclasses
import io
import json
import tarfile
import zipfile

from hostile.kit import ALL_TESTS, Case, _bytes

from mlpcourse.authoring import notebook

VICTIM = "ingest_victim"
# On the roster, never uploads anything.
ABSENT = ("ingest_absentee",)
TARGETS = (VICTIM, "control", *ABSENT)


@dataclasses.dataclass
class Attack(Case):
    """A case whose student also uploads ``entries(ctx, ids)``: ``[(file name, bytes)]``.

    ``ids`` maps every student on the roster to their LMS (Canvas user) id.
    """

    entries: callable = None


def _payload(ctx):
    """What an attack hopes a target gets graded: the untouched release (0 everywhere)."""
    return _bytes(copy.deepcopy(ctx.release))


def _zip(files):
    """A zip of ``(name, bytes)``, every entry at one fixed time: the same files make the same timestamp.txt."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 3, 5, 12, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _with_symlink(data, name, target):
    """The zip ``data`` with a symbolic link ``name`` -> ``target`` added."""
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o120777 << 16
        archive.writestr(info, target)
    return buffer.getvalue()


def _tar_gz(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _bomb():
    """A zip whose notebook unpacks to 100 MiB of zeros (about 100 KiB packed)."""
    return _zip([("asg01.ipynb", b"\x00" * (100 * 2**20))])


def _truncated(ctx):
    data = _zip([("asg01.ipynb", _bytes(ctx.solved()))])
    return data[: len(data) // 2]


def _fast(ctx):
    return _bytes(ctx.solved())


def victim(ctx):
    return "asg01.ipynb", _fast(ctx)


# --- names aimed at another student --------------------------------------------------------

def forged_names(ctx):
    return "asg01.ipynb", _fast(ctx)


def _forged_entries(ctx, ids):
    """Files named as another LMS names another student's upload, as paths, or with impossible attempt times."""
    names = []
    for target in TARGETS:
        lms = ids[target]
        names += [f"{lms}_attempt_2099-12-31-23-59-59_asg01.ipynb", f"{target}_attempt_2099-12-31-23-59-59_asg01.ipynb",
                  f"Target Name_{lms}_assignsubmission_file_asg01.ipynb",
                  f"Target Name_{lms}_assignsubmission_file_/asg01.ipynb", f"targetname_{lms}_{lms}9_asg01.ipynb",
                  f"targetname_LATE_{lms}_1_asg01.ipynb", f"{lms}_asg01.ipynb", f"{lms}.ipynb", f"{target}.ipynb",
                  f"{lms}/asg01.ipynb", f"{target}/asg01.ipynb", f"../{target}/asg01/asg01.ipynb",
                  f"../../submitted/{target}/asg01/asg01.ipynb"]
    names += ["..", "../asg01.ipynb", "../../asg01.ipynb", ".hidden.ipynb"]
    names += [f"{who}_attempt_{time}_asg01.ipynb" for who in (ids[VICTIM], "x")
              for time in ("2024-13-45-25-61-61", "0000-00-00-00-00-00", "9999-99-99-99-99-99", "2024-02-30-10-00-00")]
    return [(name, _payload(ctx)) for name in names]


# --- nested archives holding other students' folders -----------------------------------------

def _folders(ctx, whom):
    """Archive members named as the folders and entries of each of ``whom``, and as paths out of the archive."""
    payload = _payload(ctx)
    members = []
    for who in whom:
        members += [(f"{who}/asg01.ipynb", payload), (f"{who}/asg01/asg01.ipynb", payload),
                    (f"targetname_{who}_{who}9_asg01.ipynb", payload),
                    (f"Target Name_{who}_assignsubmission_file_/asg01.ipynb", payload),
                    (f"Assignment 1_{who}_attempt_2099-12-31-23-59-59_asg01.ipynb", payload),
                    (f"../../submitted/{who}/asg01/asg01.ipynb", payload)]
    return members + [("/tmp/asg01.ipynb", payload), ("../asg01.ipynb", payload)]


def nested_folders(ctx):
    """Only an archive of the targets' folders (a tar.gz of more inside, a link): it grades its uploader, with 0."""
    archive = _zip([*_folders(ctx, TARGETS), ("more.tar.gz", _tar_gz(_folders(ctx, TARGETS)))])
    return "asg01.zip", _with_symlink(archive, "link.ipynb", f"../../{VICTIM}/asg01/asg01.ipynb")


def nested_beside_own(ctx):
    return "asg01.ipynb", _fast(ctx)


def _nested_entries(ctx, ids):
    """Folders of the targets by student and LMS id, as a zip, a tar.gz and a zip in a zip, beside the own notebook."""
    whom = [*TARGETS, *(ids[target] for target in TARGETS)]
    return [("folders.zip", _zip(_folders(ctx, whom))), ("folders.tar.gz", _tar_gz(_folders(ctx, whom))),
            ("deeper.zip", _zip([("inner.zip", _zip(_folders(ctx, whom)))]))]


# --- archives that are not, or too much ------------------------------------------------------

def broken_archives(ctx):
    return "asg01.ipynb", _fast(ctx)


def _broken_entries(ctx, ids):
    """Beside the student's own notebook: archives that do not open, a bomb, and names collect writes."""
    return [("extra.zip", b"PK\x03\x04 this is not a zip"), ("truncated.zip", _truncated(ctx)),
            ("bomb.zip", _bomb()), ("notes.tar.gz", b"\x1f\x8b\x08 not gzip either"),
            ("timestamp.txt", b"2000-01-01 00:00:00 UTC"), ("no-notebook.txt", b"nothing to see")]


def not_a_zip(ctx):
    return "asg01.zip", b"PK\x03\x04 this is not a zip"


def truncated_zip(ctx):
    return "submission.zip", _truncated(ctx)


def zip_bomb(ctx):
    return "asg01.zip", _bomb()


# --- notebooks the reader must survive -------------------------------------------------------

def _deep_json(ctx, depth, where):
    """The fast solution with ``depth`` levels of nested lists at ``where`` (a JSON path) in it."""
    raw = json.loads(_fast(ctx))
    target = raw
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = "DEEP"
    return json.dumps(raw).replace('"DEEP"', "[" * depth + "]" * depth).encode()


def deep_json_metadata(ctx):
    """100,000 levels of nesting in a cell's metadata: too deep for Python's JSON reader."""
    return "asg01.ipynb", _deep_json(ctx, 100_000, ("cells", 0, "metadata", "deep"))


def deep_json_output(ctx):
    """500 levels in an output: readable JSON, but copies and validators recurse."""
    raw = json.loads(_fast(ctx))
    cell = next(c for c in raw["cells"] if c["cell_type"] == "code")
    cell["outputs"] = [{"output_type": "display_data", "metadata": {}, "data": {"application/json": "DEEP"}}]
    return "asg01.ipynb", json.dumps(raw).replace('"DEEP"', "[" * 500 + "]" * 500).encode()


def nbgrader_metadata_mistyped(ctx):
    """nbgrader metadata of every wrong type (a string, as in the issue), on test, answer, given and
    student cells: each cell is recognised by its content and repaired, and graded."""
    nb = ctx.solved()
    cells = notebook.cells_by_grade_id(nb)
    for grade_id, value in (("test_relu_visible", "test_relu_visible"),
                            ("test_softmax_hidden", ["grade_id", "test_softmax_hidden"]), ("softmax", 5),
                            ("linear", {"grade_id": ["linear"], "locked": "yes"}), ("q_nonlinear", None),
                            ("test_sgd_visible", {"grade_id": 7, "grade": True, "points": "all"})):
        cells[grade_id].metadata["nbgrader"] = value
    nb.cells.append(copy.deepcopy(nb.cells[-1]))
    nb.cells[-1].metadata["nbgrader"] = "footer"
    nb.cells[-1]["id"] = "student-copy"
    return "asg01.ipynb", _bytes(nb)


CASES = (
    Case(VICTIM, victim),
    Attack("ingest_forged_names", forged_names, entries=_forged_entries),
    Case("ingest_nested_folders", nested_folders, zero=ALL_TESTS),
    Attack("ingest_nested_beside_own", nested_beside_own, entries=_nested_entries),
    Attack("ingest_broken_archives", broken_archives, entries=_broken_entries),
    Case("ingest_not_a_zip", not_a_zip, zero=ALL_TESTS, status="no notebook"),
    Case("ingest_truncated_zip", truncated_zip, zero=ALL_TESTS, status="no notebook"),
    Case("ingest_zip_bomb", zip_bomb, zero=ALL_TESTS, status="no notebook"),
    Case("ingest_deep_json_metadata", deep_json_metadata, zero=ALL_TESTS, status="unreadable"),
    Case("ingest_deep_json_output", deep_json_output, zero=ALL_TESTS, status="unreadable"),
    Case("ingest_nbgrader_metadata_mistyped", nbgrader_metadata_mistyped),
)
