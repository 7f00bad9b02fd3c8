// chutoro — FISHDBC across processes (docs/distributed.md): each rank holds a
// slice of the items, the ranks re-partition them by locality, build FISHDBC
// on their shards with the existing pipeline stages, agree on global core
// distances, reduce their spanning forests and rank 0 extracts the hierarchy.
//
//   chutoro::distributed::mpi_session mpi(&argc, &argv);          // distributed_mpi.hpp
//   auto comm = chutoro::distributed::make_mpi_communicator(MPI_COMM_WORLD);
//   chutoro::dense_source mine(rows, n_mine, dim, chutoro::dense_metric::euclidean);
//   auto r = chutoro::distributed::distributed_fit(*comm, mine, params);
//   if (comm->rank() == 0) use(r.clusters.labels);                // all items, in rank order
//
// The collective layer (communicator) is the one place that talks to a
// transport: MPI today (distributed_mpi.hpp), one process (self_communicator).
// This header does not include MPI. Built only with CHUTORO_WITH_MPI
// (library chutoro::distributed).
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <chutoro/params.hpp>
#include <chutoro/result.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace chutoro::distributed {

/// Element-wise reductions of communicator::allreduce (stable values).
enum class reduce_op : int { sum = 0, min = 1, max = 2 };

/// What one rank's communicator has moved (bytes to or from other ranks;
/// copies to itself are not counted).
struct traffic {
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t collectives = 0;  ///< collective calls (each one synchronisation round)
  std::uint64_t messages = 0;     ///< point-to-point sends
};

/// The thin collective layer (RAFT comms / XGBoost collective style): the few
/// operations the distributed algorithm needs, over bytes. Every rank of the
/// group must call a collective in the same order with matching arguments
/// (as in MPI). Messages of any size (they are cut into pieces below 2^31
/// bytes where the transport needs it). Errors of the transport abort the job
/// (MPI's default handler). Not thread safe: one thread per rank calls it.
class communicator {
 public:
  virtual ~communicator() = default;
  [[nodiscard]] virtual int rank() const noexcept = 0;
  [[nodiscard]] virtual int size() const noexcept = 0;

  /// All-to-all with per-peer sizes: send[r] (send.size() == size()) goes to
  /// rank r; the result's [r] is what rank r sent here. Collective.
  [[nodiscard]] std::vector<std::vector<std::byte>> alltoallv(std::vector<std::vector<std::byte>> send);
  /// Element-wise reduction over all ranks of `values` (same length
  /// everywhere), the result in every rank's `values`. Collective.
  void allreduce(std::span<std::uint64_t> values, reduce_op op);
  void allreduce(std::span<double> values, reduce_op op);
  /// Rank `root`'s `bytes` replace every other rank's. Collective.
  void broadcast(std::vector<std::byte>& bytes, int root);
  /// Every rank's `bytes` at `root` (index = rank); empty on other ranks. Collective.
  [[nodiscard]] std::vector<std::vector<std::byte>> gather(std::span<const std::byte> bytes, int root);
  /// Point to point: `bytes` to rank `to`, which must call receive(this rank).
  void send(std::span<const std::byte> bytes, int to);
  [[nodiscard]] std::vector<std::byte> receive(int from);

  /// This rank's counters since construction.
  [[nodiscard]] const traffic& counters() const noexcept { return traffic_; }

 protected:
  virtual std::vector<std::vector<std::byte>> do_alltoallv(std::vector<std::vector<std::byte>>&& send) = 0;
  virtual void do_allreduce(std::span<std::uint64_t> values, reduce_op op) = 0;
  virtual void do_allreduce(std::span<double> values, reduce_op op) = 0;
  virtual void do_broadcast(std::vector<std::byte>& bytes, int root) = 0;
  virtual std::vector<std::vector<std::byte>> do_gather(std::span<const std::byte> bytes, int root) = 0;
  virtual void do_send(std::span<const std::byte> bytes, int to) = 0;
  virtual std::vector<std::byte> do_receive(int from) = 0;

 private:
  traffic traffic_;
};

/// A group of one process (no transport): every collective is a copy. For
/// tests and for running the distributed algorithm's code path in one process.
class self_communicator final : public communicator {
 public:
  [[nodiscard]] int rank() const noexcept override { return 0; }
  [[nodiscard]] int size() const noexcept override { return 1; }

 protected:
  std::vector<std::vector<std::byte>> do_alltoallv(std::vector<std::vector<std::byte>>&& send) override;
  void do_allreduce(std::span<std::uint64_t>, reduce_op) override {}
  void do_allreduce(std::span<double>, reduce_op) override {}
  void do_broadcast(std::vector<std::byte>&, int) override {}
  std::vector<std::vector<std::byte>> do_gather(std::span<const std::byte> bytes, int root) override;
  void do_send(std::span<const std::byte>, int to) override;
  std::vector<std::byte> do_receive(int from) override;
};

