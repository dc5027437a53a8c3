"""An assignment's dataset, in the cache before any kernel starts.

Grading kernels have no network and read the dataset cache read-only, so whatever
they and the grader read must already be there, verified. The dataset is the
assignment's: its description's ``data.loader`` names its loader module,
``source/<assignment>/<loader>.py`` (asg01's is ``kannada_mnist.py``), which provides

- ``DATASET``, its name; ``SPLITS``, ``{split: file names}``;
- ``grading_splits()``: ``(train, holdout)``, the split the notebook trains on while
  graded and the split the grader scores it on, whose labels never enter the kernel
  (from the loader's own setting, ``TRAIN_SPLIT_ENV``; ``ValueError`` if it is wrong);
- ``default_cache_dir()``, ``fetch(filename, progress=...)`` (download, verify against
  the official digests, cache), and its ``DownloadError`` and ``ChecksumError``.

:func:`prepare` fills and verifies the cache with it. Every grading path calls it
before grading anyone: ``python -m mlpcourse demo`` and ``grade`` directly, and plain
``nbgrader autograde`` through :func:`autograde_hook`, which ``nbgrader_config.py``
installs as nbgrader's ``pre_convert_hook``. When the data cannot be had, grading stops
with one line saying what failed and which setting fixes it (for asg01
``KANNADA_MNIST_URL``, ``KANNADA_MNIST_DIR``), rather than every student losing the
points that need the data.
"""

import collections

from mlpcourse import assignment as assignment_description
from mlpcourse.grading import coursedir

Splits = collections.namedtuple("Splits", "train holdout")


class DataUnavailable(coursedir.CourseError):
    """The dataset grading needs is not in the cache and could not be fetched or verified."""


def grading_splits(module):
    """The splits grading reads, ``Splits(train, holdout)``, from the loader ``module``.

    Raises
    ------
    DataUnavailable
        If the loader's setting names no training split (one line: which do).
    """
    try:
        return Splits(*module.grading_splits())
    except ValueError as error:
        raise DataUnavailable(str(error)) from None


def loader(course_dir, assignment):
    """The course's own data loader module, ``source/<assignment>/<loader>.py`` (its description's ``data.loader``)."""
    described = assignment_description.load(course_dir, assignment)
    return described.source_module(described.data.loader)


def prepare(course_dir, assignment, log=print):
    """Fill and verify the cache with every file of :func:`grading_splits` (nothing for an assignment without data).

    Files already cached are checked against their official digests; missing ones
    are downloaded (for asg01 from ``$KANNADA_MNIST_URL`` or the dataset's address) and
    checked before they land in the cache.

    Returns
    -------
    pathlib.Path or None
        The cache folder (the loader's ``default_cache_dir()``: for asg01
        ``$KANNADA_MNIST_DIR``, default ``~/.cache/kannada-mnist``); None when the
        assignment's description names no data.

    Raises
    ------
    DataUnavailable
        One line: the split and file that failed, why, and the setting that fixes it.
    """
    if assignment_description.load(course_dir, assignment).data is None:
        return None
    module = loader(course_dir, assignment)
    cache = module.default_cache_dir()
    splits = grading_splits(module)
    for role, split in zip(("training", "holdout"), splits):
        for filename in module.SPLITS[split]:
            if not (cache / filename).exists():
                log(f"downloading {filename} into {cache}")
            try:
                module.fetch(filename, progress=False)
            except (module.DownloadError, module.ChecksumError) as error:
                reason = " ".join(str(error).split())
                raise DataUnavailable(f"cannot grade: the {role} split {split!r} of {module.DATASET} "
                                      f"({module.TRAIN_SPLIT_ENV}={splits.train}) is not ready: {reason}") from None
    return cache


def autograde_hook(course_dir):
    """nbgrader's ``Autograde.pre_convert_hook`` for the course in ``course_dir``.

    nbgrader calls the hook before each submission; the returned hook prepares the
    data before the first one and exits nbgrader (status 1, the one-line reason)
    if it cannot, so that no submission is graded without its data.
    """
    prepared = []

    def hook(assignment, student, notebooks):
        if not prepared:
            try:
                prepared.append(prepare(course_dir, assignment, log=lambda line: None))
            except DataUnavailable as error:
                # nbgrader catches every Exception a hook raises and grades on; not SystemExit.
                raise SystemExit(f"error: {error}") from None

    return hook


def kernel_files(course_dir, assignment):
    """The data files a grading kernel may read: its training split's, never the holdout's."""
    module = loader(course_dir, assignment)
    return module.SPLITS[grading_splits(module).train]
