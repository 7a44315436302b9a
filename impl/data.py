"""MNIST: find it, read it, verify it, preprocess it; the same data for every implementation.

Sources, in order (see `find_mnist`): synthetic on request; an explicit path (argument, else env
MLPBENCH_MNIST) to a directory with the four IDX files (.gz or raw) or to a Keras-style mnist.npz;
the Keras cache ($KERAS_HOME/datasets/mnist.npz); a download (unless offline); finally synthetic
data if the caller allows that fallback. An explicitly given path that is bad is always an error,
so a typo never silently benchmarks something else.

Environment variables:
    MLPBENCH_MNIST         path to the IDX directory or mnist.npz (used when no path argument is given)
    MLPBENCH_OFFLINE       "1"/"true"/"yes": never download (used when offline is not given)
    MLPBENCH_MNIST_URL     download URL (default KERAS_MNIST_URL)
    MLPBENCH_MNIST_SHA256  expected SHA-256 of the download (default KERAS_MNIST_SHA256); lets a
                           mirror or a test server with a different file be verified too
    KERAS_HOME             where the Keras cache lives (default ~/.keras), as in Keras itself

Preprocessing (`SPLITS`): the seed code pooled all 70,000 images, fitted the StandardScaler on them and
re-split randomly. By default we keep the standard 60,000/10,000 split and fit the scaler on the
training images only, so the test set stays unseen (no leakage into the statistics) and accuracies
are comparable with published MNIST results; ``split="pooled"`` (``--split pooled``) is the seed's
protocol, for reproducing its figures.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import json
import math
import os
import struct
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from impl.errors import DataError

KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
OFFICIAL_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
IDX_NAMES = tuple(OFFICIAL_SHA256)  # train images, train labels, test images, test labels
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
ENV_VARS = ("MLPBENCH_MNIST", "MLPBENCH_OFFLINE", "MLPBENCH_MNIST_URL", "MLPBENCH_MNIST_SHA256", "KERAS_HOME")
_IDX_UINT8 = 0x08
_SIZES = {"train": 60000, "test": 10000}


def print_to_stderr(msg: str) -> None:
    """Default `log`: stderr, so messages never mix with results printed on stdout."""
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class RawMNIST:
    """The images as stored (uint8), plus where they came from and whether they are the real thing."""

    train_images: np.ndarray  # uint8 (n_train, 28, 28)
    train_labels: np.ndarray  # uint8 (n_train,)
    test_images: np.ndarray  # uint8 (n_test, 28, 28)
    test_labels: np.ndarray  # uint8 (n_test,)
    source: str  # "idx:/path", "npz:/path", "keras-cache:/path", "download:URL", "synthetic(seed=0)"
    kind: str  # "real" | "synthetic"
    genuine: bool | None  # hashes match official MNIST; None = not checkable / synthetic
    warnings: tuple[str, ...] = ()
    checksums: tuple[tuple[str, str], ...] = ()  # (file, SHA-256 of its uncompressed bytes) as read


@dataclass(frozen=True)
class Dataset:
    """What trainers consume. Arrays are read-only because `load_dataset` shares them between callers."""

    x_train: np.ndarray  # float64 (n_train, 784), C-contiguous, standardised with train statistics
    y_train: np.ndarray  # int64 (n_train,)
    x_test: np.ndarray  # float64 (n_test, 784)
    y_test: np.ndarray  # int64 (n_test,)
    source: str
    kind: str
    genuine: bool | None
    warnings: tuple[str, ...] = ()
    checksums: tuple[tuple[str, str], ...] = ()  # of the files it was read from (RawMNIST.checksums)

    def onehot_train(self) -> np.ndarray:
        """float64 (n_train, 10); built on demand so the cached dataset stays small."""
        return np.eye(10)[self.y_train]

    def onehot_test(self) -> np.ndarray:
        return np.eye(10)[self.y_test]

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.y_test.shape[0])


class DownloadError(DataError):
    """The download failed for a reason other than integrity (network, HTTP status, disk): may fall back."""


# ---------------------------------------------------------------- IDX files

def _read_bytes(path: Path) -> bytes:
    """Whole file, un-gzipped if named .gz; every failure becomes a one-line DataError naming the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if not data:
        raise DataError(f"{path}: empty file (0 bytes)")
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except EOFError:
            raise DataError(f"{path}: truncated gzip stream (ends before the end-of-stream marker)") from None
        except (gzip.BadGzipFile, OSError, zlib.error) as e:
            raise DataError(f"{path}: not a valid gzip file ({' '.join(str(e).split())})") from None
    return data


