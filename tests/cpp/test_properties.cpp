// test_properties.cpp — RapidCheck properties of the pipeline on random small
// inputs: n in [10, 200], dim in [1, 8], random min_samples / min_cluster_size /
// selection, Gaussian mixtures with uniform background (continuous coordinates,
// so distances do not tie).
//
// What the properties prove:
//  - PropMst.ExactTreeIsMinimum: the exact mode's tree has the brute-force
//    Prim tree's sorted weights (so the same total weight), its core distances
//    and correct mutual-reachability weights: it is a minimum spanning tree.
//  - PropHierarchy.MatchesReferenceOnSameTree: extract_clusters on the
//    reference's tree equals the reference's hierarchy stage (labels exactly,
//    probabilities / outlier scores within 1e-6, the condensed tree row for row).
//  - PropLabels.PermutationInvariant: permuting the rows permutes the exact
//    mode's partition (cluster ids may be renamed). Inputs whose MST has two
//    equal weights are discarded: there the binary single-linkage tree depends
//    on tie-breaking (see test_exact_oracle.cpp, OracleTies).
//  - PropHnsw.DominatesExact: every hnsw core distance >= the exact one, and the
//    hnsw tree's sorted weights are >= the exact tree's elementwise (a spanning
//    tree of a subgraph under larger weights; the MST minimises every order
//    statistic), with or without compaction of the candidate edges.
//  - PropOutputs.InRange: labels in [-1, k) with k = n_clusters(), probabilities
//    in [0, 1], 0 exactly for noise and > 0 for clustered items, outlier scores
//    in [0, 1] and never NaN, for both modes and any selection.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chutoro/chutoro.hpp>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "reference_hdbscan.hpp"
#include "test_data.hpp"

namespace {

using namespace chutoro_test;

struct case_input {
  dense_data data;
  std::size_t min_samples;
  chutoro::params p;
};

// Draws an input and parameters; min_samples is always set explicitly here.
case_input draw_case(chutoro::candidate_mode mode) {
  const auto n = *rc::gen::inRange<std::size_t>(10, 201).as("n");
  const auto dim = *rc::gen::inRange<std::size_t>(1, 9).as("dim");
  const auto centers = *rc::gen::inRange<std::size_t>(1, 5).as("centers");
  const auto seed = *rc::gen::arbitrary<std::uint32_t>().as("seed");
  const auto ms = *rc::gen::inRange<std::size_t>(1, std::min<std::size_t>(n, 16) + 1).as("min_samples");
  const auto mcs =
      *rc::gen::inRange<std::size_t>(2, std::max<std::size_t>(3, n / 4) + 1).as("min_cluster_size");
  case_input c{make_blobs(n, dim, centers, 0.1, seed), ms, {}};
  c.p.build.candidates = mode;
  c.p.build.min_samples = ms;
  c.p.build.threads = 1;
  c.p.selection.min_cluster_size = mcs;
  c.p.selection.method =
      *rc::gen::element(chutoro::cluster_selection_method::eom, chutoro::cluster_selection_method::leaf);
  c.p.selection.allow_single_cluster = *rc::gen::arbitrary<bool>();
  return c;
}

std::vector<double> sorted_weights(const chutoro::spanning_tree& t) {
  std::vector<double> w;
  for (const auto& e : t.edges) w.push_back(e.distance);
  std::sort(w.begin(), w.end());
  return w;
}

ref::options ref_options(const chutoro::params& p) {
  return {p.selection.min_cluster_size, p.selection.method == chutoro::cluster_selection_method::leaf,
          p.selection.cluster_selection_epsilon, p.selection.allow_single_cluster};
}

}  // namespace

RC_GTEST_PROP(PropMst, ExactTreeIsMinimum, ()) {
  const case_input c = draw_case(chutoro::candidate_mode::exact);
  chutoro::dense_source src(c.data.values, c.data.n, c.data.dim, chutoro::dense_metric::euclidean);
  const ref::matrix m = ref::distance_matrix(src);
  const auto core = ref::core_distances(m, c.min_samples);
  const auto mst = ref::prim_mst(m, core);
  const chutoro::spanning_tree t = chutoro::build_spanning_tree(src, c.p.build, c.min_samples);
  RC_ASSERT(t.core_distances == core);
  RC_ASSERT(t.edges.size() + 1 == c.data.n);
  for (const auto& e : t.edges)
    RC_ASSERT(e.distance == static_cast<double>(ref::mutual_reachability(
                                m, core, static_cast<std::size_t>(e.a), static_cast<std::size_t>(e.b))));
  std::vector<double> rw;
  for (const auto& e : mst) rw.push_back(e.w);
  const auto w = sorted_weights(t);
  RC_ASSERT(w == rw);
  RC_ASSERT(std::accumulate(w.begin(), w.end(), 0.0) == std::accumulate(rw.begin(), rw.end(), 0.0));
}

