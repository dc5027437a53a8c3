# Generated from mlpcourse/authoring/course_checks.py: do not edit. Regenerate with `python -m mlpcourse release`.
"""Checks that every assignment's test cells use to explain what is wrong: the course's generic part.

Released to students: ``python -m mlpcourse release`` writes a copy of this file to
``source/<assignment>/course_checks.py`` beside every master notebook, and nbgrader
releases it beside the notebook. Students import it in Colab or Jupyter, directly or
through their assignment's own checks (asg01's ``asg01_checks`` re-exports its names),
so it needs only numpy and never imports ``mlpcourse``. Edit it here, never a copy.

Every check compares in a fixed order, shape -> finite -> values, and raises
:class:`CheckFailure` with a message that names the function, the input case, the worst
element and a hint. It never prints a whole expected array. The grader recognises a
hidden check's failure by its class's ``PROBLEMS`` (the fixed phrases below) and shows
students only those parts.
"""

import contextlib
import copy
import math
import pathlib
import sys
import warnings

import numpy as np

# Tolerances: a correct float64 answer differs from the reference by ~1e-12;
# float32 inputs or an epsilon inside a log can move it by up to ~1e-7.
ATOL = 1e-6
RTOL = 1e-5
# float32 carries ~7 significant digits.
FLOAT32_ATOL = 1e-5
FLOAT32_RTOL = 1e-4

# Bind numpy's routines at import, so that a notebook that later replaces
# np.allclose (and friends) cannot change what these checks compute.
_asarray = np.asarray
_abs = np.abs
_isfinite = np.isfinite
_isnan = np.isnan
_argmax = np.argmax
_unravel_index = np.unravel_index
_errstate = np.errstate
_ndarray = np.ndarray


# What a check found wrong, in fixed words. For a hidden check the grader shows only these
# words and the check's own ``what``, ``case`` and ``hint`` (never values nor anything the
# student's code produced), so that hidden inputs cannot be carried out in a message.
NOT_IMPLEMENTED = "is not implemented yet"
RAISED = "raised an exception"
WRONG_TYPE = "returned the wrong type"
WRONG_SHAPE = "has the wrong shape"
NOT_FINITE = "contains nan or inf where a finite value is expected"
WRONG_VALUES = "has wrong values"
WRONG_VALUE = "has the wrong value"
FAILED = "does not do what the check expects"


class CheckFailure(AssertionError):
    """A student's answer differs from the reference; the message says how.

    Besides the message, the failure keeps its parts: ``problem`` (one of the fixed
    phrases above), ``what`` was checked, the input ``case`` and the ``hint``, all
    written by the check itself, and ``error_type``, the name of the exception the
    student's code raised (if it did).
    """

    PROBLEMS = (NOT_IMPLEMENTED, RAISED, WRONG_TYPE, WRONG_SHAPE, NOT_FINITE, WRONG_VALUES, WRONG_VALUE, FAILED)

    def __init__(self, message, *, problem=FAILED, what="", case="", hint="", error_type=""):
        super().__init__(message)
        self.problem, self.what, self.case, self.hint, self.error_type = problem, what, case, hint, error_type


@contextlib.contextmanager
def quiet():
    """Silence numpy floating-point warnings, and send stderr to stdout, while student code runs.

    nbgrader scores a test cell that writes to stderr as 0, and a correct answer
    may write there: a naive sigmoid overflowing on -1000 warns, a debugging
    ``logging.warning`` prints. What the student's code prints stays visible on stdout.
    """
    with warnings.catch_warnings(), _errstate(all="ignore"), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        yield


