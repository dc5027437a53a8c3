"""Reconciling a submitted notebook with the release before nbgrader grades it.

Real submissions lose or garble what nbgrader relies on: Colab saves nbformat 4.0
without cell ids and adds personal metadata; other tools drop the ``nbgrader``
metadata; students delete test cells or copy them (duplicating their grade ids).
nbgrader then scores 0, skips cells, or crashes. :func:`repair` matches every cell of
the release to a cell of the submission and puts back what nbgrader needs:

1. by grade id: a cell that still carries the release's ``nbgrader`` metadata; when
   several carry the same grade id (copied cells), the one most like the release
   (test and given cells) or the one the student worked in (answer cells) keeps it;
2. by content, for cells that lost their metadata: given and test cells by their
   text, answer cells by the names they define (``def relu``, ``mlp = ...``) or, for
   written answers, by their place after the question;
3. cells with no match were deleted: the release's copy is put back where it was
   (nbgrader restores the hidden tests of a test cell from the gradebook).

Every matched cell gets the release's ``nbgrader`` metadata, cell type and id; copied
metadata on other cells is removed. Notebook and cell metadata other than what
nbgrader and Jupyter use (Colab's ``colab``, ``executionInfo`` with the author's name
and photo, ``outputId``; VS Code's ``vscode``) is dropped, and outputs are cleared.
Every change is logged.

The TA command (:mod:`mlpcourse.grading.chain`) never modifies ``submitted/``: it reads the
upload there and writes the repaired copy to ``build/repaired/``, which autograde
reads (``--CourseDirectory.submitted_directory``).
"""

import ast
import copy
import difflib
import json
import re
import threading
import uuid
import warnings

import nbformat

# Cell metadata kept from a submission (Jupyter's own keys); nbgrader's is rebuilt.
KEPT_CELL_METADATA = ("tags", "collapsed", "scrolled", "jupyter", "editable", "deletable")
# Below this similarity, a cell's text is not taken to be a release cell's.
MIN_TEXT_SIMILARITY = 0.6
CELL_ID = re.compile(r"[a-zA-Z0-9-_]{1,64}")
# Beyond these an upload is not a notebook a student saved: nesting (Python's JSON reader
# and deep copies recurse) and cells (matching compares every cell with the release's).
MAX_DEPTH = 100
MAX_CELLS = 5000
CELL_TYPES = ("code", "markdown", "raw")


class RepairError(Exception):
    """The upload cannot be graded (not JSON, not a notebook); the message says why."""


# warnings.catch_warnings swaps process-wide state; class grading reads uploads in
# several threads at once, so they take turns.
_WARNINGS_LOCK = threading.Lock()


