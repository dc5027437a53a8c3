"""Download, verify, cache and read the Kannada-MNIST handwritten digits.

Kannada-MNIST is a drop-in replacement for MNIST: 28x28 grey-scale images of the ten
digits of the Kannada script, stored in the same gzip'd idx format. Three splits are
available:

- ``"train"``: 60,000 images, 6,000 per digit;
- ``"test"``: 10,000 images, 1,000 per digit;
- ``"dig"``: Dig-MNIST, 10,240 images, 1,024 per digit, a harder, out-of-distribution
  test set written by non-native writers and scanned differently.

Cite: Vinay Uday Prabhu, "Kannada-MNIST: A new handwritten digits dataset for the
Kannada language", arXiv:1908.01242 (2019).

Each file is downloaded once from the dataset author's repository, checked against its
official digest and kept in a cache directory; later calls read the cached copy without
touching the network. This module needs only the Python standard library and numpy, so
that it runs unchanged on Google Colab.

Environment variables
---------------------
KANNADA_MNIST_DIR
    Cache directory (default ``~/.cache/kannada-mnist``). Point it at a folder that
    already holds the official files to work offline. On CI it points at a pre-filled
    cache, so that the tests never need the network.
KANNADA_MNIST_URL
    Base URL to download from instead of `CANONICAL_BASE_URL` (e.g. a mirror).

Examples
--------
>>> X, y = load_kannada_mnist("test")
>>> X.shape, X.dtype, y.shape
((10000, 28, 28), dtype('uint8'), (10000,))
"""

import gzip
import hashlib
import http.client
import os
import struct
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path

import numpy as np

CANONICAL_BASE_URL = (
    "https://github.com/vinayprabhu/Kannada_MNIST/raw/master/data/output_tensors/MNIST_format/"
)

#: Split name -> (images file, labels file).
SPLITS = {
    "train": ("X_kannada_MNIST_train-idx3-ubyte.gz", "y_kannada_MNIST_train-idx1-ubyte.gz"),
    "test": ("X_kannada_MNIST_test-idx3-ubyte.gz", "y_kannada_MNIST_test-idx1-ubyte.gz"),
    "dig": ("X_dig_MNIST-idx3-ubyte.gz", "y_dig_MNIST-idx1-ubyte.gz"),
}

#: The dataset's name, in messages.
DATASET = "Kannada-MNIST"

#: The variable that names the split a notebook trains on while it is graded (the
#: notebook's load_data cell reads it too): "train", the official 60,000 digits, or
#: "test", the offline stand-in built from the official test digits.
TRAIN_SPLIT_ENV = "ASG01_TRAIN_SPLIT"

#: Training split -> the holdout split the grader scores the trained network on: the
#: official test digits after the official training set; Dig-MNIST after the stand-in.
HOLDOUT = {"train": "test", "test": "dig"}


def grading_splits():
    """``(train, holdout)``: the split the notebook trains on while graded
    (``$ASG01_TRAIN_SPLIT``, default ``"train"``) and the split it is scored on.

    Raises
    ------
    ValueError
        If ``ASG01_TRAIN_SPLIT`` names no training split (the message says which do).
    """
    train = os.environ.get(TRAIN_SPLIT_ENV) or "train"
    if train not in HOLDOUT:
        raise ValueError(f"{TRAIN_SPLIT_ENV}={train!r} is not a training split: set it to train "
                         "(the official 60,000 digits) or test (the offline stand-in)")
    return train, HOLDOUT[train]


#: File name -> (algorithm, expected hex digest) of the official file, taken from the
#: author's repository at commit f8390ece0c6990551e6f35189ccc42757bb29c43. sha256 where
#: it is known; the 60k training images only have their git blob id (see `git_blob_id`).
DIGESTS = {
    "X_kannada_MNIST_train-idx3-ubyte.gz": (
        "git-blob", "b588ed8355da1fc0dd0c2707947c132f7aa427c0"),
    "y_kannada_MNIST_train-idx1-ubyte.gz": (
        "sha256", "ef11e1d3e378fefbe78d4c9913dc9617c83fc5f9240b090121fcc335b5642201"),
    "X_kannada_MNIST_test-idx3-ubyte.gz": (
        "sha256", "4628f3fa7b1d32137449dd356be4601da0c28c420b79f1b745a5134504ca35ca"),
    "y_kannada_MNIST_test-idx1-ubyte.gz": (
        "sha256", "645db5902d290681c9e5b452428e24636963a50a3036c2201240351b88786272"),
    "X_dig_MNIST-idx3-ubyte.gz": (
        "sha256", "abda37c59d3d65ef89505860c18e7b7f7e80bfb2ba361ec1df68949e0c630aaa"),
    "y_dig_MNIST-idx1-ubyte.gz": (
        "sha256", "321fa413dc0f4bc4342da1f3418c656cd346f91d6d479ea67b1a107e920b907b"),
}

