// Distributed FISHDBC under mpirun (tests/mpi/CMakeLists.txt runs this with
// -np 2 and -np 4): the collective layer, agree(), and distributed_fit
// against the one-process fit on blobs and on the shared data. Every rank
// runs every test; collectives come before the assertions, so a failed
// expectation on one rank cannot leave the others waiting.
#include <gtest/gtest.h>

#include <chutoro/distributed_mpi.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/io.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/scores.hpp>
#include <cstring>
#include <new>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "test_data.hpp"

namespace dist = chutoro::distributed;

namespace {

std::unique_ptr<dist::communicator> world() { return dist::make_mpi_communicator(MPI_COMM_WORLD); }

/// Rows [r * n / P, (r + 1) * n / P) of `d`, as a dense source.
chutoro::dense_source slice(const chutoro_test::dense_data& d, int r, int P,
                            chutoro::dense_metric metric = chutoro::dense_metric::euclidean) {
  const std::size_t lo = d.n * static_cast<std::size_t>(r) / static_cast<std::size_t>(P);
  const std::size_t hi = d.n * static_cast<std::size_t>(r + 1) / static_cast<std::size_t>(P);
  return chutoro::dense_source(std::span<const float>(d.values.data() + lo * d.dim, (hi - lo) * d.dim),
                               hi - lo, d.dim, metric);
}

chutoro::params small_params() {
  chutoro::params p;
  p.selection.min_cluster_size = 10;
  p.build.min_samples = 5;
  p.build.threads = 1;
  p.build.candidates = chutoro::candidate_mode::hnsw;  // the one-process reference runs FISHDBC too
  return p;
}

std::vector<std::byte> bytes_of(std::string_view s) {
  std::vector<std::byte> b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}
std::string text_of(const std::vector<std::byte>& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

TEST(Collectives, MoveWhatTheySay) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  // alltoallv: rank a sends rank b (a + b) bytes of value 10a + b.
  std::vector<std::vector<std::byte>> out(static_cast<std::size_t>(P));
  for (int b = 0; b < P; ++b) out[b].assign(static_cast<std::size_t>(me + b), std::byte(10 * me + b));
  const auto in = c->alltoallv(out);
  std::uint64_t sums[3] = {static_cast<std::uint64_t>(me + 1), static_cast<std::uint64_t>(me + 1),
                           static_cast<std::uint64_t>(me + 1)};
  c->allreduce(std::span<std::uint64_t>(sums, 1), dist::reduce_op::sum);
  c->allreduce(std::span<std::uint64_t>(sums + 1, 1), dist::reduce_op::min);
  c->allreduce(std::span<std::uint64_t>(sums + 2, 1), dist::reduce_op::max);
  double half = 0.5;
  c->allreduce(std::span<double>(&half, 1), dist::reduce_op::sum);
  std::vector<std::byte> mine(static_cast<std::size_t>(me + 1), std::byte(me));
  const auto gathered = c->gather(mine, 0);
  std::vector<std::byte> note = me == P - 1 ? bytes_of("from the last rank") : std::vector<std::byte>{};
  c->broadcast(note, P - 1);
  // A ring of point-to-point messages (small: sent eagerly, so no rank waits on its receiver).
  std::vector<std::byte> ring;
  if (P > 1) {
    c->send(bytes_of("hello from " + std::to_string(me)), (me + 1) % P);
    ring = c->receive((me + P - 1) % P);
  }

  ASSERT_EQ(in.size(), static_cast<std::size_t>(P));
  for (int a = 0; a < P; ++a)
    EXPECT_EQ(in[a], std::vector<std::byte>(static_cast<std::size_t>(a + me), std::byte(10 * a + me))) << a;
  EXPECT_EQ(sums[0], static_cast<std::uint64_t>(P * (P + 1) / 2));
  EXPECT_EQ(sums[1], 1u);
  EXPECT_EQ(sums[2], static_cast<std::uint64_t>(P));
  EXPECT_DOUBLE_EQ(half, 0.5 * P);
  if (me == 0) {
    ASSERT_EQ(gathered.size(), static_cast<std::size_t>(P));
    for (int r = 0; r < P; ++r)
      EXPECT_EQ(gathered[r], std::vector<std::byte>(static_cast<std::size_t>(r + 1), std::byte(r)));
  } else {
    EXPECT_TRUE(gathered.empty());
  }
  EXPECT_EQ(text_of(note), "from the last rank");
  if (P > 1) {
    EXPECT_EQ(text_of(ring), "hello from " + std::to_string((me + P - 1) % P));
    EXPECT_GT(c->counters().bytes_sent, 0u);
    EXPECT_GT(c->counters().bytes_received, 0u);
  }
}

TEST(Agree, EveryRankThrowsTheFailingRanksCause) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  EXPECT_NO_THROW(dist::agree(*c, [] {}));
  auto outcome = [&](const std::function<void()>& f) -> std::pair<std::string, int> {
    try {
      dist::agree(*c, f);
    } catch (const dist::distributed_error& e) {
      EXPECT_EQ(e.failed_rank(), std::stoi(std::string(e.what()).substr(5)));
      return {e.what(), static_cast<int>(e.code())};
    }
    return {"no error", 0};
  };
  const auto a = outcome([&] {
    if (me == P - 1) throw chutoro::error(chutoro::error_code::io, "the disk is on fire");
  });
  EXPECT_EQ(a.first, "rank " + std::to_string(P - 1) + ": the disk is on fire");
  EXPECT_EQ(a.second, static_cast<int>(chutoro::error_code::io));
  const auto b = outcome([&] {
    if (me == 0) throw std::bad_alloc();
  });
  EXPECT_EQ(b.first, "rank 0: out of memory");
  const auto d = outcome([&] { throw std::runtime_error("everyone fails on " + std::to_string(me)); });
  EXPECT_EQ(d.first,
            "rank 0: everyone fails on 0" + (P == 1   ? std::string()
                                             : P == 2 ? " (and 1 more rank)"
                                                      : " (and " + std::to_string(P - 1) + " more ranks)"));
  EXPECT_EQ(d.second, static_cast<int>(chutoro::error_code::internal));
}

