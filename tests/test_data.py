"""impl.data: reading, validation, genuineness, source order, downloads, preprocessing."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from impl.data import (
    IDX_NAMES,
    KERAS_MNIST_SHA256,
    DownloadError,
    RawMNIST,
    download_mnist,
    find_mnist,
    keras_cache_path,
    load_dataset,
    load_idx_dir,
    load_npz,
    preprocess,
    read_idx,
    synthetic_mnist,
    write_idx,
)
from impl.errors import DataError

# Mixed forms on purpose: each of the four files may be .gz or raw independently.
FORMS = {"train-images-idx3-ubyte": ".gz", "train-labels-idx1-ubyte": ".gz",
         "t10k-images-idx3-ubyte": "", "t10k-labels-idx1-ubyte": ".gz"}
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
ENV = ("MLPBENCH_MNIST", "MLPBENCH_OFFLINE", "MLPBENCH_MNIST_URL", "MLPBENCH_MNIST_SHA256", "KERAS_HOME")


def small_arrays(n_train: int = 50, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}


def write_small_dir(d: Path, arrays: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    arrays = arrays or small_arrays()
    d.mkdir(parents=True, exist_ok=True)
    for base, arr in arrays.items():
        write_idx(d / (base + FORMS[base]), arr)
    return arrays


def write_small_npz(path: Path, **overrides: np.ndarray) -> dict[str, np.ndarray]:
    a = small_arrays()
    arrays = {"x_train": a["train-images-idx3-ubyte"], "y_train": a["train-labels-idx1-ubyte"],
              "x_test": a["t10k-images-idx3-ubyte"], "y_test": a["t10k-labels-idx1-ubyte"], **overrides}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def idx_bytes(arr: np.ndarray, dtype_code: int = 8, ndim: int | None = None) -> bytes:
    """Hand-made IDX bytes, so tests can forge headers that write_idx refuses to produce."""
    nd = arr.ndim if ndim is None else ndim
    dims = b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
    return bytes([0, 0, dtype_code, nd]) + dims + arr.tobytes()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No MNIST anywhere: env vars cleared and the Keras cache pointed at an empty tmp dir."""
    for k in ENV:
        monkeypatch.delenv(k, raising=False)
    keras_home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    return keras_home


def assert_one_line(err: pytest.ExceptionInfo, *parts: str) -> None:
    msg = str(err.value)
    assert "\n" not in msg
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("shape", [(7,), (5, 28, 28), (3, 4)])
def test_idx_round_trip(tmp_path: Path, suffix: str, shape: tuple[int, ...]) -> None:
    arr = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / f"a-idx{suffix}"
    write_idx(path, arr)
    raw = path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" if suffix else raw == idx_bytes(arr)
    back = read_idx(path)
    assert back.dtype == np.uint8
    assert back.shape == shape
    np.testing.assert_array_equal(back, arr)
    assert os.listdir(tmp_path) == [path.name]  # atomic write leaves no temp file


def test_write_idx_rejects_non_uint8(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))


def test_load_idx_dir_small(tmp_path: Path) -> None:
    arrays = write_small_dir(tmp_path)
    raw = load_idx_dir(tmp_path)
    for got, base in zip((raw.train_images, raw.train_labels, raw.test_images, raw.test_labels), IDX_NAMES,
                         strict=True):
        np.testing.assert_array_equal(got, arrays[base])
        assert got.dtype == np.uint8
    assert raw.train_images.shape == (50, 28, 28)
    assert raw.test_images.shape == (20, 28, 28)
    assert (raw.kind, raw.source, raw.genuine) == ("real", f"idx:{tmp_path}", False)
    assert len(raw.warnings) == 4
    assert all("SHA-256 differs from the official MNIST" in w for w in raw.warnings)
    assert {w.split(":")[0] for w in raw.warnings} == set(IDX_NAMES)