TIMEOUT_S = 60  # per socket operation, not for the whole download
CHUNK_BYTES = 1 << 16
IDX_UINT8 = 0x08  # idx dtype code; the only one Kannada-MNIST uses


class DownloadError(RuntimeError):
    """A file could not be downloaded into the cache."""


class ChecksumError(ValueError):
    """A file's digest differs from the official one."""


def default_cache_dir():
    """Return the cache directory used when none is given.

    Returns
    -------
    pathlib.Path
        ``$KANNADA_MNIST_DIR`` if that variable is set and non-empty, else
        ``~/.cache/kannada-mnist``. The directory is not created here.
    """
    env = os.environ.get("KANNADA_MNIST_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "kannada-mnist"


def git_blob_id(path):
    """Return the git blob id of a file, as ``git hash-object`` prints it.

    The blob id is ``sha1(b"blob <size>\\0" + content)``, where ``<size>`` is the
    length of the content in bytes, written in decimal.

    Parameters
    ----------
    path : str or pathlib.Path
        File to hash.

    Returns
    -------
    str
        40 lowercase hex digits.
    """
    path = Path(path)
    sha1 = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            sha1.update(chunk)
    return sha1.hexdigest()


def file_digest(path, algorithm):
    """Return the hex digest of a file.

    Parameters
    ----------
    path : str or pathlib.Path
        File to hash.
    algorithm : {"sha256", "git-blob"}
        Digest to compute, as named in `DIGESTS`.

    Returns
    -------
    str
        Lowercase hex digest.
    """
    if algorithm == "git-blob":
        return git_blob_id(path)
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path, filename, what, fix):
    """Raise `ChecksumError` unless ``path`` has the official digest of ``filename``.

    ``what`` says where the bytes came from and ``fix`` what the user should do, so
    that the message is actionable in both the cached and the downloaded case.
    """
    algorithm, expected = DIGESTS[filename]
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise ChecksumError(
            f"{what} is not the official {filename}: its {algorithm} digest is "
            f"{actual}, expected {expected}. {fix}"
        )


def _download_error(url, filename, reason):
    return DownloadError(
        f"Could not download {filename} from {url}: {reason}. Check your internet "
        "connection and try again, set KANNADA_MNIST_URL to a mirror that serves the "
        "files, or, to work offline, set KANNADA_MNIST_DIR to a folder that already "
        "holds the official Kannada-MNIST files."
    )


def _download(url, out, filename, progress):
    """Stream ``url`` into the open binary file ``out``, checking Content-Length."""
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        err.close()  # an HTTPError holds the open connection of the error page
        raise _download_error(url, filename, f"HTTP {err.code} {err.reason}") from err
    except urllib.error.URLError as err:
        raise _download_error(url, filename, err.reason) from err
    except (http.client.HTTPException, OSError) as err:
        raise _download_error(url, filename, repr(err)) from err
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        shown = -1
        while True:
            # http.client ends a short body silently when read in chunks, hence the
            # Content-Length check below; a reset or timeout raises here instead.
            try:
                chunk = response.read(CHUNK_BYTES)
            except (http.client.HTTPException, OSError) as err:
                raise _download_error(
                    url, filename, f"connection lost after {received} bytes ({err!r})"
                ) from err
            if not chunk:
                break
            out.write(chunk)
            received += len(chunk)
            if progress and total:
                percent = 100 * received // total
                if percent != shown:
                    print(f"\r{filename}: {percent:3d}% of {total / 1e6:.1f} MB",
                          end="", flush=True)
                    shown = percent
        if progress:
            print(f"\r{filename}: done, {received / 1e6:.1f} MB", flush=True)
    if total is not None and received != total:
        raise _download_error(
            url, filename, f"truncated: received {received} of {total} bytes"
        )


