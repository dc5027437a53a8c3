"""The dependency lists: pip's and conda's must name the same pinned set."""

import re

from mlpcourse import paths


def _pip_pins(name):
    pins = {}
    for line in (paths.ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            package, version = line.split("==")
            pins[package.lower()] = version
    return pins


def _conda_pins():
    """environment.yml's pins: conda's (``name=version``) and those it takes from PyPI (``name==version``)."""
    text = (paths.ROOT / "environment.yml").read_text()
    conda, pip = text.split("dependencies:")[1].split("- pip:")
    pins = dict(re.findall(r"^\s+- ([A-Za-z0-9_.\-\[\]]+)=([^\s=]+)\s*$", conda, flags=re.M))
    pins.update(re.findall(r"^\s+- ([A-Za-z0-9_.\-\[\]]+)==([^\s=]+)\s*$", pip, flags=re.M))
    return {package.lower(): version for package, version in pins.items()}


def test_pip_and_conda_list_the_same_pinned_packages():
    """Do requirements*.txt and environment.yml pin the same packages to the same versions?"""
    pip = {**_pip_pins("requirements.txt"), **_pip_pins("requirements-dev.txt")}
    conda = _conda_pins()
    python = conda.pop("python")
    assert python == "3.11"
    assert pip == conda


def test_requirements_name_the_course_dependencies():
    """Does requirements.txt carry everything the issue names (nbgrader 0.9.x included)?"""
    pins = _pip_pins("requirements.txt")
    for package in ("numpy", "pandas", "matplotlib", "jupyter", "nbgrader", "scikit-learn", "tqdm"):
        assert package in pins, package
    assert pins["nbgrader"].startswith("0.9.")
    assert "pytest" in _pip_pins("requirements-dev.txt")
