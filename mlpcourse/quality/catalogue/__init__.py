"""The catalogue: realistic student bugs ("mutants") and correct rewrites ("equivalents").

One module per graded function; each holds ``MUTANTS`` and ``EQUIVALENTS``, lists of
:class:`~mlpcourse.quality.catalogue.entry.Entry`. The harness pastes an entry's source after
the master's solution cell and grades the notebook's own test cells:

- a mutant must lose points on its own function's grade cells, and only there;
- an equivalent must keep every point.

To add an entry, append ``mutant(...)`` or ``equivalent(...)`` to the function's module,
run ``python -m mlpcourse kill-matrix``, and update the golden file with
``python -m mlpcourse kill-matrix --update-golden`` once the change is reviewed.
"""

from mlpcourse.quality.catalogue import cross_entropy, feed_forward, mlp_gradients, relu, sgd, sigmoid, softmax
from mlpcourse.quality.catalogue.entry import EQUIVALENT, MUTANT, Entry

__all__ = ["EQUIVALENT", "MUTANT", "Entry", "MODULES", "REFERENCE", "ENTRIES",
           "MUTANTS", "EQUIVALENTS"]

MODULES = (relu, sigmoid, feed_forward, softmax, cross_entropy, mlp_gradients, sgd)

# The master's own solution, graded like an entry: the control that must score full marks.
REFERENCE = Entry("reference", "reference", "relu", "the master notebook's solution, unchanged", "")

ENTRIES = tuple(entry for module in MODULES for entry in module.ENTRIES)
MUTANTS = tuple(entry for entry in ENTRIES if entry.kind == MUTANT)
EQUIVALENTS = tuple(entry for entry in ENTRIES if entry.kind == EQUIVALENT)


def by_id():
    """``{id: entry}`` for every entry, the reference included."""
    return {entry.id: entry for entry in (REFERENCE, *ENTRIES)}
