"""The kill matrix: which grade cells each catalogue entry fails, and what it costs.

Three separate steps, as ``python -m mlpcourse kill-matrix`` runs them:

1. :func:`compute` grades the reference and every catalogue entry with the fast
   harness and returns the matrix as JSON-able data (no messages, no timings: it is
   compared with the golden file ``tests/goldens/kill_matrix.json``);
2. :func:`gate_failures` and :func:`golden_differences` say what CI must refuse;
3. :func:`write_reports` renders the JSON as Markdown, HTML and a PNG heat map.

``python -m mlpcourse kill-matrix --update-golden`` rewrites the golden file after a
reviewed change (a new entry, a strengthened test).
"""

import html
import json
import pathlib

from mlpcourse import assignment, paths
from mlpcourse.authoring import notebook
from mlpcourse.quality import catalogue, harness

GOLDEN = paths.ROOT / "tests" / "goldens" / "kill_matrix.json"
UPDATE_COMMAND = "python -m mlpcourse kill-matrix --update-golden"
REPORT_DIR = paths.ROOT / paths.BUILD_DIRECTORY / "kill-matrix"
GENERATED_BY = f"python -m mlpcourse kill-matrix (do not edit; after review: {UPDATE_COMMAND})"


def compute(entries=None, *, workers=harness.WORKERS, nb=None, described=None):
    """Grade the reference and ``entries`` (default: the whole catalogue).

    ``described`` is the assignment's description (default: the course's, whose
    catalogue is :mod:`mlpcourse.quality.catalogue`); ``nb`` its master notebook.

    Returns
    -------
    matrix : dict
        ``assignment`` (its name), ``grade_cells`` (the scored cells and their points, notebook order),
        ``not_measured`` (grade cells after the data section), ``entries`` (one dict
        per entry: ``id``, ``kind``, ``function``, ``description``, ``lost`` =
        ``{grade_id: points lost}``) and ``summary`` (:func:`summarise`).
    results : dict
        The harness's results, with the messages, for :func:`harness.feedback_problems`.
    """
    described = described or assignment.load()
    nb = nb or notebook.read(described.master)
    # The master's solution, pasted (unchanged) where the first graded function is.
    reference = catalogue.Entry(catalogue.REFERENCE.id, catalogue.REFERENCE.kind, next(iter(described.functions)),
                                catalogue.REFERENCE.description, "")
    entries = [reference, *(catalogue.ENTRIES if entries is None else entries)]
    results = harness.run(entries, workers=workers, nb=nb, described=described)
    rows = []
    for entry in entries:
        grades = results[entry.id]["grades"]
        rows.append({
            "id": entry.id,
            "kind": entry.kind,
            "function": None if entry is reference else entry.function,
            "description": entry.description,
            "lost": {cell: grade["max"] - grade["score"] for cell, grade in grades.items()
                     if grade["score"] < grade["max"]},
        })
    matrix = {
        "generated_by": GENERATED_BY,
        "assignment": described.name,
        "grade_cells": harness.grade_cells(nb, described),
        "not_measured": harness.skipped_grade_cells(nb, described),
        "entries": rows,
    }
    matrix["summary"] = summarise(matrix, described)
    return matrix, results


def _own(row, functions):
    """The grade cells of a row's function (``functions``: the description's): the only ones it may cost."""
    return set(functions[row["function"]].tests)


