"""The release's structure, put back in a submission before it runs.

A submission controls the order of its cells. nbgrader restores the *content* of
locked cells from the gradebook, but not their *place*: a student who moves the
locked setup cell to the end, or a test above the code it tests, changes what the
kernel has defined when each cell runs. :func:`restore` lays the cells out as the
release does: every cell with a grade id of the release at its release position, in
the release's order, and each of the student's own cells (scratch work, no grade id)
after the release cell it followed in the submission. A release cell missing from the
submission is put back from the release (its locked source from the gradebook).

The grader's own view of the notebook (:class:`mlpcourse.containment.judge.TrustedCode`) is
built from the gradebook in the release's order too, so that what a test may rely on
never depends on where a student put a cell.
"""

import copy
import difflib


def grade_id(cell):
    """The cell's nbgrader grade id, or None (also for malformed metadata)."""
    info = cell.get("metadata", {}).get("nbgrader")
    return info.get("grade_id") if isinstance(info, dict) else None


def restore(cells, release_cells, locked_sources):
    """The cells of a submission in the release's structure.

    Parameters
    ----------
    cells : list of NotebookNode
        The submission's cells (after nbgrader's sanitising step).
    release_cells : list of NotebookNode
        The released notebook's cells.
    locked_sources : dict
        ``{grade_id: source}`` of the locked and test cells, as the gradebook
        stores them (with hidden tests), for cells the submission lacks.

    Returns
    -------
    cells : list of NotebookNode
        The same cell objects, reordered, plus copies of missing release cells.
    log : list of str
        What was moved or put back, for the run record.
    """
    wanted = [grade_id(cell) for cell in release_cells if grade_id(cell)]
    log = []
    kept, followers = _anchor(cells, wanted, log)
    moved = _moved(list(kept), [key for key in wanted if key in kept])
    if moved:
        log.append(f"cells moved back to their place in the release: {', '.join(moved)}")
    result = []
    for index, key in enumerate(wanted):
        if key in kept:
            result.append(kept[key])
        else:
            result.append(_release_copy(release_cells, key, locked_sources))
            log.append(f"cell {key} was missing: the release's copy was put back")
        # The student's cells before the first release cell stay at the very start.
        if index == 0:
            result[:0] = followers[None]
        result.extend(followers.get(key, []))
    return result, log


def _anchor(cells, wanted, log):
    """``(kept, followers)``: ``{grade_id: the submission's (first) cell holding it}`` for
    the ``wanted`` grade ids, and ``{grade_id or None: the student's cells after it}``.

    A second cell with a wanted grade id loses its nbgrader metadata (logged in ``log``):
    it runs as one of the student's own cells.
    """
    kept = {}
    followers = {None: []}
    anchor = None
    for cell in cells:
        key = grade_id(cell)
        if key in kept:
            del cell.metadata["nbgrader"]
            log.append(f"a second cell carried grade id {key}; it runs as an ordinary cell")
        if key in kept or key not in wanted:
            followers[anchor].append(cell)
            continue
        kept[key] = cell
        anchor = key
        followers[key] = []
    return kept, followers


def _moved(submitted_order, release_order):
    """The grade ids out of place: those outside the longest runs the two orders share."""
    if submitted_order == release_order:
        return []
    blocks = difflib.SequenceMatcher(None, submitted_order, release_order, autojunk=False).get_matching_blocks()
    in_place = {key for block in blocks for key in submitted_order[block.a:block.a + block.size]}
    return [key for key in submitted_order if key not in in_place]


def _release_copy(release_cells, key, locked_sources):
    """A fresh copy of release cell ``key``, with its locked source from the gradebook if known."""
    release_cell = next(cell for cell in release_cells if grade_id(cell) == key)
    missing = copy.deepcopy(release_cell)
    if key in locked_sources:
        missing.source = locked_sources[key]
    if missing.cell_type == "code":
        missing.outputs, missing.execution_count = [], None
    return missing
