// chutoro — distributed_fit (include/chutoro/distributed.hpp): FISHDBC over
// the items of all ranks, in the stages docs/distributed.md states:
//
//   0 agree   parameters and input identity compared with rank 0's
//   1 sample  every rank samples its slice; rank 0 runs k-means (k-means++
//             seeding, Lloyd) for one centre per rank and broadcasts them
//   2 route   every item goes to the shards of its `overlap` nearest centres
//             (all-to-all-v); a shard holds its items in global id order
//   3 build   FISHDBC on the shard: the backend's HNSW build with candidate
//             harvest (the pipeline's own graph stage, backend.hpp)
//   4 merge   each replica's k-nearest list goes to the item's home rank (the
//             rank whose slice holds it), which keeps the k smallest of the
//             union: the global core distance, sent back to every replica
//   4b boundary  an item whose core distance exceeds a lower bound on its
//             distance to another rank's cells is inserted into that shard;
//             its list there joins the merge
//   5 forest  each shard's minimum spanning forest under the global core
//             distances (the backend's solver), then a binary-tree reduction:
//             the forest of a union of forests is the forest of the union
//   6 extract rank 0 joins the parts at infinity and runs the existing
//             HDBSCAN* extraction (extract_clusters)
//
// Every stage's local work runs inside agree(), so a failure on one rank
// makes every rank throw the same distributed_error before the next
// collective.
#include <omp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <chutoro/distributed.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/metrics.hpp>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include "core/backend/backend.hpp"
#include "core/mst/union_find.hpp"

