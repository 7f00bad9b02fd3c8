// Tests of the HDBSCAN* hierarchy stage (src/core/hierarchy): union-find,
// single linkage, condensed tree, stability, eom / leaf selection, epsilon,
// allow_single_cluster, labels, probabilities, GLOSH and persistence.
//
// Every expected value below is worked out by hand in the comments (lambda =
// 1 / distance); the same cases were checked against hdbscan 0.8.44
// (hdbscan._hdbscan_linkage.label, hdbscan._hdbscan_tree.condense_tree,
// compute_stability, get_clusters, outlier_scores).
#include <gtest/gtest.h>

#include <algorithm>
#include <chutoro/error.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "core/hierarchy/hierarchy.hpp"
#include "core/mst/union_find.hpp"

namespace chutoro::detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

selection_params params(std::size_t mcs, cluster_selection_method method = cluster_selection_method::eom,
                        double epsilon = 0.0, bool allow_single = false) {
  selection_params sp;
  sp.min_cluster_size = mcs;
  sp.method = method;
  sp.cluster_selection_epsilon = epsilon;
  sp.allow_single_cluster = allow_single;
  return sp;
}

void expect_rows(const std::vector<linkage_row>& got, const std::vector<linkage_row>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t r = 0; r < want.size(); ++r) {
    SCOPED_TRACE("single-linkage row " + std::to_string(r));
    EXPECT_EQ(got[r].left, want[r].left);
    EXPECT_EQ(got[r].right, want[r].right);
    EXPECT_DOUBLE_EQ(got[r].distance, want[r].distance);
    EXPECT_EQ(got[r].size, want[r].size);
  }
}

void expect_rows(const std::vector<condensed_row>& got, const std::vector<condensed_row>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t r = 0; r < want.size(); ++r) {
    SCOPED_TRACE("condensed row " + std::to_string(r));
    EXPECT_EQ(got[r].parent, want[r].parent);
    EXPECT_EQ(got[r].child, want[r].child);
    EXPECT_DOUBLE_EQ(got[r].lambda_val, want[r].lambda_val);
    EXPECT_EQ(got[r].child_size, want[r].child_size);
  }
}

void expect_doubles(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("index " + std::to_string(i));
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << got[i];
    } else {
      EXPECT_DOUBLE_EQ(got[i], want[i]);
    }
  }
}

// ---------------------------------------------------------------------------
// Example 1: two clusters and an outlier, n = 8, min_cluster_size = 3.
//   A = {0,1,2}: 0-1 at 1, 2-1 at 2.  B = {3,4,5,6}: 3-4 at 0.5, 4-5 at 0.5, 6-5 at 1.
//   bridge 1-4 at 4;  outlier 7-3 at 5.
// Stable sort: (3,4,.5) (4,5,.5) (0,1,1) (6,5,1) (2,1,2) (1,4,4) (7,3,5).
// Single linkage (row r is id 8 + r; left = cluster of edge.a):
//   8:[3,4,.5,2]  9:[8,5,.5,3]  10:[0,1,1,2]  11:[6,9,1,4]  12:[2,10,2,3]
//   13:[12,11,4,7]  14:[7,13,5,8]
// Condensed (root 14 -> cluster 8):
//   14 at lambda .2: left 7 (1 item) falls out, 13 goes on as cluster 8.
//   13 at .25: 12 (3) and 11 (4) both >= 3: clusters 9 (left first) and 10.
//   12 at .5: 2 (1) and 10 (2) both small: items 2, then 0, 1 fall out of 9.
//   11 at 1: 6 falls out of 10, 9 (3) goes on as 10.
//   9 at 2: 8 (2) and 5 (1) small: items 3, 4 then 5 fall out of 10.
// ---------------------------------------------------------------------------
const std::vector<mst_edge> kExample1 = {{0, 1, 1.0}, {2, 1, 2.0}, {3, 4, 0.5}, {4, 5, 0.5},
                                         {6, 5, 1.0}, {1, 4, 4.0}, {7, 3, 5.0}};

