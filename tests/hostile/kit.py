"""What the hostile corpus's cases are built with: the context, the case record, notebook edits.

The cases live in ``cases.py`` (ordinary broken and hostile uploads) and in one module per
attack class (``integrity``, ``markup``, ``bounds``, ``ingest``); ``cases.CASES`` is all of them.
"""

import dataclasses
import textwrap

import nbformat

from mlpcourse.authoring import notebook

# Appended to the reference design so a case trains one epoch of a linear model.
FAST_DESIGN = """
# Fast variant for the hostile corpus: one linear layer, one epoch.
mlp = MLP(x_train.shape[1])
mlp.add_layer(10, linear)
epochs = 1
"""


@dataclasses.dataclass
class Context:
    """What case generators build from."""

    release: nbformat.NotebookNode
    master: nbformat.NotebookNode
    port: int  # a loopback port with a listening server (the network probe's target)

    def solved(self, fast=True):
        nb = notebook.solved(self.release, self.master)
        if fast:
            cells = notebook.cells_by_grade_id(nb)
            cells["design"].source += "\n" + FAST_DESIGN
        return nb


@dataclasses.dataclass
class Case:
    name: str
    build: callable  # Context -> (upload file name, bytes)
    zero: tuple = ()
    status: str = "graded"
    flagged: bool = False
    incident: str = ""
    absent: tuple = ()
    says: tuple = ()


def _bytes(nb):
    return nbformat.writes(nb).encode()


def _source(nb, grade_id):
    return notebook.cells_by_grade_id(nb)[grade_id]


def _index(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if notebook.grade_id(c) == grade_id)


def _with_cell(nb, after, code):
    """``nb`` with a new student code cell after cell ``after`` (a grade id)."""
    nb.cells.insert(_index(nb, after) + 1, nbformat.v4.new_code_cell(textwrap.dedent(code).strip()))
    return nb


def _replace(nb, grade_id, code):
    _source(nb, grade_id).source = textwrap.dedent(code).strip()
    return nb


def _append(nb, grade_id, code):
    _source(nb, grade_id).source += "\n\n" + textwrap.dedent(code).strip()
    return nb


RELU = ("test_relu_visible", "test_relu_hidden")
SIGMOID = ("test_sigmoid_visible", "test_sigmoid_hidden")
SOFTMAX = ("test_softmax_visible", "test_softmax_hidden")
CCE = ("test_cross_entropy_visible", "test_cross_entropy_hidden")
GRADIENTS = ("test_mlp_gradients_visible", "test_mlp_gradients_hidden")
SGD = ("test_sgd_visible", "test_sgd_hidden")
ALL_TESTS = ("test_relu_visible", "test_relu_hidden", "test_sigmoid_visible", "test_sigmoid_hidden",
             "test_feed_forward_visible", "test_feed_forward_hidden", *SOFTMAX, *CCE, *GRADIENTS, *SGD,
             "test_training")
PERSONAL = ("Ada Secretname", "private-photo", "01234567890123456789", "ABX9TyColabAuthor")