namespace chutoro::distributed {

namespace {

using detail::raw_edge;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Appends trivially copyable values to a byte buffer.
template <class T>
void put(std::vector<std::byte>& out, const T& v) {
  const std::size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}
template <class T>
void put_all(std::vector<std::byte>& out, std::span<const T> v) {
  const std::size_t at = out.size();
  out.resize(at + v.size_bytes());
  if (!v.empty()) std::memcpy(out.data() + at, v.data(), v.size_bytes());
}

/// Reads values back in the order they were put.
class reader {
 public:
  explicit reader(std::span<const std::byte> in) : in_(in) {}
  template <class T>
  T get() {
    T v;
    need(sizeof(T));
    std::memcpy(&v, in_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  template <class T>
  void get_all(std::span<T> out) {
    need(out.size_bytes());
    if (!out.empty()) std::memcpy(out.data(), in_.data() + at_, out.size_bytes());
    at_ += out.size_bytes();
  }
  [[nodiscard]] bool done() const noexcept { return at_ == in_.size(); }

 private:
  void need(std::size_t bytes) const {
    expects(at_ + bytes <= in_.size(), error_code::internal,
            "distributed fit: a message is shorter than its contents");
  }
  std::span<const std::byte> in_;
  std::size_t at_ = 0;
};

std::vector<std::byte> to_bytes(std::string_view s) {
  std::vector<std::byte> b(s.size());
  if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
  return b;
}

std::vector<std::byte> edges_to_bytes(std::span<const raw_edge> edges) {
  std::vector<std::byte> b;
  put_all(b, edges);
  return b;
}
std::vector<raw_edge> edges_from_bytes(std::span<const std::byte> b) {
  expects(b.size() % sizeof(raw_edge) == 0, error_code::internal, "distributed fit: a forest message is cut");
  std::vector<raw_edge> e(b.size() / sizeof(raw_edge));
  if (!e.empty()) std::memcpy(e.data(), b.data(), b.size());
  return e;
}

std::string number(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return {buf, r.ptr};
}

/// The first "key=value" of `mine` that differs from `theirs`, as a sentence.
std::string first_difference(std::string_view mine, std::string_view theirs) {
  auto split = [](std::string_view s) {
    std::vector<std::string_view> parts;
    std::size_t at = 0;
    while (at <= s.size()) {
      const std::size_t end = std::min(s.find(';', at), s.size());
      parts.push_back(s.substr(at, end - at));
      at = end + 1;
    }
    return parts;
  };
  const auto a = split(mine), b = split(theirs);
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string_view x = i < a.size() ? a[i] : "(nothing)", y = i < b.size() ? b[i] : "(nothing)";
    if (x != y) return std::string(x) + " here, but " + std::string(y) + " on rank 0";
  }
  return "the descriptions differ";
}

/// Uniform double in [0, 1) from a 64-bit generator (portable, unlike std distributions).
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

float squared_l2(const float* a, const float* b, std::size_t dim) noexcept {
  float s = 0;
  for (std::size_t j = 0; j < dim; ++j) {
    const float t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

/// Rank 0: `c` centres (c x dim) from the m x dim sample: k-means++ seeding
/// then `iterations` Lloyd steps (empty clusters keep their centre).
std::vector<float> kmeans(std::span<const float> sample, std::size_t m, std::size_t dim, std::size_t c,
                          std::size_t iterations, std::uint64_t seed, std::uint64_t& distances) {
  std::mt19937_64 rng(seed ^ 0x6b6d65616e73ULL);
  std::vector<float> centres(c * dim);
  std::vector<float> best(m, std::numeric_limits<float>::infinity());
  std::size_t pick = static_cast<std::size_t>(rng() % m);
  for (std::size_t k = 0; k < c; ++k) {
    std::copy_n(sample.data() + pick * dim, dim, centres.data() + k * dim);
    double total = 0;
    for (std::size_t i = 0; i < m; ++i) {
      best[i] = std::min(best[i], squared_l2(sample.data() + i * dim, centres.data() + k * dim, dim));
      total += best[i];
    }
    distances += m;
    if (k + 1 == c) break;
    if (!(total > 0)) {  // every sample sits on a centre: take the next sample in order
      pick = (pick + 1) % m;
      continue;
    }
    double r = unit(rng) * total;
    pick = m - 1;
    for (std::size_t i = 0; i < m; ++i) {
      r -= best[i];
      if (r < 0) {
        pick = i;
        break;
      }
    }
  }
  std::vector<std::uint32_t> owner(m);
  std::vector<double> sum(c * dim);
  std::vector<std::size_t> count(c);
  for (std::size_t it = 0; it < iterations; ++it) {
    for (std::size_t i = 0; i < m; ++i) {
      float d = std::numeric_limits<float>::infinity();
      for (std::size_t k = 0; k < c; ++k) {
        const float e = squared_l2(sample.data() + i * dim, centres.data() + k * dim, dim);
        if (e < d) d = e, owner[i] = static_cast<std::uint32_t>(k);
      }
    }
    distances += m * c;
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    for (std::size_t i = 0; i < m; ++i) {
      ++count[owner[i]];
      for (std::size_t j = 0; j < dim; ++j) sum[owner[i] * dim + j] += sample[i * dim + j];
    }
    for (std::size_t k = 0; k < c; ++k)
      if (count[k] > 0)
        for (std::size_t j = 0; j < dim; ++j)
          centres[k * dim + j] = static_cast<float>(sum[k * dim + j] / static_cast<double>(count[k]));
  }
  return centres;
}

/// How the partition moves items: each built-in kind has its record, written
/// by put_item and read back by take (one seam per kind; the stages never
/// look inside an item).
///   dense     dim float32 (as stored: cosine rows stay normalised)
///   strings   a uint32 count, then UTF-32 code points
///   sets      a uint32 count, then per element: with a vocabulary (tokens
///             read from text, numbered by each rank on its own) the token
///             (uint32 length, UTF-8 bytes), which the receiver numbers
///             again in its own source's vocabulary; without one, the uint32
///             id (ids are then the same numbers on every rank)
///   bits      words() uint64 words
///   products  dim float32 (angular rows as stored: normalised)
class item_codec {
 public:
  /// error(unsupported) for other sources.
  explicit item_codec(const data_source& local) : local_(&local), dim_(local.dim()) {
    switch (local.kind()) {
      case source_kind::dense:
      case source_kind::strings:
      case source_kind::bits:
      case source_kind::products:
        kind_ = local.kind();
        break;
      case source_kind::sets:
        kind_ = local.kind();
        tokens_ = !static_cast<const set_source&>(local).vocabulary().empty();
        break;
      default:
        throw error(error_code::unsupported,
                    "distributed fit: data source '" + local.name() + "' (" +
                        std::string(to_string(local.kind())) +
                        ") is not supported: dense vectors, strings, token or id sets (jaccard), bit vectors "
                        "(hamming, tanimoto) and inner-product rows are distributed so far");
    }
  }
  /// Items with coordinates (k-means centres); the others get pivots.
  [[nodiscard]] bool dense() const noexcept { return kind_ == source_kind::dense; }
  /// What the records hold, for the ranks to compare before any work.
  [[nodiscard]] std::string describe() const {
    return std::string(to_string(kind_)) + (kind_ == source_kind::sets ? (tokens_ ? "/tokens" : "/ids") : "");
  }

  /// Appends item i of `src` (a source of this codec's kind).
  void put_item(std::vector<std::byte>& out, const data_source& src, std::size_t i) const {
    switch (kind_) {
      case source_kind::dense:
        put_all(out, std::span<const float>(static_cast<const dense_source&>(src).row(i), dim_));
        break;
      case source_kind::products:
        put_all(out, std::span<const float>(static_cast<const product_source&>(src).row(i), dim_));
        break;
      case source_kind::bits: {
        const auto& b = static_cast<const bit_source&>(src);
        put_all(out, std::span<const std::uint64_t>(b.row(i), b.words()));
        break;
      }
      case source_kind::sets: {
        const auto& sets = static_cast<const set_source&>(src);
        const std::span<const std::uint32_t> ids = sets.item(i);
        put(out, static_cast<std::uint32_t>(ids.size()));
        if (!tokens_) {
          put_all(out, ids);
          break;
        }
        for (const std::uint32_t id : ids) {
          const std::string& token = sets.vocabulary()[id];
          put(out, static_cast<std::uint32_t>(token.size()));
          put_all(out,
                  std::span<const std::byte>(reinterpret_cast<const std::byte*>(token.data()), token.size()));
        }
        break;
      }
      default: {
        const std::span<const char32_t> cps = static_cast<const string_source&>(src).item(i);
        put(out, static_cast<std::uint32_t>(cps.size()));
        put_all(out, cps);
      }
    }
  }
  void put_item(std::vector<std::byte>& out, std::size_t i) const { put_item(out, *local_, i); }

  /// Items being read back.
  struct builder {
    std::vector<float> values;         // dense, products
    std::vector<std::string> strings;  // strings (UTF-8); token sets (tokens joined by ' ')
    std::vector<std::uint64_t> words;  // bits
    std::vector<std::uint32_t> ids;    // id sets (CSR)
    std::vector<std::size_t> offsets{0};
    std::size_t n = 0;
  };
  void take(reader& rd, builder& b) const {
    switch (kind_) {
      case source_kind::dense:
      case source_kind::products:
        b.values.resize((b.n + 1) * dim_);
        rd.get_all(std::span<float>(b.values.data() + b.n * dim_, dim_));
        break;
      case source_kind::bits: {
        const std::size_t w = words();
        b.words.resize((b.n + 1) * w);
        rd.get_all(std::span<std::uint64_t>(b.words.data() + b.n * w, w));
        break;
      }
      case source_kind::sets: {
        const auto count = rd.get<std::uint32_t>();
        if (!tokens_) {
          const std::size_t at = b.ids.size();
          b.ids.resize(at + count);
          rd.get_all(std::span<std::uint32_t>(b.ids.data() + at, count));
          b.offsets.push_back(b.ids.size());
          break;
        }
        std::string& line = b.strings.emplace_back();
        for (std::uint32_t t = 0; t < count; ++t) {
          const auto len = rd.get<std::uint32_t>();
          if (t > 0) line += ' ';
          const std::size_t at = line.size();
          line.resize(at + len);
          rd.get_all(std::span<char>(line.data() + at, len));
        }
        break;
      }
      default: {
        std::vector<char32_t> cps(rd.get<std::uint32_t>());
        rd.get_all(std::span<char32_t>(cps));
        encode_utf8(cps, b.strings.emplace_back());
      }
    }
    ++b.n;
  }
  /// A source of this kind and metric over the items read (none: null),
  /// compatible with this rank's source (token sets: numbered in its vocabulary).
  [[nodiscard]] std::unique_ptr<data_source> make(builder&& b) const {
    if (b.n == 0) return nullptr;
    switch (kind_) {
      case source_kind::dense:
        return std::make_unique<dense_source>(
            b.values, b.n, dim_, static_cast<const dense_source&>(*local_).metric(), rows_normalized);
      case source_kind::products:
        return std::make_unique<product_source>(
            b.values, b.n, dim_, static_cast<const product_source&>(*local_).metric(), rows_normalized);
      case source_kind::bits: {
        // Back to packed bytes, most significant bit first (bit k of a row is bit 63 - k % 64 of word k /
        // 64).
        const std::size_t w = words(), row_bytes = (dim_ + 7) / 8;
        std::vector<std::uint8_t> packed(b.n * row_bytes);
        for (std::size_t i = 0; i < b.n; ++i)
          for (std::size_t k = 0; k < row_bytes; ++k)
            packed[i * row_bytes + k] =
                static_cast<std::uint8_t>(b.words[i * w + k / 8] >> (56 - 8 * (k % 8)));
        return std::make_unique<bit_source>(packed, b.n, dim_,
                                            static_cast<const bit_source&>(*local_).metric());
      }
      case source_kind::sets:
        if (!tokens_) return std::make_unique<set_source>(b.ids, b.offsets);
        return std::make_unique<set_source>(
            set_source::from_token_lines(b.strings, static_cast<const set_source&>(*local_).vocabulary()));
      default:
        return std::make_unique<string_source>(b.strings);
    }
  }

 private:
  [[nodiscard]] std::size_t words() const noexcept { return static_cast<const bit_source&>(*local_).words(); }
  const data_source* local_;
  source_kind kind_ = source_kind::external;
  bool tokens_ = false;
  std::size_t dim_;
};

/// Rank 0, items without coordinates: c pivots from the sample by k-means++'s
/// seeding under the metric itself (each next pivot drawn with probability
/// proportional to its squared distance to the nearest pivot so far).
std::vector<std::size_t> pick_pivots(const data_source& sample, std::size_t c, std::uint64_t seed,
                                     std::uint64_t& distances) {
  const std::size_t m = sample.size();
  std::mt19937_64 rng(seed ^ 0x7069766f7473ULL);
  std::vector<double> best(m, std::numeric_limits<double>::infinity());
  std::vector<std::size_t> pivots;
  std::size_t pick = static_cast<std::size_t>(rng() % m);
  for (;;) {
    pivots.push_back(pick);
    if (pivots.size() == c) break;
    double total = 0;
    for (std::size_t i = 0; i < m; ++i) {
      const double d = i == pick ? 0.0 : static_cast<double>(sample.distance(i, pick));
      best[i] = std::min(best[i], d * d);
      total += best[i];
    }
    distances += m;
    if (!(total > 0)) break;  // every sample sits on a pivot
    double r = unit(rng) * total;
    pick = m - 1;
    for (std::size_t i = 0; i < m; ++i) {
      r -= best[i];
      if (r < 0) {
        pick = i;
        break;
      }
    }
  }
  return pivots;
}
}  // namespace

std::string describe(const params& p, const distributed_params& dp) {
  const build_params& b = p.build;
  const selection_params& s = p.selection;
  return "chutoro-distributed-1;min_cluster_size=" + std::to_string(s.min_cluster_size) +
         ";min_samples=" + std::to_string(p.min_samples()) +
         ";candidates=" + std::string(to_string(b.candidates)) + ";m=" + std::to_string(b.m) +
         ";ef_construction=" + std::to_string(b.ef_construction) + ";seed=" + std::to_string(b.seed) +
         ";batch_size=" + std::to_string(b.batch_size) +
         ";compaction_factor=" + std::to_string(b.compaction_factor) +
         ";compaction_min_edges=" + std::to_string(b.compaction_min_edges) +
         ";cluster_selection_method=" + std::string(to_string(s.method)) +
         ";cluster_selection_epsilon=" + number(s.cluster_selection_epsilon) +
         ";allow_single_cluster=" + (s.allow_single_cluster ? "true" : "false") +
         ";overlap=" + std::to_string(dp.overlap) + ";sample_size=" + std::to_string(dp.sample_size) +
         ";kmeans_iterations=" + std::to_string(dp.kmeans_iterations) +
         ";centres_per_rank=" + std::to_string(dp.centres_per_rank) +
         ";replication_margin=" + number(dp.replication_margin) +
         ";boundary_reach=" + number(dp.boundary_reach);
}

distributed_result distributed_fit(communicator& comm, const data_source& local, const params& p_in,
                                   const distributed_params& dp, std::string_view identity) {
  const int ranks = comm.size(), me = comm.rank();
  const auto P = static_cast<std::size_t>(ranks);
  distributed_result res;
  rank_stats& rs = res.stats;
  params p = p_in;
  // auto: every shard runs FISHDBC (the exact paths auto may pick are
  // one-process shortcuts for small or low-dimensional inputs).
  if (p.build.candidates == candidate_mode::auto_select) p.build.candidates = candidate_mode::hnsw;
  std::optional<item_codec> codec;
  std::string mine;

  // ---- 0 agree: parameters and input, before any work
  auto t0 = clock_type::now();
  agree(comm, [&] {
    validate(p);
    expects(dp.overlap >= 1, error_code::invalid_argument, "distributed fit: overlap must be >= 1 (got 0)");
    expects(dp.replication_margin >= 0, error_code::invalid_argument,
            "distributed fit: replication_margin must be >= 0 (got " + number(dp.replication_margin) + ")");
    expects(dp.boundary_reach >= 0, error_code::invalid_argument,
            "distributed fit: boundary_reach must be >= 0 (got " + number(dp.boundary_reach) + ")");
    expects(dp.centres_per_rank >= 1, error_code::invalid_argument,
            "distributed fit: centres_per_rank must be >= 1 (got 0)");
    expects(dp.sample_size >= 1, error_code::invalid_argument,
            "distributed fit: sample_size must be >= 1 (got 0)");
    expects(p.build.candidates != candidate_mode::exact, error_code::unsupported,
            "distributed fit: candidates = exact is not distributed; use hnsw (FISHDBC) or auto");
    expects(p.build.candidates != candidate_mode::knn, error_code::unsupported,
            "distributed fit: candidates = knn (GPU kNN candidates) is not distributed; use hnsw (FISHDBC) "
            "or auto");
    codec.emplace(local);
    expects(local.size() >= 1, error_code::invalid_argument,
            "distributed fit: this rank's slice holds no item");
    mine = describe(p, dp) + ";metric=" + local.name() + ";items=" + codec->describe() +
           ";dim=" + std::to_string(local.dim()) + ";input=" + std::string(identity);
  });
  std::vector<std::byte> reference = me == 0 ? to_bytes(mine) : std::vector<std::byte>{};
  comm.broadcast(reference, 0);
  agree(comm, [&] {
    const std::string_view theirs(reinterpret_cast<const char*>(reference.data()), reference.size());
    expects(theirs == mine, error_code::invalid_argument,
            "parameters or input differ from rank 0's: " + first_difference(mine, theirs));
  });

  // ---- sizes: global ids are rank 0's items, then rank 1's, ...
  std::vector<std::uint64_t> counts(P, 0);
  counts[static_cast<std::size_t>(me)] = local.size();
  comm.allreduce(counts, reduce_op::sum);
  std::vector<std::size_t> offsets(P + 1, 0);
  for (std::size_t r = 0; r < P; ++r) offsets[r + 1] = offsets[r] + counts[r];
  const std::size_t n = offsets[P], first = offsets[static_cast<std::size_t>(me)], n_local = local.size();
  res.n = n, res.first = first, rs.local_items = n_local;
  const std::size_t k_eff = p.min_samples(), k = k_eff - 1;
  p.build.min_samples = k_eff;
  agree(comm, [&] {
    expects(n <= param_limits::max_items, error_code::invalid_argument,
            "distributed fit: " + std::to_string(n) + " items over all ranks, more than 2^32 - 2");
    expects(n >= p.selection.min_cluster_size, error_code::invalid_argument,
            "distributed fit: " + std::to_string(n) + " items over all ranks, fewer than min_cluster_size (" +
                std::to_string(p.selection.min_cluster_size) + ")");
    expects(k_eff <= n, error_code::invalid_argument,
            "min_samples (" + std::to_string(k_eff) + ") exceeds the number of items (" + std::to_string(n) +
                ")");
  });
  const std::size_t dim = local.dim();
  const auto home_of = [&](std::uint32_t gid) {
    return static_cast<std::size_t>(std::upper_bound(offsets.begin() + 1, offsets.end(), gid) -
                                    offsets.begin() - 1);
  };

  // ---- 1 sample and centres
  std::vector<std::byte> sample_bytes;
  agree(comm, [&] {
    const std::size_t want = std::min<std::size_t>(
        n_local, static_cast<std::size_t>(std::ceil(static_cast<double>(dp.sample_size) *
                                                    static_cast<double>(n_local) / static_cast<double>(n))));
    std::mt19937_64 rng(p.build.seed ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(me + 1)));
    std::size_t taken = 0;
    for (std::size_t i = 0; i < n_local && taken < want; ++i) {  // Knuth's selection sampling
      if (unit(rng) * static_cast<double>(n_local - i) < static_cast<double>(want - taken)) {
        codec->put_item(sample_bytes, i);
        ++taken;
      }
    }
  });
  std::vector<std::vector<std::byte>> samples = comm.gather(sample_bytes, 0);
  sample_bytes = {};
  // Dense items: k-means centres (c x dim float32). Other items: pivots,
  // items of the sample, moved as items are.
  std::vector<std::byte> centre_bytes, owner_bytes;
  agree(comm, [&] {
    if (me != 0) return;
    item_codec::builder b;
    for (const auto& part : samples) {
      reader rd(part);
      while (!rd.done()) codec->take(rd, b);
    }
    const std::size_t m = b.n;
    const std::size_t c = std::min(dp.centres_per_rank * P, m);
    // Each centre's share of the sample: its nearest centre (ties: the lower index).
    std::vector<std::uint64_t> share(c, 0);
    if (codec->dense()) {
      const std::vector<float> centres =
          kmeans(b.values, m, dim, c, dp.kmeans_iterations, p.build.seed, rs.partition_distances);
      put_all(centre_bytes, std::span<const float>(centres));
      for (std::size_t i = 0; i < m; ++i) {
        std::size_t best = 0;
        float bd = std::numeric_limits<float>::infinity();
        for (std::size_t j = 0; j < c; ++j) {
          const float e = squared_l2(b.values.data() + i * dim, centres.data() + j * dim, dim);
          if (e < bd) bd = e, best = j;
        }
        ++share[best];
      }
    } else {
      const std::unique_ptr<data_source> sample = codec->make(std::move(b));
      const std::vector<std::size_t> picked = pick_pivots(*sample, c, p.build.seed, rs.partition_distances);
      for (const std::size_t i : picked) codec->put_item(centre_bytes, *sample, i);
      for (std::size_t i = 0; i < m; ++i) {
        std::size_t best = 0;
        float bd = std::numeric_limits<float>::infinity();
        for (std::size_t j = 0; j < picked.size(); ++j) {
          const float e = i == picked[j] ? 0.0f : sample->distance(i, picked[j]);
          if (e < bd) bd = e, best = j;
        }
        ++share[best];
      }
      share.resize(picked.size());
    }
    rs.partition_distances += m * share.size();
    // Longest processing time first: the largest share to the least loaded
    // rank (ties: the lower index, the lower rank).
    std::vector<std::uint32_t> order(share.size());
    for (std::size_t j = 0; j < order.size(); ++j) order[j] = static_cast<std::uint32_t>(j);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return share[a] > share[b]; });
    std::vector<std::uint64_t> load(P, 0), held(P, 0);
    std::vector<std::uint32_t> owner(share.size());
    for (const std::uint32_t j : order) {
      std::size_t r = 0;  // least (load, centres held, rank): centres of no share spread too
      for (std::size_t q = 1; q < P; ++q)
        if (load[q] < load[r] || (load[q] == load[r] && held[q] < held[r])) r = q;
      owner[j] = static_cast<std::uint32_t>(r);
      load[r] += share[j], ++held[r];
    }
    put_all(owner_bytes, std::span<const std::uint32_t>(owner));
  });
  samples = {};
  comm.broadcast(centre_bytes, 0);
  comm.broadcast(owner_bytes, 0);
  std::vector<float> centres;                                                    // dense
  std::unique_ptr<data_source> pivots;                                           // other items
  std::vector<std::uint32_t> owner(owner_bytes.size() / sizeof(std::uint32_t));  // centre -> rank
  reader(owner_bytes).get_all(std::span<std::uint32_t>(owner));
  const std::size_t n_centres = owner.size();
  agree(comm, [&] {
    if (codec->dense()) {
      centres.resize(n_centres * dim);
      reader(centre_bytes).get_all(std::span<float>(centres));
    } else {
      item_codec::builder b;
      reader rd(centre_bytes);
      while (!rd.done()) codec->take(rd, b);
      pivots = codec->make(std::move(b));
      expects(pivots->size() == n_centres, error_code::internal, "distributed fit: pivots and owners differ");
      pivots->check_compatible(local);
    }
  });

