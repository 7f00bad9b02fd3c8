"""The machine a benchmark ran on: CPU, cores, RAM, OS, compiler, peer versions,
chutoro's version and SIMD target."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

PEERS = ["fishdbc", "anydist", "hdbscan", "scikit-learn", "fast_hdbscan", "pynndescent", "numba", "hnswlib",
         "rapidfuzz", "numpy"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        return round(int(m.group(1)) / 2**20, 1)
    except (OSError, AttributeError):
        return 0.0


def _os() -> str:
    try:
        m = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())
        name = m.group(1) if m else platform.system()
    except OSError:
        name = platform.system()
    return f"{name}, kernel {platform.release()}"


def _compiler(build_dir: Path) -> str:
    try:
        cache = (build_dir / "CMakeCache.txt").read_text()
        cxx = re.search(r"CMAKE_CXX_COMPILER:[A-Z]+=(.+)", cache).group(1).strip()
        flags = re.search(r"CMAKE_CXX_FLAGS_RELEASE:[A-Z]+=(.*)", cache).group(1).strip()
        ver = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        return f"{ver} ({flags})"
    except Exception:  # noqa: BLE001 - best effort description
        return "unknown"


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001
        return "unknown"


def describe(chutoro: Path) -> dict:
    versions = {}
    for p in PEERS:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = "not installed"
    root = Path(__file__).resolve().parents[2]
    commit = _run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "ram_gib": _ram_gib(), "os": _os(),
            "compiler": _compiler(chutoro.parent), "python": platform.python_version(),
            "chutoro_version": _run([str(chutoro), "--version"]).replace("\n", "; "),
            "chutoro_commit": commit, "peers": versions}