TEST(DistributedFit, OneProcessIsChutoroFitBitForBit) {
  // The self communicator: the distributed code path in one process.
  const auto d = chutoro_test::make_blobs(1500, 5, 6, 0.05, 7);
  const chutoro::dense_source all(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  dist::self_communicator self;
  const chutoro::params p = small_params();
  const dist::distributed_result r = dist::distributed_fit(self, all, p);
  const chutoro::result one = chutoro::fit(all, p);
  EXPECT_EQ(r.clusters.labels, one.labels);
  EXPECT_EQ(r.clusters.probabilities, one.probabilities);
  ASSERT_EQ(r.tree.edges.size(), one.tree.edges.size());
  for (std::size_t i = 0; i < one.tree.edges.size(); ++i) {
    EXPECT_EQ(r.tree.edges[i].a, one.tree.edges[i].a) << i;
    EXPECT_EQ(r.tree.edges[i].b, one.tree.edges[i].b) << i;
    EXPECT_EQ(r.tree.edges[i].distance, one.tree.edges[i].distance) << i;
  }
  EXPECT_EQ(r.tree.core_distances, one.tree.core_distances);
  EXPECT_EQ(r.stats.distance_computations, one.stats.distance_computations);
}

TEST(DistributedFit, AgreesWithTheOneProcessFitOnBlobs) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  const auto d = chutoro_test::make_blobs(4000, 8, 8, 0.05, 11);
  const chutoro::params p = small_params();
  const dist::distributed_result r = dist::distributed_fit(*c, slice(d, me, P), p);
  EXPECT_EQ(r.n, d.n);
  EXPECT_EQ(r.first, d.n * static_cast<std::size_t>(me) / static_cast<std::size_t>(P));
  if (me != 0) {
    EXPECT_TRUE(r.clusters.labels.empty());
    return;
  }
  const chutoro::dense_source all(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  const chutoro::result one = chutoro::fit(all, p);
  ASSERT_EQ(r.clusters.labels.size(), d.n);
  const double ari = chutoro::adjusted_rand_index(one.labels, r.clusters.labels);
  EXPECT_GE(ari, 0.98) << "P = " << P;
  EXPECT_GE(one.n_clusters(), 6u);
  ASSERT_EQ(r.all_ranks.size(), static_cast<std::size_t>(P));
  std::uint64_t local = 0, shard = 0, queries = 0;
  for (const auto& s : r.all_ranks)
    local += s.local_items, shard += s.shard_items, queries += s.boundary_queries;
  EXPECT_EQ(local, d.n);
  // Every item lands in min(overlap, P) shards, then in those the boundary search sent it to.
  EXPECT_EQ(shard - queries, d.n * std::min<std::size_t>(2, static_cast<std::size_t>(P)));
}

TEST(DistributedFit, FullOverlapIsTheOneProcessFitBitForBit) {
  // overlap = P: every shard holds every item in global order and builds the
  // one-process graph, so routing, the k-nearest merge and the forest
  // reduction must give back chutoro::fit's tree exactly.
  auto c = world();
  const int P = c->size(), me = c->rank();
  const auto d = chutoro_test::make_blobs(1200, 6, 5, 0.1, 21);
  const chutoro::params p = small_params();
  dist::distributed_params dp;
  dp.overlap = static_cast<std::size_t>(P);
  const dist::distributed_result r = dist::distributed_fit(*c, slice(d, me, P), p, dp);
  if (me != 0) return;
  const chutoro::result one =
      chutoro::fit(chutoro::dense_source(d.values, d.n, d.dim, chutoro::dense_metric::euclidean), p);
  EXPECT_EQ(r.tree.core_distances, one.tree.core_distances);
  ASSERT_EQ(r.tree.edges.size(), one.tree.edges.size());
  for (std::size_t i = 0; i < one.tree.edges.size(); ++i) {
    EXPECT_EQ(r.tree.edges[i].a, one.tree.edges[i].a) << i;
    EXPECT_EQ(r.tree.edges[i].b, one.tree.edges[i].b) << i;
    EXPECT_EQ(r.tree.edges[i].distance, one.tree.edges[i].distance) << i;
  }
  EXPECT_EQ(r.clusters.labels, one.labels);
  EXPECT_EQ(r.clusters.outlier_scores, one.outlier_scores);
}

TEST(DistributedFit, ReplicationMarginKeepsReplicasNearBoundaries) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  const auto d = chutoro_test::make_blobs(4000, 8, 8, 0.05, 11);
  dist::distributed_params dp;
  dp.replication_margin = 0.0;  // a second shard only on an exact tie: none here
  const dist::distributed_result none = dist::distributed_fit(*c, slice(d, me, P), small_params(), dp);
  dp.replication_margin = 0.2;
  const dist::distributed_result some = dist::distributed_fit(*c, slice(d, me, P), small_params(), dp);
  dp.replication_margin = -1.0;
  std::string what = "no error";
  try {
    (void)dist::distributed_fit(*c, slice(d, me, P), small_params(), dp);
  } catch (const dist::distributed_error& e) {
    what = e.what();
  }
  // Every rank was given the bad value: the lowest names it, the count of the others follows.
  EXPECT_EQ(what.rfind("rank 0: distributed fit: replication_margin must be >= 0 (got -1)", 0), 0u) << what;
  if (me != 0) return;
  // Routed replicas only (shard_items also counts the boundary search's queries).
  std::uint64_t a = 0, b = 0;
  for (const auto& s : none.all_ranks) a += s.shard_items - s.boundary_queries;
  for (const auto& s : some.all_ranks) b += s.shard_items - s.boundary_queries;
  EXPECT_EQ(a, d.n);
  if (P > 1) {
    EXPECT_GT(b, d.n);
    EXPECT_LT(b, 2 * d.n);
  }
  // Balanced shards: 4 centres per rank dealt largest first to the least loaded rank.
  std::uint64_t largest = 0;
  for (const auto& s : none.all_ranks)
    largest = std::max<std::uint64_t>(largest, s.shard_items - s.boundary_queries);
  EXPECT_LE(static_cast<double>(largest), 1.25 * static_cast<double>(d.n) / P) << "largest shard " << largest;
  const chutoro::result one = chutoro::fit(
      chutoro::dense_source(d.values, d.n, d.dim, chutoro::dense_metric::euclidean), small_params());
  EXPECT_GE(chutoro::adjusted_rand_index(one.labels, some.clusters.labels), 0.98);
}