def summarise(matrix, described=None):
    """The figures of a matrix: mutants caught, equivalents accepted, bugs charged once.

    A mutant is *caught* when it loses points on its own function's grade cells,
    *by a visible test* when its own visible cell fails, and *charged once* when every
    point it loses belongs to its own function (the share is over caught mutants).
    ``described`` says which cells are each function's (default: the course's assignment).
    """
    functions = (described or assignment.load()).functions
    rows = _outcomes(matrix["entries"], functions)
    caught, elsewhere = rows["caught"], rows["elsewhere"]
    charged_once = len(caught) - len(elsewhere)
    return {
        "mutants": len(rows["mutants"]),
        "mutants_caught": len(caught),
        "caught_by_visible_tests": len(rows["by_visible"]),
        "caught_only_by_hidden_tests": len(caught) - len(rows["by_visible"]),
        "survivors": sorted(row["id"] for row in rows["survivors"]),
        "equivalents": len(rows["equivalents"]),
        "equivalents_accepted": len(rows["equivalents"]) - len(rows["rejected"]),
        "equivalents_rejected": sorted(row["id"] for row in rows["rejected"]),
        "charged_once": charged_once,
        "charged_once_share": charged_once / len(caught) if caught else 1.0,
        "charged_elsewhere": {row["id"]: sorted(set(row["lost"]) - _own(row, functions)) for row in elsewhere},
        "points_measured": sum(matrix["grade_cells"].values()),
        "points_not_measured": sum(matrix["not_measured"].values()),
        "by_function": _by_function(rows, functions),
    }


def _outcomes(entries, functions):
    """The matrix's rows grouped by what the grade cells did to them (``functions``: the description's).

    Returns ``{group: [row, ...]}`` in matrix order: ``mutants`` and ``equivalents``;
    ``caught`` (mutants losing points on their own function's cells), ``survivors``
    (the other mutants), ``by_visible`` (caught by their own visible cell),
    ``elsewhere`` (caught, and also losing points on other functions' cells) and
    ``rejected`` (equivalents losing any point).
    """
    mutants = [row for row in entries if row["kind"] == catalogue.MUTANT]
    equivalents = [row for row in entries if row["kind"] == catalogue.EQUIVALENT]
    caught = [row for row in mutants if _own(row, functions) & set(row["lost"])]
    return {
        "mutants": mutants,
        "equivalents": equivalents,
        "caught": caught,
        "survivors": [row for row in mutants if row not in caught],
        "by_visible": [row for row in caught if set(functions[row["function"]].visible) & set(row["lost"])],
        "elsewhere": [row for row in caught if set(row["lost"]) - _own(row, functions)],
        "rejected": [row for row in equivalents if row["lost"]],
    }


def _by_function(rows, functions):
    """The summary's counts per graded function, from :func:`_outcomes`'s ``rows``.

    Returns ``{function: {"mutants", "caught", "caught_by_visible_tests", "equivalents",
    "equivalents_accepted": count}}``, one entry per function of ``functions``.
    """
    def count(group, function):
        return sum(row["function"] == function for row in rows[group])

    return {
        function: {
            "mutants": count("mutants", function),
            "caught": count("caught", function),
            "caught_by_visible_tests": count("by_visible", function),
            "equivalents": count("equivalents", function),
            "equivalents_accepted": count("equivalents", function) - count("rejected", function),
        }
        for function in functions
    }


def gate_failures(matrix, described=None):
    """What CI refuses, one line each (empty when the matrix passes).

    The reference must keep every point; every mutant must lose points on its own
    function's grade cells and on no other cell; every equivalent must keep every point.
    ``described``: the assignment's description (default: the course's).
    """
    functions = (described or assignment.load()).functions
    failures = []
    for row in matrix["entries"]:
        lost = row["lost"]
        if row["kind"] == "reference" and lost:
            failures.append(f"the master's own solution loses points: {lost}")
        elif row["kind"] == catalogue.MUTANT:
            own = _own(row, functions)
            if not own & set(lost):
                failures.append(f"mutant {row['id']} keeps full marks on {row['function']} "
                                f"({row['description']}): add a test that catches this class of bug")
            elif set(lost) - own:
                failures.append(f"mutant {row['id']} ({row['function']}) also costs points on "
                                f"{sorted(set(lost) - own)}: those tests must not depend on "
                                f"{row['function']}")
        elif row["kind"] == catalogue.EQUIVALENT and lost:
            failures.append(f"equivalent {row['id']} ({row['description']}) loses points on {lost}: "
                            "a correct answer must keep every point")
    return failures


def feedback_failures(results, entries=None, described=None):
    """:func:`harness.feedback_problems` for every mutant in ``results`` (from :func:`compute`).

    ``entries`` are those graded (default: the catalogue), ``described`` their
    assignment's description (default: the course's).
    """
    entries = catalogue.by_id() if entries is None else {entry.id: entry for entry in entries}
    return [problem for entry_id, result in results.items()
            if entry_id in entries and entries[entry_id].kind == catalogue.MUTANT
            for problem in harness.feedback_problems(entries[entry_id], result, described)]


