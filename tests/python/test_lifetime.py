"""Object lifetimes across the extension: what the module holds is visible to
Python's garbage collector, so cycles through C++ (an estimator -> its model
-> the model's data source -> a callable metric whose globals or defaults
reach the estimator) are freed, and nanobind finds nothing alive at exit."""

from __future__ import annotations

import ctypes
import gc
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest

import chutoro
from chutoro import _core


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_nothing_reported_at_exit_with_fitted_estimators_alive(tmp_path):
    """Exit with estimators of every kind of source still alive (module
    globals): nanobind reports no leaked instances or types. One interpreter for
    all of them (starting one takes seconds); its stderr names what leaked."""
    r = _run_python(
        f"""
        import pickle
        import numpy as np, chutoro
        def dist(a, b):
            return abs(a - b)
        items = [float(i % 7) + 0.01 * i for i in range(40)]
        path = {str(tmp_path / 'm.chutoro')!r}
        est = chutoro.FISHDBC(metric=dist).fit(items)
        est_lambda = chutoro.FISHDBC(metric=lambda a, b: abs(a - b)).fit(items)
        est_exact = chutoro.FISHDBC(metric=dist, candidates="exact").fit(items)
        est.save(path)
        est_loaded = chutoro.load(path, items, metric=dist)
        est_pickled = pickle.loads(pickle.dumps(est))
        est_precomputed = chutoro.FISHDBC(metric="precomputed").fit(np.abs(np.subtract.outer(items, items)))
        est_dense = chutoro.FISHDBC().fit(np.array(items)[:, None])
        for e in (est, est_lambda, est_exact, est_loaded, est_pickled, est_precomputed, est_dense):
            assert len(e.labels_) == 40
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_a_cycle_through_the_model_is_collected():
    """An estimator whose callable metric refers back to it (through a default
    argument) is garbage once unreferenced: the collector sees through Model and
    CallableSource and frees all of it."""

    class Holder:
        pass

    def models() -> int:
        return sum(isinstance(o, _core.Model) for o in gc.get_objects())

    gc.collect()
    before = models()
    holder = Holder()
    holder.est = chutoro.FISHDBC(metric=lambda a, b, h=holder: abs(a - b)).fit([float(i % 5) + 0.1 * i for i in range(30)])
    alive = weakref.ref(holder)
    assert models() == before + 1
    del holder
    gc.collect()
    assert alive() is None
    assert models() == before


def test_the_gc_sees_the_model_source_and_callable():
    """gc.get_referents (tp_traverse) reports a model's Python-made data source
    and a callable source's items and metric."""

    def metric(a, b):
        return abs(a - b)

    items = [float(i) for i in range(20)]
    source = _core.CallableSource(items, metric)
    refs = gc.get_referents(source)
    assert any(r is metric for r in refs)
    assert any(r is items for r in refs)
    model = _core.Model(source, min_cluster_size=5, min_samples=None, cluster_selection_method="eom",
                        cluster_selection_epsilon=0.0, allow_single_cluster=False, candidates="hnsw", m=16,
                        ef_construction=100, seed=42, threads=1)
    assert any(r is source for r in gc.get_referents(model))
    dense = _core.DenseSource(np.zeros((8, 2), dtype=np.float32) + np.arange(8, dtype=np.float32)[:, None])
    dense_model = _core.Model(dense, min_cluster_size=2, min_samples=None, cluster_selection_method="eom",
                              cluster_selection_epsilon=0.0, allow_single_cluster=False, candidates="exact", m=16,
                              ef_construction=100, seed=42, threads=1)
    assert any(r is dense for r in gc.get_referents(dense_model))
    # A model loaded from a file owns its data in C++ only: nothing to report but its type.
    assert all(isinstance(r, type) for r in gc.get_referents(_core.Model.from_bytes(dense_model.to_bytes())))


def test_a_cleared_callable_source_fails_cleanly():
    """tp_clear drops the items and the metric; a model over a cleared source
    (only other garbage can reach one) raises ReferenceError, not a crash, when
    it measures a distance (to_bytes fingerprints the source)."""

    def metric(a, b):
        return abs(a - b)

    source = _core.CallableSource([float(i) for i in range(20)], metric)
    model = _core.Model(source, min_cluster_size=5, min_samples=None, cluster_selection_method="eom",
                        cluster_selection_epsilon=0.0, allow_single_cluster=False, candidates="hnsw", m=16,
                        ef_construction=100, seed=42, threads=1)
    assert len(model.to_bytes()) > 0
    get_slot = ctypes.pythonapi.PyType_GetSlot
    get_slot.restype, get_slot.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_int]
    # Py_tp_clear (51), called with the GIL held (PYFUNCTYPE, not CFUNCTYPE)
    tp_clear = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object)(get_slot(type(source), 51))
    assert tp_clear(source) == 0
    assert not any(r is metric for r in gc.get_referents(source))
    with pytest.raises(ReferenceError, match="cleared"):
        model.to_bytes()
