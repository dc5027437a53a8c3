"""Tamper reports: what a submission's code tries to do to the grading, for the TA.

Scores never depend on this report: the contained run (:mod:`mlpcourse.containment.contain`,
:mod:`mlpcourse.containment.judge`) already makes tampering fail. The report makes it visible.
Two sources:

- a **static scan** of the student's own code cells (never the given or test
  cells) for patterns with no honest use in this assignment: replacing numpy,
  builtins or the check helpers, editing ``sys.modules``, trace or profile hooks,
  signal handlers and timers, IPython's execution hooks, reading the caller's frames
  or the garbage collector's objects, referring to the hidden tests, ``ctypes``,
  an ``__eq__`` that always says yes, ndarray subclasses;
- **what the run observed**: what student code had changed in the kernel when the
  grader re-ran each test, and tests that passed in the kernel but not when the
  grader re-ran them (which honest code cannot cause).

A finding is a *flag* (listed for the TA) or a *note* (context: network or process
calls, file deletion, ``exit``, crashes and timeouts, which honest but buggy code
can also cause). An honest submission gets no flag.
"""

import ast
import dataclasses
import pathlib
import re

from mlpcourse import assignment as assignment_description
from mlpcourse import paths, records
from mlpcourse.containment import sandbox
from mlpcourse.grading import repair

# Modules whose attributes tests rely on, with the assignment's own (its description's
# course_modules): assigning to them is tampering.
GUARDED = frozenset({"np", "numpy", "builtins", "__builtins__", "math"})
# Calls that hook into execution, by their dotted name.
HOOKS = {
    "sys.settrace": "sets a trace function (sys.settrace)",
    "sys.setprofile": "sets a profile function (sys.setprofile)",
    "threading.settrace": "sets a trace function for threads",
    "threading.setprofile": "sets a profile function for threads",
    "signal.signal": "installs a signal handler",
    "signal.alarm": "starts a timer (signal.alarm)",
    "signal.setitimer": "starts a timer (signal.setitimer)",
    "signal.pthread_kill": "sends signals to threads",
    "sys._getframe": "reads the caller's frames (sys._getframe)",
    "inspect.stack": "reads the caller's frames (inspect.stack)",
    "inspect.currentframe": "reads the caller's frames (inspect.currentframe)",
    "inspect.getouterframes": "reads the caller's frames",
    "gc.get_objects": "searches every object in memory (gc.get_objects)",
    "gc.get_referrers": "searches who refers to an object (gc.get_referrers)",
    "setattr": None,  # checked for its first argument below
}
IPYTHON_HOOKS = ("set_custom_exc", "input_transformers_cleanup", "input_transformers_post",
                 "ast_transformers", "events", "run_cell", "run_cell_async", "run_code", "showtraceback",
                 "_showtraceback", "kernel", "displayhook", "display_pub")
# Attributes only IPython's machinery has: using them, through any name, is tampering.
IPYTHON_ONLY = {"set_custom_exc", "input_transformers_cleanup", "input_transformers_post", "ast_transformers",
                "showtraceback", "_showtraceback", "run_cell", "run_cell_async", "run_ast_nodes", "run_code"}
# Methods that decide comparisons or how numpy treats an object: a constant answer cheats them.
COMPARISON_METHODS = ("__eq__", "__ne__", "__array_ufunc__", "__array_function__")
# Names that refer to the grader or where hidden tests live, with the assignment's hidden module.
SECRETS = (paths.HIDDEN_DIRECTORY, "hidden_fixtures", "mlpcourse", sandbox.KERNEL_MODULE)
# Libraries with ready-made classifiers: honest curiosity is possible, so a note for the TA
# (the training test measures the MLP's own parameters, but they could be copied in).
MODEL_LIBRARIES = re.compile(r"(sklearn\.(linear_model|neural_network|svm|ensemble|neighbors|tree|naive_bayes)"
                             r"|torch|tensorflow|keras|jax|xgboost|lightgbm)(\.|$)")
NOTES = {
    "os._exit": "ends the kernel (os._exit)",
    "os.fork": "starts processes (os.fork)",
    "os.kill": "sends signals to processes (os.kill)",
    "os.system": "runs shell commands",
    "subprocess": "runs programs (subprocess)",
    "socket": "opens network connections (socket)",
    "urllib": "uses the network (urllib)",
    "requests": "uses the network (requests)",
    "os.remove": "deletes files",
    "os.unlink": "deletes files",
    "shutil.rmtree": "deletes folders",
    "exit": "calls exit()",
    "sys.exit": "calls sys.exit()",
}


def _dotted(node):
    """``"a.b.c"`` for an expression ``a.b.c`` (calls in the chain show as ``f()``), else None."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
            parts.append("()")
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts)).replace(".()", "()")
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return None


def _base(name):
    return name.split(".")[0].split("(")[0] if name else None


@dataclasses.dataclass(frozen=True)
class Watch:
    """What the scan watches for in one assignment's notebooks."""

    guarded: frozenset  # names of modules whose attributes the tests rely on
    secrets: re.Pattern  # names that refer to the hidden tests or the grader

    @classmethod
    def of(cls, described):
        """The watch for the assignment ``described`` (:class:`mlpcourse.assignment.Assignment`)."""
        secrets = (*SECRETS, *([described.hidden_module] if described.hidden_module else []))
        return cls(GUARDED | set(described.course_modules), re.compile("|".join(map(re.escape, secrets))))


