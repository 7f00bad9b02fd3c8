// chutoro — micro-benchmarks of the distance kernels (Google Benchmark).
//
// Dense squared L2 / L1 / dot for every compiled Highway target this CPU
// supports plus the scalar reference, at dims 2, 16, 128, 784 (rows 64-byte
// aligned and padded to a multiple of 16 floats, as dense_source stores them);
// levenshtein on short words, 60-code-point strings (bit-parallel Myers/Hyyrö
// path, <= 64) and 200-code-point strings (DP fallback); jaccard on sorted
// token-id sets; hamming/tanimoto on bit vectors.
//
// distance/<metric>: the whole distance the pipeline evaluates (the inlined
// callable of core/distance_dispatch.hpp over a source: kernel, extreme-scale
// check, finishing formula) on uniform [-1, 1] rows; distance_x1e20 and
// distance_x1e-30 the same euclidean distance on rows whose float32 squares
// overflow / underflow (every pair takes the double fallback), distance_dup on
// identical rows (a float32 sum of 0 also takes it); distance_unchecked the
// euclidean distance without the check, to measure the check in one binary.
//
// one_to_many_batch/<metric> vs one_to_many_pairs/<metric>: one query against
// 127 rows through the blocked batch kernel vs one pair kernel call per row.
//
// Each benchmark iteration evaluates the kernel over a pool of row pairs that
// stays in L1/L2, so the figures are compute cost, not memory bandwidth.
// items_per_second = distances per second.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chutoro/data_source.hpp>
#include <chutoro/metrics.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "core/distance_dispatch.hpp"
#include "metrics/dense_kernels.hpp"
#include "metrics/dense_simd.hpp"
#include "metrics/set_bit_kernels.hpp"

namespace {

constexpr std::size_t kPairs = 64;  // rows in the pool (kPairs x stride floats per side)

struct aligned_free {
  void operator()(float* p) const noexcept { std::free(p); }
};

/// kPairs rows of `dim` uniform floats, padded with zeros to `stride`, 64-byte aligned.
struct dense_pool {
  std::size_t dim, stride;
  std::unique_ptr<float[], aligned_free> a, b;
  dense_pool(std::size_t d, std::uint32_t seed) : dim(d), stride((d + 15) / 16 * 16) {
    const std::size_t bytes = (kPairs * stride * sizeof(float) + 63) / 64 * 64;
    a.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    b.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!a || !b) throw std::bad_alloc();
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (std::size_t r = 0; r < kPairs; ++r)
      for (std::size_t k = 0; k < stride; ++k) {
        a[r * stride + k] = k < dim ? u(rng) : 0.0f;
        b[r * stride + k] = k < dim ? u(rng) : 0.0f;
      }
  }
};

enum class which { squared_l2, l1, dot };

chutoro::detail::dense_kernel pick(const chutoro::detail::dense_kernel_table& t, which w) {
  switch (w) {
    case which::l1:
      return t.l1;
    case which::dot:
      return t.dot;
    default:
      return t.squared_l2;
  }
}

void bm_dense(benchmark::State& state, chutoro::detail::dense_kernel_table table, which w) {
  const dense_pool pool(static_cast<std::size_t>(state.range(0)), 7);
  const auto fn = pick(table, w);
  for (auto _ : state) {
    float s = 0;
    for (std::size_t r = 0; r < kPairs; ++r)
      s += fn(pool.a.get() + r * pool.stride, pool.b.get() + r * pool.stride, pool.stride);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPairs));
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * kPairs * 2 * pool.dim * sizeof(float)));
  state.SetLabel(table.target);
}

enum class metric_kind { euclidean, cosine, manhattan, inner_product, angular };

/// 2 kPairs rows of `dim` uniform [-1, 1] values times `scale` under `m`; with
/// `dup`, row 2r + 1 repeats row 2r.
std::unique_ptr<chutoro::data_source> make_source(metric_kind m, std::size_t dim, double scale, bool dup) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<float> v(2 * kPairs * dim);
  for (auto& x : v) x = static_cast<float>(u(rng) * scale);
  if (dup)
    for (std::size_t r = 0; r < kPairs; ++r)
      std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(2 * r * dim), dim,
                  v.begin() + static_cast<std::ptrdiff_t>((2 * r + 1) * dim));
  switch (m) {
    case metric_kind::cosine:
      return std::make_unique<chutoro::dense_source>(v, 2 * kPairs, dim, chutoro::dense_metric::cosine);
    case metric_kind::manhattan:
      return std::make_unique<chutoro::dense_source>(v, 2 * kPairs, dim, chutoro::dense_metric::manhattan);
    case metric_kind::inner_product:
      return std::make_unique<chutoro::product_source>(v, 2 * kPairs, dim,
                                                       chutoro::product_metric::inner_product);
    case metric_kind::angular:
      return std::make_unique<chutoro::product_source>(v, 2 * kPairs, dim, chutoro::product_metric::angular);
    default:
      return std::make_unique<chutoro::dense_source>(v, 2 * kPairs, dim, chutoro::dense_metric::euclidean);
  }
}

