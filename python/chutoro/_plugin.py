"""Data sources loaded at run time from C plugins (include/chutoro/plugin.h)."""

from __future__ import annotations

import os

from chutoro import _core


def load_plugin(path: str | os.PathLike[str], arg: str = "") -> _core.PluginSource:
    """Load a chutoro plugin and open it with ``arg``; pass the result as X to ``FISHDBC.fit``.

    A plugin is a shared library exporting ``chutoro_plugin_open`` (the C ABI
    of ``include/chutoro/plugin.h``, see docs/plugins.md). It supplies the
    items and the distance: ``FISHDBC(...).fit(load_plugin(path, arg))``
    clusters them with the plugin's distance, so ``metric`` must be left at
    its default or name the plugin's distance (``source.name``). The library
    is loaded once here and unloaded when the returned object is garbage
    collected; the object may be fitted any number of times. Distances are
    computed with the GIL released, from several threads when ``n_jobs``
    asks for them (the plugin contract requires a thread-safe distance).

    Parameters
    ----------
    path : str or os.PathLike
        The plugin file (``.so``). A path without a slash is looked up by
        the dynamic loader (``LD_LIBRARY_PATH``...); prefer a full path.
    arg : str, default=""
        The plugin-specific argument string (for instance a data file).

    Returns
    -------
    chutoro._core.PluginSource
        ``len(source)`` items; ``source.name`` is the plugin's distance name,
        ``source.path`` its file, ``source.caps`` its capability bits, and
        ``source.distance(i, j)`` one distance.

    Raises
    ------
    OSError
        The file is missing or cannot be loaded.
    NotImplementedError
        No entry point, or an ABI version this chutoro does not support.
    ValueError
        The plugin rejected ``arg`` (its own message), or returned an invalid
        v-table or zero items.

    Every message starts with ``plugin <path>: ``.
    """
    if not isinstance(arg, str):
        raise TypeError(f"arg must be a str (got {type(arg).__name__})")
    p = os.fspath(path)
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    return _core.PluginSource(p, arg)
