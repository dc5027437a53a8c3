"""One catalogue entry: a rewrite of one graded function, buggy or correct."""

import dataclasses
import textwrap

MUTANT = "mutant"
EQUIVALENT = "equivalent"


@dataclasses.dataclass(frozen=True)
class Entry:
    """A rewrite of one graded function, pasted after the master's solution cell that defines it.

    Attributes
    ----------
    id : str
        Unique, snake_case, starting with the function's name.
    kind : str
        ``"mutant"`` (a realistic bug: must lose points on its own function's grade
        cells) or ``"equivalent"`` (a correct, differently written answer: must keep
        every point).
    function : str
        The graded function it rewrites, a key of the assignment description's ``functions``
        (:mod:`mlpcourse.assignment`: its solution cell and its own grade cells).
    description : str
        One line: what the student wrote.
    source : str
        Python code that redefines just that function (for a method: a subclass of
        ``MLP`` or a new ``SGD`` class) when executed after the master's solution cell.
    per_sample_loop : bool
        True when the source loops over examples or elements in Python (what
        ``mlpcourse.quality.loops`` must flag).
    """

    id: str
    kind: str
    function: str
    description: str
    source: str
    per_sample_loop: bool = False


def mutant(function, id, description, source, per_sample_loop=False):
    """A buggy rewrite of ``function``."""
    return Entry(id, MUTANT, function, description, textwrap.dedent(source).strip() + "\n", per_sample_loop)


def equivalent(function, id, description, source, per_sample_loop=False):
    """A correct rewrite of ``function``, written differently from the master."""
    return Entry(id, EQUIVALENT, function, description, textwrap.dedent(source).strip() + "\n", per_sample_loop)