def call(func, *args, case, **kwargs):
    """Call a student function quietly, turning crashes into a clear message.

    Parameters
    ----------
    func : callable
        The student's function.
    *args, **kwargs
        Passed to ``func``.
    case : str
        Name of the input case, shown if ``func`` raises.
    """
    name = getattr(func, "__qualname__", repr(func))
    try:
        with quiet():
            return func(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailure(f"{name} is not implemented yet (case: {case}).", problem=NOT_IMPLEMENTED,
                           case=case) from None
    except CheckFailure:
        raise
    except Exception as error:
        raise CheckFailure(
            f"{name} raised {type(error).__name__}: {error}\n  case: {case}",
            problem=RAISED, case=case, error_type=type(error).__name__,
        ) from error


def frozen(value):
    """A deep copy of ``value`` (arrays, lists, dicts) to hand to student code.

    Tests pass copies, so a function that modifies its inputs in place cannot
    change the references the test compares against; :func:`check_unchanged`
    then compares the copy with the reference to say so.
    """
    return copy.deepcopy(value)


def _index(values):
    """The index of the largest element of ``values`` as a tuple of ints (() for 0-d)."""
    if not values.ndim:
        return ()
    return tuple(int(i) for i in _unravel_index(int(_argmax(values)), values.shape))


def _at(index):
    """The words ' at index (i, j)' locating an element, or nothing for a single number."""
    return f" at index {index}" if index else ""


def _count(mask):
    """The words '3 of 12 elements are' (or '1 of 12 elements is') for a boolean array."""
    n = int(mask.sum())
    return f"{n} of {mask.size} elements {'is' if n == 1 else 'are'}"


# Why a result is nan or inf, added to the check's own hint.
FINITE_HINT = ("nan or inf comes from exp of a large number (np.exp(1000) is inf, and inf / inf is nan), "
               "from 0 / 0, or from log(0): change the formula so that it stays finite for these inputs.")


def _finite_hint(hint):
    return f"{hint} {FINITE_HINT}" if hint else FINITE_HINT


def _as_float_array(got, what, case):
    if isinstance(got, (list, tuple)):
        got = _asarray(got)
    if not isinstance(got, (_ndarray, float, int, np.floating, np.integer)):
        raise CheckFailure(
            f"{what} should be a numpy array, got {type(got).__name__}\n  case: {case}",
            problem=WRONG_TYPE, what=what, case=case,
        )
    # Strip ndarray subclasses: compare the plain numbers only.
    return _asarray(got, dtype=np.float64).view(_ndarray)


def check_array(got, expected, *, what, case, hint="", atol=ATOL, rtol=RTOL, ignore=None):
    """Assert that ``got`` matches ``expected`` element-wise.

    Parameters
    ----------
    got : array_like
        The student's result.
    expected : np.ndarray
        The reference result.
    what : str
        What is being compared, e.g. ``"relu(x, deriv=True)"``.
    case : str
        The input case, e.g. ``"4x5 matrix with exact zeros"``.
    hint : str
        Printed after the evidence when the values are wrong.
    atol, rtol : float
        An element passes when ``|got - expected| <= atol + rtol * |expected|``.
    ignore : np.ndarray of bool, optional
        Elements (same shape as ``expected``) whose value is not checked, for
        conventions the notebook leaves open.

    Raises
    ------
    CheckFailure
        With the shape mismatch, the first non-finite element, or the worst
        element's index, got, expected, absolute and relative error.
    """
    expected = _asarray(expected, dtype=np.float64)
    got = _as_float_array(got, what, case)
    if got.shape != expected.shape:
        message = (f"{what} has the wrong shape\n  case: {case}\n"
                   f"  expected shape {expected.shape}, got {got.shape}")
        raise CheckFailure(message + (f"\n  hint: {hint}" if hint else ""), problem=WRONG_SHAPE, what=what,
                           case=case, hint=hint)
    bad = ~_isfinite(got) & _isfinite(expected)
    if ignore is not None:
        bad = bad & ~ignore
    if bad.any():
        index = _index(bad)
        hint = _finite_hint(hint)
        raise CheckFailure(
            f"{what} contains {got[index]} where a finite value is expected\n  case: {case}\n"
            f"  {_count(bad)} not finite; the first is{_at(index)}:\n"
            f"    expected {expected[index]:.8g}, got {got[index]}\n  hint: {hint}",
            problem=NOT_FINITE, what=what, case=case, hint=hint,
        )
    error = _abs(got - expected) - (atol + rtol * _abs(expected))
    if ignore is not None:
        error = np.where(ignore, -np.inf, error)
    if error.size and error.max() > 0:
        index = _index(error)
        absolute = float(_abs(got[index] - expected[index]))
        # A relative error says nothing when the expected value is 0.
        relative = (f", relative error {absolute / float(_abs(expected[index])):.3g}"
                    if expected[index] != 0 else "")
        wrong = int((error > 0).sum())
        message = (
            f"{what} has wrong values\n  case: {case}\n"
            f"  {wrong} of {error.size} elements are off; the worst is at index {index}:\n"
            f"    expected {expected[index]:.8g}, got {got[index]:.8g}\n"
            f"    absolute error {absolute:.3g}{relative} "
            f"(allowed: {atol:g} + {rtol:g} * |expected|)"
        )
        if hint:
            message += f"\n  hint: {hint}"
        raise CheckFailure(message, problem=WRONG_VALUES, what=what, case=case, hint=hint)


def check_scalar(got, expected, *, what, case, hint="", atol=ATOL, rtol=RTOL):
    """Assert that ``got`` is one real number close to ``expected``.

    Accepts a Python float or a numpy scalar / 0-d array (``np.mean`` returns one).
    """
    try:
        value = float(got)
    except (TypeError, ValueError):
        shape = getattr(got, "shape", None)
        raise CheckFailure(
            f"{what} should be a single number, got {type(got).__name__}"
            f"{'' if shape is None else f' of shape {shape}'}\n  case: {case}",
            problem=WRONG_TYPE, what=what, case=case,
        ) from None
    if not math.isfinite(value) and math.isfinite(expected):
        hint = _finite_hint(hint)
        raise CheckFailure(
            f"{what} is {value} where a finite value is expected\n  case: {case}\n"
            f"  expected {expected:.8g}, got {value}\n  hint: {hint}",
            problem=NOT_FINITE, what=what, case=case, hint=hint,
        )
    if not math.isfinite(value) or abs(value - expected) > atol + rtol * abs(expected):
        message = (
            f"{what} has the wrong value\n  case: {case}\n"
            f"  expected {expected:.8g}, got {value:.8g} "
            f"(absolute error {abs(value - expected):.3g})"
        )
        if hint:
            message += f"\n  hint: {hint}"
        raise CheckFailure(message, problem=WRONG_VALUE, what=what, case=case, hint=hint)


def check_true(condition, message, *, what="", case="", hint=""):
    """Raise :class:`CheckFailure` with ``message`` unless ``condition`` holds.

    ``what``, ``case`` and ``hint`` are the parts a hidden check may show (see
    :class:`CheckFailure`); ``message`` may quote what the student's code returned.
    """
    if not condition:
        raise CheckFailure(message, problem=FAILED, what=what, case=case, hint=hint)


# What check_unchanged tells a function that wrote into an array it was given.
IN_PLACE_HINT = ("compute a new array instead (np.maximum(x, 0), x - m) or work on a copy (x = x.copy()): "
                 "x[x < 0] = 0, x -= m and np.exp(x, out=x) write into the caller's array.")


def check_unchanged(given, original, *, what, changed_by, case, hint=IN_PLACE_HINT):
    """Assert that student code left an array it was handed unchanged.

    The notebook says: do not modify the arrays you are given. Tests hand out
    :func:`frozen` copies and compare them afterwards with the originals.

    Parameters
    ----------
    given : np.ndarray
        The copy the student's code received.
    original : np.ndarray
        What it held before the call.
    what : str
        The array, e.g. ``"the input x"``.
    changed_by : str
        The call that received it, e.g. ``"relu(x)"``.
    """
    original = _asarray(original)
    got = _as_float_array(given, what, case)
    if got.shape != original.shape:
        message = (f"{changed_by} changed the shape of {what}, an array it was given\n  case: {case}\n"
                   f"  expected shape {original.shape} (as given), got {got.shape}")
        raise CheckFailure(f"{message}\n  hint: {hint}", problem=WRONG_SHAPE, what=f"{what} after {changed_by}",
                           case=case, hint=hint)
    before = _asarray(original, dtype=np.float64)
    changed = ~((got == before) | (_isnan(got) & _isnan(before)))
    if changed.any():
        index = _index(changed)
        raise CheckFailure(
            f"{changed_by} changed {what}, an array it was given: the notebook says not to modify them\n"
            f"  case: {case}\n"
            f"  {_count(changed)} changed; the first is{_at(index)}:\n"
            f"    expected {before[index]:.8g} (as given), got {got[index]:.8g} "
            f"(a change of {got[index] - before[index]:.3g})\n  hint: {hint}",
            problem=WRONG_VALUES, what=f"{what} after {changed_by}", case=case, hint=hint,
        )


def passed(message):
    """Print the success line of a visible test cell."""
    print(f"passed: {message}")


def smoke_passed(message):
    """Print the success line of a hidden test cell, whose real checks run only at grading."""
    print(f"smoke test passed: {message}. The hidden checks run when your notebook is graded.")


_LOADED = {}


def read_only_arrays(path):
    """The arrays of the .npz file at ``path``, as a new dict of name -> read-only array.

    Each file is read once per process (test cells load fixtures again and again).
    The arrays are shared between calls, so they are made read-only: code that
    writes into an array it was handed raises instead of changing later checks.
    """
    key = str(pathlib.Path(path).resolve())
    if key not in _LOADED:
        with np.load(key, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        for array in arrays.values():
            array.flags.writeable = False
        _LOADED[key] = arrays
    return dict(_LOADED[key])
