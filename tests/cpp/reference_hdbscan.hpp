// reference_hdbscan.hpp — a deliberately naive, independent HDBSCAN* for the
// tests (the oracle the library's `candidates = exact` mode is checked against).
//
// Written from Campello, Moulavi & Sander 2013 ("Density-based clustering based
// on hierarchical density estimates") and Campello et al. 2015 ("Hierarchical
// density estimates for data clustering, visualization, and outlier
// detection"), with the conventions of the hdbscan Python library
// (hdbscan/_hdbscan_tree.pyx: condense_tree, compute_stability, get_clusters,
// epsilon_search, do_labelling, get_probabilities, outlier_scores,
// get_stability_scores; match_reference_implementation = False). It shares no
// code with src/ and is structured differently on purpose: everything is
// O(n^2) or worse and as plain as possible.
//
//  - distances: the full n x n matrix, read once through data_source::distance
//    (float, as the library computes them: the oracle checks the clustering
//    algorithm; test_metrics.cpp checks the kernels against double formulas);
//  - core distance: sort each row (the diagonal 0 included), take entry
//    min_samples - 1, i.e. the item itself counts as its first neighbour;
//  - mutual reachability: max(core a, core b, d(a, b)) in float;
//  - MST: O(n^2) Prim over the matrix, every comparison on the strict key
//    (w, min(a, b), max(a, b)), so the tree is the unique minimum under that order;
//  - single linkage: edges by (w, a, b) with a < b; each merge relabels the
//    members of both sides in a plain component array (O(n) per merge);
//    `left` is the side holding edge.a (the library's convention);
//  - condensed tree: a FIFO walk over the single-linkage nodes (so cluster ids
//    and rows come out in hdbscan's breadth-first order), a side with
//    >= min_cluster_size items continues, smaller sides fall out as points;
//  - excess of mass: recursion over the cluster tree; hdbscan rounds the sum
//    of the children's stabilities to float32 (`cdef float subtree_stability`),
//    and so does this;
//  - leaf selection, cluster_selection_epsilon (climb to the nearest ancestor
//    born above epsilon), allow_single_cluster and hdbscan's root-labelling rule;
//  - probabilities, GLOSH outlier scores and cluster persistence as hdbscan.
//
// Lambda = 1 / distance (inf for 0, 0 for inf). Labels number the selected
// clusters in ascending condensed-cluster id.
#pragma once

#include <algorithm>
#include <chutoro/data_source.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <set>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace chutoro_test::ref {

/// Selection options (min_samples already resolved: the caller applies "unset = min_cluster_size").
struct options {
  std::size_t min_cluster_size = 5;
  bool leaf = false;
  double epsilon = 0.0;
  bool allow_single_cluster = false;
};

struct edge {
  std::int64_t a, b;  // a < b
  double w;           // mutual reachability
};
struct link {
  std::int64_t left, right;
  double dist;
  std::int64_t size;
};
struct crow {
  std::int64_t parent, child;
  double lambda;
  std::int64_t size;
};

/// Everything after the MST.
struct hierarchy {
  std::vector<link> slt;
  std::vector<crow> condensed;         // hdbscan row order
  std::vector<std::int64_t> selected;  // ascending cluster ids
  std::vector<double> stability;       // per (cluster id - n), after selection
  std::vector<double> birth_distance;  // per (cluster id - n): 1 / birth lambda (root: inf)
  std::vector<std::int32_t> labels;
  std::vector<double> probabilities, outlier_scores, persistence;
};

/// The whole pipeline.
struct full_result : hierarchy {
  std::vector<float> core;
  std::vector<edge> mst;  // sorted by (w, a, b)
};

/// Full symmetric distance matrix in float.
struct matrix {
  std::size_t n = 0;
  std::vector<float> d;
  float at(std::size_t i, std::size_t j) const { return d[i * n + j]; }
};

inline matrix distance_matrix(const chutoro::data_source& src) {
  matrix m;
  m.n = src.size();
  m.d.assign(m.n * m.n, 0.0f);
  for (std::size_t i = 0; i < m.n; ++i)
    for (std::size_t j = i + 1; j < m.n; ++j) m.d[i * m.n + j] = m.d[j * m.n + i] = src.distance(i, j);
  return m;
}