def _parse_idx(path: Path, data: bytes, ndim: int | None) -> np.ndarray:
    """Validate an IDX header against the payload; only uint8 (all MNIST needs) is supported."""
    kind = {None: "data", 1: "1-D labels", 3: "3-D images"}.get(ndim, f"{ndim}-D data")
    expected = f"0x{0x800 + ndim:08X}" if ndim else "0x000008NN"
    if not data:
        raise DataError(f"{path}: empty payload (0 bytes after decompression)")
    if len(data) < 4:
        raise DataError(f"{path}: truncated header ({len(data)} bytes, need at least 4)")
    magic = struct.unpack(">I", data[:4])[0]
    if data[0] or data[1] or data[3] == 0 or (ndim is not None and data[3] != ndim):
        raise DataError(f"{path}: wrong magic number 0x{magic:08X} (expected {expected} for uint8 {kind})")
    if data[2] != _IDX_UINT8:
        raise DataError(f"{path}: unsupported IDX dtype code 0x{data[2]:02X} (only 0x08 = uint8 supported)")
    nd = data[3]
    header = 4 + 4 * nd
    if len(data) < header:
        raise DataError(f"{path}: truncated header ({len(data)} bytes, need {header} for {nd} dimensions)")
    dims = struct.unpack(f">{nd}I", data[4:header])
    need, have = math.prod(dims), len(data) - header
    shape = "x".join(map(str, dims))
    if have < need:
        raise DataError(f"{path}: truncated payload ({have} bytes, header says {need} for {shape})")
    if have > need:
        raise DataError(f"{path}: size mismatch, {have - need} extra bytes after the {shape} payload")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, ndim: int | None = None) -> np.ndarray:
    """One IDX file (.gz or raw) as a read-only uint8 array; `ndim` additionally pins the magic number."""
    path = Path(path)
    return _parse_idx(path, _read_bytes(path), ndim)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write uint8 `array` as IDX (gzip if the name ends .gz), atomically; for fixtures and subsets."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx needs a uint8 array with 1-255 dims, got {array.dtype} {array.shape}")
    data = bytes([0, 0, _IDX_UINT8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data += np.ascontiguousarray(array).tobytes()
    path = Path(path)
    _atomic_write(path, gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the file private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_pair(images: np.ndarray, labels: np.ndarray, img_name: str, lbl_name: str) -> None:
    """The cross-file checks every source needs: 28x28 images, one label each, labels 0-9."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{img_name}: images must be 28x28, got shape {images.shape}")
    if images.shape[0] == 0:
        raise DataError(f"{img_name}: no images (0 samples)")
    if labels.ndim != 1:
        raise DataError(f"{lbl_name}: labels must be 1-D, got shape {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{lbl_name}: count mismatch, {labels.shape[0]} labels "
                        f"but {Path(img_name).name} has {images.shape[0]} images")
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        i = bad[0]
        raise DataError(f"{lbl_name}: {bad.size} labels outside 0-9 (first: {labels[i]} at index {i})")


def _find_idx_file(directory: Path, base: str) -> Path | None:
    for name in (base + ".gz", base):
        if (directory / name).is_file():
            return directory / name
    return None


def load_idx_dir(directory: Path) -> RawMNIST:
    """The four official IDX files, each .gz or raw; genuineness from the hashes of the uncompressed bytes."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory (expected the four MNIST IDX files in it)")
    paths = {base: _find_idx_file(directory, base) for base in IDX_NAMES}
    missing = [f"{b}[.gz]" for b, p in paths.items() if p is None]
    if missing:
        raise DataError(f"{directory}: missing {', '.join(missing)} (need the four MNIST IDX files)")
    arrays, warnings, checksums = [], [], []
    for base, path in paths.items():
        assert path is not None
        data = _read_bytes(path)
        arrays.append(_parse_idx(path, data, 3 if "images" in base else 1))
        checksums.append((base, hashlib.sha256(data).hexdigest()))
        if checksums[-1][1] != OFFICIAL_SHA256[base]:
            warnings.append(f"{base}: SHA-256 differs from the official MNIST file; "
                            "results may not be comparable")
    names = [str(p) for p in paths.values()]
    _check_pair(arrays[0], arrays[1], names[0], names[1])
    _check_pair(arrays[2], arrays[3], names[2], names[3])
    return RawMNIST(*arrays, source=f"idx:{directory}", kind="real", genuine=not warnings,
                    warnings=tuple(warnings), checksums=tuple(checksums))


# ---------------------------------------------------------------- npz, cache, download

def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_npz(path: Path, source: str | None = None) -> RawMNIST:
    """Keras-style mnist.npz; genuine is True only for the exact Keras file, otherwise unknown (None)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a valid .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                have = ", ".join(z.files) or "none"
                raise DataError(f"{path}: missing arrays {', '.join(missing)} (has: {have})")
            arrays = {k: z[k] for k in NPZ_KEYS}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        reason = " ".join(str(e).split())  # one line whatever numpy/zipfile put in the message
        raise DataError(f"{path}: not a valid .npz file ({type(e).__name__}: {reason})") from None
    for k, v in arrays.items():
        if v.dtype.kind not in "iu":
            raise DataError(f"{path}: array {k} has dtype {v.dtype}, expected integers (uint8)")
    for k in ("x_train", "x_test"):
        if arrays[k].size and (arrays[k].min() < 0 or arrays[k].max() > 255):
            raise DataError(f"{path}: array {k} has pixel values outside 0-255")
    for split in ("train", "test"):
        _check_pair(arrays[f"x_{split}"], arrays[f"y_{split}"], f"{path}[x_{split}]", f"{path}[y_{split}]")
    raw = {k: v.astype(np.uint8, copy=False) for k, v in arrays.items()}
    digest = _sha256_file(path)
    genuine = True if digest == KERAS_MNIST_SHA256 else None
    n = {s: raw[f"y_{s}"].shape[0] for s in _SIZES}
    odd = f"{path.name}: {n['train']} train / {n['test']} test images, not the standard 60000/10000"
    warnings = () if n == _SIZES else (f"{odd}; results may not be comparable",)
    return RawMNIST(raw["x_train"], raw["y_train"], raw["x_test"], raw["y_test"],
                    source=source or f"npz:{path}", kind="real", genuine=genuine, warnings=warnings,
                    checksums=((path.name, digest),))


def keras_cache_path() -> Path:
    """Where Keras' `mnist.load_data()` caches the file, so one download serves both."""
    home = os.environ.get("KERAS_HOME") or Path.home() / ".keras"
    return Path(home).expanduser() / "datasets" / "mnist.npz"


def download_mnist(url: str, dest: Path, sha256: str = KERAS_MNIST_SHA256, timeout: float = 10.0) -> Path:
    """Fetch `url` to `dest` atomically and verified: `dest` is either complete and correct or absent.

    A SHA-256 mismatch raises DataError; anything else (network, HTTP status, disk) raises
    DownloadError, a DataError that callers may treat as "not available".
    """
    dest = Path(dest)
    tmp: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(name)
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256.lower():
            raise DataError(f"{url}: SHA-256 mismatch of the download (expected {sha256}, "
                            f"got {h.hexdigest()})")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make a shared cache file private
        os.replace(tmp, dest)
        tmp = None
        return dest
    except DataError:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url}: download failed (HTTP {e.code} {e.reason})") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"{url}: download failed ({e.reason})") from None
    except (OSError, ValueError, http.client.HTTPException) as e:  # timeouts, cut-off body, disk, bad URL
        raise DownloadError(f"{url}: download failed ({type(e).__name__}: {e})") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- synthetic

def synthetic_mnist(seed: int = 0) -> RawMNIST:
    """MNIST-shaped stand-in for timing runs without the data: a fixed prototype per class plus noise."""
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 128, size=(10, 28, 28), dtype=np.uint8)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        return prototypes[labels] + rng.integers(0, 128, size=(n, 28, 28), dtype=np.uint8), labels

    (xtr, ytr), (xte, yte) = split(_SIZES["train"]), split(_SIZES["test"])
    return RawMNIST(xtr, ytr, xte, yte, source=f"synthetic(seed={seed})", kind="synthetic", genuine=None,
                    warnings=(f"SYNTHETIC data (seed={seed}): timings only, accuracy is meaningless",))