TEST(DistributedFit, BoundarySearchOnlyLowersCoreDistancesAndCountsItsWork) {
  // Overlap 1 on a few blobs that 4P cells cut: without the boundary search,
  // items near a cell boundary miss neighbours held only by another rank and
  // keep too-large core distances. The search (reach 1: every shard that
  // could hold a nearer neighbour) adds pairs to the merge, so no core
  // distance grows, and nearly all reach the exact ones.
  auto c = world();
  const int P = c->size(), me = c->rank();
  const auto d = chutoro_test::make_blobs(3000, 3, 3, 0.05, 5);
  chutoro::params p = small_params();
  dist::distributed_params dp;
  dp.overlap = 1;
  dp.boundary_reach = 0;
  const dist::distributed_result off = dist::distributed_fit(*c, slice(d, me, P), p, dp);
  dp.boundary_reach = 1;
  const dist::distributed_result on = dist::distributed_fit(*c, slice(d, me, P), p, dp);
  dp.boundary_reach = -0.5;
  std::string what = "no error";
  try {
    (void)dist::distributed_fit(*c, slice(d, me, P), p, dp);
  } catch (const dist::distributed_error& e) {
    what = e.what();
  }
  EXPECT_EQ(what.rfind("rank 0: distributed fit: boundary_reach must be >= 0 (got -0.5)", 0), 0u) << what;
  // The step's rounds are collectives: every rank counts the same.
  EXPECT_EQ(off.stats.boundary_rounds, 0u);
  EXPECT_EQ(on.stats.boundary_rounds, P > 1 ? 8u : 0u);  // 2 all-to-all-v and 3 agreements of 2
  if (me != 0) return;
  const chutoro::dense_source all(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  chutoro::params exact_p = p;
  exact_p.build.candidates = chutoro::candidate_mode::exact;
  const chutoro::result exact = chutoro::fit(all, exact_p);
  std::size_t grew = 0, off_large = 0, on_large = 0;
  for (std::size_t i = 0; i < d.n; ++i) {
    grew += on.tree.core_distances[i] > off.tree.core_distances[i];
    off_large += off.tree.core_distances[i] > exact.tree.core_distances[i] * (1 + 1e-6f);
    on_large += on.tree.core_distances[i] > exact.tree.core_distances[i] * (1 + 1e-6f);
  }
  EXPECT_EQ(grew, 0u);
  EXPECT_LE(on_large, d.n / 200) << "off: " << off_large;
  std::uint64_t items = 0, queries = 0, shard = 0, bytes = 0;
  for (const auto& s : on.all_ranks) {
    items += s.boundary_items, queries += s.boundary_queries, shard += s.shard_items;
    bytes += s.boundary_bytes_sent;
    EXPECT_LE(s.boundary_bytes_sent, s.bytes_sent);
    EXPECT_EQ(s.boundary_rounds, on.stats.boundary_rounds);
  }
  EXPECT_EQ(items, queries);  // every query sent was taken in
  EXPECT_EQ(shard, d.n + queries);
  for (const auto& s : off.all_ranks) {
    EXPECT_EQ(s.boundary_items + s.boundary_queries + s.boundary_distances + s.boundary_bytes_sent, 0u);
  }
  if (P > 1) {
    EXPECT_GT(off_large, 4 * on_large + 10);  // the cells cut the blobs: the step had work to do
    EXPECT_GT(queries, 0u);
    EXPECT_GT(bytes, queries * (4 + 3 * sizeof(float)));  // a query is its id and its row
  }
  EXPECT_GE(chutoro::adjusted_rand_index(chutoro::fit(all, p).labels, on.clusters.labels), 0.98);
}

TEST(DistributedFit, AgreesOnTheSharedDataReadInParts) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  const std::string path = chutoro_test::data_path("clusterable_data.npy");
  const chutoro::npy_part part =
      chutoro::read_npy_part(path, static_cast<std::size_t>(me), static_cast<std::size_t>(P));
  const chutoro::dense_source mine(part.table.values, part.table.n, part.table.dim,
                                   chutoro::dense_metric::euclidean);
  chutoro::params p;  // the CLI's defaults: min_cluster_size 5
  p.build.threads = 1;
  p.build.candidates = chutoro::candidate_mode::hnsw;
  const dist::distributed_result r = dist::distributed_fit(*c, mine, p, {}, "clusterable_data.npy");
  EXPECT_EQ(r.first, part.first_row);
  if (me != 0) return;
  const chutoro::dense_table t = chutoro::read_npy(path);
  const chutoro::result one =
      chutoro::fit(chutoro::dense_source(t.values, t.n, t.dim, chutoro::dense_metric::euclidean), p);
  EXPECT_GE(chutoro::adjusted_rand_index(one.labels, r.clusters.labels), 0.98) << "P = " << P;
}