def fetch(filename, cache_dir=None, base_url=None, progress=True):
    """Return the path of a verified copy of an official Kannada-MNIST file.

    A file already in the cache is checked and used. A missing file is downloaded
    to a temporary file in the cache directory, checked, and only then moved into
    place, so a truncated or corrupt download never lands in the cache.

    Parameters
    ----------
    filename : str
        One of the keys of `DIGESTS`, e.g. ``"y_kannada_MNIST_test-idx1-ubyte.gz"``.
    cache_dir : str or pathlib.Path, optional
        Cache directory; default `default_cache_dir()`. Created if needed.
    base_url : str, optional
        Folder URL the file is downloaded from; default ``$KANNADA_MNIST_URL`` if
        set, else `CANONICAL_BASE_URL`.
    progress : bool, default True
        Print the download progress to stdout.

    Returns
    -------
    pathlib.Path
        ``cache_dir / filename``, whose digest matches `DIGESTS`.

    Raises
    ------
    ValueError
        If ``filename`` is not an official file.
    ChecksumError
        If the cached or downloaded file differs from the official one. A cached
        file is left untouched (the cache may be shared or read-only).
    DownloadError
        If the download fails (HTTP error, network error, truncated transfer) or
        the cache directory is not writable.
    """
    if filename not in DIGESTS:
        raise ValueError(f"Unknown file {filename!r}; known files: {', '.join(DIGESTS)}")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / filename
    if path.exists():
        _verify(path, filename, f"The cached file {path}",
                "Delete it and run again to download a fresh copy, or set KANNADA_MNIST_DIR "
                "to a folder that holds the official files.")
        return path

    if base_url is None:
        base_url = os.environ.get("KANNADA_MNIST_URL") or CANONICAL_BASE_URL
    url = base_url.rstrip("/") + "/" + filename
    # A unique name, so concurrent downloads cannot clobber each other's partial file.
    tmp = cache_dir / f".{filename}.{uuid.uuid4().hex}.part"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        out = open(tmp, "xb")
    except OSError as err:
        raise DownloadError(
            f"Cannot write {filename} into the cache directory {cache_dir} ({err}). "
            "Set KANNADA_MNIST_DIR or pass cache_dir= to choose a writable folder."
        ) from err
    try:
        with out:
            if progress:
                print(f"Downloading {url}", flush=True)
            _download(url, out, filename, progress)
        _verify(tmp, filename, f"The file downloaded from {url}",
                "Nothing was written to the cache; try again, set KANNADA_MNIST_URL to a "
                "mirror that serves the official files, or set KANNADA_MNIST_DIR to a folder "
                "that already holds them.")
        os.replace(tmp, path)  # atomic: readers see either no file or a complete one
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_idx(path):
    """Read a gzip'd idx file (the MNIST format) into a numpy array.

    The idx header is a magic number ``0x00 0x00 <dtype code> <ndim>`` followed by
    ``ndim`` big-endian uint32 sizes; the data follow in C order. Only dtype code
    0x08 (uint8) is supported.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.gz`` idx file, e.g. images ``(N, 28, 28)`` or labels ``(N,)``.

    Returns
    -------
    numpy.ndarray
        Writable uint8 array with the shape given in the header.

    Raises
    ------
    ValueError
        If the file is not gzip, is not idx, has an unsupported dtype, or holds a
        different number of bytes than its header announces.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise ValueError(
            f"{path} is not a valid gzip file ({err}); expected a gzip'd idx file "
            "such as X_kannada_MNIST_test-idx3-ubyte.gz. If it was downloaded, the "
            "download may be incomplete: delete it and download it again."
        ) from err
    if len(data) < 4 or data[:2] != b"\0\0":
        raise ValueError(
            f"{path} is not an idx file: it starts with {data[:4].hex() or 'nothing'}, "
            "expected the magic number 0000<dtype><ndim>, e.g. 00000803 for images."
        )
    dtype_code, ndim = data[2], data[3]
    if dtype_code != IDX_UINT8:
        raise ValueError(
            f"{path} has idx dtype code 0x{dtype_code:02x}; only 0x08 (uint8) is supported."
        )
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise ValueError(
            f"{path} is truncated: its header announces {ndim} dimensions but the "
            f"file ends after {len(data)} bytes."
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_bytes])
    expected = int(np.prod(shape))
    actual = len(data) - header_bytes
    if actual != expected:
        raise ValueError(
            f"{path} holds {actual} data bytes but its header shape {shape} needs "
            f"{expected}: the file is truncated or corrupt."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_bytes).reshape(shape).copy()


def load_kannada_mnist(split="train", cache_dir=None, base_url=None, progress=True):
    """Load one split of Kannada-MNIST, downloading and caching it if needed.

    Parameters
    ----------
    split : {"train", "test", "dig"}, default "train"
        ``"train"`` (N = 60,000), ``"test"`` (N = 10,000) or ``"dig"`` (Dig-MNIST,
        N = 10,240).
    cache_dir, base_url, progress
        As in `fetch`.

    Returns
    -------
    images : numpy.ndarray, shape (N, 28, 28), dtype uint8
        Grey levels 0 (background) to 255.
    labels : numpy.ndarray, shape (N,), dtype uint8
        Digits 0 to 9.

    Raises
    ------
    ValueError
        If ``split`` is unknown, or images and labels differ in number.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid splits: {', '.join(map(repr, SPLITS))}")
    images_file, labels_file = SPLITS[split]
    images = read_idx(fetch(images_file, cache_dir, base_url, progress))
    labels = read_idx(fetch(labels_file, cache_dir, base_url, progress))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"Split {split!r} has {images.shape[0]} images but {labels.shape[0]} labels."
        )
    return images, labels
