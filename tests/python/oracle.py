"""Shared helpers of the oracle tests and of scripts/python_oracle_table.py:
the real data sets, their tie-free (jittered) copies, the reference
implementations (hdbscan, sklearn.cluster.HDBSCAN) and the comparisons.

Conventions that differ between the implementations and how they are mapped
(docs/python.md says more):

- min_samples: chutoro and scikit-learn count the item itself as its first
  neighbour; hdbscan 0.8.44 does not (its core distance is the distance to the
  min_samples-th *other* item). chutoro/sklearn min_samples = k is hdbscan
  min_samples = k - 1, and min_samples=None means min_cluster_size in each, so
  it is mapped explicitly.
- Cluster numbering: the same partition can carry different label numbers
  (the two children of a merge are ordered by each implementation's MST edge
  orientation), so labels are compared with ARI and noise sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATASETS = ("digits", "clusterable", "chameleon", "letter")
LETTER_SAMPLE = 5000
JITTER = 1e-3  # relative to the data's standard deviation

# Per data set: a cluster_selection_epsilon that merges part of the hierarchy
# (between the 80th and the 99th percentile of the MST weights at min_samples=5).
EPSILON = {"digits": 22.0, "clusterable": 0.04, "chameleon": 8.0, "letter": 4.0}


def data_dir() -> Path | None:
    """CHUTORO_DATA_DIR, else ../shared/data beside the repository root; None if absent."""
    env = os.environ.get("CHUTORO_DATA_DIR")
    d = Path(env) if env else REPO.parent / "shared" / "data"
    return d if d.is_dir() else None


def _csv(path: Path) -> np.ndarray:
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
    cols = [i for i, name in enumerate(header) if name != "label"]
    return np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, dtype=np.float64, ndmin=2)


_CACHE: dict[str, np.ndarray] = {}


def load(name: str) -> np.ndarray:
    """The data set as float64, shape (n, dim): digits (1797 x 64), clusterable
    (2309 x 2), chameleon (8000 x 2), letter (a seeded sample of 5000 of its
    20000 rows, 16 columns). Label columns are dropped."""
    if name in _CACHE:
        return _CACHE[name]
    d = data_dir()
    if d is None:
        raise FileNotFoundError("shared data not found: set CHUTORO_DATA_DIR or put it in ../shared/data")
    if name == "digits":
        X = _csv(d / "digits.csv")
    elif name == "clusterable":
        X = np.load(d / "clusterable_data.npy").astype(np.float64)
    elif name == "chameleon":
        X = _csv(d / "chameleon_ds3.csv")
    elif name == "letter":
        full = _csv(d / "letter.csv")
        idx = np.sort(np.random.default_rng(0).choice(len(full), LETTER_SAMPLE, replace=False))
        X = full[idx]
    else:
        raise KeyError(name)
    _CACHE[name] = X
    return X


def as_seen(X: np.ndarray) -> np.ndarray:
    """X rounded to float32 (what chutoro computes with), as float64 for the references."""
    return X.astype(np.float32).astype(np.float64)


def jittered(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """A tie-free copy: X plus seeded uniform noise of +-JITTER * std(X), rounded to float32."""
    rng = np.random.default_rng(seed)
    s = JITTER * float(X.std())
    return as_seen(X + rng.uniform(-s, s, X.shape))


def variant(name: str, kind: str) -> np.ndarray:
    X = load(name)
    return jittered(X) if kind == "jittered" else as_seen(X)


@dataclass(frozen=True)
class Selection:
    min_cluster_size: int
    method: str
    epsilon: float
    allow_single_cluster: bool


def selection_grid(name: str) -> list[Selection]:
    return [
        Selection(mcs, method, eps, single)
        for mcs in (5, 15)
        for method in ("eom", "leaf")
        for eps in (0.0, EPSILON[name])
        for single in (False, True)
    ]


# ----------------------------------------------------------------- trees
@dataclass
class Tree:
    """One implementation's hierarchy for one (data, min_samples)."""

    single_linkage: np.ndarray  # (n-1, 4) float64, scipy layout
    mst: np.ndarray | None = None  # (n-1, 3)
    core: np.ndarray | None = None  # (n,) float32 (chutoro only)


