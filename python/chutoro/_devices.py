"""The GPUs chutoro can use, through its CUDA module (docs/gpu.md)."""

from __future__ import annotations

from typing import Any

from chutoro import _core


def devices(return_reason: bool = False) -> list[dict[str, Any]] | tuple[list[dict[str, Any]], str | None]:
    """List the CUDA devices chutoro can see.

    GPU code lives in a separate module, ``libchutoro_cuda.so``, shipped in
    the package folder when the package was built where ``nvcc`` was found,
    and loaded on the first call (or from the path in the environment
    variable ``CHUTORO_CUDA_LIBRARY``). Only the NVIDIA driver is needed at
    run time. Without a usable GPU (no module, no driver, a driver too old,
    no device) the list is empty: this never raises for that.

    Parameters
    ----------
    return_reason : bool, default=False
        Also return why the list is empty (as scikit-learn's ``return_X_y``
        changes a loader's return value).

    Returns
    -------
    devices : list of dict
        One dict per device: ``index`` (CUDA ordinal), ``name``,
        ``compute_capability`` (tuple (major, minor)), ``multiprocessors``,
        ``total_memory_bytes``, ``free_memory_bytes`` (when listed),
        ``driver_version`` (the CUDA version the driver supports, e.g.
        ``"13.0"``), ``runtime_version`` (the CUDA runtime inside the
        module), ``pci_bus_id`` (e.g. ``"0000:19:00.0"``) and ``supported``
        (the module has code for this compute capability).
    reason : str or None
        Only with ``return_reason=True``: why there is no device, in plain
        words (e.g. ``"no NVIDIA driver (libcuda.so.1 not found)"``), or
        None when every device was listed.

    Examples
    --------
    >>> found, why = chutoro.devices(return_reason=True)
    >>> found or print("no GPU:", why)
    """
    listing = _core.list_devices()
    found = list(listing["devices"])
    if return_reason:
        return found, listing["reason"]
    return found
