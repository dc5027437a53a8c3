"""The class report: what a TA reads after grading, in three separate steps.

``compute`` reads the gradebook, the autograded notebooks and the grading log and
returns plain data (written as ``report.json``); ``plot`` draws PNG figures from that
data only (matplotlib, Agg backend); ``write_html`` lays data and figures out as one
page. ``python -m mlpcourse report`` runs all three into ``build/report/<assignment>/``::

    report.json     every number below
    scores.png      histogram of the autograded score
    item_analysis.png   share of students with full marks, per test cell
    times.png       autograde time per submission, split into test cells and the rest
    index.html      the page: summary, the figures, the most common failure messages
                    per function, crashes and tamper flags, per-student table

Where the numbers come from:

- scores and pass rates: the gradebook (the same numbers as ``cell_grades.csv``);
- failure messages: the error outputs of the test cells in ``autograded/``; the
  visible and hidden checks raise ``CheckFailure`` whose message starts with what was
  wrong and names the input case on a ``case:`` line; a test cell that wrote to
  stderr is scored 0 by nbgrader and listed as such;
- autograde time: the kernel's own timestamps in each autograded notebook (cell by
  cell), and the wall time per submission from ``grade`` when it graded them;
- crashes: submissions ``grade`` failed to grade (with the reason), submitted
  notebooks without an autograded copy, kernels that died or timed out, and the
  incidents the contained run recorded (``run.json``);
- tamper flags: the tamper reports of the grading pipeline, when it wrote any.
"""

import datetime
import html
import pathlib
import re
import statistics

from mlpcourse import assignment as assignment_description
from mlpcourse import paths, records
from mlpcourse.authoring import notebook
from mlpcourse.grading import cellgrades, classroom, late, tamper
from mlpcourse.reports import similarity

# Error names with which a grading kernel stops rather than a test failing (nbclient's,
# and those mlpcourse.containment.contain writes into the graded notebook).
KERNEL_DEATHS = ("DeadKernelError", "KernelDied", "CellTimeoutError")

FIGURES = ("scores.png", "item_analysis.png", "times.png")
# The page runs no script and loads only its own figures: text from notebooks (failure
# messages, incidents) is escaped, and this policy would stop any markup that was not.
POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
VISIBILITY_COLOURS = {"visible": "#4878a8", "hidden": "#dd8452", "": "#8c8c8c"}


def output_dir(course_dir, assignment):
    """Default folder of the report (``build/`` is ignored by git)."""
    return pathlib.Path(course_dir) / paths.BUILD_DIRECTORY / "report" / assignment


def function_of(grade_id, described=None):
    """The function a test cell checks (``test_softmax_hidden`` -> ``softmax``), as the
    assignment's description ``described`` says (default: the course's assignment's)."""
    return (described or assignment_description.load()).function_of(grade_id)


def visibility_of(grade_id, described=None):
    """``"visible"`` or ``"hidden"`` for a graded function's test cell (per the description), else ``""``."""
    functions = (described or assignment_description.load()).functions.values()
    if any(grade_id in function.visible for function in functions):
        return "visible"
    return "hidden" if any(grade_id in function.hidden for function in functions) else ""


