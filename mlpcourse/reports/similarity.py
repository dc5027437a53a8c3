"""Similar submissions, flagged for a human to read: a list in the class report, never a score.

Each graded student's code is every code cell of their autograded notebook but the
release's locked cells: the solution cells and any cell the student added (the notebook runs
them all, and the last definition of a function wins, so code copied into a cell
of one's own counts as much as code in the solution cell). Comments and docstrings
are taken out first, then the code is cut after :data:`MAX_TOKENS` tokens (far more
than any honest answer), so no padding a tokeniser ignores can push the rest out.
copydetect compares every pair of students by winnowed fingerprints of that code,
as MOSS does: the code is tokenised (names and strings do not count, so renaming
variables changes nothing), and the fingerprints of the release's own code
(signatures, docstrings, given lines) are boilerplate, which alone never makes two
submissions alike. The fingerprints are an unordered set: reordering functions
changes nothing either.

A pair is listed when the copied share of *each* student's code reaches
:data:`THRESHOLD` and the matched code is at least :data:`MIN_MATCHED` long: the few
lines of a short answer, which most students write alike, are never enough on their
own, and one student's long file (every correct variant pasted in as dead code)
cannot get students who wrote one variant each listed. Such one-sided matches, and
code cut at :data:`MAX_TOKENS`, are reported apart, under the long code's owner, as
code to read, not as a pair. Each listed pair keeps both students' code (its first
:data:`MAX_SHOWN` characters) and the character ranges copydetect matched, which the
report shows side by side, highlighted. Everything runs locally: copydetect needs
no network. Nothing here reads or writes the gradebook.
"""

import html
import io
import itertools
import pathlib

import numpy as np
from copydetect import CodeFingerprint, compare_files
from pygments import lexers, token

from mlpcourse import paths
from mlpcourse.authoring import notebook

# Share of each student's fingerprinted code that must be found in the other's for a pair to be listed.
THRESHOLD = 0.5
# Matched tokenised characters (names count one each) a listed pair shares at least: some eight lines.
MIN_MATCHED = 200
# copydetect's defaults: matches shorter than NOISE tokenised characters are ignored, any as
# long as GUARANTEE are found (the winnowing window is their difference plus one).
NOISE = 25
GUARANTEE = 30
# Tokens (not comments, docstrings or blanks) of a student's code compared; an honest answer has a few
# thousand. It bounds copydetect's time (some 20 us a token); the rest of a longer file is left out.
MAX_TOKENS = 50_000
# Tokens of any kind read before the code is cut even so (a file of millions of one-character comments).
MAX_READ_TOKENS = 20 * MAX_TOKENS
# Characters a single token keeps (a string or name a page long means nothing more than a short one).
MAX_TOKEN_CHARS = 200
# Characters of each student's code a listed pair keeps for the report.
MAX_SHOWN = 20_000

_PYTHON = lexers.get_lexer_by_name("python")


def student_code(nb, release_nb):
    """The source of each code cell of ``nb`` but the release's locked ones (by grade id), joined: the solution
    cells and the cells the student added. The student's own metadata is not trusted: a cell they mark locked
    counts."""
    locked = {notebook.grade_id(cell) for cell in release_nb.cells
              if cell.get("metadata", {}).get("nbgrader", {}).get("locked")} - {None}
    return "\n\n".join(cell.source for cell in nb.cells
                        if cell.cell_type == "code" and notebook.grade_id(cell) not in locked)


def given_code(release_nb):
    """What every student was given, hence boilerplate: each code cell of the release, and its unlocked
    cells joined as :func:`student_code` joins a student's (so no fingerprint across two cells is theirs)."""
    cells = [cell.source for cell in release_nb.cells if cell.cell_type == "code"]
    return "\n\n".join([*cells, student_code(release_nb, release_nb)])


def compared_code(code):
    """``code`` as compared: without comments and docstrings, each token at most :data:`MAX_TOKEN_CHARS`
    characters, cut after :data:`MAX_TOKENS` tokens.

    Returns
    -------
    (str, bool)
        The code, and whether it was cut (more than :data:`MAX_TOKENS` tokens, or
        :data:`MAX_READ_TOKENS` of any kind).
    """
    kept, counted = [], 0
    for read, (_, kind, text) in enumerate(_PYTHON.get_tokens_unprocessed(code), 1):
        if read > MAX_READ_TOKENS:
            return "".join(kept), True
        if kind in token.Comment or kind in token.String.Doc:
            continue
        kept.append(text[:MAX_TOKEN_CHARS])
        if kind not in token.Text:
            counted += 1
            if counted >= MAX_TOKENS:
                return "".join(kept), True
    return "".join(kept), False


