"""Reference arrays for an assignment's tests, computed by its master's solution: the machinery.

``python -m mlpcourse fixtures`` runs the assignment's fixture recipe on the master
notebook's reference solution and writes

- the public fixtures beside the master (asg01's ``source/asg01/asg01_public_fixtures.npz``):
  used by the visible tests, released;
- the hidden fixtures in ``tests_assets/<assignment>/`` (``asg01_hidden_fixtures.npz``):
  used by the hidden tests at grading time, never released;
- ``tests_assets/<assignment>/MANIFEST.json``: sha256 of both files and of the reference
  solution's source they were computed from.

What to compute is the assignment's: the ``[fixtures]`` table of its description
(:class:`mlpcourse.assignment.Fixtures`) names the recipe, ``source/<assignment>/<recipe>.py``
(never released), whose ``build_public(ref, checks)`` and ``build_hidden(ref, checks)``
collect arrays with a :class:`Builder`, and the two files. This module seeds the inputs,
writes and reads the files, and says when they are stale.

Inputs come from ``np.random.default_rng`` seeded per case from the case's name
(:func:`case_rng`), so a new case never shifts the others. The .npz files are written
byte-stable (fixed zip timestamps, sorted names, no pickles), so regenerating them on the
same numpy gives the same bytes; ``--check`` compares values, so a different BLAS passes too.
"""

import hashlib
import io
import json
import zipfile
import zlib

import numpy as np

from mlpcourse import assignment, records
from mlpcourse.authoring import notebook

# Values a regenerated fixture may differ by from the committed one (different BLAS
# or numpy builds round differently, ~1e-15 relative).
CHECK_RTOL = 1e-10
CHECK_ATOL = 1e-12


def case_rng(case):
    """A generator seeded from the case name (stable across runs and machines)."""
    return np.random.default_rng(zlib.crc32(case.encode()))


class Builder:
    """Collects named arrays for one fixture file while a recipe runs the reference.

    A recipe subclasses it with a method per kind of case, which calls :meth:`put`.

    Parameters
    ----------
    ref : module
        The master's reference solution (:func:`mlpcourse.authoring.notebook.reference_module`).
    checks : module or None
        The assignment's released check helpers (its description's ``helper_module``), for
        what the tests own (asg01's test activations and losses).
    """

    def __init__(self, ref, checks):
        self.ref = ref
        self.checks = checks
        self.arrays = {}

    def put(self, name, value):
        """Store ``value`` as the array ``name``: refused if it would need pickle or is written twice."""
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"fixture {name} would need pickle")
        if name in self.arrays:
            raise KeyError(f"fixture {name} written twice")
        self.arrays[name] = array


def build_all(nb=None, described=None):
    """Compute both fixture sets with the assignment's recipe, from its master notebook.

    ``described``: the assignment (default: the course's); ``nb``: its master (default: read).

    Returns
    -------
    public, hidden : dict of str -> np.ndarray

    Raises
    ------
    mlpcourse.assignment.AssignmentError
        The description has no ``[fixtures]`` table.
    """
    described = described or assignment.load()
    recipe = described.source_module(described.fixture_files().recipe)
    checks = described.source_module(described.helper_module) if described.helper_module else None
    ref = notebook.reference_module(nb, described=described)
    with np.errstate(all="raise", under="ignore"):
        return recipe.build_public(ref, checks), recipe.build_hidden(ref, checks)


def write_npz(path, arrays):
    """Write ``arrays`` as an .npz whose bytes depend only on the arrays."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[name], order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def read_npz(path):
    """The arrays of an .npz written by :func:`write_npz` (no pickles allowed)."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(described):
    """The public and the hidden fixture file of ``described``."""
    return described.public_fixtures, described.hidden_fixtures


def manifest(nb, described):
    """The manifest for the fixture files of ``described`` as they are on disk now (``nb``: its master)."""
    return {
        "generated_by": "python -m mlpcourse fixtures (do not edit)",
        "reference_sha256": hashlib.sha256(notebook.reference_source(nb, described).encode()).hexdigest(),
        "files": {
            path.name: {"sha256": _sha256(path), "arrays": len(read_npz(path))}
            for path in _files(described)
        },
    }


def generate(described=None):
    """Regenerate both fixture files and the manifest of ``described`` (default: the course's assignment)."""
    described = described or assignment.load()
    nb = notebook.read(described.master)
    public, hidden = build_all(nb, described)
    described.tests_assets.mkdir(parents=True, exist_ok=True)
    for path, arrays in zip(_files(described), (public, hidden)):
        write_npz(path, arrays)
    records.write(described.fixture_manifest, manifest(nb, described))
    return public, hidden


def stale_reasons(described=None):
    """Why the committed fixtures of ``described`` (default: the course's assignment) do not
    match its master notebook (empty if fresh).

    Recomputes every array and compares values (``CHECK_RTOL``/``CHECK_ATOL`` for
    floats, exact for the rest), and checks the manifest's hashes.
    """
    described = described or assignment.load()
    reasons = []
    nb = notebook.read(described.master)
    try:
        recorded = json.loads(described.fixture_manifest.read_text())
        committed = {path: read_npz(path) for path in _files(described)}
    except (OSError, ValueError) as error:
        return [f"cannot read the fixtures: {error}"]
    if recorded != manifest(nb, described):
        reasons.append(f"{described.fixture_manifest.name} does not match the fixture files or the reference solution")
    for path, fresh in zip(_files(described), build_all(nb, described)):
        old = committed[path]
        name = path.name
        for key in sorted(set(old) ^ set(fresh)):
            reasons.append(f"{name}: array {key} is {'missing' if key in fresh else 'no longer produced'}")
        for key in sorted(set(old) & set(fresh)):
            a, b = old[key], fresh[key]
            if a.shape != b.shape or a.dtype != b.dtype:
                reasons.append(f"{name}: {key} is {a.dtype}{a.shape}, now {b.dtype}{b.shape}")
            elif a.dtype.kind == "f":
                if not np.allclose(a, b, rtol=CHECK_RTOL, atol=CHECK_ATOL, equal_nan=True):
                    reasons.append(f"{name}: {key} values changed")
            elif not np.array_equal(a, b):
                reasons.append(f"{name}: {key} values changed")
    return reasons
