"""Run-time behaviour of FISHDBC.fit: the GIL is released, Ctrl-C stops a long
fit within about a second and leaves the estimator unfitted, verbose=True
shows progress."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import chutoro

# A child process fits a large data set, gets SIGINT after `delay` seconds
# (as Ctrl-C sends it) and reports how long the fit took to stop.
INTERRUPT_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    import numpy as np
    import chutoro

    # Python keeps SIGINT ignored when it starts with it ignored (a child of a
    # background job): install the interactive handler, as a terminal would have.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    kind, n, dim, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    rng = np.random.default_rng(0)
    if kind == "callable":
        X = list(rng.random((n, dim)))
        est = chutoro.FISHDBC(metric=lambda a, b: float(np.sqrt(((a - b) ** 2).sum())))
    else:
        X = rng.random((n, dim), dtype=np.float32)
        est = chutoro.FISHDBC(candidates=kind, n_jobs=1)
    sent = []
    def interrupt():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)
    threading.Timer(delay, interrupt).start()
    t0 = time.perf_counter()
    try:
        est.fit(X)
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "interrupted"
    stopped = time.perf_counter()
    print(json.dumps({"outcome": outcome, "latency": stopped - sent[0] if sent else None,
                      "ran": stopped - t0, "fitted": hasattr(est, "labels_")}))
    """
)


def run_interrupted(kind: str, n: int, dim: int, delay: float = 1.0) -> dict:
    out = subprocess.run([sys.executable, "-c", INTERRUPT_SCRIPT, kind, str(n), str(dim), str(delay)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ctrl_c_stops_a_long_hnsw_fit_within_a_second():
    r = run_interrupted("hnsw", 400_000, 16)
    assert r["outcome"] == "interrupted", r
    assert r["latency"] < 1.0, r
    assert not r["fitted"]


def test_ctrl_c_stops_a_callable_metric_fit_within_a_second():
    r = run_interrupted("callable", 50_000, 4)
    assert r["outcome"] == "interrupted", r
    assert r["latency"] < 1.0, r
    assert not r["fitted"]


def test_ctrl_c_stops_a_long_exact_fit_within_a_second():
    r = run_interrupted("exact", 20_000, 16, delay=0.3)
    assert r["outcome"] == "interrupted", r
    assert r["latency"] < 1.0, r


def test_interrupted_refit_leaves_the_estimator_unfitted():
    X = np.random.default_rng(0).random((3000, 4), dtype=np.float32)
    est = chutoro.FISHDBC().fit(X)
    assert hasattr(est, "labels_")

    def stop(stage, done, total):
        raise KeyboardInterrupt

    from chutoro import _core

    # The same path as Ctrl-C: an exception raised during the fit propagates and nothing is set.
    original = _core.Model

    def fit_with_interrupt(*args, **kwargs):
        kwargs["progress"] = stop
        return original(*args, **kwargs)

    import chutoro._estimator as est_module

    est_module._core.Model = fit_with_interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            est.fit(X)
    finally:
        est_module._core.Model = original
    assert not hasattr(est, "labels_")
    assert est.fit(X).labels_.shape == (3000,)


def test_gil_is_released_during_the_fit():
    X = np.random.default_rng(1).random((20_000, 8), dtype=np.float32)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("est", chutoro.FISHDBC().fit(X)))
    ticks = 0
    t0 = time.perf_counter()
    worker.start()
    while worker.is_alive():
        ticks += 1
    elapsed = time.perf_counter() - t0
    worker.join()
    assert "est" in result
    # With the GIL held by the fit this thread would stall for the whole fit.
    assert elapsed > 0.3, "the fit was too quick to tell"
    assert ticks / elapsed > 100_000, f"{ticks} ticks in {elapsed:.2f} s"


def test_verbose_shows_progress(capsys):
    X = np.random.default_rng(2).random((5000, 4))
    chutoro.FISHDBC(verbose=True, candidates="hnsw").fit(X)
    err = capsys.readouterr().err
    assert "chutoro: graph" in err and "100%" in err
    assert "5000 items" in err and "clusters" in err
    chutoro.FISHDBC(verbose=True).fit(X)  # auto: exact by kd-tree at d = 4
    err = capsys.readouterr().err
    assert "chutoro: core distances" in err and "chutoro: mst" in err and "100%" in err
    chutoro.FISHDBC().fit(X)
    assert capsys.readouterr().err == ""
