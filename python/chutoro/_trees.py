"""Tree objects of a fitted :class:`chutoro.FISHDBC`: the condensed tree, the
single-linkage tree and the minimum spanning tree, with the array layouts and
methods of hdbscan's ``condensed_tree_``, ``single_linkage_tree_`` and
``minimum_spanning_tree_`` (``to_numpy``, ``to_pandas``, ``plot``).

pandas is needed by ``to_pandas`` and matplotlib by ``plot`` (scipy too for the
dendrogram); both are imported only when called. The objects are immutable and
safe to share between threads (``plot`` draws through matplotlib, which is not).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _require(module: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ImportError(f"{what} needs {package}: pip install {package}") from None


def _axis(axis: Any) -> Any:
    if axis is not None:
        return axis
    plt = _require("matplotlib.pyplot", "plot()")
    return plt.gca()


class CondensedTree:
    """HDBSCAN*'s condensed tree (Campello et al. 2013, section 3; hdbscan's layout).

    One record per edge: ``parent`` (a cluster id), ``child`` (an item id < n,
    or a cluster id >= n; the root cluster is n), ``lambda_val`` (1 / the
    mutual-reachability distance at which the child leaves the parent; inf for
    distance 0) and ``child_size`` (1 for an item).

    Parameters
    ----------
    condensed_tree_array : structured ndarray
        dtype [('parent', intp), ('child', intp), ('lambda_val', float64), ('child_size', intp)].
    labels : ndarray of shape (n_samples,)
        The flat clustering, used to find the selected clusters for plotting.
    """

    def __init__(self, condensed_tree_array: np.ndarray, labels: np.ndarray) -> None:
        self._raw_tree = condensed_tree_array
        self._labels = labels

    def to_numpy(self) -> np.ndarray:
        """A copy of the structured array (fields parent, child, lambda_val, child_size)."""
        return self._raw_tree.copy()

    def to_pandas(self) -> Any:
        """A pandas DataFrame with columns parent, child, lambda_val, child_size, one row per edge."""
        pd = _require("pandas", "to_pandas()")
        return pd.DataFrame(self._raw_tree)

    def selected_clusters(self) -> np.ndarray:
        """Cluster ids of the selected clusters, in label order: entry k is the
        condensed-tree node whose items carry label k. Shape (n_clusters,), intp."""
        tree = self._raw_tree
        labels = np.asarray(self._labels)
        k = int(labels.max()) + 1 if labels.size else 0
        if k == 0:
            return np.empty(0, dtype=np.intp)
        parent_of = dict(zip(tree["child"].tolist(), tree["parent"].tolist()))
        root = int(tree["parent"].min()) if tree.size else len(labels)

        def depth(c: int) -> int:
            d = 0
            while c != root:
                c = parent_of[c]
                d += 1
            return d

        def lca(a: int, b: int) -> int:
            da, db = depth(a), depth(b)
            while da > db:
                a, da = parent_of[a], da - 1
            while db > da:
                b, db = parent_of[b], db - 1
            while a != b:
                a, b = parent_of[a], parent_of[b]
            return a

        out = np.empty(k, dtype=np.intp)
        item_parent = np.full(len(labels), -1, dtype=np.intp)
        is_item = tree["child"] < len(labels)
        item_parent[tree["child"][is_item]] = tree["parent"][is_item]
        for label in range(k):
            parents = np.unique(item_parent[labels == label])
            c = int(parents[0])
            for p in parents[1:]:
                c = lca(c, int(p))
            out[label] = c
        return out

    def plot(
        self,
        axis: Any = None,
        select_clusters: bool = False,
        label_clusters: bool = False,
        cmap: str = "viridis",
        colorbar: bool = True,
        log_size: bool = False,
        selection_palette: Any = None,
        max_rectangles_per_icicle: int = 50,
        leaf_separation: float = 1,
    ) -> Any:
        """Icicle plot of the condensed tree; returns the matplotlib axis.

        Each cluster is drawn as a column whose width is its number of items
        at each lambda (items leave as lambda grows downwards); lines join a
        cluster to the clusters it splits into. ``select_clusters`` outlines
        the selected clusters (colours from ``selection_palette``, a list of
        colours, else the tab10 cycle) and ``label_clusters`` writes their
        label. Infinite lambdas (exact duplicates) are drawn just below the
        largest finite one. ``leaf_separation`` (hdbscan's gap between leaf
        clusters) is accepted for hdbscan code; this layout keeps its own
        fixed gap. Needs matplotlib.
        """
        _require("matplotlib", "plot()")
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import LogNorm, Normalize
        from matplotlib.patches import Rectangle

        ax = _axis(axis)
        tree = self._raw_tree
        if tree.size == 0:
            return ax
        root = int(tree["parent"].min())
        finite = tree["lambda_val"][np.isfinite(tree["lambda_val"])]
        lam_max = float(finite.max()) if finite.size else 1.0
        lam_inf = lam_max * 1.05 if lam_max > 0 else 1.0
        lam = np.where(np.isfinite(tree["lambda_val"]), tree["lambda_val"], lam_inf)

        cluster_rows = tree["child_size"] > 1
        clusters = [root] + tree["child"][cluster_rows].tolist()
        birth = {root: 0.0}
        size = {root: int(np.sum(tree["child_size"][tree["parent"] == root]))}
        children: dict[int, list[int]] = {c: [] for c in clusters}
        for p, c, lv, s in zip(tree["parent"][cluster_rows], tree["child"][cluster_rows], lam[cluster_rows],
                               tree["child_size"][cluster_rows]):
            birth[int(c)] = float(lv)
            size[int(c)] = int(s)
            children[int(p)].append(int(c))

        # x layout: leaves left to right (width = size), parents centred over their children.
        centre: dict[int, float] = {}
        cursor = 0.0
        gap = 0.05 * size[root] / max(1, sum(1 for c in clusters if not children[c]))

        # Post-order walk without recursion (trees can be thousands of levels deep).
        stack = [(root, False)]
        while stack:
            c, expanded = stack.pop()
            if not children[c]:
                centre[c] = cursor + size[c] / 2
                cursor += size[c] + gap
            elif expanded:
                centre[c] = (centre[children[c][0]] + centre[children[c][-1]]) / 2
            else:
                stack.append((c, True))
                stack.extend((ch, False) for ch in reversed(children[c]))

        norm = (LogNorm if log_size else Normalize)(vmin=1, vmax=max(2, size[root]))
        colour = colormaps[cmap]
        for c in clusters:
            rows = tree["parent"] == c
            leave = np.sort(lam[rows])
            counts = tree["child_size"][rows][np.argsort(lam[rows], kind="stable")]
            # Remaining size just after each distinct event, then sampled down to at most max_rectangles.
            edges = np.concatenate(([birth[c]], leave))
            remaining = size[c] - np.concatenate(([0], np.cumsum(counts)))
            idx = np.unique(np.linspace(0, len(edges) - 2, min(max_rectangles_per_icicle, len(edges) - 1))
                            .astype(int)) if len(edges) > 1 else np.array([], dtype=int)
            for a, b in zip(idx, list(idx[1:]) + [len(edges) - 1]):
                y0, y1 = float(edges[a]), float(edges[b])
                if y1 <= y0:
                    continue
                w = float(remaining[a])
                ax.add_patch(Rectangle((centre[c] - w / 2, y0), w, y1 - y0, color=colour(norm(max(w, 1))),
                                       linewidth=0))
            if children[c]:
                xs = [centre[ch] for ch in children[c]]
                y = birth[children[c][0]]
                ax.plot([min(xs), max(xs)], [y, y], color="black", linewidth=1)
                for ch in children[c]:
                    ax.plot([centre[ch], centre[ch]], [y, birth[ch]], color="black", linewidth=1)
        if select_clusters:
            palette = selection_palette or [colormaps["tab10"](i % 10) for i in range(64)]
            for label, c in enumerate(self.selected_clusters().tolist()):
                rows = tree["parent"] == c
                end = float(lam[rows].max()) if rows.any() else birth[c]
                ax.add_patch(Rectangle((centre[c] - size[c] / 2, birth[c]), size[c], max(end - birth[c], 1e-12),
                                       fill=False, edgecolor=palette[label % len(palette)], linewidth=2))
                if label_clusters:
                    ax.text(centre[c], birth[c], str(label), ha="center", va="bottom")
        ax.set_xlim(-gap, cursor)
        ax.set_ylim(lam_inf, 0)
        ax.set_xticks([])
        ax.set_ylabel("$\\lambda$ value")
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        if colorbar:
            sm = ScalarMappable(norm=norm, cmap=colour)
            ax.figure.colorbar(sm, ax=ax, label="Number of points")
        return ax


    def to_networkx(self) -> Any:
        """The condensed tree as a networkx DiGraph: an edge parent -> child per
        row, weighted by the row's lambda_val; node attribute ``size`` is the
        child_size of the row creating the node (1 for items), as hdbscan's.
        Needs networkx (ImportError naming it otherwise)."""
        nx = _require("networkx", "to_networkx()")
        g = nx.DiGraph()
        tree = self._raw_tree
        g.add_weighted_edges_from(
            zip(tree["parent"].tolist(), tree["child"].tolist(), tree["lambda_val"].tolist())
        )
        nx.set_node_attributes(g, dict(zip(tree["child"].tolist(), tree["child_size"].tolist())), "size")
        return g

    def get_plot_data(
        self, leaf_separation: float = 1, log_size: bool = False, max_rectangle_per_icicle: int = 20
    ) -> dict[str, Any]:
        """The geometry of the icicle plot, as hdbscan's ``get_plot_data``:
        a dict of ``bar_centers``, ``bar_tops`` (heights, in lambda),
        ``bar_bottoms``, ``bar_widths`` (one entry per rectangle: at most
        ``max_rectangle_per_icicle`` per cluster, plus the last), ``line_xs`` /
        ``line_ys`` (the horizontal segment from a parent to each child
        cluster at the child's birth lambda) and ``cluster_bounds`` (cluster
        id -> [left, right, bottom, top]). Leaves are placed
        ``leaf_separation`` apart in depth-first order, parents midway between
        their two children, x scaled by the root's size (its log with
        ``log_size``, which also draws log sizes)."""
        tree = self._raw_tree
        parent, child, lam, csize = tree["parent"], tree["child"], tree["lambda_val"], tree["child_size"]
        root = int(parent.min())
        last = int(parent.max())
        is_cluster = csize > 1
        kids: dict[int, list[int]] = {}
        for p, c in zip(parent[is_cluster].tolist(), child[is_cluster].tolist()):
            kids.setdefault(p, []).append(c)
        # Leaves in depth-first order (children in row order).
        leaves: list[int] = []
        stack = [root]
        while stack:
            c = stack.pop()
            if c in kids:
                stack.extend(reversed(kids[c]))
            else:
                leaves.append(c)
        x = {c: leaf_separation * i for i, c in enumerate(leaves)}
        y: dict[int, float] = {root: 0.0}
        for c in range(last, root - 1, -1):
            if len(kids.get(c, ())) > 1:
                rows = np.flatnonzero((parent == c) & is_cluster)
                left, right = int(child[rows[0]]), int(child[rows[1]])
                x[c] = float(np.mean([x[left], x[right]]))
                y[left], y[right] = lam[rows[0]], lam[rows[1]]
        scaling = np.sum(csize[parent == root])
        if log_size:
            scaling = np.log(scaling)
        size_of = (lambda v: np.log(v)) if log_size else (lambda v: v)
        centers: list[float] = []
        tops: list[float] = []
        bottoms: list[float] = []
        widths: list[float] = []
        bounds: dict[int, list[float]] = {}
        for c in range(last, root - 1, -1):
            mine = tree[parent == c]
            total = np.sum(mine["child_size"])
            top = mine["lambda_val"].max()
            at_top = np.sum(mine[mine["lambda_val"] == top]["child_size"])
            width, full, least = size_of(total), size_of(total), size_of(at_top)
            step = float(full - least) / max_rectangle_per_icicle
            level = y[c]
            bounds[c] = [x[c] * scaling - width / 2.0, x[c] * scaling + width / 2.0, y[c], top]
            bar_width, bar_level = width, level
            for i in np.argsort(mine["lambda_val"]):
                row_lambda, row_size = mine["lambda_val"][i], mine["child_size"][i]
                if row_lambda != level and (bar_width - width > step or row_lambda == top):
                    centers.append(x[c] * scaling)
                    tops.append(row_lambda - bar_level)
                    bottoms.append(bar_level)
                    widths.append(bar_width)
                    bar_width, bar_level = width, level
                if log_size:
                    rest = np.exp(width) - row_size
                    width = np.log(rest) if rest > 0.01 else 0.0
                else:
                    width -= row_size
                level = row_lambda
        line_xs: list[list[float]] = []
        line_ys: list[list[float]] = []
        for row in tree[is_cluster]:
            p, c = int(row["parent"]), int(row["child"])
            half = size_of(row["child_size"]) / 2.0
            line_xs.append([x[p] * scaling, x[c] * scaling + np.sign(x[c] - x[p]) * half])
            line_ys.append([y[c], y[c]])
        return {
            "bar_centers": centers,
            "bar_tops": tops,
            "bar_bottoms": bottoms,
            "bar_widths": widths,
            "line_xs": line_xs,
            "line_ys": line_ys,
            "cluster_bounds": bounds,
        }


class SingleLinkageTree:
    """The single-linkage tree of the minimum spanning tree (scipy's linkage layout).

    Parameters
    ----------
    linkage : ndarray of shape (n_samples - 1, 4), float64
        Row i merges ``left`` and ``right`` (ids < n are items, id n + r the
        cluster of row r) at mutual-reachability ``distance`` into a cluster
        of ``size`` items. Distances are non-decreasing; inf joins
        disconnected parts.
    """

    def __init__(self, linkage: np.ndarray) -> None:
        self._linkage = linkage

    def to_numpy(self) -> np.ndarray:
        """A copy of the (n_samples - 1, 4) float64 linkage array (scipy.cluster.hierarchy format)."""
        return self._linkage.copy()

    def to_pandas(self) -> Any:
        """A pandas DataFrame with columns parent, left_child, right_child, distance, size."""
        pd = _require("pandas", "to_pandas()")
        rows = self._linkage.shape[0]
        return pd.DataFrame(
            {
                "parent": np.arange(rows + 1, 2 * rows + 1),
                "left_child": self._linkage[:, 0],
                "right_child": self._linkage[:, 1],
                "distance": self._linkage[:, 2],
                "size": self._linkage[:, 3],
            }
        )

    def get_clusters(self, cut_distance: float, min_cluster_size: int = 5) -> np.ndarray:
        """The flat clustering (DBSCAN*) at one distance: items joined by merges
        below ``cut_distance`` form a group; groups of at least
        ``min_cluster_size`` items get labels 0, 1, ... (in order of their
        first item), the others -1. Shape (n_samples,), intp."""
        rows = self._linkage.shape[0]
        n = rows + 1
        parent = np.arange(n)

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        rep = np.empty(2 * n - 1, dtype=np.intp)
        rep[:n] = np.arange(n)
        for r in range(rows):
            left, right, dist = int(self._linkage[r, 0]), int(self._linkage[r, 1]), self._linkage[r, 2]
            rep[n + r] = rep[left]
            if dist < cut_distance:
                a, b = find(rep[left]), find(rep[right])
                if a != b:
                    parent[b] = a
        roots = np.array([find(i) for i in range(n)])
        uniq, first, counts = np.unique(roots, return_index=True, return_counts=True)
        labels = np.full(n, -1, dtype=np.intp)
        next_label = 0
        for k in np.argsort(first):
            if counts[k] >= min_cluster_size:
                labels[roots == uniq[k]] = next_label
                next_label += 1
        return labels

    def plot(
        self,
        axis: Any = None,
        truncate_mode: str | None = None,
        p: int = 0,
        vary_line_width: bool = True,
        cmap: str = "viridis",
        colorbar: bool = True,
        color: str | None = None,
    ) -> Any:
        """Dendrogram (scipy.cluster.hierarchy.dendrogram's layout); returns the matplotlib axis.

        hdbscan's options: ``truncate_mode``/``p`` as scipy's; each merge is
        coloured by log2 of the size of the cluster it makes (``cmap``, with a
        ``colorbar``) and, with ``vary_line_width``, drawn thicker the larger
        that cluster. ``color`` draws every line in one colour instead (no
        colorbar). Infinite merge distances are drawn just above the largest
        finite one. Needs matplotlib and scipy."""
        _require("matplotlib", "plot()")
        hierarchy = _require("scipy.cluster.hierarchy", "plot()")
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        ax = _axis(axis)
        z = self._linkage.copy()
        finite = np.isfinite(z[:, 2])
        top = float(z[finite, 2].max()) if finite.any() else 1.0
        z[~finite, 2] = top * 1.1 if top > 0 else 1.0
        d = hierarchy.dendrogram(z, truncate_mode=truncate_mode, p=p, no_plot=True)
        # The merge each U shape draws: the linkage row at its height (rows are sorted by distance;
        # among equal heights the sizes are close enough for a colour).
        heights = np.array([ys[1] for ys in d["dcoord"]])
        rows = np.clip(np.searchsorted(z[:, 2], heights), 0, len(z) - 1)
        size = np.log2(np.maximum(z[rows, 3], 1.0))
        norm = Normalize(vmin=0.0, vmax=float(max(size.max(), 1.0)) if len(size) else 1.0)
        colours = colormaps[cmap]
        for xs, ys, s in zip(d["icoord"], d["dcoord"], size):
            width = 1.0 + 2.0 * s / norm.vmax if vary_line_width else 1.0
            ax.plot(xs, ys, color=color or colours(norm(s)), linewidth=width)
        ax.set_xticks([])
        ax.set_ylabel("distance")
        if colorbar and color is None:
            bar = ax.figure.colorbar(ScalarMappable(norm=norm, cmap=colours), ax=ax)
            bar.set_label("log2(number of points)")
        return ax


    def to_networkx(self) -> Any:
        """The single-linkage tree as a networkx DiGraph: merge node n + r has
        edges to its two children weighted by the merge distance; merge nodes
        have attribute ``size``, as hdbscan's. Needs networkx."""
        nx = _require("networkx", "to_networkx()")
        g = nx.DiGraph()
        n = self._linkage.shape[0] + 1
        for r, (left, right, dist, size) in enumerate(self._linkage.tolist()):
            g.add_edge(n + r, int(left), weight=dist)
            g.add_edge(n + r, int(right), weight=dist)
        nx.set_node_attributes(g, {n + r: row[3] for r, row in enumerate(self._linkage.tolist())}, "size")
        return g


class MinimumSpanningTree:
    """The minimum spanning tree under mutual reachability.

    Parameters
    ----------
    mst : ndarray of shape (n_samples - 1, 3), float64
        Rows (from, to, distance), sorted by distance; distance is the mutual
        reachability distance max(core(a), core(b), d(a, b)).
    data : ndarray of shape (n_samples, n_features), a function returning one, or None
        The clustered vectors, for ``plot``; None for strings, precomputed
        distances and callable metrics.
    """

    def __init__(self, mst: np.ndarray, data: np.ndarray | None) -> None:
        self._mst = mst
        self._data = data

    def to_numpy(self) -> np.ndarray:
        """A copy of the (n_samples - 1, 3) float64 edge array (from, to, distance)."""
        return self._mst.copy()

    def to_pandas(self) -> Any:
        """A pandas DataFrame with columns from, to (int) and distance."""
        pd = _require("pandas", "to_pandas()")
        return pd.DataFrame(
            {"from": self._mst[:, 0].astype(np.intp), "to": self._mst[:, 1].astype(np.intp),
             "distance": self._mst[:, 2]}
        )

    def plot(
        self,
        axis: Any = None,
        node_size: float = 40,
        node_color: Any = "k",
        node_alpha: float = 0.8,
        edge_alpha: float = 0.5,
        edge_cmap: str = "viridis_r",
        edge_linewidth: float = 2,
        vary_line_width: bool = True,
        colorbar: bool = True,
    ) -> Any:
        """Draw the tree over the items' positions; returns the matplotlib axis.
        Two-dimensional data is drawn as is; more dimensions are projected on
        their first two principal components. Edges are coloured by distance
        (and thinner when longer with ``vary_line_width``). Raises ValueError
        without vector data (strings, precomputed, callable metrics). Needs matplotlib."""
        if self._data is None:
            raise ValueError(
                "minimum_spanning_tree_.plot() needs vector data; this tree was fitted on strings, "
                "a precomputed matrix or a callable metric"
            )
        _require("matplotlib", "plot()")
        from matplotlib import colormaps
        from matplotlib.collections import LineCollection

        ax = _axis(axis)
        x = np.asarray(self._data() if callable(self._data) else self._data, dtype=np.float64)
        if x.shape[1] == 1:
            x = np.column_stack([x[:, 0], np.zeros(len(x))])
        elif x.shape[1] > 2:
            centred = x - x.mean(axis=0)
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            x = centred @ vt[:2].T
        a = self._mst[:, 0].astype(np.intp)
        b = self._mst[:, 1].astype(np.intp)
        dist = self._mst[:, 2]
        finite = np.isfinite(dist)
        segments = np.stack([x[a[finite]], x[b[finite]]], axis=1)
        d = dist[finite]
        if vary_line_width and d.size:
            widths = edge_linewidth * (np.log(d.max() / np.maximum(d, 1e-300)) + 1) / (np.log(d.max() / max(d.min(), 1e-300)) + 1)
        else:
            widths = np.full(d.shape, edge_linewidth)
        lines = LineCollection(segments, cmap=colormaps[edge_cmap], linewidths=widths, alpha=edge_alpha)
        lines.set_array(d)
        ax.add_collection(lines)
        ax.scatter(x[:, 0], x[:, 1], s=node_size, c=node_color, alpha=node_alpha, linewidths=0, zorder=2)
        ax.autoscale_view()
        ax.set_xticks([])
        ax.set_yticks([])
        if colorbar:
            ax.figure.colorbar(lines, ax=ax, label="Mutual reachability distance")
        return ax

    def to_networkx(self) -> Any:
        """The minimum spanning tree as a networkx Graph, edges weighted by
        their mutual reachability distance; with vector data, node attribute
        ``data`` holds each item's vector as a tuple (as hdbscan's). Needs networkx."""
        nx = _require("networkx", "to_networkx()")
        g = nx.Graph()
        for a, b, w in self._mst.tolist():
            g.add_edge(int(a), int(b), weight=w)
        data = self._data() if callable(self._data) else self._data
        if data is not None:
            nx.set_node_attributes(g, {i: tuple(row) for i, row in enumerate(np.asarray(data).tolist())}, "data")
        return g
