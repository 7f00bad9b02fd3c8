"""device= on chutoro.FISHDBC (chutoro::device_kind), CHUTORO_DEVICE, and the
source kinds the Python layer reports for every library source kind.

- device="auto" (the default) and "cpu" give bit-identical fits; fit_stats_
  and device_ report the device and why "auto" stayed on the CPU.
- device="cuda" without a usable GPU is NotImplementedError
  naming why, from fit, partial_fit (the model unchanged) and load.
- CHUTORO_DEVICE applies to "auto" only; a bad value is a ValueError naming it.
- Model.source_kind is the library's kind for all five built-in sources: a
  model the CLI fitted with inner_product/angular (products) or
  hamming/tanimoto (bits) loads as "products"/"bits" (the Python copy of the
  list once said "other" for them), with n_features_in_, and can recluster and
  pickle."""

from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

import chutoro
from chutoro import _core

NO_CUDA = r"device cuda: "  # then the loader's reason: no module, no driver, no device, ...


@pytest.fixture(autouse=True)
def _no_device_env(monkeypatch):
    monkeypatch.delenv("CHUTORO_DEVICE", raising=False)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(3)
    centres = rng.uniform(-10, 10, size=(5, 4))
    return (centres[rng.integers(0, 5, 800)] + rng.normal(size=(800, 4))).astype(np.float32)