def _fingerprint(code, window=GUARANTEE - NOISE + 1, boilerplate=None):
    """copydetect's fingerprint of Python ``code``; ``window`` 1 keeps every fingerprint (boilerplate's)."""
    return CodeFingerprint("code.py", NOISE, window, boilerplate, language="python", fp=io.StringIO(code))


def _spans(slices, limit):
    """copydetect's ``[starts, ends]`` array as sorted ``[start, end]`` pairs, overlaps merged, cut at ``limit``."""
    spans = []
    for start, end in sorted(zip(slices[0].tolist(), slices[1].tolist())):
        start, end = int(start), min(int(end), limit)
        if start >= end:
            continue
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return spans


def similar_pairs(codes, given, threshold=THRESHOLD):
    """The pairs of students whose code is alike, most alike first, and the code that contains others' one-sidedly.

    Parameters
    ----------
    codes : dict
        ``{student: code}``: each student's code as compared (:func:`compared_code`).
    given : str
        The release's code (:func:`given_code`), removed as boilerplate.
    threshold : float
        The share of each student's code that must be found in the other's
        (and :data:`MIN_MATCHED` characters of it).

    Returns
    -------
    (list of dict, dict)
        The pairs: ``students`` ``[a, b]`` (sorted), ``similarity`` ``[share of a's code
        found in b's, share of b's found in a's]``, ``code`` ``[a's, b's]`` (each its first
        :data:`MAX_SHOWN` characters) and ``copied`` ``[a's spans, b's spans]``, each span
        ``[start, end]`` character offsets into that code. And ``{student: {other: share}}``
        for the one-sided matches: ``share`` (at least ``threshold``) of ``other``'s code
        is found in ``student``'s, but less than ``threshold`` of ``student``'s in ``other``'s.
    """
    boilerplate = np.unique(np.array(list(_fingerprint(given, window=1).hashes)))
    prints = {student: _fingerprint(code, boilerplate=boilerplate) for student, code in sorted(codes.items())}
    pairs, contains = [], {}
    for a, b in itertools.combinations(prints, 2):
        matched, (share_a, share_b), (slices_a, slices_b) = compare_files(prints[a], prints[b])
        if matched < MIN_MATCHED or max(share_a, share_b) < threshold:
            continue
        if min(share_a, share_b) >= threshold:
            pairs.append({"students": [a, b], "similarity": [round(float(share_a), 3), round(float(share_b), 3)],
                          "code": [codes[a][:MAX_SHOWN], codes[b][:MAX_SHOWN]],
                          "copied": [_spans(slices_a, MAX_SHOWN), _spans(slices_b, MAX_SHOWN)]})
        else:
            (share, other), (_, owner) = sorted([(share_a, a), (share_b, b)], reverse=True)
            contains.setdefault(owner, {})[other] = round(float(share), 3)
    pairs.sort(key=lambda pair: (-min(pair["similarity"]), -max(pair["similarity"]), pair["students"]))
    return pairs, contains


def compute(course_dir, students, described, threshold=THRESHOLD):
    """:func:`similar_pairs` over the autograded notebooks of ``students`` in ``course_dir``.

    ``described`` is the assignment (:func:`mlpcourse.assignment.load`). A student
    without an autograded notebook is left out (the report lists them as not graded).

    Returns
    -------
    dict
        ``threshold``, ``compared`` (the students), ``pairs`` (:func:`similar_pairs`) and
        ``long``: one ``{"student", "cut" (their code past :data:`MAX_TOKENS` was left
        out), "contains" ({other: share of other's code found in theirs})}`` per student
        whose code was cut or contains others' one-sidedly, by student.
    """
    course_dir = pathlib.Path(course_dir)
    release_nb = notebook.read(course_dir / paths.RELEASE_DIRECTORY / described.name / described.notebook_name)
    codes, cut = {}, set()
    for student in students:
        path = course_dir / paths.AUTOGRADED_DIRECTORY / student / described.name / described.notebook_name
        if path.exists():
            codes[student], was_cut = compared_code(student_code(notebook.read(path), release_nb))
            if was_cut:
                cut.add(student)
    given, _ = compared_code(given_code(release_nb))
    pairs, contains = similar_pairs(codes, given, threshold)
    long = [{"student": student, "cut": student in cut, "contains": contains.get(student, {})}
            for student in sorted(cut | set(contains))]
    return {"threshold": threshold, "compared": sorted(codes), "pairs": pairs, "long": long}


def highlighted(code, spans):
    """``code`` as escaped HTML text with the copied ``spans`` in ``<mark>``."""
    parts, at = [], 0
    for start, end in spans:
        parts += [html.escape(code[at:start]), "<mark>", html.escape(code[start:end]), "</mark>"]
        at = end
    parts.append(html.escape(code[at:]))
    return "".join(parts)
