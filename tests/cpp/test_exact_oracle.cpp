// test_exact_oracle.cpp — `candidates = exact` through chutoro::fit against the
// independent brute-force HDBSCAN* in reference_hdbscan.hpp.
//
// What the tests prove:
//  - OracleHand.*: on tiny 1-D inputs whose answer is derived by hand in the
//    comments, both the reference and the library give exactly that answer
//    (labels, probabilities, GLOSH scores, persistence); this anchors the
//    reference itself to the papers / hdbscan's rules, quirks included.
//  - OracleData/OracleGrid.*: on tie-free data sets (random blobs, jittered
//    subsamples of chameleon_ds3 and clusterable_data, n <= 1500) and over the
//    grid min_cluster_size {5, 15} x min_samples {unset, 1, 3, 10} x {eom, leaf}
//    x epsilon {0, a value that changes the selection, one above every cluster's
//    birth distance} x allow_single_cluster:
//      1. the exact spanning tree is a minimum spanning tree of the complete
//         mutual-reachability graph: core distances equal the reference's,
//         every edge weight is max(core a, core b, d(a, b)), the edges form a
//         tree, and the sorted weights equal those of the reference's own
//         brute-force Prim tree (hence equal total weight);
//      2. it is the unique minimum under the strict order (w, a, b) (the order
//         the hnsw mode's Filter-Kruskal uses): "tie-free" coordinates still give
//         equal mutual-reachability weights, and where a point joins several
//         components at its own core distance the clustering depends on which
//         equal-weight edges are taken (see OracleTies);
//      3. the hierarchy stage run on the library's tree matches the reference
//         run on the same tree row for row: single-linkage rows, condensed tree
//         (hdbscan row order, lambdas within 1e-9 relative), labels exactly,
//         probabilities / outlier scores within 1e-6, persistence within 1e-6;
//      4. the library's hierarchy stage (extract_clusters) on the reference's
//         tree matches the reference the same way;
//      5. end to end, fit(exact) against the reference's own pipeline: the same
//         labels exactly, the same condensed tree rows (compared sorted by child),
//         probabilities, outlier scores and persistence. Given 1 and 4, this
//         holds exactly when 2 does.
//  - OracleTies.HnswSeeingAllPairsMatchesExact: where the hnsw build computes
//    every pair (n < ef_construction), the hnsw and exact modes see the same
//    graph and core distances and must give the same tree and labels.
#include <gtest/gtest.h>

#include <chutoro/chutoro.hpp>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/mst/union_find.hpp"
#include "reference_hdbscan.hpp"
#include "test_data.hpp"