A = small_arrays()
IMG, LBL, TIMG, TLBL = (A[b] for b in IDX_NAMES)
GZ_IMG = gzip.compress(idx_bytes(IMG))
# case: (file to replace, its new bytes or None to delete it, words the error must contain)
IDX_CASES: dict[str, tuple[str, bytes | None, str]] = {
    "wrong magic": ("train-images-idx3-ubyte.gz", gzip.compress(b"\0\0\0\0" + IMG.tobytes()),
                    "wrong magic number 0x00000000 (expected 0x00000803"),
    "images in labels slot": ("t10k-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(TIMG)),
                              "wrong magic number 0x00000803 (expected 0x00000801"),
    "unsupported dtype": ("train-images-idx3-ubyte.gz", gzip.compress(idx_bytes(IMG, 0x0D)),
                          "dtype code 0x0D"),
    "truncated payload": ("t10k-images-idx3-ubyte", idx_bytes(TIMG)[:-100], "truncated payload"),
    "truncated header": ("t10k-images-idx3-ubyte", idx_bytes(TIMG)[:10], "truncated header"),
    "extra bytes": ("t10k-images-idx3-ubyte", idx_bytes(TIMG) + b"xx", "2 extra bytes"),
    "count mismatch": ("train-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(LBL[:49])),
                       "count mismatch, 49 labels but train-images"),
    "label out of range": ("t10k-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(np.r_[TLBL[:5], 12, TLBL[6:]]
                                                                                .astype(np.uint8))),
                           "outside 0-9 (first: 12 at index 5)"),
    "wrong image size": ("train-images-idx3-ubyte.gz", gzip.compress(idx_bytes(IMG[:, :, :27].copy())),
                         "must be 28x28"),
    "not gzip": ("t10k-labels-idx1-ubyte.gz", idx_bytes(TLBL), "not a valid gzip file"),
    "truncated gzip": ("train-images-idx3-ubyte.gz", GZ_IMG[: len(GZ_IMG) // 2], "truncated gzip stream"),
    "empty file": ("train-labels-idx1-ubyte.gz", b"", "empty"),
    "missing file": ("t10k-images-idx3-ubyte", None, "missing"),
}


@pytest.mark.parametrize("case", list(IDX_CASES))
def test_bad_idx_dir(tmp_path: Path, case: str) -> None:
    name, data, problem = IDX_CASES[case]
    write_small_dir(tmp_path)
    load_idx_dir(tmp_path)  # valid before the damage
    if data is None:
        (tmp_path / name).unlink()
    else:
        (tmp_path / name).write_bytes(data)
    with pytest.raises(DataError) as err:
        load_idx_dir(tmp_path)
    assert_one_line(err, name, problem)
    if case == "missing file":
        assert_one_line(err, str(tmp_path))
        assert "train-images" not in str(err.value)  # only the missing one is named


def test_read_idx_missing(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        read_idx(tmp_path / "nope-idx1-ubyte.gz")
    assert_one_line(err, "nope-idx1-ubyte.gz", "not found")


# ---------------------------------------------------------------- npz

def test_load_npz_small(tmp_path: Path) -> None:
    arrays = write_small_npz(tmp_path / "mnist.npz")
    raw = load_npz(tmp_path / "mnist.npz")
    np.testing.assert_array_equal(raw.train_images, arrays["x_train"])
    np.testing.assert_array_equal(raw.test_labels, arrays["y_test"])
    assert (raw.kind, raw.genuine, raw.source) == ("real", None, f"npz:{tmp_path / 'mnist.npz'}")
    assert len(raw.warnings) == 1
    assert "not the standard 60000/10000" in raw.warnings[0]


NPZ_CASES: dict[str, tuple[Callable[[Path], object], str]] = {
    "missing arrays": (lambda p: np.savez(p, x_train=IMG, y_train=LBL), "missing arrays x_test, y_test"),
    "not a zip": (lambda p: p.write_bytes(b"hello, not a zip archive"), "not a valid .npz"),
    "empty": (lambda p: p.write_bytes(b""), "empty file"),
    "truncated zip": (lambda p: (write_small_npz(p), p.write_bytes(p.read_bytes()[:3000])),
                      "not a valid .npz"),
    "wrong image size": (lambda p: write_small_npz(p, x_test=TIMG[:, :27, :].copy()), "must be 28x28"),
    "label out of range": (lambda p: write_small_npz(p, y_train=LBL + 1), "outside 0-9"),
    "count mismatch": (lambda p: write_small_npz(p, y_test=TLBL[:-1]), "count mismatch"),
    "float pixels": (lambda p: write_small_npz(p, x_train=IMG / 255.0), "dtype float64"),
}


@pytest.mark.parametrize("case", list(NPZ_CASES))
def test_bad_npz(tmp_path: Path, case: str) -> None:
    make, problem = NPZ_CASES[case]
    path = tmp_path / "mnist.npz"
    make(path)
    with pytest.raises(DataError) as err:
        load_npz(path)
    assert_one_line(err, "mnist.npz", problem)


# ---------------------------------------------------------------- real data

@pytest.fixture(scope="module")
def real_raw() -> RawMNIST:
    if not os.environ.get("MLPBENCH_MNIST"):
        if os.environ.get("MLPBENCH_REQUIRE_DATA") == "1":  # CI: a silent skip would hide missing data
            pytest.fail("MLPBENCH_REQUIRE_DATA=1 but MLPBENCH_MNIST is not set")
        pytest.skip("MLPBENCH_MNIST is not set (point it at the MNIST IDX directory or mnist.npz)")
    return find_mnist()


@pytest.fixture(scope="module")
def real_ds(real_raw: RawMNIST):
    return preprocess(real_raw)


def test_real_mnist_is_genuine(real_raw: RawMNIST) -> None:
    assert real_raw.train_images.shape == (60000, 28, 28)
    assert real_raw.test_images.shape == (10000, 28, 28)
    assert real_raw.train_labels.shape == (60000,)
    assert real_raw.test_labels.shape == (10000,)
    assert (real_raw.kind, real_raw.genuine, real_raw.warnings) == ("real", True, ())
    assert np.bincount(real_raw.train_labels, minlength=10).tolist() == TRAIN_COUNTS


def test_real_preprocess(real_raw: RawMNIST, real_ds) -> None:
    ds = real_ds
    assert ds.x_train.shape == (60000, 784)
    assert ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == ds.x_test.dtype == np.float64
    assert ds.x_train.flags.c_contiguous
    assert ds.y_train.dtype == ds.y_test.dtype == np.int64
    np.testing.assert_array_equal(ds.y_train, real_raw.train_labels)
    raw_train = real_raw.train_images.reshape(60000, -1).astype(np.float64)
    std = raw_train.std(axis=0)
    varying = std > 0
    assert 0 < (~varying).sum() < 784  # MNIST has always-blank border pixels
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(ds.x_train[:, varying].std(axis=0), 1, rtol=1e-10)
    # test set transformed with the *train* statistics, not its own
    expected = (real_raw.test_images.reshape(10000, -1) - raw_train.mean(axis=0)) / np.where(varying, std, 1)
    np.testing.assert_allclose(ds.x_test, expected, atol=1e-9)
    assert np.abs(ds.x_test.mean(axis=0)).max() > 0.01
    assert ds.onehot_train().shape == (60000, 10)
    assert ds.n_train == 60000
    assert (ds.genuine, ds.kind) == (True, "real")


# ---------------------------------------------------------------- preprocess / cache (no real data needed)

def test_pooled_split_is_the_seed_protocol() -> None:
    """All images pooled and standardised together, then a seeded random split of the same sizes."""
    a = small_arrays(n_train=200, n_test=100)
    raw = RawMNIST(a["train-images-idx3-ubyte"], a["train-labels-idx1-ubyte"], a["t10k-images-idx3-ubyte"],
                   a["t10k-labels-idx1-ubyte"], source="t", kind="real", genuine=None)
    ds = preprocess(raw, "pooled", split_seed=3)
    assert (ds.n_train, ds.n_test) == (200, 100)
    pooled = np.concatenate([ds.x_train, ds.x_test])
    np.testing.assert_allclose(pooled.mean(0), 0, atol=1e-12)  # the scaler saw every image
    labels = np.concatenate([raw.train_labels, raw.test_labels]).astype(np.int64)
    np.testing.assert_array_equal(np.sort(np.concatenate([ds.y_train, ds.y_test])), np.sort(labels))
    standard = preprocess(raw)
    assert not np.array_equal(ds.y_test, standard.y_test)  # really re-split
    np.testing.assert_array_equal(preprocess(raw, "pooled", split_seed=3).y_test, ds.y_test)  # seeded
    assert not np.array_equal(preprocess(raw, "pooled", split_seed=4).y_test, ds.y_test)
    assert "pooled split, seed 3" in ds.source
    with pytest.raises(DataError, match="unknown split 'random'"):
        preprocess(raw, "random")


def test_unit_scaling_divides_the_pixels_by_255() -> None:
    a = small_arrays(n_train=200, n_test=100)
    raw = RawMNIST(a["train-images-idx3-ubyte"], a["train-labels-idx1-ubyte"], a["t10k-images-idx3-ubyte"],
                   a["t10k-labels-idx1-ubyte"], source="t", kind="real", genuine=None)
    for split in ("standard", "pooled"):
        ds = preprocess(raw, split, scaling="unit")
        pixels = np.concatenate([raw.train_images, raw.test_images]).reshape(300, -1) / 255.0
        np.testing.assert_allclose(np.sort(np.concatenate([ds.x_train, ds.x_test]).ravel()), np.sort(pixels.ravel()))
        assert "unit scaling" in ds.source
    with pytest.raises(DataError, match="unknown scaling 'log'"):
        preprocess(raw, scaling="log")


def test_preprocess_uses_train_statistics_only() -> None:
    a = small_arrays(n_train=200, n_test=100)
    test_images = np.clip(a["t10k-images-idx3-ubyte"].astype(int) // 2 + 100, 0, 255).astype(np.uint8)
    raw = RawMNIST(a["train-images-idx3-ubyte"], a["train-labels-idx1-ubyte"], test_images,
                   a["t10k-labels-idx1-ubyte"], source="t", kind="real", genuine=None, warnings=("w",))
    ds = preprocess(raw)
    tr = raw.train_images.reshape(200, -1).astype(np.float64)
    np.testing.assert_allclose(ds.x_test, (test_images.reshape(100, -1) - tr.mean(0)) / tr.std(0), atol=1e-12)
    np.testing.assert_allclose(ds.x_train.mean(0), 0, atol=1e-12)
    assert np.abs(ds.x_test.mean(0)).min() > 0.1  # a shifted test set must stay shifted
    onehot = ds.onehot_test()
    assert onehot.shape == (100, 10)
    assert onehot.dtype == np.float64
    np.testing.assert_array_equal(onehot.argmax(1), ds.y_test)
    assert (ds.n_train, ds.n_test, ds.warnings, ds.source) == (200, 100, ("w",), "t")
    assert not ds.x_train.flags.writeable  # shared through the cache


def test_load_dataset_is_cached(tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_small_dir(tmp_path / "m")
    first = load_dataset(tmp_path / "m")
    assert load_dataset(str(tmp_path / "m")) is first
    monkeypatch.setenv("MLPBENCH_OFFLINE", "1")  # a relevant env var is part of the key
    assert load_dataset(tmp_path / "m") is not first
    load_dataset.cache_clear()


# ---------------------------------------------------------------- source order

def test_explicit_bad_path_never_falls_back(tmp_path: Path, clean_env: Path) -> None:
    write_small_npz(keras_cache_path())
    assert find_mnist(offline=True).source.startswith("keras-cache:")
    with pytest.raises(DataError) as err:
        find_mnist(tmp_path / "typo", offline=True, allow_synthetic_fallback=True)
    assert_one_line(err, "typo", "does not exist", "path argument")
    (tmp_path / "bad").mkdir()
    with pytest.raises(DataError) as err:
        find_mnist(tmp_path / "bad", allow_synthetic_fallback=True)
    assert_one_line(err, "bad", "no MNIST here")


def test_env_path_bad_is_error(tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_small_npz(keras_cache_path())
    monkeypatch.setenv("MLPBENCH_MNIST", str(tmp_path / "gone"))
    with pytest.raises(DataError) as err:
        find_mnist(offline=True, allow_synthetic_fallback=True)
    assert_one_line(err, "gone", "MLPBENCH_MNIST")


def test_path_forms(tmp_path: Path, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_small_npz(tmp_path / "only_npz" / "mnist.npz")
    write_small_dir(tmp_path / "idx")
    assert find_mnist(tmp_path / "only_npz").source == f"npz:{tmp_path / 'only_npz' / 'mnist.npz'}"
    assert find_mnist(str(tmp_path / "only_npz" / "mnist.npz")).source.startswith("npz:")
    monkeypatch.setenv("MLPBENCH_MNIST", str(tmp_path / "idx"))
    assert find_mnist().source == f"idx:{tmp_path / 'idx'}"
    assert find_mnist(tmp_path / "only_npz").source.startswith("npz:")  # argument beats env
    assert find_mnist(tmp_path / "nope", synthetic=True).kind == "synthetic"  # synthetic beats everything


def test_no_source_offline_fallback_is_loud(clean_env: Path) -> None:
    logs: list[str] = []
    raw = find_mnist(offline=True, allow_synthetic_fallback=True, log=logs.append)
    assert raw.kind == "synthetic"
    assert raw.genuine is None
    assert len(logs) == 1
    assert "\n" not in logs[0]
    assert logs[0].startswith("WARNING: no MNIST found (offline")
    assert "SYNTHETIC data: timings only, no accuracy" in logs[0]
    assert raw.warnings[0] == logs[0]


def test_no_source_offline_is_error(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPBENCH_OFFLINE", "yes")  # the env switch alone must prevent a download
    logs: list[str] = []
    with pytest.raises(DataError) as err:
        find_mnist(url="http://127.0.0.1:9/mnist.npz", log=logs.append)
    assert_one_line(err, "no MNIST found", "offline", "MLPBENCH_MNIST", str(keras_cache_path()), "online")
    assert logs == []
    assert not keras_cache_path().exists()


def test_keras_cache_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert keras_cache_path() == tmp_path / "kh" / "datasets" / "mnist.npz"
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keras_cache_path() == tmp_path / ".keras" / "datasets" / "mnist.npz"


# ---------------------------------------------------------------- download

class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A local HTTP server with a small valid mnist.npz: (base URL, its SHA-256)."""
    root = tmp_path_factory.mktemp("www")
    write_small_npz(root / "mnist.npz")
    sha = hashlib.sha256((root / "mnist.npz").read_bytes()).hexdigest()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    with pytest.MonkeyPatch.context() as mp:  # a proxy in the environment must not intercept 127.0.0.1
        for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            mp.delenv(k, raising=False)
        yield f"http://127.0.0.1:{httpd.server_address[1]}", sha
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_download_ok(tmp_path: Path, server: tuple[str, str]) -> None:
    base, sha = server
    dest = tmp_path / "new" / "mnist.npz"
    assert download_mnist(f"{base}/mnist.npz", dest, sha256=sha) == dest
    assert os.listdir(dest.parent) == ["mnist.npz"]
    assert load_npz(dest).train_images.shape == (50, 28, 28)


def test_download_checksum_mismatch(tmp_path: Path, server: tuple[str, str]) -> None:
    base, sha = server
    dest = tmp_path / "mnist.npz"
    with pytest.raises(DataError) as err:
        download_mnist(f"{base}/mnist.npz", dest, sha256="0" * 64)
    assert not isinstance(err.value, DownloadError)  # integrity, not availability
    assert_one_line(err, f"{base}/mnist.npz", "SHA-256 mismatch", "0" * 64, sha)
    assert os.listdir(tmp_path) == []


def test_download_404_and_refused(tmp_path: Path, server: tuple[str, str]) -> None:
    base, sha = server
    with pytest.raises(DownloadError) as err:
        download_mnist(f"{base}/missing.npz", tmp_path / "mnist.npz", sha256=sha)
    assert_one_line(err, "missing.npz", "404")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError) as err:
        download_mnist(f"http://127.0.0.1:{port}/mnist.npz", tmp_path / "mnist.npz", timeout=2)
    assert_one_line(err, "download failed")
    assert os.listdir(tmp_path) == []


def test_find_mnist_downloads_to_keras_cache(clean_env: Path, server: tuple[str, str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    base, sha = server
    monkeypatch.setenv("MLPBENCH_MNIST_SHA256", sha)
    logs: list[str] = []
    raw = find_mnist(offline=False, url=f"{base}/mnist.npz", log=logs.append)
    cache = clean_env / "datasets" / "mnist.npz"
    assert raw.source == f"download:{base}/mnist.npz"
    assert cache.is_file()
    assert len(logs) == 1
    assert "downloading" in logs[0]
    again = find_mnist(offline=True, log=logs.append)
    assert again.source == f"keras-cache:{cache}"
    assert len(logs) == 1
    np.testing.assert_array_equal(again.train_images, raw.train_images)


def test_find_mnist_checksum_mismatch_never_falls_back(clean_env: Path, server: tuple[str, str]) -> None:
    base, _ = server  # MLPBENCH_MNIST_SHA256 unset: the Keras hash is expected and won't match
    with pytest.raises(DataError) as err:
        find_mnist(offline=False, url=f"{base}/mnist.npz", allow_synthetic_fallback=True, log=lambda m: None)
    assert_one_line(err, "SHA-256 mismatch", KERAS_MNIST_SHA256)
    assert not keras_cache_path().exists()


def test_find_mnist_network_failure_falls_back(clean_env: Path, server: tuple[str, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = server
    monkeypatch.setenv("MLPBENCH_MNIST_URL", f"{base}/missing.npz")  # env URL used when no argument
    logs: list[str] = []
    raw = find_mnist(offline=False, allow_synthetic_fallback=True, log=logs.append)
    assert raw.kind == "synthetic"
    assert "404" in logs[-1]
    assert logs[-1].startswith("WARNING")
    with pytest.raises(DataError) as err:
        find_mnist(offline=False, log=logs.append)
    assert_one_line(err, "404", "MLPBENCH_MNIST", "online")


# ---------------------------------------------------------------- synthetic

@pytest.fixture(scope="module")
def syn0() -> RawMNIST:
    return synthetic_mnist(0)


def test_synthetic_shapes_and_determinism(syn0: RawMNIST) -> None:
    assert syn0.train_images.shape == (60000, 28, 28)
    assert syn0.test_images.shape == (10000, 28, 28)
    assert syn0.train_labels.shape == (60000,)
    assert syn0.test_labels.shape == (10000,)
    assert syn0.train_images.dtype == syn0.train_labels.dtype == np.uint8
    assert (syn0.kind, syn0.genuine, syn0.source) == ("synthetic", None, "synthetic(seed=0)")
    assert syn0.warnings
    assert "SYNTHETIC" in syn0.warnings[0]
    counts = np.bincount(syn0.train_labels, minlength=10)
    assert counts.size == 10
    assert counts.min() > 5000
    again, other = synthetic_mnist(0), synthetic_mnist(1)
    np.testing.assert_array_equal(again.train_images, syn0.train_images)
    np.testing.assert_array_equal(again.test_labels, syn0.test_labels)
    assert not np.array_equal(other.train_images, syn0.train_images)
    assert other.source == "synthetic(seed=1)"


def test_synthetic_is_learnable(syn0: RawMNIST) -> None:
    x = syn0.train_images[:5000].reshape(5000, -1).astype(np.float64)
    means = np.stack([x[syn0.train_labels[:5000] == c].mean(0) for c in range(10)])
    xt = syn0.test_images[:1000].reshape(1000, -1).astype(np.float64)
    pred = ((xt[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == syn0.test_labels[:1000]).mean() > 0.5
