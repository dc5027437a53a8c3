"""Python loops over examples or elements in a submission's graded functions.

Vectorisation is taught and reported, not graded: a correct loop keeps its points
(the catalogue has such equivalents), but a TA may want to talk about it.
``python -m mlpcourse loops NOTEBOOK...`` reads each notebook's solution cells and
lists, per graded function, the loops that walk over the data:

- a ``for`` loop, comprehension or ``while`` loop whose iterable (or condition) is
  derived from the function's batch arguments (its description's ``batch_args``, see
  :mod:`mlpcourse.assignment`: for asg01 ``x`` of ``relu``, ``X`` of ``feed_forward``,
  ``y, y_soft`` of ``categorical_cross_entropy``, ...) or from a
  stored per-layer array (``mlp.activations[i]``), e.g. ``for row in X``,
  ``range(len(x))``, ``zip(y, y_soft)``;
- element-wise iteration helpers on any array (``np.ndindex``, ``np.ndenumerate``,
  ``np.nditer``, ``.flat``) and ``np.vectorize``, a Python loop in disguise.

Loops over layers (``zip(self.parameters, self.act_funcs)``, ``range(num_layers)``) or
over the keys ``('w', 'b')`` are what the assignment expects and are not listed. The
scan is static (no code runs) and looks only inside the graded functions themselves.
"""

import ast
import dataclasses

from mlpcourse import assignment
from mlpcourse.authoring import notebook

# Attributes holding one (N, p) array per layer: an element of them is batch data.
LAYER_LISTS = {"activations", "weighted_ins"}
ELEMENT_ITERATORS = {"ndindex", "ndenumerate", "nditer"}


@dataclasses.dataclass(frozen=True)
class Loop:
    """One loop over the data inside a graded function."""

    function: str
    line: int
    code: str
    reason: str


class _Scanner(ast.NodeVisitor):
    """Walks one function body in source order, tracking names derived from the batch."""

    def __init__(self, function, batch_names, lines):
        self.function = function
        self.batch = set(batch_names)
        self.layer_lists = set()
        self.lines = lines
        self.loops = []

    # -- what an expression is --------------------------------------------------
    def _is_layer_list(self, node):
        if isinstance(node, ast.Attribute):
            return node.attr in LAYER_LISTS
        if isinstance(node, ast.Name):
            return node.id in self.layer_lists
        if isinstance(node, (ast.List, ast.Tuple)):
            return any(self._is_batch(e) or self._is_layer_list(e) for e in node.elts)
        if isinstance(node, ast.BinOp):
            return self._is_layer_list(node.left) or self._is_layer_list(node.right)
        if isinstance(node, ast.Starred):
            return self._is_layer_list(node.value)
        return False

    def _is_batch(self, node):
        """True if ``node`` may hold (or be computed from) the data: an array of examples."""
        if isinstance(node, ast.Name):
            return node.id in self.batch
        if isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Lambda)):
            return False  # a collection of layers, or code that runs later
        if isinstance(node, ast.Subscript) and self._is_layer_list(node.value):
            return True
        if isinstance(node, ast.Subscript):
            return self._is_batch(node.value)
        return any(self._is_batch(child) for child in ast.iter_child_nodes(node))

    def _hidden_element_loop(self, node):
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and sub.attr in ELEMENT_ITERATORS | {"flat"}:
                return f"{sub.attr} walks over every element"
        return None

    # -- recording --------------------------------------------------------------
    def _record(self, node, reason):
        line = node.lineno
        code = self.lines[line - 1].strip() if line <= len(self.lines) else ""
        self.loops.append(Loop(self.function, line, code, reason))

    def _check_iter(self, node, iterable):
        element = self._hidden_element_loop(iterable)
        if element:
            self._record(node, element)
        elif self._is_batch(iterable):
            self._record(node, f"iterates over the data ({ast.unparse(iterable)})")

    # -- statements ---------------------------------------------------------------
    def visit_Assign(self, node):
        self.generic_visit(node)
        self._bind(node.targets, node.value)

    def visit_AnnAssign(self, node):
        self.generic_visit(node)
        if node.value is not None:
            self._bind([node.target], node.value)

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        self._bind([node.target], node.value, keep=True)

    def _bind(self, targets, value, keep=False):
        batch, layers = self._is_batch(value), self._is_layer_list(value)
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    if layers:
                        self.layer_lists.add(name.id)
                        self.batch.discard(name.id)
                    elif batch:
                        self.batch.add(name.id)
                    elif not keep:
                        self.batch.discard(name.id)
                        self.layer_lists.discard(name.id)

    def visit_For(self, node):
        self._check_iter(node, node.iter)
        if self._is_batch(node.iter) and not self._is_layer_list(node.iter):
            self._bind([node.target], node.iter)
        self.generic_visit(node)

    def visit_While(self, node):
        if self._is_batch(node.test):
            self._record(node, f"loops while a condition on the data holds ({ast.unparse(node.test)})")
        self.generic_visit(node)

    def visit_comprehension(self, node):
        # A comprehension has no line of its own: report its iterable's.
        self._check_iter(node.iter, node.iter)
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("vectorize", "frompyfunc"):
            self._record(node, f"np.{name} calls Python code once per element")
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        # A nested helper: its parameters are not the batch.
        if node.name != self.function.split(".")[-1]:
            return
        self.generic_visit(node)


def _graded_definitions(tree, described):
    """``(label, FunctionDef, batch parameter names)`` for every graded function defined in ``tree``."""
    found = []
    for node in tree.body:
        for function in described.functions.values():
            cls, _, name = function.definition.rpartition(".")
            positions = function.batch_args
            if not cls and isinstance(node, ast.FunctionDef) and node.name == name:
                found.append((name, node, positions))
            elif cls and isinstance(node, ast.ClassDef) and node.name == cls:
                found += [(f"{cls}.{name}", item, positions) for item in node.body
                          if isinstance(item, ast.FunctionDef) and item.name == name]
    return [(label, node, [node.args.args[p].arg for p in positions if p < len(node.args.args)])
            for label, node, positions in found]


def scan_source(source, described=None):
    """The data loops in the graded functions defined by ``source`` (Python code).

    ``described`` is the assignment's description (default: the course's).

    Returns
    -------
    list of Loop
        In source order; empty when the code is vectorised (or does not parse).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = source.splitlines()
    loops = []
    for label, node, batch in _graded_definitions(tree, described or assignment.load()):
        scanner = _Scanner(label, batch, lines)
        scanner.visit(node)
        loops += scanner.loops
    return sorted(loops, key=lambda loop: loop.line)


def scan_notebook(nb, described=None):
    """The data loops in a submission's solution cells (``described``: its assignment's description).

    Returns
    -------
    list of (str, Loop)
        The solution cell's grade_id and the loop (lines counted within the cell).
    """
    described = described or assignment.load()
    return [(notebook.grade_id(cell), loop) for cell in nb.cells
            if cell.cell_type == "code" and notebook.is_solution(cell)
            for loop in scan_source(cell.source, described)]


def report(path, described=None):
    """A plain-text review note for the notebook at ``path`` (``described``: its assignment's description)."""
    found = scan_notebook(notebook.read(path), described)
    if not found:
        return f"{path}: no loops over examples or elements in the graded functions"
    lines = [f"{path}: {len(found)} loop(s) over the data in graded functions (correct code keeps its points):"]
    lines += [f"  cell {cell}, line {loop.line}, {loop.function}: {loop.reason}\n      {loop.code}"
              for cell, loop in found]
    return "\n".join(lines)