  // ---- 2 route every item to the shards (ranks) of its nearest centres:
  // `overlap` distinct ranks, walking the centres from the nearest
  std::size_t ranks_with_centres = 0;
  {
    std::vector<bool> has(P, false);
    for (const std::uint32_t r : owner) ranks_with_centres += !has[r], has[r] = true;
  }
  const std::size_t overlap = std::min(dp.overlap, ranks_with_centres);
  std::vector<std::vector<std::byte>> outgoing(P);
  constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> choice;  // item i's shards: choice[i * overlap ..], `none` past the last
  agree(comm, [&] {
    // A further centre's rank takes the item only within (1 +
    // replication_margin) of the nearest centre's distance (dense: squared).
    const double band = std::isinf(dp.replication_margin) ? std::numeric_limits<double>::infinity()
                        : codec->dense() ? (1.0 + dp.replication_margin) * (1.0 + dp.replication_margin)
                                         : 1.0 + dp.replication_margin;
    choice.assign(n_local * overlap, none);
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n_local; ++i) {
      std::vector<std::pair<float, std::uint32_t>> d(n_centres);
      for (std::size_t c = 0; c < n_centres; ++c)
        d[c] = {pivots ? pivots->cross_distance(local, i, c)
                       : squared_l2(static_cast<const dense_source&>(local).row(i), centres.data() + c * dim,
                                    dim),
                static_cast<std::uint32_t>(c)};
      std::sort(d.begin(), d.end());
      std::uint32_t* mine_choice = choice.data() + i * overlap;
      std::size_t taken = 0;
      for (std::size_t j = 0; j < n_centres && taken < overlap; ++j) {
        if (j > 0 && !std::isinf(band) &&
            !(static_cast<double>(d[j].first) <= band * static_cast<double>(d[0].first)))
          break;
        const std::uint32_t r = owner[d[j].second];
        if (std::find(mine_choice, mine_choice + taken, r) == mine_choice + taken) mine_choice[taken++] = r;
      }
    }
    rs.partition_distances += n_local * n_centres;
    for (std::size_t i = 0; i < n_local; ++i)
      for (std::size_t j = 0; j < overlap; ++j) {
        if (choice[i * overlap + j] == none) continue;
        auto& out = outgoing[choice[i * overlap + j]];
        put(out, static_cast<std::uint32_t>(first + i));
        codec->put_item(out, i);
      }
  });
  std::vector<std::vector<std::byte>> incoming = comm.alltoallv(std::move(outgoing));
  rs.seconds_partition = seconds_since(t0);