def failure_message(output):
    """``(message, case)`` for one error or stderr output of a test cell.

    A ``CheckFailure`` message's first line says what was wrong (``softmax(y_hat) has
    wrong values``); its input case is on a ``case:`` line or in ``(case: ...)``. Other
    errors are reported as ``Name: first line``.
    """
    if output.get("output_type") == "stream":
        first = (output.get("text", "").strip().splitlines() or [""])[0]
        return f"wrote to stderr (nbgrader scores the cell 0): {first[:160]}", ""
    lines = [line.strip() for line in str(output.get("evalue", "")).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    case = next((line[len("case:"):].strip() for line in lines if line.startswith("case:")), "")
    inline = re.search(r"\s*\(case: (.*)\)\.?$", first)
    if inline:
        case, first = case or inline.group(1), first[:inline.start()]
    name = output.get("ename", "")
    message = first if name == "CheckFailure" else f"{name}: {first}".rstrip(": ")
    return message[:200], case[:200]


def _seconds(execution):
    """Execution time of one cell from nbclient's timestamps, or None."""
    try:
        start = datetime.datetime.fromisoformat(execution["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.datetime.fromisoformat(execution["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds()


def read_autograded(path, autograded_cells):
    """Failures, kernel deaths and timings found in one autograded notebook.

    Returns
    -------
    dict
        ``failures``: ``[(grade_id, message, case)]`` for every failed test cell;
        ``deaths``: error names of kernel deaths or timeouts; ``test_seconds``,
        ``other_seconds``: kernel time in test cells and in all other code cells.
    """
    nb = notebook.read(path)
    result = {"failures": [], "deaths": [], "test_seconds": 0.0, "other_seconds": 0.0}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        grade_id = notebook.grade_id(cell)
        seconds = _seconds(cell.get("metadata", {}).get("execution"))
        key = "test_seconds" if grade_id in autograded_cells else "other_seconds"
        result[key] += seconds or 0.0
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") in KERNEL_DEATHS:
                result["deaths"].append(output["ename"])
            if grade_id not in autograded_cells:
                continue
            if output.get("output_type") == "error" or (
                    output.get("output_type") == "stream" and output.get("name") == "stderr"):
                result["failures"].append((grade_id, *failure_message(output)))
    return result


def _tamper_flags(course_dir, students, assignment):
    """``{student: [flag, ...]}`` from the grading pipeline's tamper reports, or None if none were written."""
    reports = tamper.read_reports(course_dir, assignment)
    if not reports:
        return None
    return {student: list(reports.get(student, [])) for student in students}


def _incidents(course_dir, student, assignment):
    """What the contained run recorded as going wrong (timeouts, crashes, output floods)."""
    run = records.read(paths.records_folder(course_dir, assignment, student) / "run.json", {})
    return [incident["what"] for incident in run.get("incidents", [])]


def compute(course_dir, db_url=None, *, assignment):
    """Every number of the class report, as JSON-ready data.

    Parameters
    ----------
    course_dir : path
        The nbgrader course directory after autograde.
    db_url : str, optional
        The gradebook (default: ``course_dir/gradebook.db``).
    assignment : str
        The assignment's name (its folder in ``course_dir/source/``).

    Returns
    -------
    dict
        ``students`` (one dict per student), ``summary`` (of the autograded scores of
        the graded submissions), ``cells`` (item analysis per autograded test cell),
        ``failures`` (per function: the most common messages first), ``crashes``,
        ``tamper`` (None when no tamper reports exist), ``late`` (late submissions and
        their penalties: :func:`mlpcourse.grading.late.late_submissions`) and
        ``similarity`` (pairs of alike submissions: :func:`mlpcourse.reports.similarity.compute`).
    """
    course_dir = pathlib.Path(course_dir)
    described = assignment_description.load(course_dir, assignment)
    cells = [c for c in cellgrades.grade_cells(course_dir, db_url, assignment=assignment) if c["kind"] == "auto"]
    _, table = cellgrades.rows(course_dir, db_url, assignment=assignment)
    log = _grading_log(course_dir, assignment)
    notebooks = sorted({c["notebook"] for c in cells})
    students, crashes, failures = [], [], []
    for row in table:
        entry, found = _student_entry(course_dir, row, cells, notebooks, log, assignment)
        crashes += _crashes(course_dir, entry, found, log, assignment)
        failures += [(entry["student_id"], *failure) for result in found for failure in result["failures"]]
        students.append(entry)
    ids = [s["student_id"] for s in students]
    return {
        "assignment": assignment,
        "students": students,
        "summary": _summary(students, cells),
        "cells": _item_analysis(cells, [row for row, s in zip(table, students) if s["status"] == "graded"], described),
        "failures": _failures_by_function(failures, described),
        "crashes": crashes,
        "tamper": _tamper_flags(course_dir, ids, assignment),
        "late": late.late_submissions(course_dir, db_url, assignment=assignment),
        "similarity": similarity.compute(course_dir, ids, described),
    }


def _student_entry(course_dir, row, cells, notebooks, log, assignment):
    """One student's line of the report from their gradebook ``row``, and what their autograded notebooks hold.

    Returns ``(entry, found)``: ``found`` is :func:`read_autograded` of each of the
    student's notebooks when every one was autograded with some grade, else empty.
    """
    student = row["student_id"]
    submitted = _submitted(course_dir, student, assignment)
    folder = paths.course_folder(course_dir, paths.AUTOGRADED_DIRECTORY, assignment, student)
    files = [folder / f"{name}.ipynb" for name in notebooks]
    autograded = all(f.exists() for f in files) and any(row[c["grade_id"]] is not None for c in cells)
    found = [read_autograded(f, {c["grade_id"] for c in cells}) for f in files] if autograded else []
    entry = {
        "student_id": student, "status": _status(autograded, submitted, student in log and not log[student]["graded"]),
        "auto_score": row["auto_score"], "manual_score": row["manual_score"], "score": row["score"],
        "test_seconds": sum(f["test_seconds"] for f in found) if found else None,
        "other_seconds": sum(f["other_seconds"] for f in found) if found else None,
        "wall_seconds": log.get(student, {}).get("seconds"),
    }
    return entry, found


def _status(autograded, submitted, failed):
    """``graded``, ``failed to grade`` (submitted, or the grading log says so) or ``not submitted``."""
    if autograded and not failed:
        return "graded"
    return "failed to grade" if submitted or failed else "not submitted"


def _submitted(course_dir, student, assignment):
    return paths.course_folder(course_dir, paths.SUBMITTED_DIRECTORY, assignment, student).is_dir()


def _crashes(course_dir, entry, found, log, assignment):
    """What went wrong with one student's grading: not graded, kernels stopped, incidents of the contained run."""
    student = entry["student_id"]
    crashes = []
    if student in log and not log[student]["graded"]:
        crashes.append({"student_id": student, "what": "failed to grade", "detail": log[student]["reason"]})
    elif _submitted(course_dir, student, assignment) and not found:
        repaired = records.read(paths.records_folder(course_dir, assignment, student) / "repair.json", {})
        crashes.append({"student_id": student, "what": "failed to grade",
                        "detail": repaired.get("reason") or "submitted, but there is no autograded notebook"})
    for death in sorted({d for f in found for d in f["deaths"]}):
        crashes.append({"student_id": student, "what": "kernel stopped", "detail": death})
    for incident in _incidents(course_dir, student, assignment) if found else []:
        crashes.append({"student_id": student, "what": "incident in the contained run", "detail": incident})
    return crashes


def _summary(students, cells):
    """The class's counts, and the autograded scores of the graded submissions."""
    scores = [s["auto_score"] for s in students if s["status"] == "graded"]
    return {
        "students": len(students), "graded": len(scores),
        "failed_to_grade": sum(s["status"] == "failed to grade" for s in students),
        "not_submitted": sum(s["status"] == "not submitted" for s in students),
        "max_auto_score": sum(c["max_score"] for c in cells),
        "mean": statistics.fmean(scores) if scores else None,
        "median": statistics.median(scores) if scores else None,
        "min": min(scores) if scores else None,
        "max": max(scores) if scores else None,
    }


def _item_analysis(cells, graded_rows, described):
    """Per autograded test cell: how many graded students got full marks, and the mean score."""
    analysis = []
    for c in cells:
        got = [row[c["grade_id"]] for row in graded_rows]
        full = sum(1 for g in got if g >= c["max_score"])
        analysis.append({
            "grade_id": c["grade_id"], "function": function_of(c["grade_id"], described),
            "visibility": visibility_of(c["grade_id"], described), "max_score": c["max_score"],
            "students": len(got), "full_marks": full,
            "pass_rate": full / len(got) if got else None,
            "mean_score": statistics.fmean(got) if got else None,
        })
    return analysis


def _failures_by_function(failures, described):
    """``{function: [message, ...]}`` from ``(student, grade_id, message, case)`` failures, the commonest first."""
    messages = {}
    for student, grade_id, message, case in failures:
        item = messages.setdefault((function_of(grade_id, described), message),
                                   {"message": message, "students": set(), "cells": set(), "case": case})
        item["students"].add(student)
        item["cells"].add(grade_id)
    by_function = {}
    for (function, _), item in messages.items():
        by_function.setdefault(function, []).append({
            "message": item["message"], "count": len(item["students"]),
            "students": sorted(item["students"]), "cells": sorted(item["cells"]), "example_case": item["case"],
        })
    for items in by_function.values():
        items.sort(key=lambda i: (-i["count"], i["message"]))
    return dict(sorted(by_function.items()))


def _grading_log(course_dir, assignment):
    """``{student: outcome dict}`` from the last ``grade`` run, or {}."""
    summary = classroom.read_log(course_dir, assignment)
    return {o.student: o.to_dict() for o in summary.outcomes} if summary else {}


def plot(data, folder):
    """Draw the report's figures from ``compute``'s data; return their paths."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    graded = [s for s in data["students"] if s["status"] == "graded"]
    figures = (_scores_figure(data, graded), _item_analysis_figure(data["cells"]), _times_figure(graded))
    for name, fig in zip(FIGURES, figures):
        fig.savefig(folder / name, dpi=100)
    return [folder / name for name in FIGURES]


def _figure(height):
    """A new 7-inch-wide matplotlib ``(Figure, Axes)`` of ``height`` inches, drawn off screen (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, height))
    return fig, fig.subplots()


def _scores_figure(data, graded):
    """The Figure of ``scores.png``: a histogram of the ``graded`` students' autograded scores, and their mean."""
    from matplotlib.ticker import MaxNLocator

    summary = data["summary"]
    fig, ax = _figure(4)
    top = summary["max_auto_score"]
    bins = [top * i / 13 for i in range(14)]  # 13 bins: 5 points each for a 65-point assignment
    counts, _, _ = ax.hist([s["auto_score"] for s in graded], bins=bins, color="#4878a8", edgecolor="white")
    ax.set(xlim=(0, top), ylim=(0, max(counts, default=0) + 1), xlabel=f"autograded score (out of {top:g})", ylabel="students",
           title=f"{data['assignment']}: autograded scores of {len(graded)} graded submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if graded:
        ax.axvline(summary["mean"], color="#c44e52", linestyle="--", label=f"mean {summary['mean']:.1f}")
        ax.legend(loc="upper center")
    fig.tight_layout()
    return fig


def _item_analysis_figure(cells):
    """The Figure of ``item_analysis.png``: per test cell of ``cells`` (notebook order), the share with full marks."""
    from matplotlib.ticker import PercentFormatter

    fig, ax = _figure(0.35 * len(cells) + 1.2)
    labels = [c["grade_id"] for c in cells]
    rates = [c["pass_rate"] or 0.0 for c in cells]
    colours = [VISIBILITY_COLOURS[c["visibility"]] for c in cells]
    bars = ax.barh(range(len(cells)), rates, color=colours)
    for bar, c in zip(bars, cells):
        ax.text(1.01, bar.get_y() + bar.get_height() / 2, f"{c['full_marks']}/{c['students']}",
                va="center", fontsize=8, transform=ax.get_yaxis_transform())
    ax.set_yticks(range(len(cells)), labels, fontsize=8)
    ax.invert_yaxis()  # notebook order, top to bottom
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(xlabel="students with full marks on the test cell",
           title="Item analysis (blue: visible tests, orange: hidden, grey: other)")
    fig.tight_layout()
    return fig


def _times_figure(graded):
    """The Figure of ``times.png``: per ``graded`` student, kernel time in test cells and the rest, and wall time."""
    fig, ax = _figure(0.35 * len(graded) + 1.6)
    names = [s["student_id"] for s in graded]
    tests = [s["test_seconds"] for s in graded]
    other = [s["other_seconds"] for s in graded]
    ax.barh(range(len(graded)), tests, color="#4878a8", label="test cells")
    ax.barh(range(len(graded)), other, left=tests, color="#8c8c8c", label="other cells (data, training, plots)")
    walls = [(i, s["wall_seconds"]) for i, s in enumerate(graded) if s["wall_seconds"] is not None]
    if walls:
        ax.plot([w for _, w in walls], [i for i, _ in walls], "k|", markersize=14,
                label="wall time (with nbgrader and kernel start)")
    ax.set_yticks(range(len(graded)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="seconds", title="Autograde time per submission (kernel time by cell group)")
    fig.legend(fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))  # room for the legend below
    return fig


def _table(header, rows):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _number(value, spec=".1f"):
    return "" if value is None else format(value, spec)


def write_html(data, folder):
    """Write ``index.html`` beside the figures; every text from notebooks is escaped (and see POLICY)."""
    folder = pathlib.Path(folder)
    s = data["summary"]
    parts = [
        f"<h1>Class report: {html.escape(data['assignment'])}</h1>",
        f"<p>{s['students']} students: {s['graded']} graded, {s['failed_to_grade']} failed to grade, "
        f"{s['not_submitted']} not submitted. Autograded score out of {s['max_auto_score']:g}: "
        f"mean {_number(s['mean'])}, median {_number(s['median'], 'g')}, "
        f"min {_number(s['min'], 'g')}, max {_number(s['max'], 'g')}.</p>",
        "<h2>Scores</h2><img src='scores.png' alt='histogram of autograded scores'>",
        "<h2>Item analysis: which tests students fail</h2>",
        "<img src='item_analysis.png' alt='share of students with full marks per test cell'>",
        _table(["test cell", "function", "points", "full marks", "mean score"],
               [[c["grade_id"], c["function"], f"{c['max_score']:g}", f"{c['full_marks']}/{c['students']}",
                 _number(c["mean_score"], ".2f")] for c in data["cells"]]),
        "<h2>Most common failure messages per function</h2>",
    ]
    if not data["failures"]:
        parts.append("<p>No test failed.</p>")
    for function, items in data["failures"].items():
        parts.append(f"<h3>{html.escape(function)}</h3>")
        parts.append(_table(["students", "message", "test cells", "example input case", "who"],
                            [[i["count"], i["message"], ", ".join(i["cells"]), i["example_case"],
                              ", ".join(i["students"])] for i in items]))
    parts.append("<h2>Crashes and tamper flags</h2>")
    parts.append(_table(["student", "what", "detail"], [[c["student_id"], c["what"], c["detail"]]
                                                        for c in data["crashes"]])
                 if data["crashes"] else "<p>No crashes: every submission was graded.</p>")
    if data["tamper"] is None:
        parts.append("<p>No tamper reports were found for this class.</p>")
    else:
        flagged = [[student, "; ".join(flags)] for student, flags in sorted(data["tamper"].items()) if flags]
        parts.append(_table(["student", "tamper flags"], flagged) if flagged else "<p>No submission was flagged.</p>")
    parts += _late_html(data["late"]) + _similarity_html(data["similarity"])
    parts += [
        "<h2>Autograde time per submission</h2><img src='times.png' alt='autograde time per submission'>",
        _table(["student", "status", "autograded", "manual", "total", "test cells (s)", "other cells (s)", "wall (s)"],
               [[x["student_id"], x["status"], _number(x["auto_score"], "g"), _number(x["manual_score"], "g"),
                 _number(x["score"], "g"), _number(x["test_seconds"]), _number(x["other_seconds"]),
                 _number(x["wall_seconds"])] for x in data["students"]]),
    ]
    style = ("body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}"
             ".pair{table-layout:fixed;width:100%}pre{white-space:pre-wrap;font-size:80%;margin:0}"
             "mark{background:#fbd46d}")
    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{POLICY}\">"
            f"<title>{html.escape(data['assignment'])} class report</title><style>{style}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")
    path = folder / "index.html"
    path.write_text(page)
    return path


def _late_html(late):
    """The late submissions section: when each came in, how late, the penalty nbgrader applied."""
    parts = ["<h2>Late submissions</h2>"]
    if late["duedate"] is None:
        parts.append("<p>No due date is set (<code>c.DueDatePenalties.duedate</code> in nbgrader_config.py), "
                     "so nothing is late.</p>")
    else:
        parts.append(f"<p>Due {html.escape(late['duedate'])} UTC (a student's extension counts). The penalty is "
                     "nbgrader's, from the late-penalty rule in nbgrader_config.py; a student's total on this page "
                     "is after it, as nbgrader export and the LMS file give it.</p>")
    rows = [[x["student_id"], f"{x['submitted_at']} UTC" if x["submitted_at"] else "no time recorded",
             f"{x['seconds_late'] / 3600:.1f} h" if x["seconds_late"] else "on time",
             _number(x["penalty"], "g"), _number(x["score"], "g"), _lms_note(x)] for x in late["submissions"]]
    parts.append(_table(["student", "submitted", "late by", "penalty (points)", "total less penalty", "LMS"], rows)
                 if rows
                 else "<p>No submission is late.</p>")
    return parts


def _lms_note(late):
    if not late["marked_late"]:
        return ""
    if late["seconds_late"]:
        return "marked late"
    return "marked late, but on time by the due date: check the due date and collect's --timezone"


def _similarity_html(found):
    """The similar submissions section: each pair side by side, the matched code highlighted."""
    parts = [
        "<h2>Similar submissions, for a human to read</h2>",
        f"<p>copydetect (winnowed fingerprints, as MOSS) compared the students' own code (every unlocked code "
        f"cell, comments and docstrings aside) of {len(found['compared'])} autograded submissions, the release's "
        f"own code left out. A pair is listed when {found['threshold']:.0%} or more of each one's code is found in "
        "the other's; the matched code is highlighted. Alike code is not proof of copying, and no score was "
        "changed.</p>",
    ]
    if not found["pairs"]:
        parts.append("<p>No pair of submissions is alike.</p>")
    for pair in found["pairs"]:
        (a, b), (share_a, share_b) = pair["students"], pair["similarity"]
        parts.append(f"<h3>{html.escape(a)} and {html.escape(b)}</h3>")
        codes = "".join(f"<td><pre>{similarity.highlighted(code, spans)}</pre></td>"
                        for code, spans in zip(pair["code"], pair["copied"]))
        parts.append(f"<table class='pair'><tr><th>{html.escape(a)}: {share_a:.0%} found in {html.escape(b)}'s</th>"
                     f"<th>{html.escape(b)}: {share_b:.0%} found in {html.escape(a)}'s</th></tr><tr>{codes}</tr>"
                     "</table>")
    # report.json files written before the long-code list have none.
    if found.get("long"):
        parts.append("<h3>Unusually long code</h3><p>Code to read, not a pair: a long file can hold most of "
                     "anyone's code (every correct variant pasted in, say), which alone says nothing of the "
                     f"others. Code past {similarity.MAX_TOKENS} tokens was not compared.</p>")
        rows = [[entry["student"], "yes" if entry["cut"] else "no",
                 ", ".join(f"{other} ({share:.0%})" for other, share in sorted(entry["contains"].items()))]
                for entry in found["long"]]
        parts.append(_table(["student", "cut", "holds most of the code of (share of theirs)"], rows))
    return parts


def build(course_dir=paths.ROOT, folder=None, db_url=None, *, assignment):
    """compute -> report.json -> figures -> index.html; return the page's path."""
    folder = pathlib.Path(folder or output_dir(course_dir, assignment))
    data = compute(course_dir, db_url, assignment=assignment)
    records.write(folder / "report.json", data)
    plot(data, folder)
    return write_html(data, folder)