def read_golden(path=GOLDEN):
    """The committed matrix, or None when there is none yet."""
    path = pathlib.Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def write_json(matrix, path):
    """Write ``matrix`` as stable, reviewable JSON (keys in the order built, one value per line)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(matrix, indent=1) + "\n")


def golden_differences(matrix, golden):
    """How ``matrix`` differs from the golden one, one line per change (empty if equal)."""
    if golden is None:
        return [f"there is no golden kill matrix yet: run `{UPDATE_COMMAND}`"]
    differences = [f"{key} changed: {golden.get(key)} -> {matrix[key]}"
                   for key in ("grade_cells", "not_measured") if matrix[key] != golden.get(key)]
    differences += _entry_differences(golden.get("entries", []), matrix["entries"])
    if [row["id"] for row in matrix["entries"]] != [row["id"] for row in golden.get("entries", [])] \
            and not differences:
        differences.append("the entries are in another order")
    return sorted(differences)


def _entry_differences(old_rows, new_rows):
    """One line per entry added, gone or changed (per field) from ``old_rows`` to ``new_rows``, unsorted."""
    old = {row["id"]: row for row in old_rows}
    new = {row["id"]: row for row in new_rows}
    differences = [f"new entry {entry_id}: loses {new[entry_id]['lost'] or 'nothing'}"
                   for entry_id in new.keys() - old.keys()]
    differences += [f"entry {entry_id} is gone" for entry_id in old.keys() - new.keys()]
    for entry_id in new.keys() & old.keys():
        differences += [f"{entry_id}: {field} {old[entry_id][field]!r} -> {new[entry_id][field]!r}"
                        for field in ("kind", "function", "description", "lost")
                        if new[entry_id][field] != old[entry_id][field]]
    return differences


# ---------------------------------------------------------------------------
# Rendering: from the JSON only.

def _lost_text(row, cells):
    return ", ".join(f"{cell.removeprefix('test_')} -{row['lost'][cell]:g}" for cell in cells if cell in row["lost"])


def render_markdown(matrix):
    """The matrix as a Markdown page: the figures, a table per function, every entry."""
    s = matrix["summary"]
    cells = list(matrix["grade_cells"])
    lines = [
        f"# Kill matrix of the {matrix['assignment']} grader",
        "",
        f"Generated by `{GENERATED_BY.split(' (')[0]}`: every catalogue entry graded by the",
        "notebook's own test cells (visible and hidden), scored by verdicts as the contained autograde scores them.",
        "",
        f"- **Mutants caught: {s['mutants_caught']} of {s['mutants']}** "
        f"({s['caught_by_visible_tests']} already by a visible test, "
        f"{s['caught_only_by_hidden_tests']} only by the hidden tests)"
        + (f"; survivors: {', '.join(s['survivors'])}" if s["survivors"] else ""),
        f"- **Equivalents accepted: {s['equivalents_accepted']} of {s['equivalents']}**"
        + (f"; rejected: {', '.join(s['equivalents_rejected'])}" if s["equivalents_rejected"] else ""),
        f"- **Bugs charged once: {s['charged_once']} of {s['mutants_caught']} caught mutants "
        f"({100 * s['charged_once_share']:.0f} %)** lose points only on their own function's cells"
        + (f"; exceptions: {s['charged_elsewhere']}" if s["charged_elsewhere"] else ""),
        f"- Measured: {s['points_measured']:g} autograded points in {len(cells)} grade cells; not measured "
        f"here: {', '.join(f'{c} ({p:g} points)' for c, p in matrix['not_measured'].items())}, "
        "which trains the whole network on the digits.",
        "",
        "| function | mutants | caught | by a visible test | equivalents | accepted |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for function, f in s["by_function"].items():
        lines.append(f"| `{function}` | {f['mutants']} | {f['caught']} | {f['caught_by_visible_tests']} "
                     f"| {f['equivalents']} | {f['equivalents_accepted']} |")
    lines += ["", "| entry | kind | function | what the student wrote | points lost |", "|---|---|---|---|---|"]
    for row in matrix["entries"]:
        lost = _lost_text(row, cells) or "none"
        description = row["description"].replace("|", "\\|")
        lines.append(f"| `{row['id']}` | {row['kind']} | {row['function'] or ''} | {description} | {lost} |")
    return "\n".join(lines) + "\n"


def render_html(matrix):
    """The matrix as a self-contained HTML table: one row per entry, one column per grade cell."""
    cells = list(matrix["grade_cells"])
    head = "".join(f"<th title='{c}'>{html.escape(c.removeprefix('test_'))}</th>" for c in cells)
    rows = []
    for row in matrix["entries"]:
        tds = []
        for cell in cells:
            lost = row["lost"].get(cell, 0)
            share = lost / matrix["grade_cells"][cell]
            own = row["function"] and cell.startswith(f"test_{row['function']}_")
            style = f"background: rgba(200, 30, 30, {0.15 + 0.75 * share:.2f})" if lost else ""
            mark = f"-{lost:g}" if lost else ("·" if own else "")
            tds.append(f"<td style='{style}'>{mark}</td>")
        rows.append(f"<tr class='{row['kind']}'><th>{html.escape(row['id'])}</th><td>{row['kind']}</td>"
                    f"<td>{html.escape(row['description'])}</td>{''.join(tds)}</tr>")
    s = matrix["summary"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Kill matrix of the {html.escape(matrix['assignment'])} grader</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; }}
thead th {{ writing-mode: vertical-rl; transform: rotate(180deg); }}
tr.equivalent th, tr.reference th {{ color: #1a6b1a; }}
</style></head><body>
<h1>Kill matrix of the {html.escape(matrix['assignment'])} grader</h1>
<p>Mutants caught: <b>{s['mutants_caught']} of {s['mutants']}</b>
({s['caught_by_visible_tests']} by a visible test). Equivalents accepted:
<b>{s['equivalents_accepted']} of {s['equivalents']}</b>. Bugs charged once:
<b>{s['charged_once']} of {s['mutants_caught']}</b>. A cell shows the points lost;
a dot marks the entry's own function's cells.</p>
<table><thead><tr><th>entry</th><th>kind</th><th>what the student wrote</th>{head}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""


def plot(matrix, path):
    """Draw the matrix as a heat map (share of each grade cell's points lost) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cells = list(matrix["grade_cells"])
    rows = matrix["entries"]
    lost = np.array([[row["lost"].get(cell, 0) / matrix["grade_cells"][cell] for cell in cells] for row in rows])
    fig, ax = plt.subplots(figsize=(8, 0.16 * len(rows) + 2))
    ax.imshow(lost, aspect="auto", cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks(range(len(cells)), [c.removeprefix("test_") for c in cells], rotation=90, fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{row['id']} ({row['kind'][0]})" for row in rows], fontsize=6)
    ax.xaxis.tick_top()
    for i, row in enumerate(rows):
        if row["function"]:
            for j, cell in enumerate(cells):
                if cell.startswith(f"test_{row['function']}_"):
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=0.4, ec="0.4"))
    s = matrix["summary"]
    ax.set_title(f"Share of each grade cell's points lost (m = mutant, e = equivalent; boxes: own function)\n"
                 f"mutants caught {s['mutants_caught']}/{s['mutants']}, equivalents accepted "
                 f"{s['equivalents_accepted']}/{s['equivalents']}, charged once "
                 f"{s['charged_once']}/{s['mutants_caught']}", fontsize=9, pad=70)
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


def write_reports(matrix, folder=REPORT_DIR):
    """Write kill_matrix.json, .md, .html and .png into ``folder``; return their paths."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "kill_matrix.json", folder / "kill_matrix.md", folder / "kill_matrix.html",
               folder / "kill_matrix.png"]
    write_json(matrix, written[0])
    written[1].write_text(render_markdown(matrix))
    written[2].write_text(render_html(matrix))
    plot(matrix, written[3])
    return written