  // ---- 3 build FISHDBC on the shard (the pipeline's graph stage on the backend)
  t0 = clock_type::now();
  std::vector<std::uint32_t> gid;  // shard index -> global id, ascending
  std::optional<detail::hnsw_state> state;
  detail::backend_choice be;
  std::unique_ptr<detail::execution_scope> scope;
  std::unique_ptr<data_source> shard;
  agree(comm, [&] {
    be = detail::select_backend(p.build.device);
    scope = be.ptr->enter(p.build.threads);
    item_codec::builder b;
    if (codec->dense()) {  // exact room: no growth by doubling
      std::size_t bytes = 0;
      for (const auto& part : incoming) bytes += part.size();
      b.values.reserve(bytes / (sizeof(std::uint32_t) + dim * sizeof(float)) * dim);
    }
    for (auto& part : incoming) {
      reader rd(part);
      while (!rd.done()) {
        const auto g = rd.get<std::uint32_t>();
        expects(gid.empty() || g > gid.back(), error_code::internal,
                "distributed fit: shard items out of order");
        gid.push_back(g);
        codec->take(rd, b);
      }
      part = {};
    }
    incoming = {};
    const std::size_t m = gid.size();
    rs.shard_items = m;
    shard = codec->make(std::move(b));
    if (m < 2) return;  // no pair to measure: the item's replicas elsewhere carry it
    state.emplace(p.build, be.ptr);
    fit_stats fs;
    (void)be.ptr->extend_hnsw(*state, *shard, p.build, fs, {});
    rs.distance_computations = fs.distance_computations;
    rs.candidate_edges = fs.candidate_edges;
  });
  rs.seconds_build = seconds_since(t0);