def read_upload(data):
    """The notebook in ``data`` (bytes) as a version-4 NotebookNode, or RepairError.

    Accepts a UTF-8 byte order mark and old (version 3) notebooks. Whatever the bytes,
    the only exception is RepairError.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RepairError("the file is not text (not a Jupyter notebook; was it a PDF or a zip?)") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise RepairError(f"the file is not valid JSON ({error.msg} at line {error.lineno}, column "
                          f"{error.colno}); the notebook was probably cut off or edited by hand") from None
    except (ValueError, RecursionError) as error:  # a number too long, nesting too deep
        raise RepairError(f"the file is not JSON a notebook can hold ({str(error)[:100]})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise RepairError("the file is JSON but not a Jupyter notebook (it has no cells)")
    if _depth(raw) > MAX_DEPTH:
        raise RepairError(f"the notebook's JSON is nested more than {MAX_DEPTH} levels deep")
    try:
        text = json.dumps(raw, ensure_ascii=False)
        text.encode()  # lone surrogates: the repaired copy could not be written
        with _WARNINGS_LOCK, warnings.catch_warnings():  # nbformat warns about (and fixes) repeated cell ids
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as error:
        raise RepairError(f"the notebook could not be read ({type(error).__name__}: {str(error)[:200]})") from None
    _check_cells(nb)
    return nb


def _depth(value):
    """How deeply ``value`` (parsed JSON) nests lists and objects (without recursing)."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_DEPTH:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _check_cells(nb):
    """RepairError unless ``nb`` has what repair and nbgrader read: typed cells with text and metadata."""
    if len(nb.cells) > MAX_CELLS:
        raise RepairError(f"the notebook has more than {MAX_CELLS} cells")
    for number, cell in enumerate(nb.cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in CELL_TYPES:
            raise RepairError(f"cell {number} is not a Jupyter cell (of type code, markdown or raw)")
        if not isinstance(cell.get("source"), str):
            raise RepairError(f"cell {number}'s source is not text")
        if not isinstance(cell.get("metadata"), dict):
            raise RepairError(f"cell {number}'s metadata is not a JSON object")


def saved_by(nb):
    """Which tool most likely saved ``nb`` (from its metadata), for the log."""
    cell_keys = {key for cell in nb.cells for key in cell.get("metadata", {})}
    if "colab" in nb.metadata or {"executionInfo", "outputId"} & cell_keys:
        return "Google Colab"
    if "vscode" in nb.metadata or "vscode" in cell_keys:
        return "VS Code"
    if "execution" in cell_keys:
        return "JupyterLab"
    return "Jupyter"


def _info(cell):
    """A cell's nbgrader metadata; {} if it has none, or none nbgrader could read (not an object, a grade id not text)."""
    info = cell.get("metadata", {}).get("nbgrader")
    return info if isinstance(info, dict) and isinstance(info.get("grade_id", ""), str) else {}


def _normalised(text):
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _defined_names(source):
    """Top-level names a code cell defines (functions, classes, assignments)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python, or too deeply nested to parse
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _similarity(a, b):
    a, b = _normalised(a), _normalised(b)
    if a == b:
        return 1.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    # The quick upper bounds rule most pairs out without the full comparison.
    if matcher.real_quick_ratio() < MIN_TEXT_SIMILARITY or matcher.quick_ratio() < MIN_TEXT_SIMILARITY:
        return 0.0
    return matcher.ratio()


def _score(release_cell, cell):
    """How well submission ``cell`` fits ``release_cell`` (0: not at all, 1: same)."""
    info = _info(release_cell)
    if info.get("solution"):
        if release_cell.cell_type == "markdown":
            return 0.5 if cell.cell_type == "markdown" else 0.0
        wanted = _defined_names(release_cell.source)
        if wanted and cell.cell_type == "code" and wanted <= _defined_names(cell.source):
            return 0.9
        return 0.0
    if cell.cell_type != release_cell.cell_type:
        return 0.0
    score = _similarity(release_cell.source, cell.source)
    return score if score >= MIN_TEXT_SIMILARITY else 0.0


def _modified(release_cell, cell):
    return _normalised(cell.source) != _normalised(release_cell.source)


class _Log:
    def __init__(self):
        self.entries = []

    def __call__(self, action, detail, grade_id=None):
        self.entries.append({"action": action, "grade_id": grade_id, "detail": detail})


def _pick(release_cell, candidates, cells):
    """The one of several cells with the same grade id that keeps it."""
    if _info(release_cell).get("solution"):
        worked = [i for i in candidates if _modified(release_cell, cells[i])]
        return (worked or candidates)[-1]
    return max(candidates, key=lambda i: (_similarity(release_cell.source, cells[i].source), -i))


def _match(release_cells, cells, log):
    """``{release index: submission index}`` for every release cell found in ``cells``."""
    matched = _match_by_grade_id(release_cells, cells, log)
    taken = set(matched.values())
    for r, release_cell in enumerate(release_cells):
        if r in matched:
            continue
        found = _match_by_content(release_cell, cells, _window(r, matched, len(release_cells), len(cells), taken))
        if found is not None:
            score, i = found
            matched[r] = i
            taken.add(i)
            how = "its text" if score >= MIN_TEXT_SIMILARITY and not _info(release_cell).get("solution") else (
                "the names it defines" if release_cell.cell_type == "code" else "its place after the question")
            log("matched", f"cell {i + 1} had lost its nbgrader metadata; recognised by {how}",
                _info(release_cell)["grade_id"])
    return matched


def _match_by_grade_id(release_cells, cells, log):
    """``{release index: submission index}`` by the grade ids the cells still carry; of
    several cells with one grade id (copies) one keeps it (:func:`_pick`), the others are logged."""
    wanted = {_info(c)["grade_id"]: r for r, c in enumerate(release_cells)}
    by_grade_id = {}
    for i, cell in enumerate(cells):
        grade_id = _info(cell).get("grade_id")
        if grade_id in wanted:
            by_grade_id.setdefault(grade_id, []).append(i)
    matched = {}
    for grade_id, candidates in by_grade_id.items():
        r = wanted[grade_id]
        chosen = _pick(release_cells[r], candidates, cells)
        matched[r] = chosen
        for other in candidates:
            if other != chosen:
                log("duplicate", f"cell {other + 1} is a copy of cell {chosen + 1} and carried its grade id; "
                                 f"cell {chosen + 1} is graded, the copy runs as an ordinary cell", grade_id)
    return matched


def _window(r, matched, release_count, cell_count, taken):
    """The free submission indices where release cell ``r`` may be: between the cells
    matched to the release cells around it (anywhere, if those are out of order)."""
    before = [matched[q] for q in range(r) if q in matched]
    after = [matched[q] for q in range(r + 1, release_count) if q in matched]
    low = max(before) if before else -1
    high = min(after) if after else cell_count
    return [i for i in (range(low + 1, high) if low < high else range(cell_count)) if i not in taken]


def _match_by_content(release_cell, cells, window):
    """``(score, submission index)`` of the cell of ``window`` most like ``release_cell``
    (the same text first, else :func:`_score`; the earliest of equals), or None."""
    same = [i for i in window if cells[i].cell_type == release_cell.cell_type
            and _normalised(cells[i].source) == _normalised(release_cell.source)]
    scores = [(1.0, -same[0], same[0])] if same else [(_score(release_cell, cells[i]), -i, i) for i in window]
    scores = [s for s in scores if s[0] > 0]
    if not scores:
        return None
    score, _, i = max(scores)
    return score, i


def _fresh_id(taken):
    while True:
        candidate = uuid.uuid4().hex[:8]
        if candidate not in taken:
            return candidate


def repair(submission, release):
    """Reconcile ``submission`` with ``release``; return ``(notebook, log)``.

    Parameters
    ----------
    submission : NotebookNode
        As read by :func:`read_upload` (not modified).
    release : NotebookNode
        The released notebook of the assignment.

    Returns
    -------
    notebook : NotebookNode
        Version 4.5, ready for ``nbgrader autograde``.
    log : list of dict
        One ``{"action", "grade_id", "detail"}`` per change, in order.
    """
    log = _Log()
    nb = copy.deepcopy(submission)
    log("read", f"saved by {saved_by(nb)}, nbformat {nb.nbformat}.{nb.nbformat_minor}, {len(nb.cells)} cells")
    _clean_notebook(nb, release, log)
    release_cells = [cell for cell in release.cells if _info(cell).get("grade_id")]
    matched = _match(release_cells, nb.cells, log)
    _drop_stray_metadata(nb, set(matched.values()), log)
    _restore_matched(nb, {i: release_cells[r] for r, i in matched.items()}, log)
    matched = _put_back_deleted(nb, release_cells, matched, log)
    _set_cell_ids(nb, {i: release_cells[r].get("id") for r, i in matched.items()}, release)
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as error:
        raise RepairError(f"the notebook is malformed beyond repair: {error.message}") from None
    return nb, log.entries


def _clean_notebook(nb, release, log):
    """Keep only the metadata nbgrader and Jupyter use (the release's notebook metadata),
    set nbformat 4.5 or the release's minor version, and clear outputs."""
    dropped = sorted(set(nb.metadata) - {"kernelspec", "language_info"})
    if dropped:
        log("metadata", f"removed notebook metadata: {', '.join(dropped)}")
    nb.metadata = copy.deepcopy({key: release.metadata[key] for key in ("kernelspec", "language_info")
                                 if key in release.metadata})
    nb.nbformat, nb.nbformat_minor = 4, max(5, release.nbformat_minor)
    dropped_keys = set()
    for cell in nb.cells:
        extra = set(cell.get("metadata", {})) - set(KEPT_CELL_METADATA) - {"nbgrader"}
        dropped_keys |= extra
        for key in extra:
            del cell.metadata[key]
        if cell.cell_type == "code":
            cell.pop("attachments", None)
            cell.outputs = []
            cell.execution_count = None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    if dropped_keys:
        log("metadata", f"removed cell metadata: {', '.join(sorted(dropped_keys))}")


def _drop_stray_metadata(nb, matched, log):
    """Remove nbgrader metadata from the cells not in ``matched`` (submission indices):
    copies of graded cells, and metadata that names no cell of the release."""
    for i, cell in enumerate(nb.cells):
        if i in matched or "nbgrader" not in cell.metadata:
            continue
        grade_id = _info(cell).get("grade_id")
        del cell.metadata["nbgrader"]
        if not any(e["action"] == "duplicate" and e["grade_id"] == grade_id for e in log.entries):
            log("metadata", f"cell {i + 1}: removed nbgrader metadata that matches no cell of the release", grade_id)


def _restore_matched(nb, position, log):
    """Give each matched cell (``{submission index: release cell}``) the release's cell
    type, nbgrader metadata and ``editable``/``deletable`` flags."""
    for i, release_cell in position.items():
        cell = nb.cells[i]
        grade_id = _info(release_cell)["grade_id"]
        if cell.cell_type != release_cell.cell_type:
            log("cell type", f"cell {i + 1} was {cell.cell_type}, set back to {release_cell.cell_type}", grade_id)
            nb.cells[i] = cell = _retyped(cell, release_cell.cell_type)
        if _info(cell) != _info(release_cell):
            if "nbgrader" in cell.metadata:
                log("metadata", f"cell {i + 1}: nbgrader metadata differed from the release; restored", grade_id)
            cell.metadata["nbgrader"] = copy.deepcopy(_info(release_cell))
        for key in ("editable", "deletable"):
            if key in release_cell.metadata:
                cell.metadata[key] = release_cell.metadata[key]
            else:
                cell.metadata.pop(key, None)


def _put_back_deleted(nb, release_cells, matched, log):
    """Insert the release's copy of every unmatched release cell after the cell that
    precedes it in the release; return ``matched`` (release index -> submission index)
    for the notebook as it now is, the put-back cells included."""
    for r, release_cell in enumerate(release_cells):
        if r in matched:
            continue
        previous = [matched[q] for q in range(r) if q in matched]
        at = (max(previous) + 1) if previous else 0
        copy_cell = copy.deepcopy(release_cell)
        if copy_cell.cell_type == "code":
            copy_cell.outputs = []
            copy_cell.execution_count = None
        nb.cells.insert(at, copy_cell)
        matched = {q: (i + 1 if i >= at else i) for q, i in matched.items()}
        matched[r] = at
        info = _info(release_cell)
        kind = "test" if info.get("grade") and release_cell.cell_type == "code" else (
            "answer" if info.get("solution") else "given")
        log("restored", f"{kind} cell was missing: put the release's copy back as cell {at + 1}", info["grade_id"])
    return matched


def _set_cell_ids(nb, release_ids, release):
    """Cell ids: the release's for matched cells (``release_ids``: submission index ->
    id), fresh ones wherever missing, malformed or repeated."""
    used = set()
    for i, cell in enumerate(nb.cells):
        wanted_id = release_ids.get(i) or cell.get("id")
        if not isinstance(wanted_id, str) or not CELL_ID.fullmatch(wanted_id) or wanted_id in used:
            wanted_id = _fresh_id(used | {c.get("id") for c in release.cells})
        cell["id"] = wanted_id
        used.add(wanted_id)


def _retyped(cell, cell_type):
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell}[cell_type]
    new = make(source=cell.source)
    new.metadata = cell.metadata
    if "id" in cell:
        new["id"] = cell["id"]
    return new