/// fn(2r, 2r + 1) for the kPairs pairs, per iteration.
template <class Fn>
void run_pairs(benchmark::State& state, const Fn& fn) {
  for (auto _ : state) {
    float s = 0;
    for (std::uint32_t r = 0; r < kPairs; ++r) s += fn(2 * r, 2 * r + 1);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPairs));
}

void bm_distance(benchmark::State& state, metric_kind m, double scale, bool dup) {
  const auto src = make_source(m, static_cast<std::size_t>(state.range(0)), scale, dup);
  chutoro::detail::with_distance(*src, [&](const auto& fn) { run_pairs(state, fn); });
}

/// One query (row 0) against the other 2 kPairs - 1 rows per iteration: one
/// batch call (the blocked kernels the graph build's searches use) or, with
/// Batched = false, one call per pair, in the same binary. Rows stay in cache.
template <bool Batched>
void bm_one_to_many(benchmark::State& state, metric_kind m) {
  const auto src = make_source(m, static_cast<std::size_t>(state.range(0)), 1.0, false);
  std::vector<std::uint32_t> ids(2 * kPairs - 1);
  for (std::size_t k = 0; k < ids.size(); ++k) ids[k] = static_cast<std::uint32_t>(k + 1);
  std::vector<float> out(ids.size());
  chutoro::detail::with_distance(*src, [&](const auto& fn) {
    for (auto _ : state) {
      if constexpr (Batched && requires { fn.batch(0u, std::span<const std::uint32_t>(ids), out.data()); }) {
        fn.batch(0u, std::span<const std::uint32_t>(ids), out.data());
      } else {
        for (std::size_t k = 0; k < ids.size(); ++k) out[k] = fn(0u, ids[k]);
      }
      benchmark::DoNotOptimize(out.data());
      benchmark::ClobberMemory();
    }
  });
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ids.size()));
}

/// dense_distance_fn<euclidean> without the extreme-scale check: the float32
/// kernel and sqrt only, as before issue 15 (inf / 0 at extreme scales). The
/// check's cost is distance/euclidean against this, in the same binary.
struct unchecked_euclidean_fn {
  const chutoro::dense_source* src;
  chutoro::detail::dense_kernel kernel = chutoro::detail::dense_kernels().squared_l2;
  float operator()(std::uint32_t a, std::uint32_t b) const noexcept {
    return std::sqrt(kernel(src->row(a), src->row(b), src->stride()));
  }
};

void bm_unchecked_euclidean(benchmark::State& state) {
  const auto src = make_source(metric_kind::euclidean, static_cast<std::size_t>(state.range(0)), 1.0, false);
  run_pairs(state, unchecked_euclidean_fn{static_cast<const chutoro::dense_source*>(src.get())});
}

/// Random strings of exactly `len` code points over a small alphabet with some
/// non-ASCII letters (exercises the bit-parallel path's non-ASCII table).
std::vector<std::u32string> random_strings(std::size_t count, std::size_t len, std::uint32_t seed) {
  static const char32_t alphabet[] = U"abcdefghijklmnopqrstuvwxyzéüñ'";
  const std::size_t na = sizeof(alphabet) / sizeof(alphabet[0]) - 1;
  std::mt19937 rng(seed);
  std::vector<std::u32string> out(count);
  for (auto& s : out) {
    s.resize(len);
    for (auto& c : s) c = alphabet[rng() % na];
  }
  // Make pairs related (about a third of positions shared), as in a near-neighbour search.
  for (std::size_t i = 1; i < count; i += 2)
    for (std::size_t k = 0; k < len; k += 3) out[i][k] = out[i - 1][k];
  return out;
}

void bm_levenshtein(benchmark::State& state) {
  const auto len = static_cast<std::size_t>(state.range(0));
  const auto strs = random_strings(2 * kPairs, len, 11);
  for (auto _ : state) {
    std::uint32_t s = 0;
    for (std::size_t r = 0; r < kPairs; ++r)
      s += chutoro::levenshtein(std::span<const char32_t>(strs[2 * r]),
                                std::span<const char32_t>(strs[2 * r + 1]));
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPairs));
  state.SetLabel(len <= 64 ? "bit-parallel" : "dp");
}

