"""Similar submissions, flagged for a human to read: a list in the class report, never a score.

Each graded student's code is what they wrote in the graded functions' solution
cells (the assignment description's ``graded_cells``) of their autograded notebook,
its first :data:`MAX_CODE` characters. copydetect compares every pair of students
by winnowed fingerprints of that code, as MOSS does: the
code is tokenised first (names, strings and comments do not count, so renaming
variables or rewriting comments changes nothing), and the fingerprints of the
release's own code (signatures, docstrings, given lines) are boilerplate, which
alone never makes two submissions alike. The fingerprints are an unordered set:
reordering functions changes nothing either.

A pair is listed when the copied share of either student's code reaches
:data:`THRESHOLD` (copydetect's own rule for its report) and the matched code is at
least :data:`MIN_MATCHED` long: the few lines of a short answer, which most students
write alike, are never enough on their own. Each listed pair keeps
both students' code and the character ranges copydetect matched, which the report
shows side by side, highlighted. Everything runs locally: copydetect needs no network.
Nothing here reads or writes the gradebook.
"""

import html
import io
import itertools
import pathlib

import numpy as np
from copydetect import CodeFingerprint, compare_files

from mlpcourse.authoring import notebook

# Share of one student's fingerprinted code found in the other's from which a pair is listed.
THRESHOLD = 0.5
# Matched tokenised characters (names count one each) a listed pair shares at least: some eight lines.
MIN_MATCHED = 200
# copydetect's defaults: matches shorter than NOISE tokenised characters are ignored, any as
# long as GUARANTEE are found (the winnowing window is their difference plus one).
NOISE = 25
GUARANTEE = 30
# Characters of a student's code compared (far more than any honest answer): a huge paste costs time only up to it.
MAX_CODE = 100_000


def graded_code(nb, graded_cells):
    """The source of ``nb``'s ``graded_cells`` (grade ids of solution cells), joined in that order."""
    cells = notebook.cells_by_grade_id(nb)
    return "\n\n".join(cells[name].source for name in graded_cells if name in cells)


def given_code(release_nb, graded_cells):
    """What every student was given, hence boilerplate: each code cell of the release, and its graded
    cells joined as :func:`graded_code` joins a student's (so no fingerprint across two cells is theirs)."""
    cells = [cell.source for cell in release_nb.cells if cell.cell_type == "code"]
    return "\n\n".join([*cells, graded_code(release_nb, graded_cells)])


def _fingerprint(code, window=GUARANTEE - NOISE + 1, boilerplate=None):
    """copydetect's fingerprint of Python ``code``; ``window`` 1 keeps every fingerprint (boilerplate's)."""
    return CodeFingerprint("code.py", NOISE, window, boilerplate, language="python", fp=io.StringIO(code))


def _spans(slices):
    """copydetect's ``[starts, ends]`` array as sorted ``[start, end]`` pairs, overlaps merged."""
    spans = []
    for start, end in sorted(zip(slices[0].tolist(), slices[1].tolist())):
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], int(end))
        else:
            spans.append([int(start), int(end)])
    return spans


def similar_pairs(codes, given, threshold=THRESHOLD):
    """The pairs of students whose code is alike, most alike first.

    Parameters
    ----------
    codes : dict
        ``{student: code}``: each student's graded code (:func:`graded_code`).
    given : str
        The release's code (:func:`given_code`), removed as boilerplate.
    threshold : float
        The share of either student's code that must be found in the other's
        (and :data:`MIN_MATCHED` characters of it).

    Returns
    -------
    list of dict
        ``students`` ``[a, b]`` (sorted), ``similarity`` ``[share of a's code found in
        b's, share of b's found in a's]``, ``code`` ``[a's, b's]`` and ``copied``
        ``[a's spans, b's spans]``, each span ``[start, end]`` character offsets into
        that student's code.
    """
    boilerplate = np.unique(np.array(list(_fingerprint(given, window=1).hashes)))
    prints = {student: _fingerprint(code, boilerplate=boilerplate) for student, code in sorted(codes.items())}
    pairs = []
    for a, b in itertools.combinations(prints, 2):
        matched, (share_a, share_b), (slices_a, slices_b) = compare_files(prints[a], prints[b])
        if max(share_a, share_b) >= threshold and matched >= MIN_MATCHED:
            pairs.append({"students": [a, b], "similarity": [round(float(share_a), 3), round(float(share_b), 3)],
                          "code": [codes[a], codes[b]], "copied": [_spans(slices_a), _spans(slices_b)]})
    pairs.sort(key=lambda pair: (-max(pair["similarity"]), pair["students"]))
    return pairs


def compute(course_dir, students, described, threshold=THRESHOLD):
    """:func:`similar_pairs` over the autograded notebooks of ``students`` in ``course_dir``.

    ``described`` is the assignment (:func:`mlpcourse.assignment.load`). A student
    without an autograded notebook is left out (the report lists them as not graded).
    """
    course_dir = pathlib.Path(course_dir)
    codes = {}
    for student in students:
        path = course_dir / "autograded" / student / described.name / described.notebook_name
        if path.exists():
            codes[student] = graded_code(notebook.read(path), described.graded_cells)[:MAX_CODE]
    release_nb = notebook.read(course_dir / "release" / described.name / described.notebook_name)
    given = given_code(release_nb, described.graded_cells)
    return {"threshold": threshold, "compared": sorted(codes), "pairs": similar_pairs(codes, given, threshold)}


def highlighted(code, spans):
    """``code`` as escaped HTML text with the copied ``spans`` in ``<mark>``."""
    parts, at = [], 0
    for start, end in spans:
        parts += [html.escape(code[at:start]), "<mark>", html.escape(code[start:end]), "</mark>"]
        at = end
    parts.append(html.escape(code[at:]))
    return "".join(parts)