TEST(DistributedFit, AgreesOnDigitsWithCosine) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  const chutoro::dense_table t = chutoro::read_csv(chutoro_test::data_path("digits.csv"), "label");
  chutoro_test::dense_data d;
  d.values = t.values, d.n = t.n, d.dim = t.dim;
  chutoro::params p = small_params();
  const dist::distributed_result r =
      dist::distributed_fit(*c, slice(d, me, P, chutoro::dense_metric::cosine), p);
  if (me != 0) return;
  const chutoro::result one =
      chutoro::fit(chutoro::dense_source(t.values, t.n, t.dim, chutoro::dense_metric::cosine), p);
  EXPECT_GE(chutoro::adjusted_rand_index(one.labels, r.clusters.labels), 0.98) << "P = " << P;
}

TEST(DistributedFit, StringsUnderLevenshtein) {
  // Words (the shared word list, every 80th line), sliced by rank.
  auto c = world();
  const int P = c->size(), me = c->rank();
  const std::vector<std::string> all_lines = chutoro::read_lines(chutoro_test::data_path("words_en.txt"));
  std::vector<std::string> words;
  for (std::size_t i = 0; i < all_lines.size(); i += 80) words.push_back(all_lines[i]);
  const std::size_t n = words.size();
  const std::size_t lo = n * static_cast<std::size_t>(me) / static_cast<std::size_t>(P);
  const std::size_t hi = n * static_cast<std::size_t>(me + 1) / static_cast<std::size_t>(P);
  const std::vector<std::string> mine_words(words.begin() + static_cast<std::ptrdiff_t>(lo),
                                            words.begin() + static_cast<std::ptrdiff_t>(hi));
  const chutoro::string_source mine(mine_words);
  chutoro::params p = small_params();
  const dist::distributed_result r = dist::distributed_fit(*c, mine, p);
  dist::distributed_params full;
  full.overlap = static_cast<std::size_t>(P);
  const dist::distributed_result everywhere = dist::distributed_fit(*c, mine, p, full);
  if (me != 0) return;
  const chutoro::result one = chutoro::fit(chutoro::string_source(words), p);
  ASSERT_EQ(r.clusters.labels.size(), n);
  EXPECT_GE(one.n_clusters(), 2u);
  EXPECT_GE(chutoro::adjusted_rand_index(one.labels, r.clusters.labels), 0.98) << "P = " << P;
  // Every shard holding every word: the one-process tree, bit for bit.
  EXPECT_EQ(everywhere.tree.core_distances, one.tree.core_distances);
  EXPECT_EQ(everywhere.clusters.labels, one.labels);
}

