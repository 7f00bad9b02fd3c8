"""chutoro.devices(): the CUDA devices, or none and why, never an error."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import chutoro
from chutoro import _core

PACKAGE_DIR = pathlib.Path(chutoro.__file__).parent
KEYS = {
    "index",
    "name",
    "compute_capability",
    "multiprocessors",
    "total_memory_bytes",
    "free_memory_bytes",
    "driver_version",
    "runtime_version",
    "pci_bus_id",
    "supported",
}


def test_devices_or_a_reason():
    found, reason = chutoro.devices(return_reason=True)
    assert isinstance(found, list)
    again = chutoro.devices()  # free memory may change between calls, the devices not
    assert [d["pci_bus_id"] for d in again] == [d["pci_bus_id"] for d in found]
    if not found:
        assert isinstance(reason, str) and reason
    for d in found:
        assert set(d) == KEYS
        major, minor = d["compute_capability"]
        assert major >= 1 and minor >= 0
        assert d["multiprocessors"] > 0
        assert 0 < d["free_memory_bytes"] <= d["total_memory_bytes"]
        assert len(d["pci_bus_id"]) == 12


def test_the_module_ships_next_to_the_extension():
    listing = _core.list_devices()
    shipped = PACKAGE_DIR / "libchutoro_cuda.so"
    if os.environ.get("CHUTORO_CUDA_LIBRARY"):
        return
    if shipped.exists():
        assert listing["module"] == str(shipped.resolve())
        assert "runtime (static)" in listing["module_build"]
        assert listing["runtime_version"] is not None
    else:
        assert listing["module"] is None
        assert "CUDA module not found" in listing["reason"]
        assert str(PACKAGE_DIR.resolve()) in listing["reason"]


def run_child(env_extra: dict[str, str]) -> dict:
    code = textwrap.dedent(
        """
        import json, chutoro
        found, reason = chutoro.devices(return_reason=True)
        print(json.dumps({"found": found, "reason": reason}))
        """
    )
    env = dict(os.environ, **env_extra)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_missing_module_named_by_the_environment(tmp_path):
    missing = tmp_path / "libchutoro_cuda.so"
    got = run_child({"CHUTORO_CUDA_LIBRARY": str(missing)})
    assert got == {"found": [], "reason": f"CHUTORO_CUDA_LIBRARY={missing}: no such file"}


def test_a_file_that_is_no_module(tmp_path):
    bogus = tmp_path / "libchutoro_cuda.so"
    bogus.write_text("not a library\n")
    got = run_child({"CHUTORO_CUDA_LIBRARY": str(bogus)})
    assert got["found"] == []
    assert got["reason"].startswith(f"CHUTORO_CUDA_LIBRARY={bogus}: cannot load the CUDA module")
