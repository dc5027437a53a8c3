"""Reading the master notebook: its cells, its reference solution, a solved release.

The master notebook ``source/<assignment>/<assignment>.ipynb`` is the only copy of the
reference solution; its description (:mod:`mlpcourse.assignment`) names the cells that
form it. Fixtures and the "perfect student" are derived from it here.
"""

import types

import nbformat

from mlpcourse import assignment


def read(path):
    """The notebook at ``path`` as an ``nbformat.NotebookNode`` (version 4)."""
    return nbformat.read(str(path), as_version=4)


def grade_id(cell):
    """The nbgrader grade_id of ``cell``, or None for a cell nbgrader does not track."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def cells_by_grade_id(nb):
    """A dict grade_id -> cell for every nbgrader cell of ``nb``."""
    return {grade_id(cell): cell for cell in nb.cells if grade_id(cell)}


def reference_source(nb=None, described=None):
    """The source code of the reference solution: the cells the description names, joined.

    ``described`` is the :class:`~mlpcourse.assignment.Assignment` (default: the
    course's); ``nb`` its master notebook (default: read from ``source/``).
    """
    described = described or assignment.load()
    cells = cells_by_grade_id(nb or read(described.master))
    return "\n\n".join(cells[name].source for name in described.reference_cells)


def reference_module(nb=None, name=None, described=None):
    """Execute the reference solution into a fresh module and return it.

    The module has the notebook's functions and classes as attributes (``relu``,
    ``MLP``, ``mlp_gradients``, ``SGD``, ...). ``name="__main__"`` makes pickles of
    its objects look like the original course's notebook pickles.
    """
    import numpy

    described = described or assignment.load()
    module = types.ModuleType(name or f"{described.name}_reference")
    module.np = numpy
    exec(compile(reference_source(nb, described), f"<{described.master.name} reference>", "exec"), module.__dict__)
    return module


def is_solution(cell):
    """True for cells students write in (nbgrader ``solution: true``)."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def solved(release_nb, master_nb=None):
    """The release notebook with the master's solution cells pasted in.

    This is the "perfect student": it must get full autograded marks.

    Parameters
    ----------
    release_nb : NotebookNode
        A released (student) notebook.
    master_nb : NotebookNode, optional
        The master; when omitted, the master of the course's only assignment.
    """
    master = cells_by_grade_id(master_nb or read(assignment.load().master))
    result = nbformat.from_dict(release_nb)
    for cell in result.cells:
        if is_solution(cell):
            cell.source = master[grade_id(cell)].source
    return result
