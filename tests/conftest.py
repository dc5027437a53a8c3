"""Shared test fixtures: data configuration and scratch course directories."""

import os
import pathlib

import pytest

import asg01
from mlpcourse.grading import coursedir


def data_dir():
    """The Kannada-MNIST cache named by KANNADA_MNIST_DIR, or None."""
    value = os.environ.get(asg01.DATA_CACHE_ENV)
    return pathlib.Path(value) if value else None


@pytest.fixture(scope="session")
def kannada_cache():
    """The pre-filled Kannada-MNIST cache (CI: ../shared/kannada-mnist).

    Tests that need the real digits skip, saying why, when it is not configured.
    """
    folder = data_dir()
    if folder is None or not (folder / "X_kannada_MNIST_test-idx3-ubyte.gz").exists():
        pytest.skip(f"set {asg01.DATA_CACHE_ENV} to a folder holding the Kannada-MNIST files "
                    "(.ci/run uses ../shared/kannada-mnist)")
    return folder


@pytest.fixture
def grading_env(kannada_cache, monkeypatch):
    """Environment for kernels that run the notebook offline: cached data, stand-in split.

    The 60k training images are not available offline, so the notebook trains on
    the official 10k test digits (ASG01_TRAIN_SPLIT=test), labelled as a stand-in.
    """
    monkeypatch.setenv(asg01.DATA_CACHE_ENV, str(kannada_cache))
    monkeypatch.setenv("ASG01_TRAIN_SPLIT", "test")
    monkeypatch.setenv("KANNADA_MNIST_URL", "http://127.0.0.1:9/")  # never the internet
    return dict(os.environ)


@pytest.fixture
def course(tmp_path, grading_env):
    """A scratch copy of the course (config, source, release, tests_assets)."""
    return coursedir.make_course(tmp_path / "course")


@pytest.fixture(scope="module")
def ref():
    """The master notebook's solution as a module (relu, MLP, SGD, ...)."""
    from mlpcourse.authoring import notebook

    return notebook.reference_module()


@pytest.fixture(scope="module")
def checks():
    """The check helpers (``source/asg01/asg01_checks.py``, importing ``course_checks``) loaded in this process."""
    from mlpcourse import assignment

    return assignment.load().source_module("asg01_checks")