namespace {

/// Rows [r * n / P, (r + 1) * n / P): the part of rank r.
std::pair<std::size_t, std::size_t> part_of(std::size_t n, int r, int P) {
  return {n * static_cast<std::size_t>(r) / static_cast<std::size_t>(P),
          n * static_cast<std::size_t>(r + 1) / static_cast<std::size_t>(P)};
}

/// n lines of tokens from 5 topics: line i takes 6 of topic i % 5's 15 words
/// and one of 200 rare words (portable: no std distributions).
std::vector<std::string> topic_lines(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> lines(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<int> words(15);
    for (int w = 0; w < 15; ++w) words[static_cast<std::size_t>(w)] = w;
    for (std::size_t k = 0; k < 6; ++k) {
      std::swap(words[k], words[k + rng() % (15 - k)]);
      lines[i] += "t" + std::to_string(i % 5) + "w" + std::to_string(words[k]) + " ";
    }
    lines[i] += "rare" + std::to_string(rng() % 200);
  }
  return lines;
}

}  // namespace

TEST(DistributedFit, TokenSetsUnderJaccard) {
  // Each rank numbers the tokens of its own lines (from_token_lines), so a
  // token has another id on each rank: items move as their tokens.
  auto c = world();
  const int P = c->size(), me = c->rank();
  const std::vector<std::string> lines = topic_lines(600, 7);
  const auto [lo, hi] = part_of(lines.size(), me, P);
  const chutoro::set_source mine =
      chutoro::set_source::from_token_lines(std::span<const std::string>(lines).subspan(lo, hi - lo));
  const chutoro::params p = small_params();
  const dist::distributed_result r = dist::distributed_fit(*c, mine, p);
  dist::distributed_params full;
  full.overlap = static_cast<std::size_t>(P);
  const dist::distributed_result everywhere = dist::distributed_fit(*c, mine, p, full);
  // Id sets without a vocabulary (one numbering of all lines): items move as ids.
  const chutoro::set_source all = chutoro::set_source::from_token_lines(lines);
  std::vector<std::uint32_t> ids;
  std::vector<std::size_t> offsets{0};
  for (std::size_t i = lo; i < hi; ++i) {
    ids.insert(ids.end(), all.item(i).begin(), all.item(i).end());
    offsets.push_back(ids.size());
  }
  const dist::distributed_result by_ids =
      dist::distributed_fit(*c, chutoro::set_source(ids, offsets), p, full);
  if (me != 0) return;
  const chutoro::result one = chutoro::fit(all, p);
  ASSERT_EQ(r.clusters.labels.size(), lines.size());
  EXPECT_GE(one.n_clusters(), 3u);
  EXPECT_GE(chutoro::adjusted_rand_index(one.labels, r.clusters.labels), 0.98) << "P = " << P;
  // Every shard holding every line: the one-process tree, bit for bit.
  EXPECT_EQ(everywhere.tree.core_distances, one.tree.core_distances);
  EXPECT_EQ(everywhere.clusters.labels, one.labels);
  EXPECT_EQ(by_ids.tree.core_distances, one.tree.core_distances);
  EXPECT_EQ(by_ids.clusters.labels, one.labels);
}