/// The error every rank throws when a stage failed on some rank: the
/// message is "rank R: <cause>" (R the lowest failing rank, "and N more
/// ranks" appended when several failed), the code the cause's.
class distributed_error : public error {
 public:
  distributed_error(error_code code, const std::string& message, int failed_rank)
      : error(code, message), failed_rank_(failed_rank) {}
  /// The lowest rank on which the stage failed.
  [[nodiscard]] int failed_rank() const noexcept { return failed_rank_; }

 private:
  int failed_rank_;
};

/// Runs `local` (work that calls no collective) on every rank, then lets the
/// ranks agree on whether it failed anywhere: one all-reduce, plus one
/// broadcast of the cause when it did. If `local` threw on any rank, every
/// rank throws the same distributed_error naming the lowest failing rank and
/// its exception's message (std::bad_alloc: "out of memory"). Collective.
void agree(communicator& comm, const std::function<void()>& local);

/// Knobs of the distributed algorithm (docs/distributed.md). They change
/// the result (unlike threads), so ranks must agree on them.
struct distributed_params {
  /// Each item goes to `overlap` shards (capped at the number of ranks): the
  /// ranks of its nearest centres, nearest first, so that neighbours across a
  /// shard boundary meet in at least one shard. Must be >= 1.
  std::size_t overlap = 2;
  /// Replicas only near a boundary: the item also goes to its 2nd..overlap-th
  /// nearest centre only when that centre is within (1 + replication_margin)
  /// times the nearest centre's distance (Euclidean on the stored rows).
  /// +inf (the default): always, as `overlap` alone says. Must be >= 0.
  double replication_margin = std::numeric_limits<double>::infinity();
  /// Items sampled over all ranks (in proportion to their slices) for the
  /// k-means centres. Must be >= 1.
  std::size_t sample_size = 8192;
  /// Lloyd iterations of the k-means that picks the centres (after k-means++ seeding).
  std::size_t kmeans_iterations = 10;
  /// Centres per rank: rank 0 picks centres_per_rank x P centres and deals
  /// them to the ranks by their share of the sample, largest first to the
  /// least loaded rank, so that shards come out of similar sizes. Must be >= 1.
  std::size_t centres_per_rank = 4;
  /// The boundary search (docs/distributed.md, step 4b). After the k-nearest
  /// merge, item x goes as a query to each rank t not holding it for which
  /// L(x, t) < boundary_reach x core(x), where L(x, t) is a lower bound on
  /// d(x, y) for every y whose nearest centre is one of t's: the distance of
  /// x to the bisecting hyperplanes between centres (euclidean, cosine,
  /// manhattan, chebyshev rows; L2 on the rows turned into the metric's
  /// units), or (d(x, c) - d(x, s)) / 2 for pivots under a metric (strings; s
  /// x's nearest pivot). The query is inserted into t's shard with a narrow
  /// beam, and the pairs found there join x's k-nearest list (its core
  /// distance) and t's candidate edges. 1: every shard that could hold a
  /// neighbour nearer than x's core distance is searched (certified up to
  /// the search's own approximation); 0.5 (the default): only shards whose
  /// bound is below half the core distance, at a fraction of the cost; 0:
  /// off. Other dense metrics: off. Must be >= 0.
  double boundary_reach = 0.5;
};

/// One rank's work and communication in distributed_fit.
struct rank_stats {
  std::uint64_t local_items = 0;            ///< items of the rank's input slice
  std::uint64_t shard_items = 0;            ///< items of its shard (after re-partitioning, replicas included)
  std::uint64_t distance_computations = 0;  ///< FISHDBC build on the shard
  std::uint64_t partition_distances = 0;    ///< item-to-centre distances (k-means on rank 0, assignment)
  std::uint64_t candidate_edges = 0;        ///< edges the shard's build harvested
  std::uint64_t forest_edges = 0;           ///< edges of the shard's spanning forest sent to the reduction
  std::uint64_t bytes_sent = 0;             ///< to other ranks, all stages
  std::uint64_t bytes_received = 0;
  std::uint64_t collectives = 0;  ///< collective rounds
  /// The boundary search (distributed_params::boundary_reach): this rank's
  /// items it sent to other shards as queries, the queries its shard took
  /// in, the distances it computed for the step (its items against the
  /// centres, and the queries' insertion into its shard: not counted in
  /// distance_computations), and its bytes sent and collective rounds in the
  /// step (counted in bytes_sent and collectives too).
  std::uint64_t boundary_items = 0, boundary_queries = 0, boundary_distances = 0, boundary_bytes_sent = 0,
                boundary_rounds = 0;
  double seconds_partition = 0, seconds_build = 0, seconds_merge = 0, seconds_forest = 0,
         seconds_hierarchy = 0;
};