namespace {

using namespace chutoro_test;

chutoro::params make_params(std::size_t mcs, std::optional<std::size_t> ms, bool leaf, double eps, bool asc,
                            chutoro::candidate_mode mode = chutoro::candidate_mode::exact) {
  chutoro::params p;
  p.build.candidates = mode;
  p.build.threads = 1;
  p.build.min_samples = ms;
  p.selection.min_cluster_size = mcs;
  p.selection.method =
      leaf ? chutoro::cluster_selection_method::leaf : chutoro::cluster_selection_method::eom;
  p.selection.cluster_selection_epsilon = eps;
  p.selection.allow_single_cluster = asc;
  return p;
}

ref::options ref_options(const chutoro::params& p) {
  return {p.selection.min_cluster_size, p.selection.method == chutoro::cluster_selection_method::leaf,
          p.selection.cluster_selection_epsilon, p.selection.allow_single_cluster};
}

bool close_rel(double a, double b, double rel) {
  if (a == b) return true;  // also inf == inf
  if (!std::isfinite(a) || !std::isfinite(b)) return false;
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

// First difference between the library's condensed tree and the reference's, or "".
std::string condensed_diff(std::vector<chutoro::condensed_row> lib, std::vector<ref::crow> ref,
                           bool ordered) {
  if (lib.size() != ref.size())
    return "condensed tree has " + std::to_string(lib.size()) + " rows, reference " +
           std::to_string(ref.size());
  if (!ordered) {
    std::sort(lib.begin(), lib.end(), [](const auto& x, const auto& y) { return x.child < y.child; });
    std::sort(ref.begin(), ref.end(), [](const auto& x, const auto& y) { return x.child < y.child; });
  }
  for (std::size_t r = 0; r < lib.size(); ++r) {
    const auto& l = lib[r];
    const auto& f = ref[r];
    if (l.parent != f.parent || l.child != f.child || l.child_size != f.size ||
        !close_rel(l.lambda_val, f.lambda, 1e-9)) {
      std::ostringstream s;
      s.precision(17);
      s << "condensed row " << r << ": got (" << l.parent << ", " << l.child << ", " << l.lambda_val << ", "
        << l.child_size << "), reference (" << f.parent << ", " << f.child << ", " << f.lambda << ", "
        << f.size << ")";
      return s.str();
    }
  }
  return "";
}

// First difference in the flat outputs, or "".
std::string flat_diff(const chutoro::clustering& lib, const ref::hierarchy& ref) {
  std::ostringstream s;
  s.precision(17);
  const std::size_t n = ref.labels.size();
  if (lib.labels.size() != n || lib.probabilities.size() != n || lib.outlier_scores.size() != n)
    return "output sizes differ from n = " + std::to_string(n);
  std::size_t bad = 0, first = n;
  for (std::size_t i = 0; i < n; ++i)
    if (lib.labels[i] != ref.labels[i]) ++bad, first = std::min(first, i);
  if (bad) {
    s << bad << " labels differ; first at item " << first << ": got " << lib.labels[first] << ", reference "
      << ref.labels[first] << " (ARI " << adjusted_rand(lib.labels, ref.labels) << ")";
    return s.str();
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!(std::fabs(lib.probabilities[i] - ref.probabilities[i]) <= 1e-6)) {
      s << "probability of item " << i << ": got " << lib.probabilities[i] << ", reference "
        << ref.probabilities[i];
      return s.str();
    }
    if (!(std::fabs(lib.outlier_scores[i] - ref.outlier_scores[i]) <= 1e-6)) {
      s << "outlier score of item " << i << ": got " << lib.outlier_scores[i] << ", reference "
        << ref.outlier_scores[i];
      return s.str();
    }
  }
  if (lib.cluster_persistence.size() != ref.persistence.size()) {
    s << lib.cluster_persistence.size() << " clusters, reference " << ref.persistence.size();
    return s.str();
  }
  for (std::size_t k = 0; k < ref.persistence.size(); ++k)
    if (!close_rel(lib.cluster_persistence[k], ref.persistence[k], 1e-6)) {
      s << "persistence of cluster " << k << ": got " << lib.cluster_persistence[k] << ", reference "
        << ref.persistence[k];
      return s.str();
    }
  return "";
}

std::string linkage_diff(const std::vector<chutoro::linkage_row>& lib, const std::vector<ref::link>& ref) {
  if (lib.size() != ref.size()) return "single-linkage tree has " + std::to_string(lib.size()) + " rows";
  for (std::size_t r = 0; r < lib.size(); ++r)
    if (lib[r].left != ref[r].left || lib[r].right != ref[r].right || lib[r].distance != ref[r].dist ||
        lib[r].size != ref[r].size) {
      std::ostringstream s;
      s << "single-linkage row " << r << ": got (" << lib[r].left << ", " << lib[r].right << ", "
        << lib[r].distance << ", " << lib[r].size << "), reference (" << ref[r].left << ", " << ref[r].right
        << ", " << ref[r].dist << ", " << ref[r].size << ")";
      return s.str();
    }
  return "";
}

// Checks that `tree` is a minimum spanning tree of the complete mutual-reachability
// graph of `m`, with the reference's core distances and sorted weights.
std::string tree_diff(const chutoro::spanning_tree& tree, const ref::matrix& m, const ref::full_result& ref) {
  const std::size_t n = m.n;
  if (tree.n != n || tree.core_distances.size() != n || tree.edges.size() + 1 != n)
    return "tree has wrong sizes";
  for (std::size_t i = 0; i < n; ++i)
    if (tree.core_distances[i] != ref.core[i])
      return "core distance of item " + std::to_string(i) + ": got " +
             std::to_string(tree.core_distances[i]) + ", reference " + std::to_string(ref.core[i]);
  chutoro::detail::union_find uf(n);
  std::vector<double> w;
  for (const auto& e : tree.edges) {
    if (e.a < 0 || e.b < 0 || e.a >= static_cast<std::int64_t>(n) || e.b >= static_cast<std::int64_t>(n))
      return "edge id out of range";
    const auto a = static_cast<std::size_t>(e.a), b = static_cast<std::size_t>(e.b);
    if (e.distance != static_cast<double>(ref::mutual_reachability(m, ref.core, a, b)))
      return "edge (" + std::to_string(a) + ", " + std::to_string(b) + ") has weight " +
             std::to_string(e.distance) + ", mutual reachability is " +
             std::to_string(ref::mutual_reachability(m, ref.core, a, b));
    if (!uf.unite(static_cast<std::uint32_t>(a), static_cast<std::uint32_t>(b)))
      return "edges contain a cycle";
    w.push_back(e.distance);
  }
  std::vector<double> rw;
  for (const auto& e : ref.mst) rw.push_back(e.w);
  std::sort(w.begin(), w.end());
  double total = 0, rtotal = 0;
  for (std::size_t k = 0; k < w.size(); ++k) {
    if (w[k] != rw[k])
      return "sorted MST weight " + std::to_string(k) + ": got " + std::to_string(w[k]) + ", reference " +
             std::to_string(rw[k]);
    total += w[k];
    rtotal += rw[k];
  }
  if (total != rtotal) return "total MST weight differs";
  return "";
}

// An epsilon strictly between two cluster birth distances that changes the
// reference's selection (so it "merges something"); nullopt when none of the
// tried values does.
std::optional<double> merging_epsilon(std::size_t n, const std::vector<ref::edge>& mst, ref::options opt,
                                      const ref::hierarchy& h0) {
  std::vector<double> births;
  for (double b : h0.birth_distance)
    if (std::isfinite(b)) births.push_back(b);
  std::sort(births.begin(), births.end());
  births.erase(std::unique(births.begin(), births.end()), births.end());
  std::vector<double> sel;
  for (std::int64_t c : h0.selected)
    if (std::isfinite(h0.birth_distance[c - static_cast<std::int64_t>(n)]))
      sel.push_back(h0.birth_distance[c - static_cast<std::int64_t>(n)]);
  std::sort(sel.begin(), sel.end());
  sel.erase(std::unique(sel.begin(), sel.end()), sel.end());
  for (std::size_t t = 0; t < sel.size() && t < 8; ++t) {
    const auto next = std::upper_bound(births.begin(), births.end(), sel[t]);
    if (next == births.end()) continue;
    opt.epsilon = 0.5 * (sel[t] + *next);
    if (ref::from_mst(n, mst, opt).selected != h0.selected) return opt.epsilon;
  }
  return std::nullopt;
}

// First difference between the library's tree edges and the reference's
// (both sorted by (w, a, b)), or "".
std::string edge_set_diff(const chutoro::spanning_tree& tree, const std::vector<ref::edge>& mst) {
  for (std::size_t k = 0; k < mst.size() && k < tree.edges.size(); ++k) {
    const auto& e = tree.edges[k];
    if (e.a != mst[k].a || e.b != mst[k].b || e.distance != mst[k].w) {
      std::ostringstream s;
      s.precision(9);
      s << "edge " << k << " of the sorted tree: got (" << e.a << ", " << e.b << ", " << e.distance
        << "), the minimum under (w, a, b) has (" << mst[k].a << ", " << mst[k].b << ", " << mst[k].w << ")";
      return s.str();
    }
  }
  return tree.edges.size() == mst.size() ? "" : "edge counts differ";
}

chutoro::spanning_tree as_spanning_tree(std::size_t n, const ref::full_result& r) {
  chutoro::spanning_tree t;
  t.n = n;
  t.core_distances = r.core;
  for (const auto& e : r.mst) t.edges.push_back({e.a, e.b, e.w});
  return t;
}

// ---------------------------------------------------------------------------
// Hand-worked cases (1-D euclidean).

struct hand_out {
  chutoro::result lib;
  ref::full_result ref;
};

hand_out run_hand(const std::vector<float>& x, const chutoro::params& p) {
  chutoro::dense_source src(x, x.size(), 1, chutoro::dense_metric::euclidean);
  hand_out o{chutoro::fit(src, p), {}};
  o.ref = ref::hdbscan(ref::distance_matrix(src), p.min_samples(), ref_options(p));
  return o;
}

void expect_hand(const hand_out& o, const std::vector<std::int32_t>& labels, const std::vector<double>& prob,
                 const std::vector<double>& glosh) {
  EXPECT_EQ(o.ref.labels, labels) << "reference";
  EXPECT_EQ(o.lib.labels, labels) << "library";
  for (std::size_t i = 0; i < labels.size(); ++i) {
    EXPECT_NEAR(o.ref.probabilities[i], prob[i], 1e-6) << "reference, item " << i;
    EXPECT_NEAR(o.lib.probabilities[i], prob[i], 1e-6) << "library, item " << i;
    EXPECT_NEAR(o.ref.outlier_scores[i], glosh[i], 1e-6) << "reference, item " << i;
    EXPECT_NEAR(o.lib.outlier_scores[i], glosh[i], 1e-6) << "library, item " << i;
  }
  EXPECT_EQ(condensed_diff(o.lib.condensed_tree, o.ref.condensed, true), "");
}

// Two groups on a line, min_samples 2 (core = distance to the nearest other
// point), min_cluster_size 3:
//   x = 0 1 3 6 | 100 104 109 115     cores 1 1 2 3 | 4 4 5 6
// MST (mutual reachability): 1, 2, 3 inside A; 4, 5, 6 inside B; bridge (6, 100)
// at max(3, 4, 94) = 94. The root (id 8) splits at 94 into A (9, it holds the
// edge's lower id) and B (10), both >= 3 items. In A, 6 falls out at 1/3, then
// {0, 1} and {3} are both < 3: all three fall out at 1/2. In B, 115 falls out
// at 1/6, then 100, 104, 109 at 1/5. EOM keeps the leaves A and B.
// Probabilities lambda / max lambda of the cluster: 6 -> (1/3)/(1/2) = 2/3,
// 115 -> (1/6)/(1/5) = 5/6, the rest 1. GLOSH (max - lambda) / max: 6 -> 1/3,
// 115 -> 1/6, the rest 0. Stability of A = (1/3 - 1/94) + 3 (1/2 - 1/94) =
// 1.790780, persistence = 1.790780 / (4 * 1/2) = 0.895390.
TEST(OracleHand, TwoGroupsOnALine) {
  const std::vector<float> x{0, 1, 3, 6, 100, 104, 109, 115};
  for (bool leaf : {false, true})
    for (bool asc : {false, true}) {
      SCOPED_TRACE(std::string(leaf ? "leaf" : "eom") + (asc ? " allow_single_cluster" : ""));
      const auto o = run_hand(x, make_params(3, 2, leaf, 0.0, asc));
      expect_hand(o, {0, 0, 0, 0, 1, 1, 1, 1}, {1, 1, 1, 2.0 / 3, 1, 1, 1, 5.0 / 6},
                  {0, 0, 0, 1.0 / 3, 0, 0, 0, 1.0 / 6});
      ASSERT_EQ(o.lib.cluster_persistence.size(), 2u);
      EXPECT_NEAR(o.lib.cluster_persistence[0], 0.895390, 1e-6);
      EXPECT_NEAR(o.lib.tree.edges.back().distance, 94.0, 1e-9);
    }
}

// The same groups with epsilon = 100 > 94 and allow_single_cluster: A (born at
// 94 < 100) climbs to its parent, the root; with allow_single_cluster the root
// is taken as the single cluster, and every point joins it since every point's
// lambda >= 1/100. Probabilities: the root's largest own lambda is 1/94, every
// point's lambda is larger, so min(lambda, 1/94) / (1/94) = 1. Without
// allow_single_cluster the climb stops at A (a child of the root): unchanged.
TEST(OracleHand, EpsilonClimbsToTheRoot) {
  const std::vector<float> x{0, 1, 3, 6, 100, 104, 109, 115};
  const auto single = run_hand(x, make_params(3, 2, false, 100.0, true));
  expect_hand(single, {0, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 1},
              {0, 0, 0, 1.0 / 3, 0, 0, 0, 1.0 / 6});
  const auto two = run_hand(x, make_params(3, 2, false, 100.0, false));
  expect_hand(two, {0, 0, 0, 0, 1, 1, 1, 1}, {1, 1, 1, 2.0 / 3, 1, 1, 1, 5.0 / 6},
              {0, 0, 0, 1.0 / 3, 0, 0, 0, 1.0 / 6});
}

// A ninth point at 300 (core 185 to 115) joins everything last at 185: it falls
// out of the root at lambda 1/185 and is noise; A and B are unchanged. Its
// GLOSH score uses the largest lambda in the root's subtree (1/2):
// (1/2 - 1/185) / (1/2) = 1 - 2/185.
TEST(OracleHand, OneOutlier) {
  const std::vector<float> x{0, 1, 3, 6, 100, 104, 109, 115, 300};
  const auto o = run_hand(x, make_params(3, 2, false, 0.0, false));
  expect_hand(o, {0, 0, 0, 0, 1, 1, 1, 1, -1}, {1, 1, 1, 2.0 / 3, 1, 1, 1, 5.0 / 6, 0},
              {0, 0, 0, 1.0 / 3, 0, 0, 0, 1.0 / 6, 1.0 - 2.0 / 185});
}

// Nested clusters, min_samples 1 (plain distances), min_cluster_size 2:
//   x = 0 1 4 5.5 40 42, MST gaps 1, 3, 1.5, 34.5, 2.
// Root 6 splits at 34.5 into 7 = {0, 1, 4, 5.5} and 8 = {40, 42}; 7 splits at 3
// into 9 = {0, 1} and 10 = {4, 5.5}; 8's points fall out at 1/2, 9's at 1,
// 10's at 1/1.5. Stabilities: S7 = 4 (1/3 - 1/34.5) = 1.2174, S8 = 2 (1/2 - 1/34.5)
// = 0.9420, S9 = 2 (1 - 1/3) = 1.3333, S10 = 2 (2/3 - 1/3) = 0.6667.
// EOM: S9 + S10 = 2 > S7, so the leaves 8, 9, 10 are chosen (labels in id order:
// {40, 42} -> 0, {0, 1} -> 1, {4, 5.5} -> 2); leaf gives the same.
// With epsilon = 5: 9 and 10 were born at 3 < 5 and climb to 7 (born at 34.5 > 5):
// clusters 7 -> 0, 8 -> 1; persistence of 7 = its EOM value 2 / (4 items * max lambda 1) = 0.5.
TEST(OracleHand, NestedClusters) {
  const std::vector<float> x{0, 1, 4, 5.5f, 40, 42};
  const std::vector<double> ones(6, 1.0), zeros(6, 0.0);
  for (bool leaf : {false, true}) {
    const auto o = run_hand(x, make_params(2, 1, leaf, 0.0, false));
    expect_hand(o, {1, 1, 2, 2, 0, 0}, ones, zeros);
    ASSERT_EQ(o.lib.cluster_persistence.size(), 3u);
    EXPECT_NEAR(o.lib.cluster_persistence[0], (1.0 - 2.0 / 34.5) / 2.0, 1e-6);
    EXPECT_NEAR(o.lib.cluster_persistence[1], 2.0 / 3.0, 1e-6);
  }
  const auto e = run_hand(x, make_params(2, 1, false, 5.0, false));
  expect_hand(e, {0, 0, 0, 0, 1, 1}, ones, zeros);
  ASSERT_EQ(e.lib.cluster_persistence.size(), 2u);
  EXPECT_NEAR(e.lib.cluster_persistence[0], 0.5, 1e-6);
}

// One chain, no split into two groups of >= 3: x = 0 1 2.5 4.5 7, min_samples 1,
// min_cluster_size 3. From the root, 7 falls out at 1/2.5, 4.5 at 1/2, then
// {0, 1} and {2.5} are both small: 0, 1, 2.5 fall out at 1/1.5. No cluster tree:
//  - eom, no allow_single_cluster: all noise;
//  - eom + allow_single_cluster: the root is the cluster, and (hdbscan's rule)
//    only points with lambda >= the largest lambda among the root's rows (1/1.5)
//    are in it: 0, 1, 2.5 -> 0, probability 1; 4.5 and 7 noise;
//  - leaf + allow_single_cluster: leaf selection never picks the root: all noise.
// GLOSH, max lambda 1/1.5: 4.5 -> (2/3 - 1/2)/(2/3) = 1/4, 7 -> (2/3 - 2/5)/(2/3) = 2/5.
TEST(OracleHand, SingleClusterRule) {
  const std::vector<float> x{0, 1, 2.5f, 4.5f, 7};
  const std::vector<double> glosh{0, 0, 0, 0.25, 0.4};
  expect_hand(run_hand(x, make_params(3, 1, false, 0.0, false)), {-1, -1, -1, -1, -1}, {0, 0, 0, 0, 0},
              glosh);
  expect_hand(run_hand(x, make_params(3, 1, false, 0.0, true)), {0, 0, 0, -1, -1}, {1, 1, 1, 0, 0}, glosh);
  expect_hand(run_hand(x, make_params(3, 1, true, 0.0, true)), {-1, -1, -1, -1, -1}, {0, 0, 0, 0, 0}, glosh);
}

// ---------------------------------------------------------------------------
// Tie-breaking between the two MST builders.
//
// Mutual reachability creates equal weights even on tie-free coordinates
// (every edge that weighs core(x) ties with x's other such edges); where x
// bridges several components at that height, the binary single-linkage tree,
// and hence hdbscan's condensed tree, depends on which equal-weight edges form
// the MST and in which order they merge. The hnsw mode's Filter-Kruskal breaks
// ties by (w, a, b), so its tree is the unique minimum under that order. On
// inputs with n < ef_construction every insertion's beam search visits every
// inserted item, so the hnsw mode computes every pair: then both modes see the
// same complete graph and the same core distances, and they must give the same
// tree and the same clustering.
TEST(OracleTies, HnswSeeingAllPairsMatchesExact) {
  int checked = 0, hnsw_not_canonical = 0, trees_differ = 0, labels_differ = 0;
  std::string first;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const dense_data d = make_blobs(99, 2, 3, 0.2, seed);
    chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
    chutoro::params p = make_params(5, 10, false, 0.0, false, chutoro::candidate_mode::hnsw);
    const chutoro::result h = chutoro::fit(src, p);
    p.build.candidates = chutoro::candidate_mode::exact;
    const chutoro::result e = chutoro::fit(src, p);
    ASSERT_EQ(h.tree.core_distances, e.tree.core_distances)
        << "seed " << seed << ": hnsw did not see every pair";
    ++checked;
    ref::full_result r;
    r.core = e.tree.core_distances;
    r.mst = ref::prim_mst(ref::distance_matrix(src), r.core);
    hnsw_not_canonical += !edge_set_diff(h.tree, r.mst).empty();
    const std::string diff = edge_set_diff(e.tree, r.mst);
    trees_differ += !diff.empty();
    if (h.labels != e.labels) {
      ++labels_differ;
      if (first.empty())
        first = "make_blobs(99, 2, 3, 0.2, seed " + std::to_string(seed) +
                "), min_samples 10, min_cluster_size 5: " + std::to_string(h.n_clusters()) +
                " clusters (hnsw) vs " + std::to_string(e.n_clusters()) + " (exact), label ARI " +
                std::to_string(adjusted_rand(h.labels, e.labels)) + "; " + diff;
    }
  }
  EXPECT_EQ(hnsw_not_canonical, 0) << "hnsw trees that are not the minimum under (w, a, b)";
  EXPECT_EQ(trees_differ, 0) << "exact-mode trees that differ from the hnsw mode's on " << trees_differ
                             << " of " << checked << " inputs where both saw every pair";
  EXPECT_EQ(labels_differ, 0) << "labels differ between hnsw and exact mode on " << labels_differ << " of "
                              << checked << " inputs where both saw every pair; first: " << first;
}