RC_GTEST_PROP(PropHierarchy, MatchesReferenceOnSameTree, ()) {
  case_input c = draw_case(chutoro::candidate_mode::exact);
  chutoro::dense_source src(c.data.values, c.data.n, c.data.dim, chutoro::dense_metric::euclidean);
  const ref::matrix m = ref::distance_matrix(src);
  ref::full_result r;
  r.core = ref::core_distances(m, c.min_samples);
  r.mst = ref::prim_mst(m, r.core);
  // epsilon: 0, or a value around the middle of the MST weights.
  if (*rc::gen::arbitrary<bool>())
    c.p.selection.cluster_selection_epsilon = r.mst[r.mst.size() / 2].w * 1.0001;
  const ref::hierarchy h = ref::from_mst(c.data.n, r.mst, ref_options(c.p));
  chutoro::spanning_tree t;
  t.n = c.data.n;
  t.core_distances = r.core;
  for (const auto& e : r.mst) t.edges.push_back({e.a, e.b, e.w});
  const chutoro::clustering lib = chutoro::extract_clusters(t, c.p.selection);
  RC_ASSERT(lib.labels == h.labels);
  RC_ASSERT(lib.condensed_tree.size() == h.condensed.size());
  for (std::size_t k = 0; k < h.condensed.size(); ++k) {
    RC_ASSERT(lib.condensed_tree[k].parent == h.condensed[k].parent);
    RC_ASSERT(lib.condensed_tree[k].child == h.condensed[k].child);
    RC_ASSERT(lib.condensed_tree[k].child_size == h.condensed[k].size);
    const double a = lib.condensed_tree[k].lambda_val, b = h.condensed[k].lambda;
    RC_ASSERT(a == b || std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b)));
  }
  for (std::size_t i = 0; i < c.data.n; ++i) {
    RC_ASSERT(std::fabs(lib.probabilities[i] - h.probabilities[i]) <= 1e-6);
    RC_ASSERT(std::fabs(lib.outlier_scores[i] - h.outlier_scores[i]) <= 1e-6);
  }
  RC_ASSERT(lib.cluster_persistence.size() == h.persistence.size());
}

RC_GTEST_PROP(PropLabels, PermutationInvariant, ()) {
  const case_input c = draw_case(chutoro::candidate_mode::exact);
  chutoro::dense_source src(c.data.values, c.data.n, c.data.dim, chutoro::dense_metric::euclidean);
  {
    const ref::matrix m = ref::distance_matrix(src);
    RC_PRE(!ref::has_weight_tie(ref::prim_mst(m, ref::core_distances(m, c.min_samples))));
  }
  std::vector<std::size_t> perm(c.data.n);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  std::mt19937_64 rng(*rc::gen::arbitrary<std::uint64_t>().as("permutation seed"));
  std::shuffle(perm.begin(), perm.end(), rng);
  const dense_data shuffled = permute_rows(c.data, perm);
  chutoro::dense_source src2(shuffled.values, shuffled.n, shuffled.dim, chutoro::dense_metric::euclidean);
  const chutoro::result a = chutoro::fit(src, c.p);
  const chutoro::result b = chutoro::fit(src2, c.p);
  std::vector<std::int32_t> back(c.data.n);  // b's labels in a's row order
  for (std::size_t i = 0; i < c.data.n; ++i) back[perm[i]] = b.labels[i];
  RC_ASSERT(same_partition(a.labels, back));
  RC_ASSERT(a.n_clusters() == b.n_clusters());
}

RC_GTEST_PROP(PropHnsw, DominatesExact, ()) {
  case_input c = draw_case(chutoro::candidate_mode::exact);
  chutoro::dense_source src(c.data.values, c.data.n, c.data.dim, chutoro::dense_metric::euclidean);
  const chutoro::spanning_tree exact = chutoro::build_spanning_tree(src, c.p.build, c.min_samples);
  chutoro::build_params hb = c.p.build;
  hb.candidates = chutoro::candidate_mode::hnsw;
  hb.m = *rc::gen::inRange<std::size_t>(2, 17).as("m");
  hb.ef_construction = *rc::gen::inRange<std::size_t>(1, 65).as("ef_construction");
  if (*rc::gen::arbitrary<bool>()) {  // force many compactions
    hb.compaction_min_edges = 16;
    hb.compaction_factor = 1;
  }
  const chutoro::spanning_tree h = chutoro::build_spanning_tree(src, hb, c.min_samples);
  RC_ASSERT(h.edges.size() + 1 == c.data.n);
  for (std::size_t i = 0; i < c.data.n; ++i) RC_ASSERT(h.core_distances[i] >= exact.core_distances[i]);
  const auto we = sorted_weights(exact), wh = sorted_weights(h);
  for (std::size_t k = 0; k < we.size(); ++k) RC_ASSERT(wh[k] >= we[k]);
  RC_ASSERT(std::accumulate(wh.begin(), wh.end(), 0.0) >= std::accumulate(we.begin(), we.end(), 0.0));
}

RC_GTEST_PROP(PropOutputs, InRange, ()) {
  const bool hnsw = *rc::gen::arbitrary<bool>();
  case_input c = draw_case(hnsw ? chutoro::candidate_mode::hnsw : chutoro::candidate_mode::exact);
  c.p.selection.cluster_selection_epsilon =
      *rc::gen::element(0.0, 0.1, 0.5, 1.0, 3.0).as("cluster_selection_epsilon");
  chutoro::dense_source src(c.data.values, c.data.n, c.data.dim, chutoro::dense_metric::euclidean);
  const chutoro::result r = chutoro::fit(src, c.p);
  const auto k = static_cast<std::int32_t>(r.n_clusters());
  RC_ASSERT(r.labels.size() == c.data.n);
  RC_ASSERT(r.probabilities.size() == c.data.n);
  RC_ASSERT(r.outlier_scores.size() == c.data.n);
  for (std::size_t i = 0; i < c.data.n; ++i) {
    RC_ASSERT(r.labels[i] >= -1);
    RC_ASSERT(r.labels[i] < k);
    RC_ASSERT(r.probabilities[i] >= 0.0);
    RC_ASSERT(r.probabilities[i] <= 1.0);
    if (r.labels[i] == -1)
      RC_ASSERT(r.probabilities[i] == 0.0);
    else
      RC_ASSERT(r.probabilities[i] > 0.0);
    RC_ASSERT(r.outlier_scores[i] >= 0.0);  // false for NaN
    RC_ASSERT(r.outlier_scores[i] <= 1.0);
  }
}
