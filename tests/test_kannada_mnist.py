"""Tests for the Kannada-MNIST loader released beside the notebook, and for how grading
uses it to fill the cache before any kernel starts (``mlpcourse.grading.dataset``).

The real files are read from the pre-filled cache in ``$KANNADA_MNIST_DIR`` (on CI and
here, ``../shared/kannada-mnist``, read-only and without the 60k training images).
Downloads are exercised against a real HTTP server on 127.0.0.1; no test touches any
other network address.
"""

import doctest
import gzip
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

SOURCE_DIR = Path(__file__).resolve().parents[1] / "source" / "asg01"
if str(SOURCE_DIR) not in sys.path:
    sys.path.insert(0, str(SOURCE_DIR))

import kannada_mnist as km  # noqa: E402  (the module lives beside the notebook)

TEST_IMAGES, TEST_LABELS = km.SPLITS["test"]
TRAIN_IMAGES, TRAIN_LABELS = km.SPLITS["train"]
# Git blob id of y_kannada_MNIST_test-idx1-ubyte.gz, copied from the data README.
TEST_LABELS_BLOB_ID = "46809f488ce804791478598cc66f7ef85639eae1"


def _shared_cache_dir():
    env = os.environ.get("KANNADA_MNIST_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "kannada-mnist"


@pytest.fixture(scope="session")
def shared_cache():
    """The read-only pre-filled cache of official files."""
    path = _shared_cache_dir()
    if not (path / TEST_LABELS).is_file():
        pytest.skip(f"pre-filled Kannada-MNIST cache not found at {path}; "
                    "set KANNADA_MNIST_DIR to a folder holding the official files")
    return path


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Make any download the test did not aim at the loopback server fail fast.

    The default base URL points at a closed loopback port, and loopback bypasses any
    proxy configured in the environment.
    """
    monkeypatch.setenv("KANNADA_MNIST_URL", f"http://127.0.0.1:{_closed_port()}/")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``root``.

    ``cut[name] = k`` makes it announce the full Content-Length of ``name`` but send
    only its first ``k`` bytes, like a dropped connection.
    """
    root = tmp_path / "served"
    root.mkdir()
    requests = []
    cut = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            name = self.path.rsplit("/", 1)[-1]
            file = root / name
            if not file.is_file():
                self.send_error(404)
                return
            body = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:cut.get(name, len(body))])

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield SimpleNamespace(root=root, url=f"http://127.0.0.1:{httpd.server_port}/",
                          requests=requests, cut=cut)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _serve(server, shared_cache, *names):
    for name in names:
        shutil.copyfile(shared_cache / name, server.root / name)


def _write_gz(path, payload):
    with gzip.open(path, "wb") as f:
        f.write(payload)
    return path


# ---------------------------------------------------------------- the real files


def test_test_split_has_1000_images_per_digit(shared_cache):
    """Does the "test" split load as 10,000 uint8 28x28 images with 1,000 per digit?"""
    images, labels = km.load_kannada_mnist("test", cache_dir=shared_cache, progress=False)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10
    assert images.min() == 0 and images.max() == 255


def test_dig_split_has_1024_images_per_digit(shared_cache):
    """Does the "dig" split load as 10,240 uint8 28x28 images with 1,024 per digit?"""
    images, labels = km.load_kannada_mnist("dig", cache_dir=shared_cache, progress=False)
    assert images.shape == (10240, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10240,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1024] * 10


def test_train_labels_have_6000_per_digit(shared_cache):
    """Does the verified train labels file hold 60,000 labels, 6,000 per digit?"""
    labels = km.read_idx(km.fetch(TRAIN_LABELS, cache_dir=shared_cache, progress=False))
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [6000] * 10


def test_default_cache_dir_comes_from_env_var(shared_cache, monkeypatch):
    """Does load_kannada_mnist read from $KANNADA_MNIST_DIR when no cache_dir is given?"""
    monkeypatch.setenv("KANNADA_MNIST_DIR", str(shared_cache))
    assert km.default_cache_dir() == shared_cache
    _, labels = km.load_kannada_mnist("test", progress=False)
    assert labels.shape == (10000,)