TEST(DistributedFit, BitVectorsUnderHammingAndTanimoto) {
  // 600 rows of 100 bits (13 packed bytes, 4 pad bits): 5 prototypes, each row flips 6 bits.
  auto c = world();
  const int P = c->size(), me = c->rank();
  constexpr std::size_t n = 600, nbits = 100, row_bytes = 13;
  std::mt19937_64 rng(11);
  std::vector<std::uint8_t> protos(5 * row_bytes), packed(n * row_bytes);
  for (auto& b : protos) b = static_cast<std::uint8_t>(rng());
  for (std::size_t i = 0; i < n; ++i) {
    std::copy_n(protos.begin() + static_cast<std::ptrdiff_t>(i % 5 * row_bytes), row_bytes,
                packed.begin() + static_cast<std::ptrdiff_t>(i * row_bytes));
    for (int f = 0; f < 6; ++f) {
      const std::size_t bit = rng() % nbits;
      packed[i * row_bytes + bit / 8] ^= static_cast<std::uint8_t>(0x80u >> (bit % 8));
    }
  }
  const auto [lo, hi] = part_of(n, me, P);
  const chutoro::params p = small_params();
  dist::distributed_params full;
  full.overlap = static_cast<std::size_t>(P);
  for (const auto metric : {chutoro::bit_metric::hamming, chutoro::bit_metric::tanimoto}) {
    const chutoro::bit_source mine(
        std::span<const std::uint8_t>(packed).subspan(lo * row_bytes, (hi - lo) * row_bytes), hi - lo, nbits,
        metric);
    const dist::distributed_result r = dist::distributed_fit(*c, mine, p);
    const dist::distributed_result everywhere = dist::distributed_fit(*c, mine, p, full);
    if (me != 0) continue;
    const chutoro::result one = chutoro::fit(chutoro::bit_source(packed, n, nbits, metric), p);
    const std::string name(chutoro::to_string(metric));
    ASSERT_EQ(r.clusters.labels.size(), n);
    EXPECT_GE(one.n_clusters(), 3u) << name;
    EXPECT_GE(chutoro::adjusted_rand_index(one.labels, r.clusters.labels), 0.98) << name << " P = " << P;
    EXPECT_EQ(everywhere.tree.core_distances, one.tree.core_distances) << name;
    EXPECT_EQ(everywhere.clusters.labels, one.labels) << name;
  }
}

