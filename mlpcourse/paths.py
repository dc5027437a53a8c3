"""Where things live in the course repository.

Everything is relative to the repository root, which is also nbgrader's course
directory (``nbgrader_config.py`` sits there).
"""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
ASSIGNMENT = "asg01"

SOURCE = ROOT / "source" / ASSIGNMENT
MASTER = SOURCE / f"{ASSIGNMENT}.ipynb"
PUBLIC_FIXTURES = SOURCE / "asg01_public_fixtures.npz"

RELEASE = ROOT / "release" / ASSIGNMENT
RELEASE_NOTEBOOK = RELEASE / f"{ASSIGNMENT}.ipynb"

# Hidden material: read by hidden test cells at grading time, never released.
TESTS_ASSETS = ROOT / "tests_assets" / ASSIGNMENT
HIDDEN_FIXTURES = TESTS_ASSETS / "asg01_hidden_fixtures.npz"
FIXTURE_MANIFEST = TESTS_ASSETS / "MANIFEST.json"

NBGRADER_CONFIG = ROOT / "nbgrader_config.py"

# The Kannada-MNIST files are never committed: see source/asg01/kannada_mnist.py.
DATA_CACHE_ENV = "KANNADA_MNIST_DIR"
