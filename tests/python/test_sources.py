"""Plugin sources (chutoro.load_plugin) and Arrow input through the PyCapsule interface.

The example plugins (examples/plugins) are built by CMake; the tests look for
them in CHUTORO_PLUGIN_DIR (scripts/test.sh sets it to
build/release/examples/plugins), else in that folder of this checkout, and
skip with the reason when they are not built. The Arrow tests need pyarrow
(the package's test extra) and skip without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import chutoro
from chutoro import FISHDBC

REPO = Path(__file__).resolve().parents[2]
JACCARD = "libchutoro_jaccard_tokens.so"
TANIMOTO = "libchutoro_tanimoto_fingerprints.so"


def _plugin(name: str) -> Path:
    env = os.environ.get("CHUTORO_PLUGIN_DIR")
    d = Path(env) if env else REPO / "build" / "release" / "examples" / "plugins"
    p = d / name
    if not p.is_file():
        pytest.skip(f"example plugin {name} not built: run scripts/build.sh or set CHUTORO_PLUGIN_DIR (looked in {d})")
    return p


def _letter(shared_data: Path, n: int) -> np.ndarray:
    import oracle

    return oracle._csv(shared_data / "letter.csv")[:n].astype(np.float32)


def _token_lines(X: np.ndarray) -> list[str]:
    # As tests/cpp/test_plugin_examples.cpp: row i -> "c0=<v> c1=<v> ...".
    return [" ".join(f"c{k}={int(v)}" for k, v in enumerate(row)) for row in X]


# ------------------------------------------------------------------ plugins
def test_jaccard_c_plugin_clusters_letter_tokens_like_builtin_jaccard(shared_data, tmp_path):
    X = _letter(shared_data, 2000)
    lines = _token_lines(X)
    f = tmp_path / "letter_tokens.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = _plugin(JACCARD)
    source = chutoro.load_plugin(path, f"file={f}")
    assert len(source) == 2000
    assert source.name == "jaccard"
    assert source.caps == 1  # CHUTORO_HAS_DISTANCE_BATCH
    assert source.path == str(path)
    assert str(path) in repr(source)
    builtin = chutoro._core.TokenSetSource(lines)
    for i, j in [(0, 1), (5, 17), (100, 1999), (3, 3)]:
        assert source.distance(i, j) == builtin.distance(i, j)
    a = FISHDBC(min_cluster_size=5, candidates="exact").fit(source)
    b = FISHDBC(min_cluster_size=5, candidates="exact", metric="jaccard").fit(lines)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.labels_.max() >= 1
    # metric may name the plugin's distance; the same source fits again (hnsw, threads).
    c = FISHDBC(min_cluster_size=5, metric="jaccard", n_jobs=2).fit(source)
    assert c.labels_.shape == (2000,)
    assert not hasattr(c, "n_features_in_")


def test_tanimoto_cpp_plugin_clusters_digit_fingerprints(shared_data, tmp_path):
    import oracle

    bits = oracle._csv(shared_data / "digits.csv") >= 8  # (n, 64) pixels -> 64-bit fingerprints
    f = tmp_path / "digits_fp.txt"
    f.write_text("\n".join(np.packbits(b).tobytes().hex() for b in bits) + "\n", encoding="ascii")
    source = chutoro.load_plugin(str(_plugin(TANIMOTO)), str(f))
    assert len(source) == len(bits)
    assert source.name == "tanimoto"
    assert source.caps == 0
    for i, j in [(0, 1), (10, 200), (7, 7)]:
        both, either = np.sum(bits[i] & bits[j]), np.sum(bits[i] | bits[j])
        assert source.distance(i, j) == pytest.approx(0.0 if either == 0 else 1 - both / either, abs=1e-6)
    est = FISHDBC(min_cluster_size=10).fit(source)
    assert est.labels_.shape == (len(bits),)
    assert est.labels_.max() >= 1


def test_plugin_errors_name_the_plugin_file(tmp_path):
    path = _plugin(JACCARD)
    with pytest.raises(ValueError, match=f"plugin {path}.*/nonexistent.txt: cannot open"):
        chutoro.load_plugin(path, "file=/nonexistent.txt")
    missing = tmp_path / "libnothing.so"
    with pytest.raises(OSError, match=f"plugin {missing}"):
        chutoro.load_plugin(missing)
    with pytest.raises(TypeError, match="arg must be a str"):
        chutoro.load_plugin(path, 3)
    f = tmp_path / "two.txt"
    f.write_text("a b\nb c\nc d\n", encoding="utf-8")
    source = chutoro.load_plugin(path, str(f))
    with pytest.raises(ValueError, match="plugin source whose distance is 'jaccard'.*got 'cosine'"):
        FISHDBC(min_cluster_size=2, metric="cosine").fit(source)
    with pytest.raises(ValueError, match="plugin source"):
        FISHDBC(min_cluster_size=2, metric=lambda a, b: 0.0).fit(source)
    # fewer items than min_cluster_size: all noise, as hdbscan and scikit-learn
    np.testing.assert_array_equal(FISHDBC(min_cluster_size=5).fit(source).labels_, [-1, -1, -1])


# -------------------------------------------------------------------- Arrow
@pytest.fixture(scope="module")
def pa():
    return pytest.importorskip("pyarrow", reason="pyarrow (the test extra) is needed for the Arrow input tests")


def _fixed_size_list(pa, X: np.ndarray):
    return pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), X.shape[1])


def test_arrow_fixed_size_list_table_of_letter_matches_numpy(shared_data, pa):
    X = _letter(shared_data, 4000)
    table = pa.table({"features": _fixed_size_list(pa, X)})
    ref = FISHDBC(min_cluster_size=15).fit(X)
    est = FISHDBC(min_cluster_size=15).fit(table)
    np.testing.assert_array_equal(est.labels_, ref.labels_)
    np.testing.assert_array_equal(est.probabilities_, ref.probabilities_)
    assert est.n_features_in_ == 16
    assert est.labels_.max() >= 1
    # The array itself (__arrow_c_array__) and a record batch give the same.
    np.testing.assert_array_equal(FISHDBC(min_cluster_size=15).fit_predict(table.column(0).chunk(0)), ref.labels_)
    np.testing.assert_array_equal(FISHDBC(min_cluster_size=15).fit_predict(table.to_batches()[0]), ref.labels_)


def test_parquet_file_of_letter_clusters_like_the_csv(shared_data, pa, tmp_path):
    # Issue 5's end-to-end case from Python: a Parquet file written from
    # letter.csv, read back with only the feature column projected.
    import pyarrow.parquet as pq

    X = _letter(shared_data, 20000)
    path = tmp_path / "letter.parquet"
    ids = pa.array(np.arange(len(X), dtype=np.int64))
    pq.write_table(pa.table({"features": _fixed_size_list(pa, X), "row": ids}), path)
    table = pq.read_table(path, columns=["features"])
    ref = FISHDBC().fit(X)
    est = FISHDBC().fit(table)
    assert len(est.labels_) == 20000
    np.testing.assert_array_equal(est.labels_, ref.labels_)


def test_arrow_chunked_lists_and_streams_match_numpy(shared_data, pa):
    X = _letter(shared_data, 1500)
    X64 = X.astype(np.float64)
    # List<float64> in three chunks cut from one array (non-zero offsets), and a sliced table.
    lists = pa.array(list(X64), type=pa.list_(pa.float64()))
    chunked = pa.chunked_array([lists.slice(0, 500), lists.slice(500, 700), lists.slice(1200)])
    ref = FISHDBC(min_cluster_size=10, metric="cosine").fit_predict(X)
    np.testing.assert_array_equal(FISHDBC(min_cluster_size=10, metric="cosine").fit_predict(chunked), ref)
    table = pa.table({"v": chunked})
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    np.testing.assert_array_equal(FISHDBC(min_cluster_size=10, metric="cosine").fit_predict(reader), ref)
    tail = FISHDBC(min_cluster_size=10, metric="l1").fit_predict(table.slice(300))
    np.testing.assert_array_equal(tail, FISHDBC(min_cluster_size=10, metric="l1").fit_predict(X[300:]))


def test_arrow_strings_match_lists_of_str(shared_data, pa):
    words = (shared_data / "words_en.txt").read_text(encoding="utf-8").splitlines()[:800]
    chunked = pa.chunked_array([pa.array(words[:300]), pa.array(words[300:])])
    ref = FISHDBC(min_cluster_size=5, metric="levenshtein").fit_predict(words)
    np.testing.assert_array_equal(FISHDBC(min_cluster_size=5, metric="levenshtein").fit_predict(chunked), ref)
    large = pa.array(words, type=pa.large_string())
    np.testing.assert_array_equal(FISHDBC(min_cluster_size=5, metric="levenshtein").fit_predict(large), ref)
    lines = [" ".join(w[k : k + 2] for k in range(len(w) - 1)) for w in words]
    jac = FISHDBC(min_cluster_size=5, metric="jaccard").fit_predict(pa.table({"bigrams": lines}))
    np.testing.assert_array_equal(jac, FISHDBC(min_cluster_size=5, metric="jaccard").fit_predict(lines))


def test_arrow_nulls_and_bad_columns_are_rejected(pa):
    ok = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    chunked = pa.chunked_array([pa.array(ok, type=pa.list_(pa.float32(), 2)),
                                pa.array([[2.0, 2.0], None], type=pa.list_(pa.float32(), 2))])
    with pytest.raises(ValueError, match=r"^X: row 4 is null"):
        FISHDBC(min_cluster_size=2).fit(chunked)
    with pytest.raises(ValueError, match=r"X: row 1, value 0 is null"):
        FISHDBC(min_cluster_size=2).fit(pa.array([[0.0, 1.0], [None, 1.0], [2.0, 2.0]], type=pa.list_(pa.float32())))
    with pytest.raises(ValueError, match=r"X: row 2 is null"):
        FISHDBC(min_cluster_size=2, metric="levenshtein").fit(pa.array(["a", "b", None]))
    with pytest.raises(ValueError, match=r"X: row 1 has 1 values"):
        FISHDBC(min_cluster_size=2).fit(pa.array([[0.0, 1.0], [1.0]], type=pa.list_(pa.float32())))
    with pytest.raises(TypeError, match="exactly one column"):
        FISHDBC(min_cluster_size=2).fit(pa.table({"a": [1.0, 2.0], "b": [3.0, 4.0]}))
    with pytest.raises(TypeError, match="column type"):
        FISHDBC(min_cluster_size=2).fit(pa.array([1, 2, 3]))
    with pytest.raises(TypeError, match="needs metric='levenshtein' or metric='jaccard'"):
        FISHDBC(min_cluster_size=2).fit(pa.array(["a", "b"]))
    with pytest.raises(TypeError, match="needs a vector metric"):
        FISHDBC(min_cluster_size=2, metric="levenshtein").fit(pa.array(ok, type=pa.list_(pa.float32(), 2)))
    with pytest.raises(ValueError, match="no rows"):
        FISHDBC(min_cluster_size=2).fit(pa.array([], type=pa.list_(pa.float32(), 2)))


def test_pandas_frames_keep_the_array_path(pa):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 3)), columns=["a", "b", "c"])
    est = FISHDBC(min_cluster_size=5).fit(df)
    assert list(est.feature_names_in_) == ["a", "b", "c"]