/// What distributed_fit returns on every rank.
struct distributed_result {
  std::size_t n = 0;      ///< items over all ranks
  std::size_t first = 0;  ///< global id of this rank's first local item (its slice's offset)
  /// Rank 0: the clustering of all n items, global id order (rank 0's items,
  /// then rank 1's, ...: the input order when each rank holds the next slice
  /// of one file). Other ranks: empty.
  clustering clusters;
  spanning_tree tree;                 ///< rank 0: the spanning tree of all items; empty elsewhere
  rank_stats stats;                   ///< this rank's
  std::vector<rank_stats> all_ranks;  ///< rank 0: every rank's (index = rank); empty elsewhere
};

/// FISHDBC over the items of all ranks of `comm` (Dell'Amico 2019, with the
/// partition-build-merge scheme of docs/distributed.md). `local` is this
/// rank's slice, in global order: rank r's items get global ids after those
/// of ranks 0..r-1. Every rank must hold at least one item. Supported:
/// dense_source (k-means centres), and with pivots drawn from the sample
/// under the metric: string_source (levenshtein), set_source (jaccard; token
/// sets move as their tokens, so each rank may number its tokens on its own
/// with from_token_lines; id sets without a vocabulary move as ids, which
/// must then mean the same on every rank), bit_source (hamming, tanimoto)
/// and product_source (inner_product, angular); with candidates = hnsw.
/// `identity` names the
/// input (e.g. file name and size); it is compared across ranks with the
/// parameters before any work: a difference throws on every rank.
///
/// Deterministic: the same items, parameters, seed and number of ranks give
/// the same result (any thread count). With one rank the result is
/// chutoro::fit's, bit for bit.
///
/// Costs (docs/distributed.md): each item moves to up to `overlap` shards
/// (dim x 4 + 4 bytes each), its k-nearest list (8 bytes per neighbour per
/// replica) to its home rank and its core distance back; spanning forests
/// move along a binary tree (log2 P rounds, 12 bytes per edge); rank 0 holds
/// the final forest, the core distances and the hierarchy (O(n) memory).
///
/// Errors (every rank throws distributed_error, naming the failing rank):
/// invalid_argument for bad or mismatching parameters, an empty slice or a
/// mismatching input; unsupported for other sources or exact candidates;
/// whatever a rank's stage threw. Collective; uses p.build.threads threads.
distributed_result distributed_fit(communicator& comm, const data_source& local, const params& p,
                                   const distributed_params& dp = {}, std::string_view identity = {});

/// The canonical text of the parameters that fix a distributed result,
/// "key=value;..." (threads and device excluded): what the ranks compare.
std::string describe(const params& p, const distributed_params& dp);

/// This rank's part of a text file (text_part_of).
struct text_part {
  /// false: the file could not be split (gzip-compressed, not a regular
  /// file, or a CSV holding a '"' after its header: quoted cells may span
  /// lines), and `text` is the whole file, as every rank reads it.
  bool split = false;
  /// split: the header record (CSV; empty for lines) followed by this rank's
  /// whole lines, bytes [begin, end) of the file, in file order.
  std::string text;
  std::uint64_t begin = 0, end = 0;
  /// split: the file's line number (1-based) of byte `begin`, and the lines
  /// the header takes (its record's line ends; 0 without one): line k of
  /// `text` is line k of the file for k <= header_lines, else line
  /// first_line + k - header_lines - 1.
  std::uint64_t first_line = 1, header_lines = 0;
};

/// Reads this rank's part of a text input by byte ranges, never the whole
/// file: rank r takes the lines that start in bytes [F r / P, F (r+1) / P)
/// of a file of F bytes (a line belongs to the rank whose range holds its
/// first byte; "\n", "\r\n" and a lone "\r" end lines), so the ranks' parts
/// in rank order are the file's lines in order. `csv`: the first record is a
/// header, which rank 0 finds and sends to every rank (it prefixes each
/// part; no rank's range starts before its end). A rank may get no line
/// (small files, long lines). Each rank reads about F / P bytes, plus the
/// header; the file must be the same on every rank (a shared file system).
/// Collective: 4 all-reduces and a broadcast. Errors (every rank throws
/// distributed_error): io naming the path on a read error.
text_part text_part_of(communicator& comm, const std::string& path, bool csv);

}  // namespace chutoro::distributed