TEST(UnionFind, StartsAsSingletons) {
  union_find uf(4);
  EXPECT_EQ(uf.size(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(uf.find(i), i);
    EXPECT_EQ(uf.set_size(i), 1u);
  }
}

TEST(UnionFind, UniteMergesTransitively) {
  union_find uf(5);
  EXPECT_TRUE(uf.unite(0, 1));
  EXPECT_TRUE(uf.unite(2, 3));
  EXPECT_NE(uf.find(0), uf.find(2));
  EXPECT_TRUE(uf.unite(1, 3));
  EXPECT_EQ(uf.find(0), uf.find(3));
  EXPECT_EQ(uf.find(2), uf.find(1));
  EXPECT_EQ(uf.set_size(2), 4u);
  EXPECT_EQ(uf.set_size(4), 1u);
  EXPECT_FALSE(uf.unite(0, 2));  // already one set
  EXPECT_EQ(uf.set_size(0), 4u);
}

TEST(SingleLinkage, HandWorkedExample) {
  expect_rows(single_linkage(8, kExample1), {{3, 4, 0.5, 2},
                                             {8, 5, 0.5, 3},
                                             {0, 1, 1.0, 2},
                                             {6, 9, 1.0, 4},
                                             {2, 10, 2.0, 3},
                                             {12, 11, 4.0, 7},
                                             {7, 13, 5.0, 8}});
}

TEST(SingleLinkage, TiesKeepInputOrder) {
  // All distances 1. In order (0,1) (2,3) (1,2): 4:[0,1] 5:[2,3] 6:[4,5].
  expect_rows(single_linkage(4, std::vector<mst_edge>{{0, 1, 1}, {2, 3, 1}, {1, 2, 1}}),
              {{0, 1, 1, 2}, {2, 3, 1, 2}, {4, 5, 1, 4}});
  // In order (1,2) (0,1) (2,3): 4:[1,2] 5:[0,4] 6:[5,3].
  expect_rows(single_linkage(4, std::vector<mst_edge>{{1, 2, 1}, {0, 1, 1}, {2, 3, 1}}),
              {{1, 2, 1, 2}, {0, 4, 1, 3}, {5, 3, 1, 4}});
}

TEST(SingleLinkage, ManyTiesAreStable) {
  // A path 0-1-...-199 with distances in {1, 2}: rows must follow input order
  // within each distance, i.e. the order of (distance, input position).
  const std::size_t n = 200;
  std::vector<mst_edge> edges;
  for (std::size_t i = 1; i < n; ++i) {
    edges.push_back(
        {static_cast<std::int64_t>(i), static_cast<std::int64_t>(i - 1), (i * 7919 % 3 == 0) ? 1.0 : 2.0});
  }
  std::mt19937 rng(3);
  std::shuffle(edges.begin(), edges.end(), rng);
  std::vector<std::size_t> order(edges.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return edges[a].distance < edges[b].distance; });
  const auto slt = single_linkage(n, edges);
  // Replay: the row for the k-th sorted edge joins the clusters of its endpoints.
  union_find uf(n);
  std::vector<std::int64_t> id_of(n);
  std::iota(id_of.begin(), id_of.end(), 0);
  for (std::size_t r = 0; r < order.size(); ++r) {
    const mst_edge& e = edges[order[r]];
    const auto ra = uf.find(static_cast<std::uint32_t>(e.a));
    const auto rb = uf.find(static_cast<std::uint32_t>(e.b));
    ASSERT_EQ(slt[r].left, id_of[ra]) << "row " << r;
    ASSERT_EQ(slt[r].right, id_of[rb]) << "row " << r;
    ASSERT_EQ(slt[r].distance, e.distance) << "row " << r;
    uf.unite(ra, rb);
    id_of[uf.find(ra)] = static_cast<std::int64_t>(n + r);
  }
}

TEST(SingleLinkage, RejectsBadSpanningTrees) {
  EXPECT_THROW(single_linkage(3, std::vector<mst_edge>{{0, 1, 1}}), error);             // too few edges
  EXPECT_THROW(single_linkage(3, std::vector<mst_edge>{{0, 1, 1}, {1, 1, 1}}), error);  // self-loop
  EXPECT_THROW(single_linkage(3, std::vector<mst_edge>{{0, 1, 1}, {1, 3, 1}}), error);  // id out of range
  EXPECT_THROW(single_linkage(4, std::vector<mst_edge>{{0, 1, 1}, {1, 0, 2}, {2, 3, 1}}), error);  // cycle
  EXPECT_THROW(single_linkage(2, std::vector<mst_edge>{{0, 1, std::nan("")}}), error);
  EXPECT_THROW(single_linkage(2, std::vector<mst_edge>{{0, 1, -1.0}}), error);
  try {
    single_linkage(3, std::vector<mst_edge>{{0, 1, 1}, {1, 5, 1}});
    FAIL() << "expected chutoro::error";
  } catch (const error& e) {
    EXPECT_EQ(e.code(), error_code::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("edge 1"), std::string::npos) << e.what();
  }
}

TEST(CondenseTree, HandWorkedExample) {
  const auto slt = single_linkage(8, kExample1);
  expect_rows(condense_tree(slt, 3), {{8, 7, 0.2, 1},
                                      {8, 9, 0.25, 3},
                                      {8, 10, 0.25, 4},
                                      {9, 2, 0.5, 1},
                                      {9, 0, 0.5, 1},
                                      {9, 1, 0.5, 1},
                                      {10, 6, 1.0, 1},
                                      {10, 3, 2.0, 1},
                                      {10, 4, 2.0, 1},
                                      {10, 5, 2.0, 1}});
}

TEST(CondenseTree, RejectsMinClusterSizeBelowTwo) {
  const auto slt = single_linkage(8, kExample1);
  EXPECT_THROW(condense_tree(slt, 1), error);
}