// ---------------------------------------------------------------------------
// The parameter grid on tie-free data.

struct oracle_data {
  std::string name;
  dense_data (*make)();
};

dense_data blobs_2d() { return make_blobs(800, 2, 5, 0.10, 101); }
dense_data blobs_6d() { return make_blobs(1000, 6, 4, 0.05, 202); }
dense_data chameleon_sub() {
  return subsample_jitter(load_csv(data_path("chameleon_ds3.csv"), false), 1500, 1e-6, 303);
}
dense_data clusterable_sub() {
  return subsample_jitter(load_npy(data_path("clusterable_data.npy")), 1200, 1e-6, 404);
}

void PrintTo(const oracle_data& d, std::ostream* os) { *os << d.name; }

class OracleGrid : public ::testing::TestWithParam<oracle_data> {};

TEST_P(OracleGrid, ExactModeReproducesReference) {
  const dense_data d = GetParam().make();
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  const ref::matrix m = ref::distance_matrix(src);
  std::map<std::size_t, ref::full_result> by_ms;  // reference core distances + MST per effective min_samples
  int configs = 0, merging = 0, e2e_bad = 0, trees_checked = 0, trees_not_canonical = 0;
  double worst_ari = 1.0;
  std::string first_e2e, first_tree;
  for (std::size_t mcs : {5, 15})
    for (std::optional<std::size_t> ms : {std::optional<std::size_t>{}, std::optional<std::size_t>{1},
                                          std::optional<std::size_t>{3}, std::optional<std::size_t>{10}}) {
      const std::size_t k = ms.value_or(mcs);
      const bool first_for_k = !by_ms.count(k);
      if (first_for_k) {
        ref::full_result r;
        r.core = ref::core_distances(m, k);
        r.mst = ref::prim_mst(m, r.core);
        by_ms.emplace(k, std::move(r));
      }
      const ref::full_result& base = by_ms.at(k);
      const chutoro::spanning_tree ref_tree = as_spanning_tree(d.n, base);
      for (bool leaf : {false, true})
        for (bool asc : {false, true}) {
          auto opt = ref_options(make_params(mcs, ms, leaf, 0.0, asc));
          const ref::hierarchy h0 = ref::from_mst(d.n, base.mst, opt);
          const auto eps = merging_epsilon(d.n, base.mst, opt, h0);
          merging += eps.has_value();
          std::vector<double> epsilons{0.0};
          if (eps) epsilons.push_back(*eps);
          // And one above every birth distance: everything climbs to the root's
          // children, or to the root itself with allow_single_cluster.
          double top = 0.0;
          for (double b : h0.birth_distance)
            if (std::isfinite(b)) top = std::max(top, b);
          if (top > 0.0) epsilons.push_back(1.5 * top);
          for (double epsilon : epsilons) {
            const chutoro::params p = make_params(mcs, ms, leaf, epsilon, asc);
            std::ostringstream where;
            where << GetParam().name << ": min_cluster_size " << mcs << ", min_samples "
                  << (ms ? std::to_string(*ms) : "unset") << ", " << (leaf ? "leaf" : "eom") << ", epsilon "
                  << epsilon << (asc ? ", allow_single_cluster" : "");
            SCOPED_TRACE(where.str());
            ++configs;
            opt.epsilon = epsilon;
            const chutoro::result lib = chutoro::fit(src, p);
            if (first_for_k && epsilon == 0.0 && !leaf && !asc) {
              // 1. The exact tree is a minimum spanning tree with the reference's core distances.
              EXPECT_EQ(tree_diff(lib.tree, m, base), "");
              // 2. ... and the unique minimum under the strict order (w, a, b), as the
              //    hnsw mode's Filter-Kruskal builds it (counted, asserted below).
              ++trees_checked;
              const std::string diff = edge_set_diff(lib.tree, base.mst);
              if (!diff.empty()) {
                ++trees_not_canonical;
                if (first_tree.empty()) first_tree = where.str() + ": " + diff;
              }
            }
            // 3. The hierarchy stage on the library's own tree, row for row.
            std::vector<ref::edge> lib_edges;
            for (const auto& e : lib.tree.edges) lib_edges.push_back({e.a, e.b, e.distance});
            const ref::hierarchy on_lib_tree = ref::from_mst(d.n, lib_edges, opt);
            EXPECT_EQ(linkage_diff(lib.single_linkage_tree, on_lib_tree.slt), "");
            EXPECT_EQ(condensed_diff(lib.condensed_tree, on_lib_tree.condensed, true), "");
            EXPECT_EQ(flat_diff(lib, on_lib_tree), "");
            // 4. The library's hierarchy stage on the reference's tree, row for row.
            const ref::hierarchy own = epsilon == 0.0 ? h0 : ref::from_mst(d.n, base.mst, opt);
            const chutoro::clustering on_ref_tree = chutoro::extract_clusters(ref_tree, p.selection);
            EXPECT_EQ(linkage_diff(on_ref_tree.single_linkage_tree, own.slt), "");
            EXPECT_EQ(condensed_diff(on_ref_tree.condensed_tree, own.condensed, true), "");
            EXPECT_EQ(flat_diff(on_ref_tree, own), "");
            // 5. End to end: fit(exact) against the reference's own pipeline (counted, asserted below).
            std::string e2e = condensed_diff(lib.condensed_tree, own.condensed, false);
            if (e2e.empty()) e2e = flat_diff(lib, own);
            if (!e2e.empty()) {
              ++e2e_bad;
              worst_ari = std::min(worst_ari, adjusted_rand(lib.labels, own.labels));
              if (first_e2e.empty()) first_e2e = where.str() + ": " + e2e;
            }
          }
        }
    }
  EXPECT_EQ(trees_not_canonical, 0)
      << trees_not_canonical << " of " << trees_checked
      << " exact-mode trees are minimum spanning trees but not the minimum under (w, a, b); first: "
      << first_tree;
  EXPECT_EQ(e2e_bad, 0) << "fit(exact) differs from the reference in " << e2e_bad << " of " << configs
                        << " configurations (worst label ARI " << worst_ari << "); first: " << first_e2e;
  // The grid must really exercise epsilon: in most settings some epsilon changed the selection.
  EXPECT_GE(merging, 8) << "epsilon values that change the selection were found in " << merging
                        << " of 16 settings";
  std::printf("[ %s ] n = %zu: %d configurations, %d with a merging epsilon\n", GetParam().name.c_str(), d.n,
              configs, merging);
}

INSTANTIATE_TEST_SUITE_P(OracleData, OracleGrid,
                         ::testing::Values(oracle_data{"blobs_2d", blobs_2d},
                                           oracle_data{"blobs_6d", blobs_6d},
                                           oracle_data{"chameleon_sub", chameleon_sub},
                                           oracle_data{"clusterable_sub", clusterable_sub}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
