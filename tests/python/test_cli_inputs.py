"""The CLI's friendlier inputs: .tsv auto-detected, --delimiter, gzip through
zlib, zstd through libzstd, INPUT - for standard input, their errors, and --progress/--no-progress.

The CLI is $CHUTORO_CLI, else build/release/chutoro; skipped when neither
exists. About a second.
"""

from __future__ import annotations

import gzip
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

CLI = Path(os.environ.get("CHUTORO_CLI") or Path(__file__).resolve().parents[2] / "build/release/chutoro")
pytestmark = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} is not built")

RNG = np.random.default_rng(11)
X = np.vstack([RNG.normal(c, 0.3, size=(20, 3)) for c in (0.0, 4.0)])


def _text(delim: str) -> str:
    rows = [delim.join(["a", "b", "c"])] + [delim.join(f"{v:.6f}" for v in row) for row in X]
    return "\n".join(rows) + "\n"


def _run(args, stdin=None):
    return subprocess.run([str(CLI), *args], input=stdin, capture_output=True)


def _labels(out: bytes) -> np.ndarray:
    lines = out.decode().strip().splitlines()[1:]
    return np.array([int(line.split(",")[0]) for line in lines])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    (d / "x.csv").write_text(_text(","))
    r = _run(["cluster", str(d / "x.csv"), "--quiet", "--output", "-"])
    assert r.returncode == 0, r.stderr
    labels = _labels(r.stdout)
    assert labels.max() == 1
    return labels


def test_tsv_by_extension(tmp_path, reference):
    for name in ("x.tsv", "x.tab"):
        (tmp_path / name).write_text(_text("\t"))
        r = _run(["cluster", str(tmp_path / name), "--quiet", "--output", "-"])
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(_labels(r.stdout), reference)