TEST(CondenseTree, MinClusterSizeAboveNLeavesOnlyTheRoot) {
  // The root's first split (14 at lambda .2) has sides of 1 and 7 < 10: every
  // item falls out there, side by side in breadth-first order:
  //   left 7; right 13 -> [12, 11] -> [2, 10, 6, 9] -> [0, 1, 8, 5] -> [3, 4].
  const auto ct = condense_tree(single_linkage(8, kExample1), 10);
  expect_rows(ct, {{8, 7, 0.2, 1},
                   {8, 2, 0.2, 1},
                   {8, 6, 0.2, 1},
                   {8, 0, 0.2, 1},
                   {8, 1, 0.2, 1},
                   {8, 5, 0.2, 1},
                   {8, 3, 0.2, 1},
                   {8, 4, 0.2, 1}});
}

TEST(Stability, HandWorkedExample) {
  // birth(8) = 0, birth(9) = birth(10) = .25
  // S(8)  = .2*1 + .25*3 + .25*4         = 1.95
  // S(9)  = (.5-.25)*3                   = .75
  // S(10) = (1-.25)*1 + (2-.25)*3        = 6
  const auto ct = condense_tree(single_linkage(8, kExample1), 3);
  expect_doubles(cluster_stability(ct, 8), {1.95, 0.75, 6.0});
}

TEST(Extract, HandWorkedExampleLabelsProbabilitiesGlosh) {
  // eom: 10 and 9 have no children (sum 0 <= S): both kept -> labels 9 -> 0, 10 -> 1.
  // probabilities: deaths(9) = .5: items 0,1,2 -> .5/.5 = 1;
  //   deaths(10) = 2: item 6 -> 1/2 = .5, items 3,4,5 -> 1; item 7 is noise -> 0.
  // GLOSH: subtree max lambda: 10 -> 2, 9 -> .5, 8 -> 2.
  //   item 7 (in 8 at .2): (2-.2)/2 = .9; item 6: (2-1)/2 = .5; the rest 0.
  // persistence: max lambda = 2: S(9)/(3*2) = .125, S(10)/(4*2) = .75.
  const auto out = extract(8, kExample1, params(3));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1, 1, -1}));
  expect_doubles(out.probabilities, {1, 1, 1, 1, 1, 1, 0.5, 0});
  expect_doubles(out.outlier_scores, {0, 0, 0, 0, 0, 0, 0.5, 0.9});
  expect_doubles(out.cluster_persistence, {0.125, 0.75});
  EXPECT_EQ(out.n_clusters(), 2u);
  EXPECT_EQ(out.single_linkage_tree.size(), 7u);
  EXPECT_EQ(out.condensed_tree.size(), 10u);
}

TEST(Extract, EpsilonBelowEveryBirthChangesNothing) {
  // Clusters 9 and 10 are born at distance 1/.25 = 4 >= 3: both stay.
  const auto out = extract(8, kExample1, params(3, cluster_selection_method::eom, 3.0));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1, 1, -1}));
}

TEST(Extract, EpsilonWalkStopsBelowTheRoot) {
  // epsilon 5 > 4: 9 and 10 climb, but their parent is the root: without
  // allow_single_cluster each keeps itself.
  for (const auto method : {cluster_selection_method::eom, cluster_selection_method::leaf}) {
    const auto out = extract(8, kExample1, params(3, method, 5.0));
    EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1, 1, -1}));
  }
}

TEST(Extract, EpsilonWithAllowSingleClusterTakesTheRoot) {
  // allow_single_cluster, epsilon 5: the walk from 9 returns the root; 10 is
  // then a processed descendant. Root alone with epsilon: member iff
  // lambda >= 1/5 = .2 -> all 8 items, label 0.
  // probabilities: root's own rows reach max lambda .25: item 7 -> .2/.25 = .8,
  //   the others have lambda >= .25 -> 1.
  // persistence (max lambda 2, 8 items):
  //   eom: the root took its children's sum .75 + 6 = 6.75 -> 6.75/16 = .421875
  //   leaf: stability untouched, 1.95 -> 1.95/16 = .121875
  auto out = extract(8, kExample1, params(3, cluster_selection_method::eom, 5.0, true));
  EXPECT_EQ(out.labels, std::vector<std::int32_t>(8, 0));
  expect_doubles(out.probabilities, {1, 1, 1, 1, 1, 1, 1, 0.8});
  expect_doubles(out.cluster_persistence, {0.421875});
  out = extract(8, kExample1, params(3, cluster_selection_method::leaf, 5.0, true));
  EXPECT_EQ(out.labels, std::vector<std::int32_t>(8, 0));
  expect_doubles(out.cluster_persistence, {0.121875});
}