TEST(DistributedFit, InnerProductRowsUnderAngular) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  const auto d = chutoro_test::make_blobs(600, 4, 4, 0.0, 17);
  const auto [lo, hi] = part_of(d.n, me, P);
  const chutoro::product_source mine(std::span<const float>(d.values.data() + lo * d.dim, (hi - lo) * d.dim),
                                     hi - lo, d.dim, chutoro::product_metric::angular);
  dist::distributed_params full;
  full.overlap = static_cast<std::size_t>(P);
  const dist::distributed_result everywhere = dist::distributed_fit(*c, mine, small_params(), full);
  if (me != 0) return;
  const chutoro::result one = chutoro::fit(
      chutoro::product_source(d.values, d.n, d.dim, chutoro::product_metric::angular), small_params());
  EXPECT_EQ(everywhere.tree.core_distances, one.tree.core_distances);
  EXPECT_EQ(everywhere.clusters.labels, one.labels);
}

TEST(DistributedFit, DuplicatesAndTinyInputsLeaveShardsEmpty) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  // 40 copies of one point: every centre is that point, every item goes to
  // centres 0 and 1 (ties break by centre), the other ranks' shards are empty.
  chutoro_test::dense_data same;
  same.n = 40, same.dim = 3, same.values.assign(40 * 3, 1.5f);
  chutoro::params p = small_params();
  p.selection.allow_single_cluster = true;
  const dist::distributed_result r = dist::distributed_fit(*c, slice(same, me, P), p);
  // One item per rank, more ranks than the sample's distinct items.
  const auto few = chutoro_test::make_blobs(static_cast<std::size_t>(P) + 3, 2, 2, 0.0, 13);
  chutoro::params q;
  q.selection.min_cluster_size = 2;
  q.build.min_samples = 2;
  q.build.threads = 1;
  const dist::distributed_result s = dist::distributed_fit(*c, slice(few, me, P), q);
  if (me != 0) return;
  std::uint64_t empty = 0;
  for (const auto& x : r.all_ranks) empty += x.shard_items == 0;
  EXPECT_EQ(empty, static_cast<std::uint64_t>(std::max(0, P - 2)));
  const chutoro::result one =
      chutoro::fit(chutoro::dense_source(same.values, same.n, same.dim, chutoro::dense_metric::euclidean), p);
  EXPECT_EQ(r.clusters.labels, one.labels);
  EXPECT_EQ(r.tree.core_distances, one.tree.core_distances);
  ASSERT_EQ(s.clusters.labels.size(), few.n);
  EXPECT_EQ(s.tree.edges.size(), few.n - 1);
}