/// Core distance = the min_samples-th smallest entry of the row, the 0 on the diagonal counting.
inline std::vector<float> core_distances(const matrix& m, std::size_t min_samples) {
  std::vector<float> core(m.n);
  for (std::size_t i = 0; i < m.n; ++i) {
    std::vector<float> row(m.d.begin() + static_cast<std::ptrdiff_t>(i * m.n),
                           m.d.begin() + static_cast<std::ptrdiff_t>((i + 1) * m.n));
    row[i] = 0.0f;
    std::sort(row.begin(), row.end());
    core[i] = row[min_samples - 1];
  }
  return core;
}

inline float mutual_reachability(const matrix& m, const std::vector<float>& core, std::size_t a,
                                 std::size_t b) {
  return std::max({core[a], core[b], m.at(a, b)});
}

/// Prim over the matrix with the strict key (w, min id, max id). Returns edges sorted by (w, a, b).
inline std::vector<edge> prim_mst(const matrix& m, const std::vector<float>& core) {
  using key = std::tuple<float, std::int64_t, std::int64_t>;
  const std::size_t n = m.n;
  const key none{std::numeric_limits<float>::infinity(), std::numeric_limits<std::int64_t>::max(), 0};
  std::vector<key> best(n, none);
  std::vector<bool> done(n, false);
  std::vector<edge> out;
  std::size_t cur = 0;
  done[0] = true;
  for (std::size_t step = 1; step < n; ++step) {
    for (std::size_t v = 0; v < n; ++v) {
      if (done[v]) continue;
      const key k{mutual_reachability(m, core, cur, v), static_cast<std::int64_t>(std::min(cur, v)),
                  static_cast<std::int64_t>(std::max(cur, v))};
      if (k < best[v]) best[v] = k;
    }
    std::size_t pick = n;
    for (std::size_t v = 0; v < n; ++v)
      if (!done[v] && (pick == n || best[v] < best[pick])) pick = v;
    done[pick] = true;
    out.push_back(
        {std::get<1>(best[pick]), std::get<2>(best[pick]), static_cast<double>(std::get<0>(best[pick]))});
    cur = pick;
  }
  std::sort(out.begin(), out.end(),
            [](const edge& x, const edge& y) { return std::tie(x.w, x.a, x.b) < std::tie(y.w, y.a, y.b); });
  return out;
}

inline double lambda_of(double distance) {
  return distance > 0.0 ? 1.0 / distance : std::numeric_limits<double>::infinity();
}

/// Single linkage by repeated merging: every item carries a group number, each
/// group knows its current single-linkage node; a merge moves the members of
/// the smaller group into the larger one (O(n log n) relabellings in all).
inline std::vector<link> single_linkage(std::size_t n, std::vector<edge> mst) {
  for (edge& e : mst)
    if (e.a > e.b) std::swap(e.a, e.b);
  std::sort(mst.begin(), mst.end(),
            [](const edge& x, const edge& y) { return std::tie(x.w, x.a, x.b) < std::tie(y.w, y.a, y.b); });
  std::vector<std::size_t> group(n);
  std::vector<std::vector<std::size_t>> members(n);
  std::vector<std::int64_t> node(n);
  for (std::size_t i = 0; i < n; ++i) {
    group[i] = i;
    members[i] = {i};
    node[i] = static_cast<std::int64_t>(i);
  }
  std::vector<link> out;
  for (std::size_t r = 0; r < mst.size(); ++r) {
    std::size_t gl = group[static_cast<std::size_t>(mst[r].a)],
                gr = group[static_cast<std::size_t>(mst[r].b)];
    if (gl == gr) throw std::logic_error("reference single_linkage: MST edge closes a cycle");
    out.push_back(
        {node[gl], node[gr], mst[r].w, static_cast<std::int64_t>(members[gl].size() + members[gr].size())});
    if (members[gl].size() < members[gr].size()) std::swap(gl, gr);
    for (std::size_t x : members[gr]) group[x] = gl;
    members[gl].insert(members[gl].end(), members[gr].begin(), members[gr].end());
    members[gr].clear();
    node[gl] = static_cast<std::int64_t>(n + r);
  }
  return out;
}