// ---------------------------------------------------------------------------
// Example 2: nested clusters where eom and leaf differ, n = 6, min_cluster_size = 2.
//   P1 = {0,1} at .8, P2 = {2,3} at .8, P1-P2 (1,2) at 1, Q = {4,5} at 1, P-Q (3,4) at 4.
// Single linkage: 6:[0,1,.8,2] 7:[2,3,.8,2] 8:[6,7,1,4] 9:[4,5,1,2] 10:[8,9,4,6]
// Condensed (root 10 -> 6):
//   10 at .25: 8 (4) -> 7, 9 (2) -> 8.   8 at 1: 6 -> 9, 7 -> 10.
//   9 at 1: items 4, 5 fall out of 8.    6, 7 at 1.25: items 0,1 of 9 and 2,3 of 10.
// Stability: S(6) = .25*4 + .25*2 = 1.5; S(7) = .75*2 + .75*2 = 3; S(8) = .75*2 = 1.5;
//            S(9) = S(10) = (1.25-1)*2 = .5.
// ---------------------------------------------------------------------------
const std::vector<mst_edge> kExample2 = {{0, 1, 0.8}, {2, 3, 0.8}, {1, 2, 1.0}, {4, 5, 1.0}, {3, 4, 4.0}};

TEST(CondenseTree, NestedSplitsGetBreadthFirstIds) {
  const auto ct = condense_tree(single_linkage(6, kExample2), 2);
  expect_rows(ct, {{6, 7, 0.25, 4},
                   {6, 8, 0.25, 2},
                   {7, 9, 1.0, 2},
                   {7, 10, 1.0, 2},
                   {8, 4, 1.0, 1},
                   {8, 5, 1.0, 1},
                   {9, 0, 1.25, 1},
                   {9, 1, 1.25, 1},
                   {10, 2, 1.25, 1},
                   {10, 3, 1.25, 1}});
  expect_doubles(cluster_stability(ct, 6), {1.5, 3.0, 1.5, 0.5, 0.5});
}

TEST(Select, EomKeepsTheParentLeafKeepsTheLeaves) {
  // eom: 9, 10, 8 kept; 7: children .5 + .5 = 1 <= 3 -> 7 kept, 9 and 10 dropped.
  // leaf: the clusters without child clusters, 8, 9, 10.
  const auto ct = condense_tree(single_linkage(6, kExample2), 2);
  const auto st = cluster_stability(ct, 6);
  EXPECT_EQ(select_clusters(ct, 6, st, params(2)).clusters, (std::vector<std::int64_t>{7, 8}));
  EXPECT_EQ(select_clusters(ct, 6, st, params(2, cluster_selection_method::leaf)).clusters,
            (std::vector<std::int64_t>{8, 9, 10}));
}

TEST(Extract, EomVersusLeafLabelsAndPersistence) {
  // max lambda 1.25. eom {7, 8}: persistence 3/(4*1.25) = .6, 1.5/(2*1.25) = .6.
  //   probabilities: deaths(7) = 1 (its rows are the splits at 1); items 0..3
  //   leave at 1.25 -> min(1.25, 1)/1 = 1.
  // leaf {8, 9, 10}: labels 8 -> 0 (items 4,5), 9 -> 1 (0,1), 10 -> 2 (2,3);
  //   persistence .6, .5/(2*1.25) = .2, .2.
  auto out = extract(6, kExample2, params(2));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1}));
  expect_doubles(out.probabilities, {1, 1, 1, 1, 1, 1});
  expect_doubles(out.cluster_persistence, {0.6, 0.6});
  out = extract(6, kExample2, params(2, cluster_selection_method::leaf));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{1, 1, 2, 2, 0, 0}));
  expect_doubles(out.cluster_persistence, {0.6, 0.2, 0.2});
}

TEST(Extract, EpsilonMergesLeavesIntoTheirParent) {
  // leaf + epsilon 2: 9 is born at 1/1 = 1 < 2 -> its parent 7 is born at 4 > 2:
  // take 7 (and skip its descendant 10); 8 is born at 4 >= 2: stays. -> {7, 8}.
  // Persistence from the untouched stability: 3/(4*1.25) = .6, .6.
  auto out = extract(6, kExample2, params(2, cluster_selection_method::leaf, 2.0));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1}));
  expect_doubles(out.cluster_persistence, {0.6, 0.6});
  // epsilon .5 is below every birth distance: the leaves stay.
  out = extract(6, kExample2, params(2, cluster_selection_method::leaf, 0.5));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{1, 1, 2, 2, 0, 0}));
}

TEST(Extract, EpsilonEqualToABirthDistanceKeepsTheCluster) {
  // Leaves 9 and 10 are born at distance 1/1 = 1; epsilon 1 is not above it
  // (hdbscan climbs only when birth distance < epsilon): the leaves stay.
  const auto out = extract(6, kExample2, params(2, cluster_selection_method::leaf, 1.0));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{1, 1, 2, 2, 0, 0}));
}

TEST(Extract, EpsilonClimbToTheRootNextToASiblingBornAtEpsilon) {
  // leaf, allow_single_cluster, epsilon 4. Leaf 9 (born at 1 < 4) climbs: its
  // parent 7 is born at 4, not above 4, so the walk goes on to the root: take
  // the root 6 (10 is then skipped). Leaf 8 is born at exactly 4, not below
  // epsilon: it stays. Selected {6, 8}: two clusters, so the root's items
  // (0..3) are noise and label 0 is empty; 8 -> label 1.
  // persistence: root has no labelled item -> 1; 8: 1.5/(2*1.25) = .6.
  const auto out = extract(6, kExample2, params(2, cluster_selection_method::leaf, 4.0, true));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{-1, -1, -1, -1, 1, 1}));
  expect_doubles(out.probabilities, {0, 0, 0, 0, 1, 1});
  expect_doubles(out.cluster_persistence, {1.0, 0.6});
}