def test_delimiter_option(tmp_path, reference):
    (tmp_path / "x.csv").write_text(_text(";"))
    r = _run(["cluster", str(tmp_path / "x.csv"), "--delimiter", ";", "--quiet", "--output", "-"])
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(_labels(r.stdout), reference)
    (tmp_path / "t.txt").write_text(_text("\t"))
    r = _run(["cluster", str(tmp_path / "t.txt"), "--format", "csv", "--delimiter", "\\t", "--quiet", "--output",
              "-"])
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(_labels(r.stdout), reference)
    # without it, the semicolon file has one column of text cells: a parse error naming line and column
    r = _run(["cluster", str(tmp_path / "x.csv"), "--quiet", "--output", str(tmp_path / "o.csv")])
    assert r.returncode != 0 and b"x.csv" in r.stderr
    for bad in ("ab", '"', "1", " "):
        r = _run(["cluster", str(tmp_path / "x.csv"), "--delimiter", bad, "--output", str(tmp_path / "o.csv")])
        assert r.returncode == 2 and b"--delimiter" in r.stderr, (bad, r.stderr)
    (tmp_path / "w.txt").write_text("a\nb\n")
    r = _run(["cluster", str(tmp_path / "w.txt"), "--delimiter", ";", "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 2 and b"--delimiter needs a csv input" in r.stderr


def test_gzip(tmp_path, reference):
    for name, delim in (("x.csv.gz", ","), ("x.tsv.gz", "\t")):
        (tmp_path / name).write_bytes(gzip.compress(_text(delim).encode()))
        r = _run(["cluster", str(tmp_path / name), "--quiet", "--output", "-"])
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(_labels(r.stdout), reference)
    # two concatenated members (cat a.gz b.gz): one file
    text = _text(",")
    cut = text.index("\n", len(text) // 2) + 1
    (tmp_path / "two.csv.gz").write_bytes(gzip.compress(text[:cut].encode()) + gzip.compress(text[cut:].encode()))
    r = _run(["cluster", str(tmp_path / "two.csv.gz"), "--quiet", "--output", "-"])
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(_labels(r.stdout), reference)
    # lines input, gzip-compressed
    (tmp_path / "w.txt.gz").write_bytes(gzip.compress(b"apple\napples\nbanana\nbananas\nbandana\n"))
    r = _run(["cluster", str(tmp_path / "w.txt.gz"), "--min-cluster-size", "2", "--quiet", "--output", "-"])
    assert r.returncode == 0, r.stderr
    assert len(_labels(r.stdout)) == 5


def _zstd(data: bytes) -> bytes:
    """zstd-compressed bytes, through the zstd command (Debian's zstd; skipped without it)."""
    import shutil

    tool = shutil.which("zstd")
    if tool is None:
        pytest.skip("no zstd command to compress the test input")
    return subprocess.run([tool, "-q", "-c", "-"], input=data, capture_output=True, check=True).stdout


def test_zstd(tmp_path, reference):
    for name, delim in (("x.csv.zst", ","), ("x.tsv.zst", "\t")):
        (tmp_path / name).write_bytes(_zstd(_text(delim).encode()))
        r = _run(["cluster", str(tmp_path / name), "--quiet", "--output", "-"])
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(_labels(r.stdout), reference)
    # told by the magic bytes: standard input too
    r = _run(["cluster", "-", "--quiet", "--output", "-"], stdin=_zstd(_text(",").encode()))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(_labels(r.stdout), reference)
    (tmp_path / "w.txt.zst").write_bytes(_zstd(b"apple\napples\nbanana\nbananas\nbandana\n"))
    r = _run(["cluster", str(tmp_path / "w.txt.zst"), "--min-cluster-size", "2", "--quiet", "--output", "-"])
    assert r.returncode == 0, r.stderr
    assert len(_labels(r.stdout)) == 5


def test_zstd_errors(tmp_path):
    big = "a,b\n" + "".join(f"{i * 0.37 % 1:.6f},{i * 0.71 % 1:.6f}\n" for i in range(20000))
    blob = _zstd(big.encode())
    (tmp_path / "cut.csv.zst").write_bytes(blob[: len(blob) // 2])
    r = _run(["cluster", str(tmp_path / "cut.csv.zst"), "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 1 and b"cut.csv.zst: the zstd data is truncated" in r.stderr, r.stderr
    (tmp_path / "bad.csv.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"not zstd at all" * 4)
    r = _run(["cluster", str(tmp_path / "bad.csv.zst"), "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 1 and b"bad.csv.zst: corrupt zstd data" in r.stderr, r.stderr
    assert not (tmp_path / "o.csv").exists()


def test_gzip_errors(tmp_path):
    big = "a,b\n" + "".join(f"{i * 0.37 % 1:.6f},{i * 0.71 % 1:.6f}\n" for i in range(20000))
    blob = gzip.compress(big.encode())
    (tmp_path / "cut.csv.gz").write_bytes(blob[: len(blob) // 2])
    r = _run(["cluster", str(tmp_path / "cut.csv.gz"), "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 1 and b"cut.csv.gz: the gzip data is truncated" in r.stderr, r.stderr
    (tmp_path / "bad.csv.gz").write_bytes(b"\x1f\x8b" + b"not gzip at all" * 4)
    r = _run(["cluster", str(tmp_path / "bad.csv.gz"), "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 1 and b"bad.csv.gz: corrupt gzip data" in r.stderr, r.stderr
    assert not (tmp_path / "o.csv").exists()


def test_standard_input(tmp_path, reference):
    r = _run(["cluster", "-", "--quiet", "--output", "-"], stdin=_text(",").encode())
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(_labels(r.stdout), reference)
    r = _run(["cluster", "-", "--quiet", "--output", "-"], stdin=gzip.compress(_text(",").encode()))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(_labels(r.stdout), reference)
    r = _run(["cluster", "-", "--format", "lines", "--min-cluster-size", "2", "--quiet", "--output", "-"],
             stdin=b"apple\napples\nbanana\nbananas\n")
    assert r.returncode == 0, r.stderr
    r = _run(["cluster", "-", "--format", "npy", "--output", str(tmp_path / "o.csv")], stdin=b"")
    assert r.returncode == 2 and b"standard input" in r.stderr


def test_progress_flags(tmp_path):
    (tmp_path / "x.csv").write_text(_text(","))
    r = _run(["cluster", str(tmp_path / "x.csv"), "--progress", "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 0, r.stderr
    assert b"%" in r.stderr and b"\r" in r.stderr  # drawn although stderr is a pipe
    r = _run(["cluster", str(tmp_path / "x.csv"), "--no-progress", "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 0 and b"\r" not in r.stderr


def test_nan_rows(tmp_path, reference):
    text = _text(",").splitlines()
    text[5] = "nan," + text[5].split(",", 1)[1]  # data row 4 (0-based)
    text[12] = text[12].rsplit(",", 1)[0] + ","  # data row 11: an empty cell
    (tmp_path / "x.csv").write_text("\n".join(text) + "\n")
    r = _run(["cluster", str(tmp_path / "x.csv"), "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 1 and b"line 6, column 1" in r.stderr and b"--nan-rows noise" in r.stderr, r.stderr
    assert not (tmp_path / "o.csv").exists()
    r = _run(["cluster", str(tmp_path / "x.csv"), "--nan-rows", "noise", "--output", "-"])
    assert r.returncode == 0, r.stderr
    labels = _labels(r.stdout)
    assert len(labels) == len(X) and labels[4] == -1 and labels[11] == -1
    keep = np.setdiff1d(np.arange(len(X)), [4, 11])
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join([text[0]] + [text[1 + i] for i in keep]) + "\n")
    r2 = _run(["cluster", str(clean), "--quiet", "--output", "-"])
    np.testing.assert_array_equal(labels[keep], _labels(r2.stdout))
    assert b"2 left out" in r.stderr
    r = _run(["cluster", str(tmp_path / "x.csv"), "--nan-rows", "drop", "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 2 and b"--nan-rows" in r.stderr


def test_columns_and_ignore_columns(tmp_path, reference):
    rows = ["id,a,name,b,c"] + [f"{i},{r[0]:.6f},item{i},{r[1]:.6f},{r[2]:.6f}" for i, r in enumerate(X)]
    (tmp_path / "x.csv").write_text("\n".join(rows) + "\n")
    out = []
    for extra in (["--columns", "a,b,c"], ["--columns", "a", "--columns", "b,c"], ["--ignore-columns", "id,name"]):
        r = _run(["cluster", str(tmp_path / "x.csv"), *extra, "--quiet", "--output", "-"])
        assert r.returncode == 0, (extra, r.stderr)
        out.append(_labels(r.stdout))
    for labels in out:
        np.testing.assert_array_equal(labels, reference)
    r = _run(["cluster", str(tmp_path / "x.csv"), "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 1 and b'column 3 ("name")' in r.stderr and b"--ignore-columns" in r.stderr
    r = _run(["cluster", str(tmp_path / "x.csv"), "--columns", "a,zz", "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 1 and b'"zz", which is not in the header' in r.stderr
    (tmp_path / "w.txt").write_text("a\nb\n")
    r = _run(["cluster", str(tmp_path / "w.txt"), "--columns", "a", "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 2 and b"need a csv input" in r.stderr


def test_nan_rows_npy(tmp_path, reference):
    Xn = X.astype(np.float32).copy()
    Xn[7, 2] = np.nan
    np.save(tmp_path / "x.npy", Xn)
    r = _run(["cluster", str(tmp_path / "x.npy"), "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 1 and b"X[7, 2]" in r.stderr and b"--nan-rows noise" in r.stderr
    r = _run(["cluster", str(tmp_path / "x.npy"), "--nan-rows", "noise", "--quiet", "--output", "-"])
    assert r.returncode == 0, r.stderr
    labels = _labels(r.stdout)
    assert len(labels) == len(X) and labels[7] == -1
    Xn[7, 2] = np.inf  # infinities are still an error
    np.save(tmp_path / "y.npy", Xn)
    r = _run(["cluster", str(tmp_path / "y.npy"), "--nan-rows", "noise", "--output", str(tmp_path / "o.csv")])
    assert r.returncode == 1 and b"infinite" in r.stderr