namespace detail {

struct cluster_info {
  std::int64_t parent = -1;
  double birth = 0.0;  // lambda
  std::vector<std::int64_t> children;
  std::vector<std::size_t> rows;
};

// Points under single-linkage node `node`, in breadth-first order.
inline std::vector<std::int64_t> points_bfs(std::size_t n, const std::vector<link>& slt, std::int64_t node) {
  std::vector<std::int64_t> out;
  std::deque<std::int64_t> q{node};
  while (!q.empty()) {
    const std::int64_t x = q.front();
    q.pop_front();
    if (x < static_cast<std::int64_t>(n)) {
      out.push_back(x);
    } else {
      q.push_back(slt[x - n].left);
      q.push_back(slt[x - n].right);
    }
  }
  return out;
}

// Excess of mass by recursion; `value` gets hdbscan's propagated stabilities.
inline std::vector<std::int64_t> eom(std::int64_t c, bool eligible, std::size_t n,
                                     const std::vector<cluster_info>& info, std::vector<double>& value) {
  const cluster_info& ci = info[c - n];
  if (ci.children.empty()) {
    if (eligible) return {c};
    return {};
  }
  std::vector<std::int64_t> below;
  double sum = 0.0;
  for (std::int64_t ch : ci.children) {
    auto s = eom(ch, true, n, info, value);
    below.insert(below.end(), s.begin(), s.end());
    sum += value[ch - n];
  }
  const auto subtree = static_cast<float>(sum);  // hdbscan: cdef float subtree_stability
  if (!eligible) return below;
  if (static_cast<double>(subtree) > value[c - n]) {
    value[c - n] = static_cast<double>(subtree);
    return below;
  }
  return {c};
}

inline void leaves(std::int64_t c, std::size_t n, const std::vector<cluster_info>& info,
                   std::vector<std::int64_t>& out) {
  if (info[c - n].children.empty()) {
    out.push_back(c);
    return;
  }
  for (std::int64_t ch : info[c - n].children) leaves(ch, n, info, out);
}

}  // namespace detail