// Example 6: a root more stable than its children, n = 4, min_cluster_size = 2.
//   0-1 at 1, 2-3 at 1, 1-2 at 1.25.  Single linkage: 4:[0,1,1,2] 5:[2,3,1,2] 6:[4,5,1.25,4].
//   Condensed: root 4 splits at .8 into 5 = {0,1} and 6 = {2,3}, whose items leave at 1.
//   S(4) = .8*2 + .8*2 = 3.2; S(5) = S(6) = (1-.8)*2 = .4.
TEST(Extract, RootSelectedAloneIgnoresEpsilon) {
  const std::vector<mst_edge> edges = {{0, 1, 1.0}, {2, 3, 1.0}, {1, 2, 1.25}};
  // Without the root: 5 -> 0, 6 -> 1.
  EXPECT_EQ(extract(4, edges, params(2)).labels, (std::vector<std::int32_t>{0, 0, 1, 1}));
  // With it: .4 + .4 = .8 <= 3.2, the root is kept alone, and hdbscan skips the
  // epsilon step. Members: lambda 1 >= 1/2 for all. persistence 3.2/(4*1) = .8.
  const auto out = extract(4, edges, params(2, cluster_selection_method::eom, 2.0, true));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, 0}));
  expect_doubles(out.probabilities, {1, 1, 1, 1});
  expect_doubles(out.cluster_persistence, {0.8});
}

TEST(Select, EomSumsChildrenInFloat32LikeHdbscan) {
  // Example 2's tree with chosen stabilities: S(9) = .1, S(10) = .2,
  // S(7) = .1 + .2 in double = 0.30000000000000004. hdbscan's float32 sum:
  // float(.1) + .2 = 0.30000000149..., rounded to float32 0.30000001192092896
  // > S(7): 7 is not kept and takes that value; 9 and 10 are selected.
  const auto ct = condense_tree(single_linkage(6, kExample2), 2);
  const std::vector<double> st = {1.5, 0.1 + 0.2, 1.5, 0.1, 0.2};
  const auto sel = select_clusters(ct, 6, st, params(2));
  EXPECT_EQ(sel.clusters, (std::vector<std::int64_t>{8, 9, 10}));
  EXPECT_EQ(sel.stability[1], static_cast<double>(0.30000001192092896f));
  EXPECT_EQ(sel.stability[2], 1.5);  // kept clusters keep their own value
  // A tie (.5 + 1 = 1.5 exactly, also in float32) keeps the parent: hdbscan's test is strict.
  const std::vector<double> tie = {1.5, 1.5, 1.5, 0.5, 1.0};
  EXPECT_EQ(select_clusters(ct, 6, tie, params(2)).clusters, (std::vector<std::int64_t>{7, 8}));
}

// ---------------------------------------------------------------------------
// Example 3: a root with no child clusters, n = 4, min_cluster_size = 3.
//   path 0-1 at 1, 1-2 at 2, 2-3 at 4.
// Single linkage: 4:[0,1,1,2] 5:[4,2,2,3] 6:[5,3,4,4].
// Condensed: 6 at .25: item 3 falls out, 5 goes on as 4; 5 at .5: 4 (2) and 2 (1)
//   are both small: items 0, 1, 2 fall out at .5.
//   rows (4,3,.25) (4,0,.5) (4,1,.5) (4,2,.5); S(4) = .25 + 3*.5 = 1.75.
// ---------------------------------------------------------------------------
const std::vector<mst_edge> kExample3 = {{0, 1, 1.0}, {1, 2, 2.0}, {2, 3, 4.0}};

TEST(Extract, RootOnlyTreeWithoutAllowSingleClusterIsAllNoise) {
  // GLOSH: deaths(4) = .5: item 3 -> (.5-.25)/.5 = .5; items 0,1,2 -> 0.
  const auto out = extract(4, kExample3, params(3));
  EXPECT_EQ(out.labels, std::vector<std::int32_t>(4, -1));
  expect_doubles(out.probabilities, {0, 0, 0, 0});
  expect_doubles(out.outlier_scores, {0, 0, 0, 0.5});
  EXPECT_EQ(out.n_clusters(), 0u);
}

TEST(Extract, AllowSingleClusterKeepsOnlyTheRootsDensestItems) {
  // eom with the root: children sum 0 <= 1.75 -> root kept, alone.
  // epsilon 0: member iff lambda >= max lambda of the root's rows (.5): 0,1,2.
  // probabilities .5/.5 = 1; persistence 1.75/(3 * .5) = 1.1666... (hdbscan does not clamp).
  auto out = extract(4, kExample3, params(3, cluster_selection_method::eom, 0.0, true));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, -1}));
  expect_doubles(out.probabilities, {1, 1, 1, 0});
  expect_doubles(out.cluster_persistence, {1.75 / 1.5});
  // epsilon 3: member iff lambda >= 1/3: .25 < .333 -> item 3 is noise.
  out = extract(4, kExample3, params(3, cluster_selection_method::eom, 3.0, true));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, -1}));
  // epsilon 5: lambda >= .2 for all four; item 3: .25/.5 = .5; persistence 1.75/(4*.5) = .875.
  out = extract(4, kExample3, params(3, cluster_selection_method::eom, 5.0, true));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, 0}));
  expect_doubles(out.probabilities, {1, 1, 1, 0.5});
  expect_doubles(out.cluster_persistence, {0.875});
}