def chutoro_tree(X: np.ndarray, min_samples: int, candidates: str = "exact") -> Tree:
    import chutoro

    c = chutoro.FISHDBC(min_cluster_size=2, min_samples=min_samples, candidates=candidates).fit(X)
    return Tree(c.single_linkage_tree_.to_numpy(), c.minimum_spanning_tree_.to_numpy(),
                c.core_distances_.astype(np.float32))


def hdbscan_tree(X: np.ndarray, min_samples: int) -> Tree:
    """hdbscan.HDBSCAN(approx_min_span_tree=False) with chutoro's min_samples mapped (k -> k - 1)."""
    import hdbscan

    h = hdbscan.HDBSCAN(min_cluster_size=2, min_samples=min_samples - 1, approx_min_span_tree=False,
                        gen_min_span_tree=True).fit(X)
    return Tree(h.single_linkage_tree_.to_numpy(), h.minimum_spanning_tree_.to_numpy())


def sklearn_tree(X: np.ndarray, min_samples: int) -> Tree:
    from sklearn.cluster import HDBSCAN

    s = HDBSCAN(min_cluster_size=2, min_samples=min_samples, copy=True).fit(X)
    t = s._single_linkage_tree_
    return Tree(np.column_stack([t["left_node"], t["right_node"], t["value"], t["cluster_size"]]).astype(np.float64))


# ------------------------------------------------------------ selections
@dataclass
class Flat:
    labels: np.ndarray
    probabilities: np.ndarray
    outlier_scores: np.ndarray | None = None


def chutoro_select(tree: Tree, sel: Selection) -> Flat:
    from chutoro import _core

    r = _core.extract_clusters(np.ascontiguousarray(tree.mst), tree.core, sel.min_cluster_size, sel.method,
                               sel.epsilon, sel.allow_single_cluster)
    return Flat(np.asarray(r["labels"]), np.asarray(r["probabilities"]), np.asarray(r["outlier_scores"]))


def hdbscan_select(tree: Tree, sel: Selection) -> Flat:
    """What hdbscan.HDBSCAN.fit does after its tree: hdbscan's own condense/select/GLOSH code."""
    from hdbscan._hdbscan_tree import outlier_scores
    from hdbscan.hdbscan_ import _tree_to_labels

    labels, probs, _, condensed, _ = _tree_to_labels(
        None, tree.single_linkage, sel.min_cluster_size, sel.method, sel.allow_single_cluster, False, sel.epsilon
    )
    return Flat(labels, probs, outlier_scores(condensed))


def sklearn_select(tree: Tree, sel: Selection) -> Flat | None:
    """What sklearn.cluster.HDBSCAN.fit does after its tree (sklearn computes no outlier scores).

    None where sklearn itself fails: scikit-learn <= 1.9 with NumPy >= 2.4
    raises TypeError ("only 0-dimensional arrays can be converted to Python
    scalars") in its epsilon search whenever cluster_selection_epsilon > 0
    (a 1-element array used as a scalar in _tree.pyx traverse_upwards)."""
    from sklearn.cluster._hdbscan._tree import HIERARCHY_dtype, tree_to_labels

    slt = np.empty(len(tree.single_linkage), dtype=HIERARCHY_dtype)
    slt["left_node"] = tree.single_linkage[:, 0]
    slt["right_node"] = tree.single_linkage[:, 1]
    slt["value"] = tree.single_linkage[:, 2]
    slt["cluster_size"] = tree.single_linkage[:, 3]
    try:
        labels, probs = tree_to_labels(slt, sel.min_cluster_size, sel.method, sel.allow_single_cluster,
                                       sel.epsilon, None)
    except TypeError:
        if sel.epsilon > 0:
            return None
        raise
    return Flat(labels, probs)


# ------------------------------------------------------------ comparisons
@dataclass
class Agreement:
    ari: float
    noise_equal: bool
    label_diffs: int  # items whose label differs after matching clusters
    prob_diffs: int  # items whose probability differs by more than 1e-6
    glosh_diffs: int | None  # items whose GLOSH score differs by more than 1e-6 (or NaN mismatch)

    @property
    def exact(self) -> bool:
        return (self.ari == 1.0 and self.noise_equal and self.prob_diffs == 0
                and (self.glosh_diffs is None or self.glosh_diffs == 0))