  // ---- 4 merge k-nearest lists at the items' home ranks: global core distances
  t0 = clock_type::now();
  std::size_t m = gid.size();
  using knn_list = std::vector<std::pair<float, std::uint32_t>>;  // (distance, global id)
  // The union of an item's lists without repeats (one neighbour's distance is
  // the same bits in every shard), its k smallest by (distance, id) as the
  // candidate graph orders its lists; returns the core distance (the k-th).
  const auto settle = [k](knn_list& l) {
    std::sort(l.begin(), l.end(), [](const auto& a, const auto& b) {
      return a.second < b.second || (a.second == b.second && a.first < b.first);
    });
    l.erase(
        std::unique(l.begin(), l.end(), [](const auto& a, const auto& b) { return a.second == b.second; }),
        l.end());
    std::sort(l.begin(), l.end());
    if (l.size() > k) l.resize(k);
    return k == 0 ? 0.0f : (l.size() >= k ? l[k - 1].first : std::numeric_limits<float>::infinity());
  };
  // Appends shard item i's k-nearest list (count, then global id and distance per neighbour).
  const auto put_list = [&](std::vector<std::byte>& out, std::size_t i) {
    const std::uint32_t known = state ? state->candidates.known()[i] : 0;
    put(out, known);
    for (std::uint32_t j = 0; j < known; ++j) {
      put(out, gid[state->candidates.knn_ids()[i * k + j]]);
      put(out, state->candidates.knn_distances()[i * k + j]);
    }
  };
  const auto take_list = [](reader& rd, knn_list& l) {
    const auto known = rd.get<std::uint32_t>();
    for (std::uint32_t j = 0; j < known; ++j) {
      const auto nb = rd.get<std::uint32_t>();
      const auto d = rd.get<float>();
      l.emplace_back(d, nb);
    }
  };
  outgoing.assign(P, {});
  agree(comm, [&] {
    for (std::size_t i = 0; i < m; ++i) {
      auto& out = outgoing[home_of(gid[i])];
      put(out, gid[i]);
      put_list(out, i);
    }
  });
  incoming = comm.alltoallv(std::move(outgoing));
  std::vector<float> home_core(n_local);             // this rank's slice, global order
  std::vector<knn_list> lists(n_local);              // its items' merged lists
  std::vector<std::vector<std::uint32_t>> order(P);  // per shard rank: its items from here, in its order
  agree(comm, [&] {
    for (std::size_t r = 0; r < P; ++r) {
      reader rd(incoming[r]);
      while (!rd.done()) {
        const auto g = rd.get<std::uint32_t>();
        expects(g >= first && g < first + n_local, error_code::internal,
                "distributed fit: a list reached the wrong home");
        order[r].push_back(static_cast<std::uint32_t>(g - first));
        take_list(rd, lists[g - first]);
      }
    }
    incoming = {};
    for (std::size_t i = 0; i < n_local; ++i) home_core[i] = settle(lists[i]);
  });