TEST(Extract, LeafWithoutChildClustersSelectsNothingEvenWithAllowSingleCluster) {
  // hdbscan marks the root, then keeps only members of the empty leaf set.
  for (const double eps : {0.0, 5.0}) {
    const auto out = extract(4, kExample3, params(3, cluster_selection_method::leaf, eps, true));
    EXPECT_EQ(out.labels, std::vector<std::int32_t>(4, -1));
    EXPECT_EQ(out.n_clusters(), 0u);
  }
}

// ---------------------------------------------------------------------------
// Example 4: two components joined by an infinite edge, min_cluster_size = 3.
//   {0,1,2}: 0-1, 1-2 at 1; {3,4,5}: 3-4, 4-5 at 1; 2-3 at inf.
// Single linkage: 6:[0,1,1,2] 7:[6,2,1,3] 8:[3,4,1,2] 9:[8,5,1,3] 10:[7,9,inf,6].
// Condensed: the root splits at lambda 1/inf = 0 into 7 and 8, whose items
//   leave at 1. S(6) = 0, S(7) = S(8) = 3*(1-0) = 3.
// ---------------------------------------------------------------------------
TEST(Extract, InfiniteEdgeSplitsAtLambdaZero) {
  const std::vector<mst_edge> edges = {{0, 1, 1}, {1, 2, 1}, {3, 4, 1}, {4, 5, 1}, {2, 3, kInf}};
  const auto slt = single_linkage(6, edges);
  EXPECT_EQ(slt.back().left, 7);
  EXPECT_EQ(slt.back().right, 9);
  EXPECT_EQ(slt.back().distance, kInf);
  const auto ct = condense_tree(slt, 3);
  expect_rows(ct, {{6, 7, 0.0, 3},
                   {6, 8, 0.0, 3},
                   {7, 0, 1, 1},
                   {7, 1, 1, 1},
                   {7, 2, 1, 1},
                   {8, 3, 1, 1},
                   {8, 4, 1, 1},
                   {8, 5, 1, 1}});
  expect_doubles(cluster_stability(ct, 6), {0, 3, 3});
  // persistence: 3/(3*1) = 1. Birth distance of 7, 8 is 1/0 = inf >= epsilon 2: kept.
  for (const double eps : {0.0, 2.0}) {
    const auto out = extract(6, edges, params(3, cluster_selection_method::eom, eps));
    EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1}));
    expect_doubles(out.cluster_persistence, {1, 1});
    expect_doubles(out.outlier_scores, {0, 0, 0, 0, 0, 0});
  }
}

// ---------------------------------------------------------------------------
// Example 5: duplicates (distance 0, lambda inf), min_cluster_size = 2.
//   0-1 at 0, 1-2 at 0, 2-3 at 1.
// Single linkage: 4:[0,1,0,2] 5:[4,2,0,3] 6:[5,3,1,4].
// Condensed: 6 at 1: item 3 falls out; 5 at inf: item 2 falls out (4 goes on);
//   4 at inf: items 0, 1 fall out. S(4) = 1 + inf*3 = inf.
// ---------------------------------------------------------------------------
TEST(Extract, ZeroDistancesGiveInfiniteLambda) {
  const std::vector<mst_edge> edges = {{0, 1, 0}, {1, 2, 0}, {2, 3, 1}};
  const auto ct = condense_tree(single_linkage(4, edges), 2);
  expect_rows(ct, {{4, 3, 1, 1}, {4, 2, kInf, 1}, {4, 0, kInf, 1}, {4, 1, kInf, 1}});
  // allow_single_cluster: root kept (0 > inf is false). Members: lambda >= inf: 0,1,2.
  // probabilities: infinite lambda -> 1. persistence: tree max lambda is inf -> 1.
  // GLOSH: item 3 has finite lambda 1 under a subtree max of inf: (inf-1)/inf = NaN
  // (as hdbscan); items at inf -> 0.
  const auto out = extract(4, edges, params(2, cluster_selection_method::eom, 0.0, true));
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, -1}));
  expect_doubles(out.probabilities, {1, 1, 1, 0});
  expect_doubles(out.cluster_persistence, {1});
  expect_doubles(out.outlier_scores, {0, 0, 0, std::nan("")});
}

TEST(CondenseTree, NegativeZeroDistanceIsInfiniteLambda) {
  // hdbscan tests distance > 0: -0.0 gives +inf, not 1/-0.0 = -inf.
  const auto ct = condense_tree(single_linkage(2, std::vector<mst_edge>{{0, 1, -0.0}}), 2);
  expect_rows(ct, {{2, 0, kInf, 1}, {2, 1, kInf, 1}});
}