def test_default_cache_dir_is_under_home(monkeypatch, tmp_path):
    """Without $KANNADA_MNIST_DIR, is the cache ~/.cache/kannada-mnist?"""
    monkeypatch.delenv("KANNADA_MNIST_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert km.default_cache_dir() == tmp_path / ".cache" / "kannada-mnist"


def test_module_docstring_example_runs(shared_cache, monkeypatch):
    """Does the example in the module docstring give the output it shows?"""
    monkeypatch.setenv("KANNADA_MNIST_DIR", str(shared_cache))
    result = doctest.testmod(km, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_unknown_split_lists_valid_splits():
    """Does an unknown split name raise a ValueError listing the valid ones?"""
    with pytest.raises(ValueError, match="valid splits: 'train', 'test', 'dig'"):
        km.load_kannada_mnist("validation")


def test_unknown_file_is_refused(tmp_path):
    """Does fetch refuse a file that has no official digest?"""
    with pytest.raises(ValueError, match="known files"):
        km.fetch("train-images-idx3-ubyte.gz", cache_dir=tmp_path)


# ------------------------------------------------------------------- digests


def test_git_blob_id_matches_git_hash_object(tmp_path, shared_cache):
    """Does git_blob_id agree with `git hash-object` on the same files?"""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"blob 3\0\x00\xff\n" * 1000)
    for path in (odd, shared_cache / TEST_IMAGES):
        expected = subprocess.run([git, "hash-object", str(path)], check=True,
                                  capture_output=True, text=True).stdout.strip()
        assert km.git_blob_id(path) == expected


def test_train_images_are_checked_by_git_blob_id():
    """Is the 60k training-images file verified by its git blob id from the README?"""
    assert km.DIGESTS[TRAIN_IMAGES] == ("git-blob", "b588ed8355da1fc0dd0c2707947c132f7aa427c0")


def test_git_blob_verification_accepts_official_and_rejects_other(
        shared_cache, tmp_path, monkeypatch):
    """Does a git-blob digest accept the official file and reject a changed one?"""
    monkeypatch.setitem(km.DIGESTS, TEST_LABELS, ("git-blob", TEST_LABELS_BLOB_ID))
    assert km.fetch(TEST_LABELS, cache_dir=shared_cache) == shared_cache / TEST_LABELS
    changed = tmp_path / TEST_LABELS
    changed.write_bytes((shared_cache / TEST_LABELS).read_bytes() + b"\0")
    with pytest.raises(km.ChecksumError, match="git-blob digest"):
        km.fetch(TEST_LABELS, cache_dir=tmp_path)


# ------------------------------------------------------------------ downloads


def test_download_into_empty_cache_matches_official(server, shared_cache, tmp_path):
    """Does loading into an empty cache download, verify and keep exactly the two files?"""
    _serve(server, shared_cache, TEST_IMAGES, TEST_LABELS)
    cache = tmp_path / "new" / "cache"
    images, labels = km.load_kannada_mnist("test", cache_dir=cache, base_url=server.url,
                                           progress=False)
    official_images, official_labels = km.load_kannada_mnist(
        "test", cache_dir=shared_cache, progress=False)
    np.testing.assert_array_equal(images, official_images)
    np.testing.assert_array_equal(labels, official_labels)
    assert sorted(p.name for p in cache.iterdir()) == sorted([TEST_IMAGES, TEST_LABELS])
    assert sorted(server.requests) == sorted(["/" + TEST_IMAGES, "/" + TEST_LABELS])


def test_second_fetch_reads_cache_without_request(server, shared_cache, tmp_path):
    """Does a second fetch of the same file use the cache instead of the server?"""
    _serve(server, shared_cache, TEST_LABELS)
    first = km.fetch(TEST_LABELS, cache_dir=tmp_path / "c", base_url=server.url,
                     progress=False)
    second = km.fetch(TEST_LABELS, cache_dir=tmp_path / "c", base_url=server.url,
                      progress=False)
    assert first == second == tmp_path / "c" / TEST_LABELS
    assert server.requests == ["/" + TEST_LABELS]


def test_base_url_defaults_to_env_var(server, shared_cache, tmp_path, monkeypatch):
    """Without base_url, does fetch download from $KANNADA_MNIST_URL?"""
    _serve(server, shared_cache, TEST_LABELS)
    monkeypatch.setenv("KANNADA_MNIST_URL", server.url.rstrip("/"))
    km.fetch(TEST_LABELS, cache_dir=tmp_path / "c", progress=False)
    assert server.requests == ["/" + TEST_LABELS]


def test_download_prints_progress(server, shared_cache, tmp_path, capsys):
    """Does a download with progress=True print the URL and reach 100%?"""
    _serve(server, shared_cache, TEST_IMAGES)
    km.fetch(TEST_IMAGES, cache_dir=tmp_path / "c", base_url=server.url)
    out = capsys.readouterr().out
    assert f"Downloading {server.url}{TEST_IMAGES}" in out
    assert "100%" in out and "done" in out


def test_truncated_download_leaves_cache_empty(server, shared_cache, tmp_path):
    """Does a transfer shorter than its Content-Length raise and leave no file behind?"""
    _serve(server, shared_cache, TEST_IMAGES)
    server.cut[TEST_IMAGES] = 500_000
    cache = tmp_path / "c"
    with pytest.raises(km.DownloadError, match="truncated") as info:
        km.fetch(TEST_IMAGES, cache_dir=cache, base_url=server.url, progress=False)
    assert server.url + TEST_IMAGES in str(info.value)
    assert "KANNADA_MNIST_DIR" in str(info.value)
    assert list(cache.iterdir()) == []


def test_short_file_fails_digest_and_leaves_cache_empty(server, shared_cache, tmp_path):
    """Does a short file served with a matching Content-Length fail verification?"""
    (server.root / TEST_IMAGES).write_bytes((shared_cache / TEST_IMAGES).read_bytes()[:1000])
    cache = tmp_path / "c"
    with pytest.raises(km.ChecksumError, match="Nothing was written to the cache") as info:
        km.fetch(TEST_IMAGES, cache_dir=cache, base_url=server.url, progress=False)
    assert "KANNADA_MNIST_URL" in str(info.value) and "KANNADA_MNIST_DIR" in str(info.value)
    assert list(cache.iterdir()) == []


def test_corrupt_download_fails_digest_and_leaves_cache_empty(server, shared_cache, tmp_path):
    """Does a download with one flipped byte raise a digest error and cache nothing?"""
    data = bytearray((shared_cache / TEST_IMAGES).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (server.root / TEST_IMAGES).write_bytes(data)
    cache = tmp_path / "c"
    with pytest.raises(km.ChecksumError) as info:
        km.fetch(TEST_IMAGES, cache_dir=cache, base_url=server.url, progress=False)
    message = str(info.value)
    assert km.DIGESTS[TEST_IMAGES][1] in message
    assert hashlib.sha256(data).hexdigest() in message
    assert server.url + TEST_IMAGES in message
    assert list(cache.iterdir()) == []


def test_http_404_names_the_url(server, tmp_path):
    """Does a 404 raise a DownloadError naming the URL, the status and the offline fix?"""
    cache = tmp_path / "c"
    with pytest.raises(km.DownloadError) as info:
        km.fetch(TEST_LABELS, cache_dir=cache, base_url=server.url, progress=False)
    message = str(info.value)
    assert server.url + TEST_LABELS in message
    assert "HTTP 404" in message and "KANNADA_MNIST_DIR" in message and "KANNADA_MNIST_URL" in message
    assert list(cache.iterdir()) == []


def test_unreachable_server_names_the_url(tmp_path):
    """Does a refused connection raise a DownloadError naming the URL?"""
    url = f"http://127.0.0.1:{_closed_port()}/data/"
    with pytest.raises(km.DownloadError, match="Could not download") as info:
        km.fetch(TEST_LABELS, cache_dir=tmp_path, base_url=url, progress=False)
    assert url + TEST_LABELS in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_cache_dir_is_reported(tmp_path):
    """Does a cache path that cannot be created raise a DownloadError saying how to fix it?"""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(km.DownloadError, match="KANNADA_MNIST_DIR"):
        km.fetch(TEST_LABELS, cache_dir=blocker / "cache", progress=False)


def test_corrupt_cached_file_is_reported_and_kept(server, shared_cache, tmp_path):
    """Does a corrupt cached file raise a digest error, stay untouched, and skip the server?"""
    _serve(server, shared_cache, TEST_LABELS)
    data = bytearray((shared_cache / TEST_LABELS).read_bytes())
    data[-5] ^= 0x01
    cached = tmp_path / TEST_LABELS
    cached.write_bytes(data)
    with pytest.raises(km.ChecksumError) as info:
        km.fetch(TEST_LABELS, cache_dir=tmp_path, base_url=server.url, progress=False)
    message = str(info.value)
    assert str(cached) in message and "Delete it" in message and "KANNADA_MNIST_DIR" in message
    assert km.DIGESTS[TEST_LABELS][1] in message
    assert hashlib.sha256(data).hexdigest() in message
    assert cached.read_bytes() == data
    assert server.requests == []


# -------------------------------------------------------------------- read_idx


def test_read_idx_parses_big_endian_dims(tmp_path):
    """Does read_idx return a writable uint8 array with big-endian header dims?"""
    payload = bytes(range(256)) * 3
    path = _write_gz(tmp_path / "ok.gz", b"\0\0\x08\x02" + (3).to_bytes(4, "big")
                     + (256).to_bytes(4, "big") + payload)
    array = km.read_idx(path)
    assert array.shape == (3, 256) and array.dtype == np.uint8
    assert array.tobytes() == payload
    array[0, 0] = 7  # students may edit the arrays they are given


def test_read_idx_rejects_wrong_magic(tmp_path):
    """Does a file without the idx magic number raise a ValueError saying so?"""
    path = _write_gz(tmp_path / "bad.gz", b"PK\x03\x04" + bytes(100))
    with pytest.raises(ValueError, match="not an idx file.*504b0304"):
        km.read_idx(path)


def test_read_idx_rejects_non_uint8_dtype(tmp_path):
    """Does an idx file of another dtype (0x0D float) raise a ValueError?"""
    path = _write_gz(tmp_path / "float.gz", b"\0\0\x0d\x01" + (2).to_bytes(4, "big")
                     + bytes(8))
    with pytest.raises(ValueError, match="dtype code 0x0d"):
        km.read_idx(path)


def test_read_idx_rejects_truncated_payload(tmp_path):
    """Does an idx payload shorter than its header dims raise a ValueError?"""
    path = _write_gz(tmp_path / "short.gz", b"\0\0\x08\x03" + (10).to_bytes(4, "big")
                     + (28).to_bytes(4, "big") * 2 + bytes(28 * 28 * 9))
    with pytest.raises(ValueError, match=r"7056 data bytes .* needs 7840"):
        km.read_idx(path)


def test_read_idx_rejects_truncated_header(tmp_path):
    """Does an idx file that ends inside its header raise a ValueError?"""
    path = _write_gz(tmp_path / "header.gz", b"\0\0\x08\x03" + bytes(5))
    with pytest.raises(ValueError, match="truncated"):
        km.read_idx(path)


def test_read_idx_rejects_non_gzip(tmp_path, shared_cache):
    """Does an uncompressed idx file raise a ValueError asking for the gzip'd one?"""
    path = tmp_path / "raw-idx1-ubyte"
    path.write_bytes(gzip.decompress((shared_cache / TEST_LABELS).read_bytes()))
    with pytest.raises(ValueError, match="not a valid gzip file"):
        km.read_idx(path)


def test_read_idx_rejects_cut_gzip_stream(tmp_path, shared_cache):
    """Does a gzip file cut in the middle raise a ValueError suggesting a re-download?"""
    path = tmp_path / TEST_IMAGES
    path.write_bytes((shared_cache / TEST_IMAGES).read_bytes()[:50_000])
    with pytest.raises(ValueError, match="download it again"):
        km.read_idx(path)


# ---------------------------------------------------------------- the cache before grading

COURSE = Path(__file__).resolve().parents[1]
DIG_IMAGES, DIG_LABELS = km.SPLITS["dig"]


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache folder named by KANNADA_MNIST_DIR."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("KANNADA_MNIST_DIR", str(cache))
    return cache


@pytest.mark.parametrize("train, holdout", [("train", "test"), ("test", "dig"), ("", "test")])
def test_grading_splits_pair_each_training_split_with_its_holdout(monkeypatch, train, holdout):
    """Does grading evaluate on the test digits after the real training set, and on Dig-MNIST after the stand-in?"""
    from mlpcourse.grading import dataset

    monkeypatch.setenv("ASG01_TRAIN_SPLIT", train)
    assert dataset.grading_splits(km) == ((train or "train"), holdout)


def test_an_unknown_training_split_is_one_line_naming_the_choices(monkeypatch):
    """Is ASG01_TRAIN_SPLIT=dig refused, saying which values work?"""
    from mlpcourse.grading import dataset

    monkeypatch.setenv("ASG01_TRAIN_SPLIT", "dig")
    with pytest.raises(dataset.DataUnavailable, match="ASG01_TRAIN_SPLIT='dig' is not a training split: set it "
                                                      "to train .* or test"):
        dataset.grading_splits(km)


def test_prepare_downloads_the_stand_in_and_its_holdout_only(server, shared_cache, fresh_cache, monkeypatch):
    """With ASG01_TRAIN_SPLIT=test, does prepare download and verify the test and dig files, and nothing else?"""
    from mlpcourse.grading import dataset

    _serve(server, shared_cache, TEST_IMAGES, TEST_LABELS, DIG_IMAGES, DIG_LABELS)
    monkeypatch.setenv("KANNADA_MNIST_URL", server.url)
    monkeypatch.setenv("ASG01_TRAIN_SPLIT", "test")
    lines = []
    assert dataset.prepare(COURSE, SOURCE_DIR.name, log=lines.append) == fresh_cache
    assert sorted(p.name for p in fresh_cache.iterdir()) == sorted([TEST_IMAGES, TEST_LABELS, DIG_IMAGES, DIG_LABELS])
    assert len(lines) == 4 and all(line.startswith("downloading ") for line in lines)
    served = len(server.requests)
    dataset.prepare(COURSE, SOURCE_DIR.name, log=lines.append)  # all cached now: verified, not downloaded again
    assert len(server.requests) == served and len(lines) == 4


def test_prepare_names_the_missing_training_images_and_the_settings(server, shared_cache, fresh_cache, monkeypatch):
    """When the 60k training images cannot be downloaded, is the one-line error about them, naming both settings?"""
    from mlpcourse.grading import dataset

    _serve(server, shared_cache, TEST_IMAGES, TEST_LABELS, TRAIN_LABELS)
    monkeypatch.setenv("KANNADA_MNIST_URL", server.url)
    monkeypatch.delenv("ASG01_TRAIN_SPLIT", raising=False)
    with pytest.raises(dataset.DataUnavailable) as info:
        dataset.prepare(COURSE, SOURCE_DIR.name, log=lambda line: None)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("cannot grade: the training split 'train' of Kannada-MNIST")
    assert TRAIN_IMAGES in message and "HTTP 404" in message
    assert "KANNADA_MNIST_URL" in message and "KANNADA_MNIST_DIR" in message


def test_prepare_refuses_a_corrupt_cached_holdout(shared_cache, tmp_path, monkeypatch):
    """Is a cached holdout file that is not the official one reported (one line), not graded with?"""
    from mlpcourse.grading import dataset

    cache = tmp_path / "cache"
    shutil.copytree(shared_cache, cache)
    (cache / DIG_LABELS).chmod(0o644)
    (cache / DIG_LABELS).write_bytes(b"not the labels")
    monkeypatch.setenv("KANNADA_MNIST_DIR", str(cache))
    monkeypatch.setenv("ASG01_TRAIN_SPLIT", "test")
    with pytest.raises(dataset.DataUnavailable, match=f"the holdout split 'dig' .*The cached file {cache / DIG_LABELS} "
                                                      "is not the official"):
        dataset.prepare(COURSE, SOURCE_DIR.name, log=lambda line: None)


def test_autograde_hook_prepares_once_and_stops_nbgrader_when_it_cannot(server, shared_cache, fresh_cache,
                                                                        monkeypatch):
    """Does the nbgrader hook fetch the data before the first submission only, and exit (not raise) when it cannot?"""
    from mlpcourse.grading import dataset

    monkeypatch.setenv("ASG01_TRAIN_SPLIT", "test")
    monkeypatch.setenv("KANNADA_MNIST_URL", server.url)  # serves nothing yet
    with pytest.raises(SystemExit) as info:
        dataset.autograde_hook(COURSE)(assignment="asg01", student="ada", notebooks=[])
    assert str(info.value.code).startswith("error: cannot grade: the training split 'test'")
    _serve(server, shared_cache, TEST_IMAGES, TEST_LABELS, DIG_IMAGES, DIG_LABELS)
    hook = dataset.autograde_hook(COURSE)
    hook(assignment="asg01", student="ada", notebooks=[])
    served = len(server.requests)
    for name in (TEST_IMAGES, DIG_LABELS):
        (fresh_cache / name).unlink()
    hook(assignment="asg01", student="ben", notebooks=[])  # not checked again within one nbgrader run
    assert len(server.requests) == served and not (fresh_cache / TEST_IMAGES).exists()