# ---------------------------------------------------------------- finding and preprocessing

def _load_path(path: Path, origin: str) -> RawMNIST:
    """An explicit path: any problem is an error, never a fallback."""
    if not path.exists():
        raise DataError(f"{path}: MNIST path does not exist (from {origin})")
    if path.is_file():
        return load_npz(path)
    has_idx = any(_find_idx_file(path, base) for base in IDX_NAMES)
    if not has_idx and (path / "mnist.npz").is_file():
        return load_npz(path / "mnist.npz")
    if not has_idx:
        raise DataError(f"{path}: no MNIST here (from {origin}); need the four IDX files "
                        f"({', '.join(IDX_NAMES)}, .gz or raw) or mnist.npz")
    return load_idx_dir(path)


def _offline(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    return os.environ.get("MLPBENCH_OFFLINE", "").strip().lower() in ("1", "true", "yes")


def find_mnist(path: str | os.PathLike | None = None, *, offline: bool | None = None, url: str | None = None,
               synthetic: bool = False, allow_synthetic_fallback: bool = False,
               log: Callable[[str], None] = print_to_stderr) -> RawMNIST:
    """Locate MNIST in the documented order (module docstring); raise DataError saying how to provide it."""
    if synthetic:
        return synthetic_mnist()
    chosen = path if path is not None else os.environ.get("MLPBENCH_MNIST") or None
    if chosen is not None:
        origin = "the path argument" if path is not None else "MLPBENCH_MNIST"
        return _load_path(Path(chosen).expanduser(), origin)
    cache = keras_cache_path()
    if cache.is_file():
        return load_npz(cache, source=f"keras-cache:{cache}")
    url = url or os.environ.get("MLPBENCH_MNIST_URL") or KERAS_MNIST_URL
    if _offline(offline):
        reason = "offline, no download attempted"
    else:
        sha = os.environ.get("MLPBENCH_MNIST_SHA256") or KERAS_MNIST_SHA256
        log(f"downloading MNIST from {url} to {cache}")
        try:
            return load_npz(download_mnist(url, cache, sha256=sha), source=f"download:{url}")
        except DownloadError as e:  # integrity errors (plain DataError) propagate
            reason = str(e)
    if allow_synthetic_fallback:
        warning = f"WARNING: no MNIST found ({reason}); using SYNTHETIC data: timings only, no accuracy"
        log(warning)
        raw = synthetic_mnist()
        return replace(raw, warnings=(warning, *raw.warnings))
    raise DataError(f"no MNIST found ({reason}); provide it by passing --mnist PATH or setting "
                    "MLPBENCH_MNIST (a directory with the four IDX files or a mnist.npz), by putting "
                    f"mnist.npz at {cache}, or by going online so it is downloaded from {url}")


#: Train/test protocols. ``standard``: MNIST's own 60,000/10,000 split, the scaler fitted on the training
#: images only (this project's default). ``pooled``: the seed articles' protocol, all 70,000 images pooled,
#: the scaler fitted on all of them, then a seeded random 60,000/10,000 split (test statistics leak into
#: the scaler; kept so the articles' accuracies can be reproduced).
SPLITS = ("standard", "pooled")
#: Input scalings. ``standard``: sklearn's StandardScaler (the seed's, XIII: "standardized input data"; our
#: default). ``unit``: pixels divided by 255, the other common choice, which the Step III timing article does
#: not rule out; the reproduction's protocol experiment tries both.
SCALINGS = ("standard", "unit")
_POOLED_SPLIT_STREAM = 2  # the split's random stream (impl/batching.py uses 0 for weights, 1 for batch order)


def _frozen(*arrays: np.ndarray) -> list[np.ndarray]:
    for a in arrays:
        a.flags.writeable = False
    return list(arrays)


def _scaler(scaling: str) -> Any:
    """The transformer of a scaling (:data:`SCALINGS`), working in place on the float copies ``preprocess`` makes."""
    from sklearn.preprocessing import FunctionTransformer, StandardScaler  # a worker handed the data never needs it

    if scaling not in SCALINGS:
        raise DataError(f"unknown scaling {scaling!r}; choose one of: {', '.join(SCALINGS)}")
    if scaling == "unit":
        return FunctionTransformer(_unit_scale)
    return StandardScaler(copy=False)


def _unit_scale(x: np.ndarray) -> np.ndarray:
    x /= 255.0
    return x


def preprocess(raw: RawMNIST, split: str = "standard", split_seed: int = 0, scaling: str = "standard") -> Dataset:
    """Scale and split as ``split`` and ``scaling`` say (see :data:`SPLITS`, :data:`SCALINGS`); ``split_seed``
    drives the pooled split."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    x_train = raw.train_images.reshape(len(raw.train_images), -1).astype(np.float64)
    x_test = raw.test_images.reshape(len(raw.test_images), -1).astype(np.float64)
    y_train, y_test = raw.train_labels.astype(np.int64), raw.test_labels.astype(np.int64)
    if split == "pooled":
        x_all, y_all = np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])
        x_all = _scaler(scaling).fit_transform(x_all)
        order = np.random.default_rng([split_seed, _POOLED_SPLIT_STREAM]).permutation(len(y_all))
        train, test = order[:len(y_train)], order[len(y_train):]
        arrays = _frozen(np.ascontiguousarray(x_all[train]), y_all[train], np.ascontiguousarray(x_all[test]),
                         y_all[test])
        source = f"{raw.source} [pooled split, seed {split_seed}]"
    else:
        scaler = _scaler(scaling).fit(x_train)
        arrays = _frozen(np.ascontiguousarray(scaler.transform(x_train)), y_train,
                         np.ascontiguousarray(scaler.transform(x_test)), y_test)
        source = raw.source
    if scaling != "standard":
        source += f" [{scaling} scaling]"
    return Dataset(*arrays, source=source, kind=raw.kind, genuine=raw.genuine, warnings=raw.warnings,
                   checksums=raw.checksums)


_SAVED_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def save_dataset(data: Dataset, folder: Path) -> Path:
    """The preprocessed arrays as ``.npy`` files plus their provenance, for worker processes of the same run to
    read back in a fraction of a second instead of decoding and standardising MNIST each (seconds per worker)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in _SAVED_ARRAYS:
        np.save(folder / f"{name}.npy", getattr(data, name))
    meta = {"source": data.source, "kind": data.kind, "genuine": data.genuine, "warnings": list(data.warnings),
            "checksums": [list(c) for c in data.checksums]}
    (folder / "dataset.json").write_text(json.dumps(meta))
    return folder


def load_saved_dataset(folder: str | os.PathLike) -> Dataset:
    """What :func:`save_dataset` wrote, read-only as every shared dataset is; a problem is one DataError."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "dataset.json").read_text())
        arrays = [np.load(folder / f"{name}.npy", allow_pickle=False) for name in _SAVED_ARRAYS]
    except (OSError, ValueError) as err:
        raise DataError(f"{folder}: cannot read the saved dataset ({err})") from None
    return Dataset(*_frozen(*arrays), source=meta["source"], kind=meta["kind"], genuine=meta["genuine"],
                   warnings=tuple(meta["warnings"]), checksums=tuple(tuple(c) for c in meta.get("checksums", [])))


@functools.lru_cache(maxsize=2)  # a preprocessed dataset is ~440 MB; two covers real + synthetic
def _load_dataset_cached(path: str | None, offline: bool | None, url: str | None, synthetic: bool,
                         allow_synthetic_fallback: bool, log: Callable[[str], None],
                         env: tuple[str | None, ...], split: str, split_seed: int, scaling: str) -> Dataset:
    data = preprocess(find_mnist(path, offline=offline, url=url, synthetic=synthetic,
                                 allow_synthetic_fallback=allow_synthetic_fallback, log=log), split, split_seed,
                      scaling)
    _LATEST["provenance"] = provenance(data)  # the record, not the arrays (hundreds of MB)
    return data


#: the provenance of the dataset this process loaded last
_LATEST: dict[str, dict[str, Any]] = {}


def provenance(data: Dataset | None = None) -> dict[str, Any] | None:
    """Where ``data`` (default: the dataset this process loaded last; None if none) came from, the checksums of
    its files and whether they are the official ones: recorded with every benchmark run (machine_info), so that
    a run on other data says so in its tables and is never paired with a run on the real MNIST."""
    if data is None:
        return _LATEST.get("provenance")
    return {"source": data.source, "kind": data.kind, "genuine": data.genuine, "checksums": dict(data.checksums),
            "warnings": list(data.warnings)}


def load_dataset(path: str | os.PathLike | None = None, *, offline: bool | None = None,
                 url: str | None = None, synthetic: bool = False, allow_synthetic_fallback: bool = False,
                 log: Callable[[str], None] = print_to_stderr, split: str = "standard",
                 split_seed: int = 0, scaling: str = "standard") -> Dataset:
    """`find_mnist` + `preprocess`, cached in-process because tests and benchmarks ask for it many times.

    The cache key is the arguments (including `log`), the absolute path and the ENV_VARS; the arrays
    are read-only since all callers share them. `load_dataset.cache_clear()` empties the cache.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    key = None if path is None else str(Path(path).expanduser().absolute())
    env = (*(os.environ.get(k) for k in ENV_VARS), str(Path.home()))
    seed = split_seed if split == "pooled" else 0  # the standard split has no randomness: one cache entry
    return _load_dataset_cached(key, offline, url, synthetic, allow_synthetic_fallback, log, env, split, seed,
                                scaling)


load_dataset.cache_clear = _load_dataset_cached.cache_clear  # type: ignore[attr-defined]