  // ---- 4b boundary search: an item whose core distance exceeds a lower
  // bound on its distance to the cells of a rank that does not hold it is
  // inserted into that rank's shard; the pairs found there join its list.
  // The bound, for y whose nearest centre is c, x's nearest being s:
  // vectors, the distance of x to the bisecting hyperplane of s and c,
  // (|x - c|^2 - |x - s|^2) / (2 |s - c|) on the stored rows, in the metric's
  // units; strings (a metric), (d(x, c) - d(x, s)) / 2.
  const std::uint64_t boundary_bytes0 = comm.counters().bytes_sent;
  const std::uint64_t boundary_rounds0 = comm.counters().collectives;
  // Pivots (items without coordinates) need a metric for the triangle
  // inequality: levenshtein, jaccard, hamming and tanimoto are; of the
  // product rows only angular (inner_product is not: no search).
  bool bounded = false;
  switch (local.kind()) {
    case source_kind::strings:
    case source_kind::sets:
    case source_kind::bits:
      bounded = true;
      break;
    case source_kind::products:
      bounded = static_cast<const product_source&>(local).metric() == product_metric::angular;
      break;
    default:
      break;
  }
  double (*to_metric)(double, std::size_t) = nullptr;  // L2 on the rows -> a lower bound in the metric
  if (codec->dense()) switch (static_cast<const dense_source&>(local).metric()) {
      case dense_metric::euclidean:
      case dense_metric::manhattan:  // >= L2
        to_metric = [](double h, std::size_t) { return h; };
        break;
      case dense_metric::cosine:  // 1 - cos = L2^2 / 2 on normalised rows
        to_metric = [](double h, std::size_t) { return h * h / 2; };
        break;
      case dense_metric::chebyshev:  // >= L2 / sqrt(dim)
        to_metric = [](double h, std::size_t d) { return h / std::sqrt(static_cast<double>(d)); };
        break;
      default:
        break;
    }
  bounded = bounded || to_metric != nullptr;
  // Nothing to search where every item is on every rank that owns a centre
  // (a rank without centres holds no item's nearest centre).
  if (dp.boundary_reach > 0 && bounded && overlap < ranks_with_centres) {
    std::vector<std::vector<std::uint32_t>> asked(P);  // per rank: this rank's items sent there, in order
    outgoing.assign(P, {});
    agree(comm, [&] {
      std::vector<float> centre_gap;  // |c_a - c_b| (dense)
      if (codec->dense()) {
        centre_gap.resize(n_centres * n_centres);
        for (std::size_t a = 0; a < n_centres; ++a)
          for (std::size_t b = 0; b < n_centres; ++b)
            centre_gap[a * n_centres + b] =
                std::sqrt(squared_l2(centres.data() + a * dim, centres.data() + b * dim, dim));
      }
      std::vector<std::uint8_t> send(n_local * P, 0);
#pragma omp parallel for schedule(static)
      for (std::size_t i = 0; i < n_local; ++i) {
        std::vector<float> d(n_centres);
        for (std::size_t c = 0; c < n_centres; ++c)
          d[c] = pivots ? pivots->cross_distance(local, i, c)
                        : squared_l2(static_cast<const dense_source&>(local).row(i), centres.data() + c * dim,
                                     dim);
        const std::size_t s = static_cast<std::size_t>(std::min_element(d.begin(), d.end()) - d.begin());
        const double core = home_core[i];
        const std::uint32_t* held = choice.data() + i * overlap;
        std::vector<double> rank_bound(P, std::numeric_limits<double>::infinity());
        for (std::size_t c = 0; c < n_centres; ++c) {
          const std::uint32_t r = owner[c];
          if (std::find(held, held + overlap, r) != held + overlap) continue;
          double bound = 0;
          if (pivots) {
            bound = (static_cast<double>(d[c]) - static_cast<double>(d[s])) / 2;
          } else {
            // y nearer c than every other centre: beyond each bisecting
            // hyperplane. The one with x's nearest centre first; the others
            // (C more steps) only where that one leaves c within reach.
            const auto beyond = [&](std::size_t o) {
              const double gap = centre_gap[o * n_centres + c];
              return o != c && gap > 0 ? (static_cast<double>(d[c]) - static_cast<double>(d[o])) / (2 * gap)
                                       : 0.0;
            };
            double h = beyond(s);
            if (to_metric(h, dim) < dp.boundary_reach * core)
              for (std::size_t o = 0; o < n_centres; ++o) h = std::max(h, beyond(o));
            bound = to_metric(h, dim);
          }
          rank_bound[r] = std::min(rank_bound[r], bound);
        }
        for (std::size_t r = 0; r < P; ++r)
          if (rank_bound[r] < dp.boundary_reach * core) send[i * P + r] = 1;
      }
      rs.boundary_distances += n_local * n_centres;
      for (std::size_t i = 0; i < n_local; ++i)
        for (std::size_t r = 0; r < P; ++r)
          if (send[i * P + r]) {
            asked[r].push_back(static_cast<std::uint32_t>(i));
            put(outgoing[r], static_cast<std::uint32_t>(first + i));
            codec->put_item(outgoing[r], i);
            ++rs.boundary_items;
          }
    });
    incoming = comm.alltoallv(std::move(outgoing));
    outgoing.assign(P, {});
    agree(comm, [&] {
      // The shard's items, then the queries (by sending rank, in its order),
      // inserted into the shard's graph after its own items: the queries'
      // k-nearest lists and candidate edges come from the same HNSW
      // insertion and harvest as the build's.
      item_codec::builder b;
      std::vector<std::byte> row;
      for (std::size_t i = 0; i < m; ++i) {
        row.clear();
        codec->put_item(row, *shard, i);
        reader rd(row);
        codec->take(rd, b);
      }
      std::vector<std::size_t> from(P + 1, m);  // queries of rank r: shard items from[r]..from[r+1]-1
      for (std::size_t r = 0; r < P; ++r) {
        reader rd(incoming[r]);
        while (!rd.done()) {
          gid.push_back(rd.get<std::uint32_t>());
          codec->take(rd, b);
        }
        from[r + 1] = gid.size();
        incoming[r] = {};
      }
      incoming = {};
      if (gid.size() == m) return;
      rs.boundary_queries = gid.size() - m;
      shard = codec->make(std::move(b));
      if (!state) state.emplace(p.build, be.ptr);
      fit_stats fs;
      // A narrow beam: a query needs its k nearest, not a well-linked graph
      // (beam max(2k, 32), at most ef_construction); the shard's own items
      // keep the links the build gave them.
      const std::size_t ef0 = state->graph.ef_construction;
      state->graph.ef_construction = std::min(ef0, std::max<std::size_t>(2 * k_eff, 32));
      be.ptr->insert_hnsw(*state, *shard, p.build, fs);
      state->graph.ef_construction = ef0;
      rs.boundary_distances += fs.distance_computations;
      rs.candidate_edges += fs.candidate_edges;
      for (std::size_t r = 0; r < P; ++r)
        for (std::size_t i = from[r]; i < from[r + 1]; ++i) put_list(outgoing[r], i);
      m = gid.size();
      rs.shard_items = m;
    });
    incoming = comm.alltoallv(std::move(outgoing));
    agree(comm, [&] {
      for (std::size_t r = 0; r < P; ++r) {
        reader rd(incoming[r]);
        for (const std::uint32_t i : asked[r]) take_list(rd, lists[i]);
        expects(rd.done(), error_code::internal,
                "distributed fit: a boundary reply is longer than its queries");
        // rank r's shard now holds these items too, after its own
        order[r].insert(order[r].end(), asked[r].begin(), asked[r].end());
      }
      incoming = {};
      for (std::size_t r = 0; r < P; ++r)
        for (const std::uint32_t i : asked[r]) home_core[i] = settle(lists[i]);
    });
    rs.boundary_bytes_sent = comm.counters().bytes_sent - boundary_bytes0;
    rs.boundary_rounds = comm.counters().collectives - boundary_rounds0;
  }
  lists = {};

