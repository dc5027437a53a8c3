"""The course's assignment as the tests know it: asg01's name and where its files are.

The package names no assignment (its commands take ``--assignment``, defaulting to the
course's only one); these tests are about this course's asg01, and take its names from here.
"""

from mlpcourse import assignment, paths

DESCRIPTION = assignment.load(paths.ROOT, "asg01")
NAME = DESCRIPTION.name
SOURCE = DESCRIPTION.source
MASTER = DESCRIPTION.master
RELEASE = paths.course_folder(paths.ROOT, paths.RELEASE_DIRECTORY, NAME)
RELEASE_NOTEBOOK = RELEASE / DESCRIPTION.notebook_name
TESTS_ASSETS = DESCRIPTION.tests_assets
PUBLIC_FIXTURES = DESCRIPTION.public_fixtures
HIDDEN_FIXTURES = DESCRIPTION.hidden_fixtures
# The setting that names the data's cache folder (source/asg01/kannada_mnist.py reads it).
DATA_CACHE_ENV = "KANNADA_MNIST_DIR"
