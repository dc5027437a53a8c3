"""Fixtures: computed from the master notebook by asg01's recipe, reproducible, pickle-free, checked."""

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import asg01
from mlpcourse import assignment, paths
from mlpcourse.authoring import fixtures, notebook

ASG01 = assignment.load()
FILES = (ASG01.public_fixtures, ASG01.hidden_fixtures)


def test_fixtures_are_fresh_when_recomputed_in_a_fresh_process():
    """Does `python -m mlpcourse fixtures --check`, in a new process, find them fresh?"""
    result = subprocess.run([sys.executable, "-m", "mlpcourse", "fixtures", "--check"],
                            cwd=paths.ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fixtures are fresh" in result.stdout


def test_regeneration_reproduces_the_manifest_hashes(tmp_path):
    """Do fixtures rebuilt in a new process hash to the manifest's sha256, byte for byte?"""
    script = (
        "import sys, pathlib\n"
        "from mlpcourse.authoring import fixtures\n"
        "public, hidden = fixtures.build_all()\n"
        "fixtures.write_npz(pathlib.Path(sys.argv[1]) / 'public.npz', public)\n"
        "fixtures.write_npz(pathlib.Path(sys.argv[1]) / 'hidden.npz', hidden)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=paths.ROOT, check=True)
    recorded = json.loads(ASG01.fixture_manifest.read_text())["files"]
    for name, path in zip(("public.npz", "hidden.npz"), FILES):
        digest = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert digest == recorded[path.name]["sha256"], name


def test_fixture_files_hold_plain_arrays_only():
    """Do both fixture files load with allow_pickle=False and contain no object arrays?"""
    for path in FILES:
        with np.load(path, allow_pickle=False) as data:
            assert data.files
            assert all(data[name].dtype != object for name in data.files)


def test_public_and_hidden_fixtures_share_no_case():
    """Are the hidden cases different from the public ones (no hidden case is released)?"""
    public, hidden = map(fixtures.read_npz, FILES)
    assert not set(public) & set(hidden)


def _course_copy(tmp_path):
    """asg01 in a scratch course: its source folder and its tests_assets folder, copied."""
    for step in (paths.SOURCE_DIRECTORY, paths.HIDDEN_DIRECTORY):
        shutil.copytree(paths.course_folder(paths.ROOT, step, ASG01.name), paths.course_folder(tmp_path, step, ASG01.name))
    return assignment.load(tmp_path, ASG01.name)


def test_changed_fixture_value_is_reported_as_stale(tmp_path):
    """Does the staleness check name an array whose committed value was altered?"""
    described = _course_copy(tmp_path)
    assert fixtures.stale_reasons(described) == []
    arrays = fixtures.read_npz(described.public_fixtures)
    arrays["softmax/random/probs"] = arrays["softmax/random/probs"] + 1e-6
    fixtures.write_npz(described.public_fixtures, arrays)
    reasons = fixtures.stale_reasons(described)
    assert any("softmax/random/probs values changed" in reason for reason in reasons)
    assert any("MANIFEST.json" in reason for reason in reasons)


def test_the_recipe_named_by_the_description_builds_the_fixtures(tmp_path):
    """Do the fixtures come from the recipe the description names: a recipe with one case less is stale?"""
    described = _course_copy(tmp_path)
    recipe = described.source / f"{described.fixture_files().recipe}.py"
    text = recipe.read_text()
    case = '    b.sgd_run("sgd/slow", [2, 3, 2], lr=0.01, momentum=0.99, steps=4)\n'
    assert text.count(case) == 1
    recipe.write_text(text.replace(case, ""))
    reasons = fixtures.stale_reasons(described)
    assert "asg01_hidden_fixtures.npz: array sgd/slow/steps is no longer produced" in reasons
    assert not any("asg01_public_fixtures.npz" in reason for reason in reasons)


def test_wrong_reference_gradients_are_refused():
    """Does fixture generation refuse a master whose backprop disagrees with centred differences?"""
    nb = notebook.read(asg01.MASTER)
    cell = notebook.cells_by_grade_id(nb)["mlp_gradients"]
    cell.source = cell.source.replace("'b': np.sum(delta, axis=0)", "'b': np.sum(delta, axis=0) * 2")
    with pytest.raises(AssertionError, match="centred differences"):
        fixtures.build_all(nb)


def test_write_npz_is_byte_stable(tmp_path):
    """Does writing the same arrays twice give identical bytes (no timestamps)?"""
    arrays = {"b": np.arange(3.0), "a": np.array(["tanh", "identity"]), "c": np.float64(2.5)}
    fixtures.write_npz(tmp_path / "one.npz", arrays)
    fixtures.write_npz(tmp_path / "two.npz", dict(reversed(list(arrays.items()))))
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    assert fixtures.read_npz(tmp_path / "one.npz")["c"].shape == ()


def test_edge_cases_hold_what_the_tests_say():
    """Do the integer, float32 and very negative cases have the dtype and range that make them edge cases?"""
    public, hidden = map(fixtures.read_npz, FILES)
    for arrays, key in [(public, "act/int/x"), (public, "softmax/int/logits"), (hidden, "act/integers/x"),
                        (hidden, "softmax/integers/logits")]:
        assert arrays[key].dtype == np.int64, key
    float32_overflow = np.log(np.finfo(np.float32).max)  # 88.7
    for arrays, key in [(public, "softmax/float32_overflow/logits"), (hidden, "softmax/float32_large/logits")]:
        logits = arrays[key]
        assert logits.dtype == np.float32 and logits.max() > float32_overflow, key
        assert logits.max() < 700, key  # below the threshold a "shift only when large" softmax uses
    float64_underflow = np.log(np.finfo(np.float64).smallest_subnormal)  # -744.4
    for arrays, key in [(public, "softmax/very_negative/logits"), (hidden, "softmax/negative_rows/logits")]:
        assert arrays[key].max() < float64_underflow, key
