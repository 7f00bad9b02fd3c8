"""Vectorised Python metrics: one call measures one item against many.

A per-pair callable metric costs one Python call (and one GIL round trip)
per distance. :func:`vectorized` declares a metric that takes one item and
an array of items, so the graph build (whose searches measure one query
against all the unvisited neighbours of a node at once, through
``data_source::distance_batch``) calls Python once per batch.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class vectorized:  # noqa: N801 (used as a decorator / wrapper, like functools.partial)
    """Declares ``func`` as a vectorised metric for :class:`chutoro.FISHDBC`.

    ``func(x, Y)`` gets one item ``x`` (``X[i]``, shape ``X.shape[1:]``) and
    the items ``Y`` (``X[ids]``, shape ``(m,) + X.shape[1:]``, m >= 1) and
    returns the m distances d(x, Y[k]) as an array-like of shape ``(m,)``
    (any real dtype; they are stored as float32), each >= 0, with d(x, x) = 0
    and d(x, y) = d(y, x) as for any chutoro metric. X must stack into one
    numpy array (``np.asarray(X)``, at least 2-D).

    Use it as ``FISHDBC(metric=chutoro.vectorized(f))`` or as a decorator.
    Calling the wrapper on two items, ``metric(a, b)``, gives
    ``func(a, b[None])[0]`` as a float (the per-pair form, used where chutoro
    needs single distances). Fits still run on one thread (each batch holds
    the GIL), but Python is called once per batch of about ef_construction/2
    items instead of once per pair.

    Errors (raised by fit, naming the metric): ``TypeError`` when ``func`` is not
    callable or X does not stack into an array; ``ValueError`` when ``func``
    returns a shape other than ``(m,)``, or a NaN or negative distance; an
    exception ``func`` raises propagates unchanged.
    The wrapper pickles when ``func`` does. Thread safety: as ``func``.
    """

    def __init__(self, func: Callable[[np.ndarray, np.ndarray], Any]) -> None:
        if not callable(func):
            raise TypeError(f"vectorized: func must be callable (got {type(func).__name__})")
        self.func = func

    @property
    def name(self) -> str:
        """The metric's name in error messages (func's __qualname__, else its repr)."""
        return getattr(self.func, "__qualname__", None) or repr(self.func)

    def __repr__(self) -> str:
        return f"chutoro.vectorized({self.name})"

    def __call__(self, a: Any, b: Any) -> float:
        if type(a) is not np.ndarray:
            a = np.asarray(a)
        if type(b) is not np.ndarray:
            b = np.asarray(b)
        Y = b[None]
        r = self.func(a, Y)
        if type(r) is np.ndarray and r.shape == (1,):  # the common case, checked cheaply
            d = float(r[0])
            if d >= 0:
                return d
        return float(self.checked(a, Y, "the pair", r)[0])

    def checked(self, x: np.ndarray, Y: np.ndarray, what: str, r: Any = None) -> np.ndarray:
        """func(x, Y) (or its result r) as float32 of shape (len(Y),), checked (see the
        class doc). The common case costs two numpy calls beyond func: a conversion and one test."""
        if r is None:
            r = self.func(x, Y)
        try:
            d = np.asarray(r, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ValueError(f"vectorized metric {self.name} returned {type(r).__name__}, not real numbers: {e}") from None
        m = len(Y)
        if d.shape != (m,):
            raise ValueError(
                f"vectorized metric {self.name} returned shape {d.shape} for {m} rows of {what}; "
                f"expected ({m},): one distance per row of Y"
            )
        if not (d >= 0).all():
            bad = np.flatnonzero(~(d >= 0))[0]
            raise ValueError(
                f"vectorized metric {self.name}: distance {d[bad]} (row {bad} of {what}) "
                "is not a non-negative number"
            )
        return d

    def batcher(self, rows: np.ndarray) -> Callable[[int, memoryview, memoryview], None]:
        """The batch(q, ids, out) function CallableSource calls (python/src/module.cpp)."""
        frombuffer, uint32, float32, checked = np.frombuffer, np.uint32, np.float32, self.checked

        def batch(q: int, ids: memoryview, out: memoryview) -> None:
            index = frombuffer(ids, dtype=uint32)
            frombuffer(out, dtype=float32)[:] = checked(rows[q], rows[index], f"X[{q}] against {index.size} items")

        return batch


def stack_rows(items: list[Any], metric: vectorized) -> np.ndarray:
    """The items as one numpy array (n, ...) for a vectorised metric."""
    try:
        rows = np.asarray(items)
    except Exception as e:
        raise TypeError(f"X for vectorized metric {metric.name} must stack into one numpy array: {e}") from None
    if rows.ndim < 2 or rows.dtype == object:
        raise TypeError(
            f"X for vectorized metric {metric.name} must stack into a numeric array of at least 2 dimensions "
            f"(n items, then each item's shape); got shape {rows.shape}, dtype {rows.dtype}"
        )
    return rows