def scan_source(source, described=None):
    """``(flags, notes)`` for one cell of student code: lists of ``(line, text)``.

    ``described``: the assignment's description (default: the course's).
    """
    watch = Watch.of(described or assignment_description.load())
    flags, notes = [], []
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        if watch.secrets.search(source):
            flags.append((1, "refers to the hidden tests or the grader"))
        return flags, notes
    for node in ast.walk(tree):
        for kinds, scan in SCANS:
            if isinstance(node, kinds):
                scan(node, getattr(node, "lineno", 1), flags, notes, watch)
                break
    return sorted(set(flags)), sorted(set(notes))


def _scan_assignment(node, line, flags, notes, watch):
    """Assigning to (or deleting) an attribute or item of what the tests rely on."""
    targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
    for target in targets:
        name = _dotted(target)
        if not (isinstance(target, (ast.Attribute, ast.Subscript)) and name):
            continue
        if _base(name) in watch.guarded:
            flags.append((line, f"replaces {name}"))
        elif name.startswith("sys.modules"):
            flags.append((line, "edits sys.modules"))
        elif name.startswith(("sys.displayhook", "sys.excepthook")):
            flags.append((line, f"replaces {name}"))
        elif name.startswith("sys.std"):
            notes.append((line, f"redirects {name}"))
        elif "get_ipython()" in name or "__class__" in name or "__code__" in name:
            flags.append((line, f"replaces {name}"))
        elif _uses_ipython_only(name):
            flags.append((line, f"changes how IPython runs cells ({name})"))


def _scan_call(node, line, flags, notes, watch):
    """Calls that hook into execution or change what the tests rely on; calls worth a note."""
    name = _dotted(node.func) or ""
    flag = _call_flag(name, node.args, watch)
    if flag:
        flags.append((line, flag))
    notes.extend((line, text) for prefix, text in NOTES.items() if name == prefix or name.startswith(prefix + "."))


def _call_flag(name, args, watch):
    """What calling dotted ``name`` with ``args`` (AST nodes) does to the grading, or None."""
    if HOOKS.get(name):
        return HOOKS[name]
    if name in ("setattr", "delattr") and args:
        owner = _dotted(args[0]) or ""
        guarded = _base(owner) in watch.guarded or owner.startswith("sys") or "get_ipython()" in owner
        return f"{name} on {owner}" if guarded else None
    if name.startswith("sys.modules."):
        return "edits sys.modules"
    if ("get_ipython()" in name and any(hook in name for hook in IPYTHON_HOOKS)) or _uses_ipython_only(name):
        return f"changes how IPython runs cells ({name})"
    return None


def _scan_import(node, line, flags, notes, watch):
    """Imports of ctypes, of the grader or hidden tests, of the network and of ready-made models."""
    modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    for module in modules:
        top = module.split(".")[0]
        if top == "ctypes":
            flags.append((line, "uses ctypes (raw memory access)"))
        elif watch.secrets.search(module):
            flags.append((line, f"imports {module}"))
        elif top in ("socket", "subprocess", "urllib", "requests", "http"):
            notes.append((line, NOTES.get(top, "uses the network")))
        elif MODEL_LIBRARIES.match(module):
            notes.append((line, f"imports ready-made models ({module}): is the trained network the MLP?"))


def _scan_class(node, line, flags, notes, watch):
    """ndarray subclasses, and classes that define how they compare or take part in numpy calls."""
    for base in node.bases:
        if (_dotted(base) or "").endswith("ndarray"):
            flags.append((line, f"defines an ndarray subclass ({node.name})"))
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name in COMPARISON_METHODS:
            always = [n for n in ast.walk(item) if isinstance(n, ast.Return)
                      and isinstance(n.value, ast.Constant) and n.value.value in (True, False)]
            flags.append((item.lineno, f"defines {node.name}.{item.name}"
                                       + (" returning a constant" if always else "")))


def _scan_secret(node, line, flags, notes, watch):
    """A string or a name that refers to the hidden tests or the grader."""
    text = node.id if isinstance(node, ast.Name) else node.value
    if isinstance(text, str) and watch.secrets.search(text):
        flags.append((line, "refers to the hidden tests or the grader"))


def _uses_ipython_only(name):
    """Whether dotted ``name`` uses an attribute only IPython's machinery has."""
    return bool(set(name.replace("()", "").split(".")[1:]) & IPYTHON_ONLY)


# What :func:`scan_source` looks at, by node type (each node is of at most one of them).
SCANS = (
    ((ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete), _scan_assignment),
    (ast.Call, _scan_call),
    ((ast.Import, ast.ImportFrom), _scan_import),
    (ast.ClassDef, _scan_class),
    ((ast.Constant, ast.Name), _scan_secret),
)