def assert_same(a: chutoro.FISHDBC, b: chutoro.FISHDBC) -> None:
    for name in ("labels_", "probabilities_", "outlier_scores_", "cluster_persistence_", "core_distances_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("condensed_tree_", "single_linkage_tree_", "minimum_spanning_tree_"):
        np.testing.assert_array_equal(getattr(a, name).to_numpy(), getattr(b, name).to_numpy(), err_msg=name)


@pytest.mark.parametrize("candidates", ["hnsw", "exact"])
def test_auto_equals_cpu(blobs, candidates):
    auto = chutoro.FISHDBC(min_cluster_size=10, candidates=candidates).fit(blobs)
    cpu = chutoro.FISHDBC(min_cluster_size=10, candidates=candidates, device="cpu").fit(blobs)
    assert_same(auto, cpu)
    assert auto.device == "auto" and cpu.device == "cpu"
    assert auto.device_ == cpu.device_ == "cpu"
    assert auto.fit_stats_["device"] == cpu.fit_stats_["device"] == "cpu"
    assert "promotion gate" in auto.fit_stats_["device_fallback_reason"]
    assert cpu.fit_stats_["device_fallback_reason"] == ""
    assert auto.fit_stats_["distance_computations"] == cpu.fit_stats_["distance_computations"]
    assert auto._model.to_bytes() == cpu._model.to_bytes()  # model files store no device
    assert "device" in auto.get_params() and clone(cpu).device == "cpu"


def test_cuda_is_one_clear_error(blobs, tmp_path):
    with pytest.raises(NotImplementedError, match=NO_CUDA):
        chutoro.FISHDBC(min_cluster_size=10, device="cuda").fit(blobs)
    est = chutoro.FISHDBC(min_cluster_size=10).fit(blobs[:600])
    labels = est.labels_.copy()
    est.set_params(device="cuda")
    with pytest.raises(NotImplementedError, match=NO_CUDA):
        est.partial_fit(blobs[600:])
    np.testing.assert_array_equal(est.labels_, labels)  # unchanged
    assert len(est._model) == 600
    est.set_params(device="cpu").partial_fit(blobs[600:])
    assert len(est.labels_) == 800 and est.fit_stats_["device"] == "cpu"
    est.save(tmp_path / "m.chutoro")
    with pytest.raises(NotImplementedError, match=NO_CUDA):
        chutoro.load(tmp_path / "m.chutoro", device="cuda")
    back = chutoro.load(tmp_path / "m.chutoro", device="cpu")
    assert back.device == "cpu" and back.device_ == "cpu"
    np.testing.assert_array_equal(back.labels_, est.labels_)


def test_bad_device_values(blobs):
    with pytest.raises(ValueError, match="device: unknown value 'gpu' \\(expected auto or cpu or cuda\\)"):
        chutoro.FISHDBC(device="gpu").fit(blobs)
    with pytest.raises(TypeError, match="device must be a str"):
        chutoro.FISHDBC(device=1).fit(blobs)
    with pytest.raises(ValueError, match="device: unknown value 'gpu'"):
        _core.Model(_core.DenseSource(blobs, "euclidean"), 10, None, "eom", 0.0, False, "hnsw", 16, 100, 42, 1,
                    device="gpu")


def test_environment(blobs, monkeypatch):
    reference = chutoro.FISHDBC(min_cluster_size=10, device="cpu").fit(blobs)
    monkeypatch.setenv("CHUTORO_DEVICE", "cpu")
    chosen = chutoro.FISHDBC(min_cluster_size=10).fit(blobs)
    assert chosen.fit_stats_["device_fallback_reason"] == ""  # chosen by the environment, not a fallback
    assert_same(chosen, reference)
    monkeypatch.setenv("CHUTORO_DEVICE", "cuda")
    with pytest.raises(NotImplementedError, match=NO_CUDA):
        chutoro.FISHDBC(min_cluster_size=10).fit(blobs)
    assert_same(chutoro.FISHDBC(min_cluster_size=10, device="cpu").fit(blobs), reference)  # explicit wins
    monkeypatch.setenv("CHUTORO_DEVICE", "bogus")
    with pytest.raises(ValueError, match="CHUTORO_DEVICE: unknown value 'bogus'"):
        chutoro.FISHDBC(min_cluster_size=10).fit(blobs)
    monkeypatch.setenv("CHUTORO_DEVICE", "")
    assert chutoro.FISHDBC(min_cluster_size=10).fit(blobs).fit_stats_["device_fallback_reason"] != ""


def test_pickle_keeps_the_parameter(blobs):
    est = chutoro.FISHDBC(min_cluster_size=10, device="cpu").fit(blobs)
    back = pickle.loads(pickle.dumps(est))
    assert back.device == "cpu" and back.device_ == "cpu"
    assert back.fit_stats_ == est.fit_stats_
    assert_same(back, est)


# ------------------------------------------------------------ source kinds


def _cli() -> Path | None:
    p = Path(os.environ.get("CHUTORO_CLI") or Path(__file__).resolve().parents[2] / "build/release/chutoro")
    return p if p.is_file() else None


# CLI metric -> the Python layer's source_kind (the library's kind; sets are "token_sets").
_KINDS = {
    "euclidean": "dense",
    "cosine": "dense",
    "inner_product": "products",
    "angular": "products",
    "hamming": "bits",
    "tanimoto": "bits",
    "levenshtein": "strings",
    "jaccard": "token_sets",
}


@pytest.mark.parametrize("metric", sorted(_KINDS))
def test_source_kind_of_every_library_kind(metric, tmp_path):
    cli = _cli()
    if cli is None:
        pytest.skip("the chutoro CLI is not built (set CHUTORO_CLI or build build/release/chutoro)")
    rng = np.random.default_rng(7)
    if metric in ("levenshtein", "jaccard"):
        words = ["".join(rng.choice(list("abcd"), size=rng.integers(2, 6))) for _ in range(120)]
        lines = [" ".join(words[i : i + 3]) for i in range(0, 120, 1)] if metric == "jaccard" else words
        data = tmp_path / "items.txt"
        data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        bits = (rng.random((150, 12)) < 0.4).astype(int)
        bits[:, 0] = 1  # no zero rows (cosine, angular)
        data = tmp_path / "items.csv"
        np.savetxt(data, bits, fmt="%d", delimiter=",", header=",".join(f"c{k}" for k in range(12)), comments="")
    model = tmp_path / "m.chutoro"
    subprocess.run([str(cli), "fit", str(data), "--metric", metric, "--save", str(model), "--quiet"], check=True)

    raw = _core.Model.load(str(model))
    assert raw.source_kind == _KINDS[metric]
    assert raw.metric == metric
    est = chutoro.load(model)
    if _KINDS[metric] in ("dense", "products", "bits"):
        assert est.n_features_in_ == 12
    if _KINDS[metric] in ("dense", "products"):
        assert est._model.dense_data().shape == (150, 12)
    before = est.labels_.copy()
    est.recluster(min_cluster_size=8)
    est.recluster(min_cluster_size=5)
    np.testing.assert_array_equal(est.labels_, before)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.labels_, est.labels_)
    if _KINDS[metric] in ("products", "bits"):
        # Python builds every vector kind of the metric table now: such models grow and predict too.
        labels, _ = est.approximate_predict(np.ones((3, 12)))
        assert labels.shape == (3,)
        est.partial_fit(np.ones((3, 12)))
        assert len(est.labels_) == 153