void bm_jaccard(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::mt19937 rng(13);
  std::vector<std::vector<std::uint32_t>> sets(2 * kPairs);
  for (auto& s : sets) {
    std::uniform_int_distribution<std::uint32_t> u(0, static_cast<std::uint32_t>(4 * size));
    for (std::size_t k = 0; k < size; ++k) s.push_back(u(rng));
    std::sort(s.begin(), s.end());
    s.erase(std::unique(s.begin(), s.end()), s.end());
  }
  for (auto _ : state) {
    float acc = 0;
    for (std::size_t r = 0; r < kPairs; ++r)
      acc += chutoro::detail::jaccard_kernel(sets[2 * r], sets[2 * r + 1]);
    benchmark::DoNotOptimize(acc);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPairs));
}

template <bool Tanimoto>
void bm_bits(benchmark::State& state) {
  const auto nbits = static_cast<std::size_t>(state.range(0));
  const std::size_t words = (nbits + 63) / 64;
  std::mt19937_64 rng(17);
  std::vector<std::uint64_t> a(kPairs * words), b(kPairs * words);
  for (auto& w : a) w = rng();
  for (auto& w : b) w = rng();
  for (auto _ : state) {
    float acc = 0;
    for (std::size_t r = 0; r < kPairs; ++r) {
      if constexpr (Tanimoto)
        acc += chutoro::detail::tanimoto_kernel(a.data() + r * words, b.data() + r * words, words);
      else
        acc += chutoro::detail::hamming_kernel(a.data() + r * words, b.data() + r * words, words);
    }
    benchmark::DoNotOptimize(acc);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kPairs));
}

int register_all() {
  std::vector<chutoro::detail::dense_kernel_table> tables;
  tables.push_back(chutoro::detail::reference_kernels());
  for (const auto& t : chutoro::detail::compiled_simd_targets())
    tables.push_back(chutoro::detail::dense_kernels_for(t.bits));
  const std::pair<which, const char*> kernels[] = {
      {which::squared_l2, "squared_l2"}, {which::l1, "l1"}, {which::dot, "dot"}};
  for (const auto& [w, kname] : kernels)
    for (const auto& t : tables)
      benchmark::RegisterBenchmark(("dense/" + std::string(kname) + "/" + t.target).c_str(), bm_dense, t, w)
          ->Arg(2)
          ->Arg(16)
          ->Arg(128)
          ->Arg(784);
  const std::pair<metric_kind, const char*> metrics[] = {{metric_kind::euclidean, "euclidean"},
                                                         {metric_kind::cosine, "cosine"},
                                                         {metric_kind::manhattan, "manhattan"},
                                                         {metric_kind::inner_product, "inner_product"},
                                                         {metric_kind::angular, "angular"}};
  for (const auto& [m, mname] : metrics)
    benchmark::RegisterBenchmark(("distance/" + std::string(mname)).c_str(), bm_distance, m, 1.0, false)
        ->Arg(2)
        ->Arg(16)
        ->Arg(128)
        ->Arg(784);
  for (const auto& [m, mname] : metrics) {
    if (m == metric_kind::inner_product || m == metric_kind::angular) continue;  // no batch kernel
    for (const auto& [name, fn] : {std::pair{"one_to_many_pairs/", &bm_one_to_many<false>},
                                   std::pair{"one_to_many_batch/", &bm_one_to_many<true>}})
      benchmark::RegisterBenchmark((name + std::string(mname)).c_str(), fn, m)
          ->Arg(16)
          ->Arg(64)
          ->Arg(128)
          ->Arg(784);
  }
  benchmark::RegisterBenchmark("distance_unchecked/euclidean", bm_unchecked_euclidean)
      ->Arg(2)
      ->Arg(16)
      ->Arg(128)
      ->Arg(784);
  const std::tuple<const char*, double, bool> extremes[] = {{"distance_x1e20/euclidean", 1e20, false},
                                                            {"distance_x1e-30/euclidean", 1e-30, false},
                                                            {"distance_dup/euclidean", 1.0, true}};
  for (const auto& [name, scale, dup] : extremes)
    benchmark::RegisterBenchmark(name, bm_distance, metric_kind::euclidean, scale, dup)
        ->Arg(2)
        ->Arg(16)
        ->Arg(128)
        ->Arg(784);
  benchmark::RegisterBenchmark("levenshtein", bm_levenshtein)->Arg(8)->Arg(60)->Arg(200);
  benchmark::RegisterBenchmark("jaccard", bm_jaccard)->Arg(8)->Arg(64);
  benchmark::RegisterBenchmark("hamming", bm_bits<false>)->Arg(64)->Arg(1024);
  benchmark::RegisterBenchmark("tanimoto", bm_bits<true>)->Arg(64)->Arg(1024);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