def _python(source):
    """A cell's source as Python (IPython magics and ``!`` commands transformed)."""
    from mlpcourse.containment.judge import python_source

    return python_source(source)


def static_findings(nb, described=None):
    """Flags and notes for the student-written code cells of a (repaired) notebook of ``described``."""
    flags, notes = [], []
    for number, cell in enumerate(nb.cells, start=1):
        info = cell.get("metadata", {}).get("nbgrader", {})
        info = info if isinstance(info, dict) else {}  # malformed metadata: the student's own cell
        if cell.cell_type != "code" or info.get("locked"):
            continue
        where = f"cell {number}" + (f" ({info['grade_id']})" if info.get("grade_id") else "")
        cell_flags, cell_notes = scan_source(cell.source, described)
        flags += [{"source": "code", "where": f"{where}, line {line}", "what": text} for line, text in cell_flags]
        notes += [{"source": "code", "where": f"{where}, line {line}", "what": text} for line, text in cell_notes]
    return flags, notes


def run_findings(run):
    """Flags and notes from a contained run's record (``run.json``)."""
    flags, notes = [], []
    cells = {entry["index"]: entry for entry in run.get("cells", [])}

    def where(index):
        entry = cells.get(index, {})
        return f"cell {index + 1}" + (f" ({entry['grade_id']})" if entry.get("grade_id") else "") \
            if index is not None else "notebook"

    for observation in run.get("observations", []):
        flags.append({"source": "run", "where": f"seen after {where(observation['cell'])}",
                      "what": observation["what"]})
    for entry in run.get("cells", []):
        if entry.get("inconsistent"):
            flags.append({"source": "run", "where": where(entry["index"]),
                          "what": "the test passed inside the kernel but failed when the grader re-ran it"})
        elif entry.get("rerun") == "no verdict":
            notes.append({"source": "run", "where": where(entry["index"]),
                          "what": "the grader could not re-run this test (kernel stopped or did not answer)"})
    for incident in run.get("incidents", []):
        notes.append({"source": "run", "where": where(incident["cell"]), "what": incident["what"]})
    return flags, notes


def report(course_dir, student, assignment):
    """Build and write one student's tamper report; return it.

    Reads the repaired notebook (or the upload) and ``run.json``; writes
    ``tamper.json`` beside them.
    """
    course_dir = pathlib.Path(course_dir)
    folder = paths.records_folder(course_dir, assignment, student)
    repaired = course_dir / paths.REPAIRED / student / assignment / f"{assignment}.ipynb"
    upload = paths.course_notebook(course_dir, paths.SUBMITTED_DIRECTORY, assignment, student)
    flags, notes = [], []
    source = repaired if repaired.exists() else upload
    if source.exists():
        try:
            nb = repair.read_upload(source.read_bytes())
        except repair.RepairError:
            nb = None
        if nb is not None:
            found = static_findings(nb, assignment_description.load(course_dir, assignment))
            flags += found[0]
            notes += found[1]
    run = records.read(folder / "run.json")
    if run is not None:
        found = run_findings(run)
        flags += found[0]
        notes += found[1]
    result = {"student": student, "flags": flags, "notes": notes}
    records.write(folder / "tamper.json", result)
    return result


def read_reports(course_dir, assignment):
    """``{student: [flag, ...]}`` (one line per flag) from the written tamper reports."""
    base = paths.records_folder(course_dir, assignment)
    result = {}
    for path in sorted(base.glob("*/tamper.json")):
        data = records.read(path)
        result[data["student"]] = [f"{f['where']}: {f['what']}" for f in data["flags"]]
    return result


def class_report(course_dir, students, assignment):
    """Write ``tamper.md`` and ``tamper.json`` for the class; return the Markdown.

    Lists ``students`` and every student with a report from an earlier run.
    """
    base = paths.records_folder(course_dir, assignment)
    students = sorted({*students, *(path.parent.name for path in base.glob("*/tamper.json"))})
    reports = {s: records.read(base / s / "tamper.json", {"flags": [], "notes": []}) for s in students}
    flagged = [s for s in students if reports[s]["flags"]]
    lines = [f"# Tamper report: {assignment}", "",
             f"{len(flagged)} of {len(students)} submissions flagged for review. Scores do not depend on "
             "this report: tampering already fails in the contained run.", ""]
    for student in students:
        data = reports[student]
        if not data["flags"] and not data["notes"]:
            continue
        lines.append(f"## {student}" + (" — FLAGGED" if data["flags"] else ""))
        lines += [f"- flag: {f['where']}: {f['what']}" for f in data["flags"]]
        lines += [f"- note: {n['where']}: {n['what']}" for n in data["notes"]]
        lines.append("")
    text = "\n".join(lines)
    base.mkdir(parents=True, exist_ok=True)
    (base / "tamper.md").write_text(text)
    records.write(base / "tamper.json", reports)
    return text