def matched_label_diffs(a: np.ndarray, b: np.ndarray) -> int:
    """Items whose label differs once each cluster of a is renamed to its most
    frequent counterpart in b (noise stays noise)."""
    diffs = 0
    for label in np.unique(a):
        members = b[a == label]
        if label < 0:
            diffs += int(np.sum(members >= 0))
            continue
        values, counts = np.unique(members, return_counts=True)
        keep = counts[values >= 0]
        diffs += len(members) - (int(keep.max()) if keep.size else 0)
    return diffs


def agreement(a: Flat, b: Flat) -> Agreement:
    from sklearn.metrics import adjusted_rand_score

    glosh = None
    if a.outlier_scores is not None and b.outlier_scores is not None:
        sa, sb = a.outlier_scores, b.outlier_scores
        nan_mismatch = np.isnan(sa) != np.isnan(sb)
        with np.errstate(invalid="ignore"):
            far = np.abs(sa - sb) > 1e-6
        glosh = int(np.sum(nan_mismatch | (far & ~np.isnan(sa) & ~np.isnan(sb))))
    return Agreement(
        ari=float(adjusted_rand_score(a.labels, b.labels)),
        noise_equal=bool(np.array_equal(a.labels < 0, b.labels < 0)),
        label_diffs=matched_label_diffs(np.asarray(a.labels), np.asarray(b.labels)),
        prob_diffs=int(np.sum(np.abs(np.asarray(a.probabilities) - np.asarray(b.probabilities)) > 1e-6)),
        glosh_diffs=glosh,
    )


def _tied(dist: np.ndarray, rtol: float) -> np.ndarray:
    """tied[k]: row k + 1 merges at the same distance as row k, within rtol (float32 rounding)."""
    with np.errstate(invalid="ignore"):
        return (np.diff(dist) <= rtol * np.maximum(np.abs(dist[:-1]), 1e-30)) | (dist[1:] == dist[:-1])


def merge_levels(single_linkage: np.ndarray, tied: np.ndarray | None = None, rtol: float = 2e-6) -> list[frozenset]:
    """The hierarchy as a sequence of levels, independent of the order of merges
    within a level: merges whose distances agree within rtol (float32 rounding)
    form one level, and a level is the set of groups it creates, each group the
    frozenset of the components (named by their smallest item) that it joins.

    Two minimum spanning trees of the same graph give the same levels: they may
    pick different edges among equal weights and merge in a different order,
    which changes the binary single-linkage tree but not the components at any
    distance. So equal levels mean the two hierarchies differ only in how ties
    are broken."""
    n = len(single_linkage) + 1
    parent = list(range(n))
    smallest = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    node_item = list(range(n)) + [0] * (n - 1)  # any item inside each node
    if tied is None:
        tied = _tied(single_linkage[:, 2], rtol)
    levels: list[frozenset] = []
    i = 0
    while i < n - 1:
        j = i + 1
        while j < n - 1 and tied[j - 1]:
            j += 1
        before: dict[int, int] = {}  # root -> smallest item, before the level
        touched = []
        for r in range(i, j):
            left, right = int(single_linkage[r, 0]), int(single_linkage[r, 1])
            node_item[n + r] = node_item[left]
            for x in (node_item[left], node_item[right]):
                root = find(x)
                if root not in before:
                    before[root] = smallest[root]
                touched.append(root)
        for r in range(i, j):
            a, b = find(node_item[int(single_linkage[r, 0])]), find(node_item[int(single_linkage[r, 1])])
            if a != b:
                parent[b] = a
                smallest[a] = min(smallest[a], smallest[b])
        groups: dict[int, set] = {}
        for root, s in before.items():
            groups.setdefault(find(root), set()).add(s)
        levels.append(frozenset(frozenset(g) for g in groups.values()))
        i = j
    return levels


def levels_equal(a: np.ndarray, b: np.ndarray) -> tuple[bool, int]:
    """(equal, number of levels that join three or more components at once, i.e. ties)."""
    # One level structure for both: rows k and k + 1 share a level when either
    # implementation sees them tied (their distances differ by float32 rounding).
    tied = _tied(a[:, 2], 2e-6) | _tied(b[:, 2], 2e-6)
    la, lb = merge_levels(a, tied), merge_levels(b, tied)
    ties = sum(1 for level in la for g in level if len(g) >= 3)
    return la == lb, ties