TEST(DistributedFit, SameSeedAndRanksGiveTheSameResult) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  const auto d = chutoro_test::make_blobs(2000, 4, 5, 0.1, 3);
  chutoro::params p = small_params();
  dist::distributed_params dp;
  dp.overlap = 1;  // the partition matters most here
  const auto a = dist::distributed_fit(*c, slice(d, me, P), p, dp);
  const auto b = dist::distributed_fit(*c, slice(d, me, P), p, dp);
  if (me != 0) return;
  EXPECT_EQ(a.clusters.labels, b.clusters.labels);
  EXPECT_EQ(a.clusters.outlier_scores, b.clusters.outlier_scores);
  ASSERT_EQ(a.tree.edges.size(), b.tree.edges.size());
  for (std::size_t i = 0; i < a.tree.edges.size(); ++i)
    EXPECT_EQ(a.tree.edges[i].distance, b.tree.edges[i].distance);
}

TEST(DistributedFit, MismatchedParametersOrInputsFailTogether) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  if (P < 2) GTEST_SKIP() << "needs two ranks";
  const auto d = chutoro_test::make_blobs(400, 3, 3, 0.0, 5);
  auto failure = [&](const chutoro::params& p, std::string_view identity, const chutoro::dense_source& mine) {
    try {
      (void)dist::distributed_fit(*c, mine, p, {}, identity);
    } catch (const dist::distributed_error& e) {
      EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
      EXPECT_EQ(e.failed_rank(), P - 1);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  chutoro::params p = small_params();
  if (me == P - 1) p.selection.min_cluster_size = 12;
  EXPECT_EQ(
      failure(p, "x", slice(d, me, P)),
      "rank " + std::to_string(P - 1) +
          ": parameters or input differ from rank 0's: min_cluster_size=12 here, but min_cluster_size=10 on "
          "rank 0");
  const std::string id = me == P - 1 ? "file=b.npy" : "file=a.npy";
  EXPECT_NE(failure(small_params(), id, slice(d, me, P))
                .find("input=file=b.npy here, but input=file=a.npy on rank 0"),
            std::string::npos);
  // A rank whose items have another dimension.
  chutoro_test::dense_data wide = chutoro_test::make_blobs(400, me == P - 1 ? 4 : 3, 3, 0.0, 5);
  EXPECT_NE(failure(small_params(), "x", slice(wide, me, P)).find("dim=4 here, but dim=3 on rank 0"),
            std::string::npos);
}

TEST(DistributedFit, ARankWithABadParameterOrSourceStopsEveryRank) {
  auto c = world();
  const int P = c->size(), me = c->rank();
  const auto d = chutoro_test::make_blobs(400, 3, 3, 0.0, 5);
  chutoro::params p = small_params();
  if (me == 0) p.selection.min_cluster_size = 1;
  std::string what = "no error";
  try {
    (void)dist::distributed_fit(*c, slice(d, me, P), p);
  } catch (const dist::distributed_error& e) {
    what = e.what();
  }
  EXPECT_EQ(what.rfind("rank 0: min_cluster_size must be >= 2", 0), 0u) << what;

  // The last rank brings sparse rows: not distributed yet.
  const std::vector<std::int64_t> indptr = {0, 1, 2, 3}, indices = {0, 1, 2};
  const std::vector<float> nonzero = {1.0f, 2.0f, 3.0f};
  const auto sparse = chutoro::make_sparse_source<std::int64_t>(indptr, indices, nonzero, 3, "euclidean");
  const chutoro::dense_source mine = slice(d, me, P);
  what = "no error";
  chutoro::error_code code{};
  try {
    (void)dist::distributed_fit(*c, me == P - 1 ? *sparse : static_cast<const chutoro::data_source&>(mine),
                                small_params());
  } catch (const dist::distributed_error& e) {
    what = e.what(), code = e.code();
  }
  EXPECT_EQ(what.rfind("rank " + std::to_string(P - 1) + ": distributed fit: data source '", 0), 0u) << what;
  EXPECT_NE(what.find("(sparse) is not supported"), std::string::npos) << what;
  EXPECT_EQ(code, chutoro::error_code::unsupported);
}

int main(int argc, char** argv) {
  dist::mpi_session mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  // Any rank's failure fails the run on every rank (mpirun's status).
  MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return rc;
}