  // ---- 4c the global core distances back to every shard holding the item
  outgoing.assign(P, {});
  agree(comm, [&] {
    for (std::size_t r = 0; r < P; ++r)
      for (const std::uint32_t li : order[r]) put(outgoing[r], home_core[li]);
  });
  incoming = comm.alltoallv(std::move(outgoing));
  std::vector<float> shard_core(m);
  agree(comm, [&] {
    std::vector<reader> from;
    from.reserve(P);
    for (std::size_t r = 0; r < P; ++r) from.emplace_back(incoming[r]);
    for (std::size_t i = 0; i < m; ++i) shard_core[i] = from[home_of(gid[i])].get<float>();
  });
  incoming = {};
  shard.reset();
  rs.seconds_merge = seconds_since(t0);

  // ---- 5 spanning forests: the shard's, then a binary-tree reduction to rank 0
  t0 = clock_type::now();
  std::vector<raw_edge> forest;
  agree(comm, [&] {
    if (!state) return;
    const std::vector<raw_edge> f = be.ptr->minimum_spanning_forest(m, state->candidates.forest(),
                                                                    state->candidates.buffered(), shard_core);
    state.reset();
    forest.reserve(f.size());
    // Global ids keep the shard's order (gid ascends) up to the boundary
    // queries, which follow the shard's own items: ties break by shard order.
    for (const raw_edge& e : f)
      forest.push_back({gid[e.a], gid[e.b], std::max({shard_core[e.a], shard_core[e.b], e.d})});
    rs.forest_edges = forest.size();
  });
  std::exception_ptr failed;
  for (std::size_t step = 1; step < P; step <<= 1) {
    const std::size_t r = static_cast<std::size_t>(me);
    if (r % (2 * step) == step) {
      comm.send(edges_to_bytes(forest), static_cast<int>(r - step));
      forest = {};
      break;
    }
    if (r % (2 * step) == 0 && r + step < P) {
      const std::vector<std::byte> got = comm.receive(static_cast<int>(r + step));
      if (failed) continue;
      try {
        const std::vector<raw_edge> theirs = edges_from_bytes(got);
        forest = be.ptr->minimum_spanning_forest(n, forest, theirs, {});  // weights are already global
      } catch (...) {
        failed = std::current_exception();
      }
    }
  }
  agree(comm, [&] {
    if (failed) std::rethrow_exception(failed);
  });
  rs.seconds_forest = seconds_since(t0);