TEST(Extract, TinyInputs) {
  EXPECT_TRUE(extract(0, {}, params(2)).labels.empty());
  const auto one = extract(1, {}, params(2));
  EXPECT_EQ(one.labels, std::vector<std::int32_t>{-1});
  EXPECT_TRUE(one.condensed_tree.empty());
  // n = 2, mcs = 2: the root's only split has two 1-item sides: both fall out at 1/2.
  const auto two = extract(2, std::vector<mst_edge>{{0, 1, 2.0}}, params(2));
  EXPECT_EQ(two.labels, (std::vector<std::int32_t>{-1, -1}));
  expect_rows(two.condensed_tree, {{2, 0, 0.5, 1}, {2, 1, 0.5, 1}});
}

TEST(Extract, RejectsBadSelectionParameters) {
  EXPECT_THROW(extract(8, kExample1, params(1)), error);
  EXPECT_THROW(extract(8, kExample1, params(3, cluster_selection_method::eom, -1.0)), error);
  EXPECT_THROW(extract(8, kExample1, params(3, cluster_selection_method::eom, std::nan(""))), error);
}

// ---------------------------------------------------------------------------
// hdbscan 0.8.40's selection options on Example 2 (clusters 7, 8 born at
// distance 4 with 4 and 2 items; 9, 10 under 7 born at distance 1, 2 items each).
// ---------------------------------------------------------------------------
TEST(Select, MaxClusterSizeSplitsTooLargeClusters) {
  // 7 holds 4 items > 3: never kept, takes its children's stability .5 + .5 = 1;
  // 9 and 10 are kept. -> {8, 9, 10}; persistence 1.5/(2*1.25), .5/(2*1.25) twice.
  auto sp = params(2);
  sp.max_cluster_size = 3;
  const auto out = extract(6, kExample2, sp);
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{1, 1, 2, 2, 0, 0}));
  expect_doubles(out.cluster_persistence, {0.6, 0.2, 0.2});
  sp.max_cluster_size = 4;  // not above 4: as without the option
  EXPECT_EQ(extract(6, kExample2, sp).labels, (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1}));
  // leaf selection ignores it.
  sp = params(2, cluster_selection_method::leaf);
  sp.max_cluster_size = 1;
  EXPECT_EQ(extract(6, kExample2, sp).labels, (std::vector<std::int32_t>{1, 1, 2, 2, 0, 0}));
}

TEST(Select, EpsilonMaxSplitsClustersBornAboveIt) {
  // 7 and 8 are born at distance 4 > 2: neither is kept; 9, 10 (born at 1) are.
  auto sp = params(2);
  sp.cluster_selection_epsilon_max = 2.0;
  EXPECT_EQ(extract(6, kExample2, sp).labels, (std::vector<std::int32_t>{0, 0, 1, 1, -1, -1}));
  sp.cluster_selection_epsilon_max = 4.0;  // not above 4
  EXPECT_EQ(extract(6, kExample2, sp).labels, (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1}));
  sp.cluster_selection_epsilon = 5.0;  // below epsilon: rejected
  EXPECT_THROW(extract(6, kExample2, sp), error);
  sp.cluster_selection_epsilon = 0.0;
  sp.cluster_selection_epsilon_max = std::nan("");
  EXPECT_THROW(extract(6, kExample2, sp), error);
}

TEST(SimplifyHierarchy, PersistenceMergesShortLivedLeaves) {
  // death (float32, the lambda of each parent's last row): 7 -> 1, 8 -> 1,
  // 9, 10 -> 1.25. Split of 7 at 1: children live 1.25 - 1 = .25; split of
  // the root at .25: min(1.25 (7 raised to its children's), 1) - .25 = .75.
  const auto ct = condense_tree(single_linkage(6, kExample2), 2);
  expect_rows(simplify_hierarchy(ct, 6, 0.25), ct);  // .25 >= .25: kept
  // .3: 9 and 10 merge into 7, which becomes a leaf; ids 7, 8 stay.
  const std::vector<condensed_row> merged = {{6, 7, 0.25, 4}, {6, 8, 0.25, 2}, {8, 4, 1.0, 1},
                                             {8, 5, 1.0, 1},  {7, 0, 1.25, 1}, {7, 1, 1.25, 1},
                                             {7, 2, 1.25, 1}, {7, 3, 1.25, 1}};
  expect_rows(simplify_hierarchy(ct, 6, 0.3), merged);
  // .8: then 7 and 8 merge into the root too: only items are left.
  const std::vector<condensed_row> flat = {{6, 4, 1.0, 1},  {6, 5, 1.0, 1},  {6, 0, 1.25, 1},
                                           {6, 1, 1.25, 1}, {6, 2, 1.25, 1}, {6, 3, 1.25, 1}};
  expect_rows(simplify_hierarchy(ct, 6, 0.8), flat);
  // Through extract: eom on the simplified tree, whose rows condensed_tree holds.
  auto sp = params(2, cluster_selection_method::leaf);
  sp.cluster_selection_persistence = 0.3;
  const auto out = extract(6, kExample2, sp);
  expect_rows(out.condensed_tree, merged);
  EXPECT_EQ(out.labels, (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1}));
  sp.cluster_selection_persistence = -1.0;
  EXPECT_THROW(extract(6, kExample2, sp), error);
}

