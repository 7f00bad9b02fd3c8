"""Workloads of the side-by-side benchmark: the shared real data sets and
seeded Gaussian blobs. Each workload is materialised once into a cache folder
as files every tool reads the same way:

- ``X.npy``      float32 C-order (n, d) features (dense workloads), or
- ``items.txt``  one string a line (levenshtein workloads),
- ``truth.npy``  int64 ground-truth labels (-1 = uniform noise), when known.

The generator (``make_blobs``) is this project's own: ``k`` Gaussian clusters
whose standard deviations differ by a factor of 5 (varying density) and whose
sizes differ by a factor of about 4, centres uniform in [-10, 10]^d, plus 10%
of the points uniform over the box [-12, 12]^d (label -1). One seed per
workload (derived from n and d), so every run and machine gets the same data.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = (ROOT / ".." / "shared" / "data").resolve()


@dataclass
class Workload:
    name: str
    kind: str  # "real" | "blobs" | "strings"
    n: int
    d: int  # 0 for strings
    metric: str = "euclidean"
    source: str = ""  # file in DATA_DIR for real data
    has_truth: bool = False
    seed: int = 0
    notes: str = ""
    tools: tuple[str, ...] = field(default=())  # empty = every tool that supports the workload

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "n": self.n, "d": self.d, "metric": self.metric,
                "source": self.source, "has_truth": self.has_truth, "seed": self.seed, "notes": self.notes}


def _blob_name(n: int, d: int) -> str:
    tag = f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"
    return f"blobs_{tag}_{d}"


BLOB_GRID = [(n, d) for n in (10_000, 100_000, 1_000_000) for d in (2, 16, 128)] + [(20_000, 784)]


def all_workloads() -> list[Workload]:
    w = [
        Workload("digits", "real", 1797, 64, source="digits.csv", has_truth=True),
        Workload("letter", "real", 20000, 16, source="letter.csv", has_truth=True),
        Workload("shuttle", "real", 58000, 9, source="shuttle.csv", has_truth=True),
        Workload("chameleon_ds3", "real", 8000, 2, source="chameleon_ds3.csv"),
        Workload("clusterable_data", "real", 2309, 2, source="clusterable_data.npy"),
        Workload("words_20k", "strings", 20000, 0, metric="levenshtein", source="words_en.txt", seed=20,
                 notes="seeded random sample of 20,000 lines of words_en.txt (small enough for exact mode)"),
        Workload("words_en", "strings", 104334, 0, metric="levenshtein", source="words_en.txt"),
    ]
    for n, d in BLOB_GRID:
        w.append(Workload(_blob_name(n, d), "blobs", n, d, has_truth=True, seed=1000 * d + n // 1000))
    return w


QUICK = ["clusterable_data", "digits", "blobs_10k_2", "blobs_10k_16"]

# Order of a full run: real data, 10k and 100k blobs, 20k x 784, then 1M blobs.
FULL_ORDER = ["digits", "clusterable_data", "chameleon_ds3", "letter", "shuttle", "words_20k", "words_en",
              "blobs_10k_2", "blobs_10k_16", "blobs_10k_128",
              "blobs_100k_2", "blobs_100k_16", "blobs_100k_128",
              "blobs_20k_784",
              "blobs_1M_2", "blobs_1M_16", "blobs_1M_128"]


def make_blobs(n: int, d: int, seed: int, k: int = 20, noise_fraction: float = 0.10):
    """(X float32 (n, d), labels int64 (n,)); labels -1 mark the uniform noise."""
    rng = np.random.default_rng(seed)
    n_noise = int(round(noise_fraction * n))
    n_clustered = n - n_noise
    weights = rng.uniform(1.0, 4.0, size=k)
    sizes = np.floor(weights / weights.sum() * n_clustered).astype(np.int64)
    sizes[: n_clustered - sizes.sum()] += 1
    centres = rng.uniform(-10.0, 10.0, size=(k, d))
    stds = rng.uniform(0.2, 1.0, size=k)  # densities differ by up to 5^d
    X = np.empty((n, d), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    at = 0
    for c in range(k):
        m = int(sizes[c])
        X[at:at + m] = (centres[c] + stds[c] * rng.standard_normal((m, d))).astype(np.float32)
        y[at:at + m] = c
        at += m
    X[at:] = rng.uniform(-12.0, 12.0, size=(n_noise, d)).astype(np.float32)
    y[at:] = -1
    perm = rng.permutation(n)
    return np.ascontiguousarray(X[perm]), y[perm]


def _read_csv(path: Path, has_truth: bool):
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    if has_truth:
        assert header[-1] == "label", f"{path}: last column is {header[-1]!r}, not 'label'"
        feats = np.array([[float(v) for v in r[:-1]] for r in body], dtype=np.float32)
        _, y = np.unique([r[-1] for r in body], return_inverse=True)
        return feats, y.astype(np.int64)
    return np.array([[float(v) for v in r] for r in body], dtype=np.float32), None


def materialise(w: Workload, cache: Path) -> Path:
    """Writes the workload's files into cache/<name>/ (once) and returns that folder."""
    out = cache / w.name
    done = out / "ready.json"
    if done.exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    if w.kind == "blobs":
        X, y = make_blobs(w.n, w.d, w.seed)
        np.save(out / "X.npy", X)
        np.save(out / "truth.npy", y)
    elif w.kind == "real":
        src = DATA_DIR / w.source
        if src.suffix == ".npy":
            X, y = np.load(src).astype(np.float32), None
        else:
            X, y = _read_csv(src, w.has_truth)
        np.save(out / "X.npy", np.ascontiguousarray(X))
        if y is not None:
            np.save(out / "truth.npy", y)
    elif w.kind == "strings":
        lines = (DATA_DIR / w.source).read_text(encoding="utf-8").splitlines()
        if w.n < len(lines):
            idx = np.sort(np.random.default_rng(w.seed).choice(len(lines), w.n, replace=False))
            lines = [lines[i] for i in idx]
        (out / "items.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        raise ValueError(w.kind)
    done.write_text(json.dumps(w.to_json()))
    return out