  // ---- 6 rank 0: core distances of all items, the tree, the hierarchy
  t0 = clock_type::now();
  std::vector<std::byte> core_bytes;
  put_all(core_bytes, std::span<const float>(home_core));
  std::vector<std::vector<std::byte>> cores = comm.gather(core_bytes, 0);
  core_bytes = {};
  agree(comm, [&] {
    if (me != 0) return;
    spanning_tree& t = res.tree;
    t.n = n;
    t.core_distances.resize(n);
    for (std::size_t r = 0; r < P; ++r)
      reader(cores[r]).get_all(std::span<float>(t.core_distances.data() + offsets[r], counts[r]));
    detail::union_find uf(n);
    t.edges.reserve(n - 1);
    for (const raw_edge& e : forest) {
      uf.unite(e.a, e.b);
      t.edges.push_back({e.a, e.b, static_cast<double>(e.d)});
    }
    // Disconnected candidate graph: join each remaining part to item 0's at
    // infinity, as candidate_graph::finish does.
    for (std::uint32_t i = 1; i < n; ++i)
      if (uf.unite(0, i)) t.edges.push_back({0, i, std::numeric_limits<double>::infinity()});
    forest = {};
    res.clusters = extract_clusters(t, p.selection);
  });
  rs.seconds_hierarchy = seconds_since(t0);

  // ---- every rank's counters at rank 0
  rs.bytes_sent = comm.counters().bytes_sent;
  rs.bytes_received = comm.counters().bytes_received;
  rs.collectives = comm.counters().collectives + 1;
  std::vector<std::byte> stat_bytes;
  put(stat_bytes, rs);
  std::vector<std::vector<std::byte>> all = comm.gather(stat_bytes, 0);
  if (me == 0)
    for (const auto& b : all) res.all_ranks.push_back(reader(b).get<rank_stats>());
  return res;
}

}  // namespace chutoro::distributed