TEST(LabellingAtCut, DbscanStarFlatCut) {
  // Example 2's merges: {0,1} and {2,3} at .8, {0..3} and {4,5} at 1, all at 4.
  const auto slt = single_linkage(6, kExample2);
  EXPECT_EQ(labelling_at_cut(slt, 0.9, 2), (std::vector<std::int32_t>{0, 0, 1, 1, -1, -1}));
  EXPECT_EQ(labelling_at_cut(slt, 1.0, 2), (std::vector<std::int32_t>{0, 0, 1, 1, -1, -1}));  // strict <
  EXPECT_EQ(labelling_at_cut(slt, 1.5, 2), (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(labelling_at_cut(slt, 1.5, 3), (std::vector<std::int32_t>{0, 0, 0, 0, -1, -1}));
  EXPECT_EQ(labelling_at_cut(slt, 5.0, 2), (std::vector<std::int32_t>(6, 0)));
  EXPECT_EQ(labelling_at_cut(slt, 0.1, 1), (std::vector<std::int32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_THROW(labelling_at_cut(slt, std::nan(""), 2), error);
}

// Invariants on random spanning trees with many ties and a few infinite edges.
TEST(Extract, InvariantsOnRandomTrees) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t n = 2 + rng() % 300;
    std::vector<mst_edge> edges;
    for (std::size_t i = 1; i < n; ++i) {
      const double d = (rng() % 50 == 0) ? kInf : static_cast<double>(rng() % 8) * 0.5;
      edges.push_back({static_cast<std::int64_t>(i), static_cast<std::int64_t>(rng() % i), d});
    }
    const auto sp =
        params(2 + rng() % 8, (rng() & 1) ? cluster_selection_method::leaf : cluster_selection_method::eom,
               (rng() % 3 == 0) ? 1.5 : 0.0, rng() % 4 == 0);
    SCOPED_TRACE("trial " + std::to_string(trial) + ", n = " + std::to_string(n));
    const auto out = extract(n, edges, sp);

    // Condensed tree: every item leaves exactly once; parents precede children.
    std::vector<int> seen(n, 0);
    for (const auto& row : out.condensed_tree) {
      ASSERT_GE(row.parent, static_cast<std::int64_t>(n));
      if (row.child < static_cast<std::int64_t>(n)) {
        ++seen[static_cast<std::size_t>(row.child)];
        ASSERT_EQ(row.child_size, 1);
      } else {
        ASSERT_GT(row.child, row.parent);
        ASSERT_GE(row.child_size, static_cast<std::int64_t>(sp.min_cluster_size));
      }
    }
    ASSERT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<std::ptrdiff_t>(n));

    // Labels 0..k-1, each used; noise has probability 0, members [0, 1].
    const auto k = static_cast<std::int32_t>(out.n_clusters());
    std::vector<int> used(static_cast<std::size_t>(k), 0);
    for (std::size_t x = 0; x < n; ++x) {
      const std::int32_t l = out.labels[x];
      ASSERT_GE(l, -1);
      ASSERT_LT(l, k);
      if (l < 0) {
        ASSERT_EQ(out.probabilities[x], 0.0);
      } else {
        used[static_cast<std::size_t>(l)] = 1;
        ASSERT_GE(out.probabilities[x], 0.0);  // 0 only for an item leaving at lambda 0
        ASSERT_LE(out.probabilities[x], 1.0);
      }
      if (!std::isnan(out.outlier_scores[x])) {
        ASSERT_GE(out.outlier_scores[x], 0.0);
        ASSERT_LE(out.outlier_scores[x], 1.0);
      }
    }
    if (!sp.allow_single_cluster) {
      ASSERT_EQ(std::count(used.begin(), used.end(), 1), k);
    }
  }
}

TEST(Extract, EdgeOrderDoesNotMatterForDistinctDistances) {
  // With distinct distances the sorted order, hence everything, is fixed.
  std::mt19937_64 rng(11);
  const std::size_t n = 500;
  std::vector<mst_edge> edges;
  for (std::size_t i = 1; i < n; ++i) {
    edges.push_back({static_cast<std::int64_t>(i), static_cast<std::int64_t>(rng() % i),
                     1.0 + static_cast<double>(i) * 1e-3 + static_cast<double>(rng() % 1000)});
  }
  const auto a = extract(n, edges, params(5));
  std::shuffle(edges.begin(), edges.end(), rng);
  const auto b = extract(n, edges, params(5));
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.probabilities, b.probabilities);
  EXPECT_EQ(a.outlier_scores, b.outlier_scores);
  EXPECT_GT(a.n_clusters(), 1u);
}

}  // namespace
}  // namespace chutoro::detail
