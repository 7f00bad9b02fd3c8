"""Property-based tests (hypothesis) of FISHDBC's input and parameter
validation: for any X and any parameter values, fit either succeeds with
well-formed attributes (labels_ of length n in -1..k-1, probabilities in
[0, 1]) or raises ValueError/TypeError whose message names the bad parameter
or the input (X) — never a crash, a SystemError, a RuntimeError, another
exception type or a hang. The whole module takes well under 30 s: small
inputs, bounded example counts, and an alarm that turns a hang into a failure.
"""

from __future__ import annotations

import contextlib
import math
import re
import signal
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chutoro

SETTINGS = settings(
    max_examples=100,
    deadline=timedelta(seconds=10),  # a loaded 2-core machine; hangs are the alarm's job
    database=None,  # no .hypothesis folder in the source tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HANG_SECONDS = 20  # one fit of <= 40 tiny items takes milliseconds

# Words a message must contain when the input is what is wrong (chutoro's own
# messages say X / X[i] / X[i, j]; scikit-learn's validate_data speaks of the
# array, samples, features and the estimator).
INPUT_WORDS = re.compile(r"\bX\b|X\[|\barray\b|sample|feature|FISHDBC")


class FitHung(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raises FitHung in the main thread after `seconds` (the library checks for
    signals at every progress report, as it does for Ctrl-C)."""

    def on_alarm(signum, frame):
        raise FitHung(f"fit did not return within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_fit(est: chutoro.FISHDBC, X, n: int | None = None, culprits: tuple[str, ...] = ()) -> BaseException | None:
    """Fits; on success checks the attributes, on failure the exception's type and
    message. `culprits`: parameter names known to be invalid (the message must
    name one of them); without culprits a failure must name the input.
    Returns the exception raised (or None)."""
    try:
        with time_limit(HANG_SECONDS):
            est.fit(X)
    except (ValueError, TypeError) as e:
        msg = str(e)
        assert msg, f"{type(e).__name__} without a message"
        if culprits:
            assert any(name in msg for name in culprits), f"message names none of {culprits}: {msg}"
        else:
            assert INPUT_WORDS.search(msg), f"message names no input: {msg}"
        assert not hasattr(est, "labels_"), "a failed fit left fitted attributes"
        return e
    assert not culprits, f"fit accepted invalid {culprits}"
    labels = est.labels_
    if n is None:
        n = len(X)
    assert labels.shape == (n,)
    assert labels.dtype == np.intp
    k = int(labels.max()) + 1 if n else 0
    assert labels.min() >= -1
    assert set(np.unique(labels[labels >= 0]).tolist()) == set(range(k)), "labels are not 0..k-1"
    assert est.probabilities_.shape == (n,)
    assert np.all((est.probabilities_ >= 0) & (est.probabilities_ <= 1))
    assert np.all(est.probabilities_[labels < 0] == 0)
    return None


# ---------------------------------------------------------------- dense arrays

FLOAT_VALUES = st.one_of(
    st.floats(-10, 10),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 1e-40, 1e30, -1e30, 3.4e38, 1e39, 1e300, -1e300]),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)
DTYPES = st.sampled_from(
    [np.float64, np.float32, np.float16, np.int64, np.int32, np.int8, np.uint8, np.bool_, np.complex64, object, "U3", "S3"]
)
SHAPES = st.one_of(
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=0, max_side=30),  # rows may be 0 or 1, columns 0
    hnp.array_shapes(min_dims=0, max_dims=1, min_side=0, max_side=10),
    hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=4),
)


@st.composite
def dense_arrays(draw):
    dtype = np.dtype(draw(DTYPES))
    shape = draw(SHAPES)
    size = int(np.prod(shape)) if shape else 1
    if dtype.kind in "fc":
        values = draw(st.lists(FLOAT_VALUES, min_size=size, max_size=size))
        with np.errstate(over="ignore", invalid="ignore"):
            X = np.array(values, dtype=np.float64).astype(dtype).reshape(shape)
    elif dtype.kind in "iub":
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        lo, hi = (0, 1) if info is None else (max(info.min, -1000), min(info.max, 1000))
        X = np.array(draw(st.lists(st.integers(lo, hi), min_size=size, max_size=size)), dtype=dtype).reshape(shape)
    elif dtype.kind in "US":
        words = draw(st.lists(st.sampled_from(["1", "2.5", "nan", "a", "", "1e9"]), min_size=size, max_size=size))
        X = np.array(words, dtype=dtype).reshape(shape)
    else:  # object: numbers, strings, None
        items = draw(st.lists(st.one_of(st.floats(-5, 5), st.just("x"), st.none(), st.integers(-3, 3)),
                              min_size=size, max_size=size))
        X = np.empty(size, dtype=object)
        X[:] = items
        X = X.reshape(shape)
    layout = draw(st.sampled_from(["C", "F", "strided", "reversed"]))
    if X.ndim == 2 and X.size:
        if layout == "F":
            X = np.asfortranarray(X)
        elif layout == "strided":
            X = np.repeat(X, 2, axis=1)[:, ::2]  # a non-contiguous view holding the same values
        elif layout == "reversed":
            X = X[::-1]
    return X


@SETTINGS
@given(X=dense_arrays(), min_cluster_size=st.integers(2, 6))
def test_dense_arrays(X, min_cluster_size):
    err = check_fit(chutoro.FISHDBC(min_cluster_size=min_cluster_size), X)
    finite_2d = X.ndim == 2 and X.dtype.kind in "fiub" and X.shape[1] > 0
    if finite_2d and X.dtype.kind == "f":
        finite_2d = bool(np.all(np.isfinite(X)) and np.all(np.abs(X.astype(np.float64)) <= np.finfo(np.float32).max))
    if finite_2d and X.shape[0] >= min_cluster_size:
        # Valid data with enough rows must be accepted, except for the documented
        # all-zero-row / duplicate cases that no metric here has (euclidean).
        assert err is None, f"valid input rejected: {err}"


# ---------------------------------------------------------------- Python objects

PY_INPUTS = st.one_of(
    st.lists(st.lists(st.floats(-5, 5), min_size=2, max_size=2), min_size=0, max_size=20),  # rectangular
    st.lists(st.lists(st.floats(-5, 5), min_size=0, max_size=3), min_size=1, max_size=20),  # ragged
    st.lists(st.text(max_size=4), min_size=0, max_size=20),  # strings
    st.lists(st.one_of(st.integers(-5, 5), st.floats(-5, 5)), min_size=0, max_size=20),  # flat numbers
    st.lists(st.lists(st.lists(st.floats(-1, 1), min_size=2, max_size=2), min_size=2, max_size=2), max_size=8),
    st.sampled_from([None, 3, 2.5, "abc", b"abc", {"a": 1}, {1, 2}, object()]),
    st.lists(st.one_of(st.none(), st.just([1.0, 2.0]), st.just("x")), min_size=1, max_size=10),  # mixed
)


@SETTINGS
@given(X=PY_INPUTS, metric=st.sampled_from(["euclidean", "cosine", "manhattan", "levenshtein", "jaccard", "precomputed"]))
def test_python_objects(X, metric):
    try:
        n = len(X)
    except TypeError:
        n = None
    check_fit(chutoro.FISHDBC(min_cluster_size=2, metric=metric), X, n=n)


# ---------------------------------------------------------------- parameters

VALID = {
    "min_cluster_size": lambda v: _is_int(v) and v >= 2,
    "min_samples": lambda v: v is None or (_is_int(v) and v >= 1),
    "m": lambda v: _is_int(v) and 2 <= v <= 1024,
    "ef_construction": lambda v: _is_int(v) and 1 <= v <= 100000,
    "cluster_selection_method": lambda v: v in ("eom", "leaf"),
    "cluster_selection_epsilon": lambda v: (
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
        and math.isfinite(v) and v >= 0
    ),
    "allow_single_cluster": lambda v: isinstance(v, (bool, np.bool_)),
    "candidates": lambda v: v in ("auto", "hnsw", "exact"),
    "metric": lambda v: isinstance(v, str)
    and v.lower() in ("euclidean", "l2", "cosine", "manhattan", "l1", "cityblock", "chebyshev", "minkowski"),
    "random_state": lambda v: v is None or (_is_int(v) and 0 <= v < 2**64),
    "n_jobs": lambda v: v is None or (_is_int(v) and v != 0),
}


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


WRONG_TYPES = st.sampled_from([None, True, 2.5, float("nan"), "5", b"5", [5], (), {}, np.float64(3.0), 1j])


def _param(valid: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(valid, valid, valid, WRONG_TYPES, st.integers(-(2**70), 2**70))


PARAMS = {
    "min_cluster_size": _param(st.integers(2, 8) | st.sampled_from([np.int64(3), np.int8(4)])),
    "min_samples": _param(st.none() | st.integers(1, 8)),
    "m": _param(st.integers(2, 24)),
    "ef_construction": _param(st.integers(1, 50)),
    "cluster_selection_method": _param(st.sampled_from(["eom", "leaf", "EOM", "max", ""])),
    "cluster_selection_epsilon": _param(st.sampled_from([0.0, 0.5, 2, -1.0, math.inf, np.float32(0.1)])),
    "allow_single_cluster": _param(st.sampled_from([True, False, np.bool_(True), 0, 1, "yes"])),
    "candidates": _param(st.sampled_from(["auto", "hnsw", "exact", "HNSW", "brute"])),
    "metric": _param(st.sampled_from(["euclidean", "l2", "Cosine", "manhattan", "chebyshev", "", "minkowski", "dice"])),
    "random_state": _param(st.none() | st.integers(0, 2**64 - 1) | st.integers(-5, -1)),
    "n_jobs": _param(st.sampled_from([None, 1, 2, -1, 0, -100])),
}

X_PARAMS = np.random.default_rng(0).normal(size=(24, 2)) + np.repeat(np.array([[0.0, 0.0], [8.0, 8.0]]), 12, axis=0)


@SETTINGS
@given(st.fixed_dictionaries({}, optional=PARAMS))
def test_parameters(params):
    invalid = tuple(name for name, v in params.items() if not VALID[name](v))
    est = chutoro.FISHDBC(**params)
    err = check_fit(est, X_PARAMS, culprits=invalid)
    if not invalid:
        mcs = params.get("min_cluster_size", 5)
        ms = params.get("min_samples")
        if mcs <= len(X_PARAMS) and (ms is None or ms <= len(X_PARAMS)):
            assert err is None, f"valid parameters {params} rejected: {err}"


# ---------------------------------------------------------------- callables

def _metric_returning(value):
    return lambda a, b: value if a != b else 0.0


METRICS = st.sampled_from(
    [
        lambda a, b: abs(a - b),
        _metric_returning(math.nan),
        _metric_returning(-1.0),
        _metric_returning("far"),
        _metric_returning(None),
        _metric_returning(math.inf),
        _metric_returning(10**400),
        _metric_returning(np.float32(2.0)),
        _metric_returning(True),
    ]
)


@SETTINGS
@given(items=st.lists(st.floats(-100, 100), min_size=0, max_size=25), metric=METRICS)
def test_callable_metrics(items, metric):
    err = check_fit(chutoro.FISHDBC(min_cluster_size=2, metric=metric), items)
    if err is not None and items and len(items) >= 2:
        assert "metric" in str(err) or INPUT_WORDS.search(str(err)), str(err)


# ---------------------------------------------------------------- what the properties found

@pytest.mark.parametrize(
    "X,metric,error,message",
    [
        # numpy's conversion error did not say it was about X
        ([["a", "b"]] * 10, "euclidean", ValueError, r"^X: could not convert string to float: 'a'"),
        (np.zeros((10, 2), dtype=complex), "euclidean", ValueError, r"^X: Complex data not supported"),
        # the library's dense_source errors named the C++ class, not X
        (np.array([[0.0, 1.0], [np.nan, 2.0]] * 5, dtype=np.float32), "euclidean", ValueError,
         r"^X: row 1, column 0 is NaN"),
        (np.array([[0.0, 0.0], [1.0, 2.0]] * 5), "cosine", ValueError, r"^X: row 0 is all zeros"),
        # the string and callable paths did not name X for non-sequences
        ("abc", "levenshtein", TypeError, r"^X is a single str; metric='levenshtein' needs a sequence of str"),
        (b"abc", "jaccard", TypeError, r"^X is a single bytes; metric='jaccard' needs a sequence of str"),
        (None, "jaccard", TypeError, r"^X must be a sequence of str for metric='jaccard' \(got NoneType\)"),
        (3, "levenshtein", TypeError, r"^X must be a sequence of str for metric='levenshtein' \(got int\)"),
        ("abc", lambda a, b: 0.0, TypeError, r"^X is a single str; a callable metric needs a sequence of items"),
        (2.5, lambda a, b: 0.0, TypeError, r"^X must be a sequence of items for a callable metric \(got float\)"),
    ],
    ids=["strings", "complex", "nan_float32", "cosine_zero_row", "single_str", "single_bytes", "none", "int",
         "callable_single_str", "callable_float"],
)
def test_input_errors_name_X(X, metric, error, message):
    est = chutoro.FISHDBC(min_cluster_size=2, metric=metric)
    with pytest.raises(error, match=message):
        est.fit(X)
    if not isinstance(metric, str) or metric not in ("levenshtein", "jaccard"):
        return
    # partial_fit and approximate_predict take the same paths
    fitted = chutoro.FISHDBC(min_cluster_size=2, metric=metric).fit(["ab", "abc", "b", "bc", "x"])
    with pytest.raises(error, match=message):
        fitted.partial_fit(X)


def test_model_inputs_name_X():
    """partial_fit / approximate_predict of a dense model name X as fit does."""
    est = chutoro.FISHDBC(min_cluster_size=2).fit(X_PARAMS)
    with pytest.raises(ValueError, match=r"^X: row 0, column 1 is NaN"):
        est.partial_fit(np.array([[1.0, np.nan]], dtype=np.float32))
    with pytest.raises(ValueError, match=r"^X: could not convert string to float"):
        est.approximate_predict([["a", "b"]])


def test_hang_guard_interrupts_a_fit():
    """The alarm behind every fit above does stop one (so a hang fails, not blocks)."""
    import time

    def slow(a, b):
        time.sleep(0.01)
        return abs(a - b)

    with pytest.raises(FitHung):
        with time_limit(1):
            chutoro.FISHDBC(metric=slow, candidates="exact").fit(list(range(100)))