/// Condensed tree, selection, labels, probabilities, GLOSH and persistence from an MST.
inline hierarchy from_mst(std::size_t n, const std::vector<edge>& mst, const options& opt) {
  using detail::cluster_info;
  hierarchy h;
  h.slt = single_linkage(n, mst);
  const auto N = static_cast<std::int64_t>(n);
  const auto mcs = static_cast<std::int64_t>(opt.min_cluster_size);
  auto node_size = [&](std::int64_t x) { return x < N ? std::int64_t{1} : h.slt[x - N].size; };

  // Condensed tree: FIFO over single-linkage nodes that still carry a cluster.
  std::int64_t next_id = N + 1;
  std::deque<std::pair<std::int64_t, std::int64_t>> q{{2 * N - 2, N}};
  while (!q.empty()) {
    const auto [node, c] = q.front();
    q.pop_front();
    const link& s = h.slt[node - N];
    const double lam = lambda_of(s.dist);
    const std::int64_t ls = node_size(s.left), rs = node_size(s.right);
    if (ls >= mcs && rs >= mcs) {
      const std::int64_t idl = next_id++, idr = next_id++;
      h.condensed.push_back({c, idl, lam, ls});
      h.condensed.push_back({c, idr, lam, rs});
      q.push_back({s.left, idl});
      q.push_back({s.right, idr});
      continue;
    }
    for (std::int64_t side : {s.left, s.right}) {
      if (node_size(side) >= mcs) {
        q.push_back({side, c});
      } else {
        for (std::int64_t p : detail::points_bfs(n, h.slt, side)) h.condensed.push_back({c, p, lam, 1});
      }
    }
  }

  // Cluster tree.
  const std::size_t nclusters = static_cast<std::size_t>(next_id - N);
  std::vector<cluster_info> info(nclusters);
  std::vector<std::size_t> point_row(n);
  for (std::size_t r = 0; r < h.condensed.size(); ++r) {
    const crow& x = h.condensed[r];
    info[x.parent - N].rows.push_back(r);
    if (x.child >= N) {
      info[x.parent - N].children.push_back(x.child);
      info[x.child - N].parent = x.parent;
      info[x.child - N].birth = x.lambda;
    } else {
      point_row[x.child] = r;
    }
  }
  h.birth_distance.resize(nclusters);
  for (std::size_t c = 0; c < nclusters; ++c)
    h.birth_distance[c] = c == 0 ? std::numeric_limits<double>::infinity() : 1.0 / info[c].birth;

  // Stability (Campello et al. 2013, eq. 3 in hdbscan's form), own rows in row order.
  std::vector<double> stab(nclusters, 0.0);
  for (std::size_t c = 0; c < nclusters; ++c)
    for (std::size_t r : info[c].rows)
      stab[c] += (h.condensed[r].lambda - info[c].birth) * static_cast<double>(h.condensed[r].size);

  // Selection.
  h.stability = stab;
  std::vector<std::int64_t> chosen;
  if (!opt.leaf) {
    chosen = detail::eom(N, opt.allow_single_cluster, n, info, h.stability);
  } else if (!info[0].children.empty()) {
    detail::leaves(N, n, info, chosen);
  }
  const bool has_cluster_tree = !info[0].children.empty();
  const bool root_alone = chosen.size() == 1 && chosen[0] == N;
  if (opt.epsilon != 0.0 && has_cluster_tree && !(!opt.leaf && root_alone)) {
    std::set<std::int64_t> moved;
    for (std::int64_t c : chosen) {
      if (!(h.birth_distance[c - N] < opt.epsilon)) {
        moved.insert(c);
        continue;
      }
      std::int64_t cur = c;
      for (;;) {
        const std::int64_t p = info[cur - N].parent;
        if (p == N) {
          moved.insert(opt.allow_single_cluster ? p : cur);
          break;
        }
        if (h.birth_distance[p - N] > opt.epsilon) {
          moved.insert(p);
          break;
        }
        cur = p;
      }
    }
    chosen.assign(moved.begin(), moved.end());
  }
  std::sort(chosen.begin(), chosen.end());
  h.selected = chosen;
  std::vector<int> label_of(nclusters, -1);
  for (std::size_t k = 0; k < chosen.size(); ++k) label_of[chosen[k] - N] = static_cast<int>(k);

  // Largest lambda among each cluster's own rows, and over its whole subtree.
  std::vector<double> own_max(nclusters, 0.0), sub_max(nclusters, 0.0);
  for (std::size_t c = 0; c < nclusters; ++c)
    for (std::size_t r : info[c].rows) own_max[c] = std::max(own_max[c], h.condensed[r].lambda);
  for (std::size_t c = nclusters; c-- > 0;) {  // children have larger ids than parents
    sub_max[c] = std::max(sub_max[c], own_max[c]);
    if (info[c].parent >= 0) sub_max[info[c].parent - N] = std::max(sub_max[info[c].parent - N], sub_max[c]);
  }

  // Labels, probabilities, GLOSH.
  h.labels.assign(n, -1);
  h.probabilities.assign(n, 0.0);
  h.outlier_scores.assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const crow& r = h.condensed[point_row[i]];
    const double lam = r.lambda;
    std::int64_t c = r.parent;
    while (c != N && label_of[c - N] < 0) c = info[c - N].parent;
    int label = label_of[c - N];
    if (c == N && label >= 0) {
      // hdbscan: the root labels points only as the single selected cluster with allow_single_cluster.
      const bool ok = chosen.size() == 1 && opt.allow_single_cluster &&
                      (opt.epsilon != 0.0 ? lam >= 1.0 / opt.epsilon : lam >= own_max[0]);
      if (!ok) label = -1;
    }
    h.labels[i] = label;
    if (label >= 0) {
      const double m = own_max[c - N];
      h.probabilities[i] = (m == 0.0 || !std::isfinite(lam)) ? 1.0 : std::min(lam, m) / m;
    }
    const double lmax = sub_max[r.parent - N];
    h.outlier_scores[i] = (lmax == 0.0 || !std::isfinite(lam)) ? 0.0 : (lmax - lam) / lmax;
  }

  // Persistence (hdbscan's get_stability_scores).
  double max_lambda = 0.0;
  for (const crow& x : h.condensed) max_lambda = std::max(max_lambda, x.lambda);
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    const auto members = std::count(h.labels.begin(), h.labels.end(), static_cast<std::int32_t>(k));
    if (std::isinf(max_lambda) || max_lambda == 0.0 || members == 0)
      h.persistence.push_back(1.0);
    else
      h.persistence.push_back(h.stability[chosen[k] - N] / (static_cast<double>(members) * max_lambda));
  }
  return h;
}

/// The whole reference pipeline on a precomputed matrix.
inline full_result hdbscan(const matrix& m, std::size_t min_samples, const options& opt) {
  full_result r;
  r.core = core_distances(m, min_samples);
  r.mst = prim_mst(m, r.core);
  static_cast<hierarchy&>(r) = from_mst(m.n, r.mst, opt);
  return r;
}

/// True when two MST edges share a weight: a multi-way merge at one height,
/// where the binary single-linkage tree (hence hdbscan's condensed tree)
/// depends on tie-breaking. Without it the hierarchy is unique.
inline bool has_weight_tie(const std::vector<edge>& sorted_mst) {
  for (std::size_t i = 1; i < sorted_mst.size(); ++i)
    if (sorted_mst[i].w == sorted_mst[i - 1].w) return true;
  return false;
}

}  // namespace chutoro_test::ref
