// test_simd.cpp — every SIMD target compiled into this build (and supported
// by this CPU) computes the dense kernels like the scalar reference, also at
// extreme magnitudes (the double kernel squared_l2_wide, and l2, the euclidean
// distance with its fallback on it), and the dispatch honours
// CHUTORO_SIMD_TARGET's choice.
#include <gtest/gtest.h>

#include <bit>
#include <chutoro/chutoro.hpp>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>
#include <vector>

#include "metrics/dense_kernels.hpp"
#include "metrics/dense_simd.hpp"

namespace {

// Two rows of `stride` floats, 64-byte aligned, values in [-3, 3] with a zero tail after `dim`.
struct row_pair {
  float* a;
  float* b;
  std::size_t stride;
  row_pair(std::size_t dim, std::mt19937& rng) : stride((dim + 15) / 16 * 16) {
    a = static_cast<float*>(::operator new[](stride * sizeof(float), std::align_val_t{64}));
    b = static_cast<float*>(::operator new[](stride * sizeof(float), std::align_val_t{64}));
    std::uniform_real_distribution<float> u(-3, 3);
    for (std::size_t k = 0; k < stride; ++k) {
      a[k] = k < dim ? u(rng) : 0.0f;
      b[k] = k < dim ? u(rng) : 0.0f;
    }
  }
  ~row_pair() {
    ::operator delete[](a, std::align_val_t{64});
    ::operator delete[](b, std::align_val_t{64});
  }
  row_pair(const row_pair&) = delete;
  row_pair& operator=(const row_pair&) = delete;
};

}  // namespace

TEST(Simd, EveryTargetMatchesScalarReference) {
  const auto targets = chutoro::detail::compiled_simd_targets();
  ASSERT_FALSE(targets.empty());
  const auto ref = chutoro::detail::reference_kernels();
  std::mt19937 rng(11);
  for (const auto& t : targets) {
    SCOPED_TRACE("target " + t.name);
    const auto k = chutoro::detail::dense_kernels_for(t.bits);
    EXPECT_EQ(k.target, t.name);
    for (std::size_t dim : {1, 2, 3, 15, 16, 17, 31, 64, 100, 128, 784}) {
      SCOPED_TRACE("dim " + std::to_string(dim));
      for (int rep = 0; rep < 20; ++rep) {
        const row_pair r(dim, rng);
        // Different summation orders: relative tolerance scaled by the terms' magnitude.
        const double tol = 1e-5 * static_cast<double>(dim) * 9.0;
        EXPECT_NEAR(k.squared_l2(r.a, r.b, r.stride), ref.squared_l2(r.a, r.b, r.stride), tol);
        EXPECT_NEAR(k.l1(r.a, r.b, r.stride), ref.l1(r.a, r.b, r.stride), tol);
        EXPECT_NEAR(k.dot(r.a, r.b, r.stride), ref.dot(r.a, r.b, r.stride), tol);
        EXPECT_NEAR(k.l2(r.a, r.b, r.stride), ref.l2(r.a, r.b, r.stride), 1e-5 * std::sqrt(dim * 36.0));
        EXPECT_NEAR(k.squared_l2_wide(r.a, r.b, r.stride), ref.squared_l2_wide(r.a, r.b, r.stride),
                    1e-12 * dim * 36.0);
      }
    }
  }
}

TEST(Simd, EveryTargetMatchesScalarReferenceAtExtremeScales) {
  // Rows of N(0, 1) values times a scale: the float32 kernels where their results stay finite
  // and normal, the double kernel and the euclidean distance (float32 kernel, then the double
  // one where float32's squares overflow or underflow) at every scale, against double sums.
  const auto targets = chutoro::detail::compiled_simd_targets();
  const auto ref = chutoro::detail::reference_kernels();
  // -1: values near FLT_MAX, sign_i (0.5 + 1e-4 g) FLT_MAX.
  const double scales[] = {1.0, 1e15, 1e-15, 1e20, 1e-30, 0x1p100, 0x1p-120, 0x1p-140, 1e36, -1};
  std::mt19937 rng(12);
  std::normal_distribution<double> g(0.0, 1.0);
  for (const auto& t : targets) {
    SCOPED_TRACE("target " + t.name);
    const auto k = chutoro::detail::dense_kernels_for(t.bits);
    for (std::size_t dim : {1, 2, 15, 16, 17, 100, 784})
      for (const double scale : scales) {
        SCOPED_TRACE("dim " + std::to_string(dim) + ", scale " + std::to_string(scale));
        const row_pair r(dim, rng);
        double want = 0, want_l1 = 0;
        for (std::size_t i = 0; i < dim; ++i) {
          if (scale < 0) {
            const double sign = i % 2 ? -1.0 : 1.0, big = std::numeric_limits<float>::max();
            r.a[i] = static_cast<float>(sign * (0.5 + 1e-4 * g(rng)) * big);
            r.b[i] = static_cast<float>(sign * (0.5 + 1e-4 * g(rng)) * big);
          } else {
            r.a[i] = static_cast<float>(g(rng) * scale);
            r.b[i] = static_cast<float>(g(rng) * scale);
          }
          const double d = static_cast<double>(r.a[i]) - r.b[i];
          want += d * d, want_l1 += std::fabs(d);
        }
        // The double kernel: exact to double rounding at any scale.
        EXPECT_NEAR(k.squared_l2_wide(r.a, r.b, r.stride), want, 1e-13 * want);
        EXPECT_NEAR(ref.squared_l2_wide(r.a, r.b, r.stride), want, 1e-13 * want);
        // The distance: this target's l2 (the float32 sum, or the double one out of range).
        const float d = k.l2(r.a, r.b, r.stride);
        ASSERT_TRUE(std::isfinite(d));
        EXPECT_NEAR(d, std::sqrt(want), 1e-5 * std::sqrt(want) + 0x1p-149);
        const float d_ref = ref.l2(r.a, r.b, r.stride);
        EXPECT_NEAR(d_ref, std::sqrt(want), 1e-5 * std::sqrt(want) + 0x1p-149);
        // The float32 kernels where float32 holds their result with full precision.
        if (want >= 0x1p-100 && want <= 0x1p120) {
          const double tol = 1e-5 * want;
          EXPECT_NEAR(k.squared_l2(r.a, r.b, r.stride), want, tol);
          EXPECT_NEAR(ref.squared_l2(r.a, r.b, r.stride), want, tol);
        }
        if (want_l1 >= 0x1p-100 && want_l1 <= 0x1p120) {
          EXPECT_NEAR(k.l1(r.a, r.b, r.stride), want_l1, 1e-5 * want_l1);
          EXPECT_NEAR(ref.l1(r.a, r.b, r.stride), want_l1, 1e-5 * want_l1);
        }
      }
  }
}

TEST(Simd, DefaultIsTheBestTargetOrTheEnvironmentsChoice) {
  const auto targets = chutoro::detail::compiled_simd_targets();
  const char* env = std::getenv("CHUTORO_SIMD_TARGET");
  const std::string want = env && *env ? std::string(env) : targets.front().name;
  EXPECT_EQ(chutoro::simd_target(), want);
  std::printf("[ simd ] chosen %s; compiled and supported:", chutoro::simd_target().c_str());
  for (const auto& t : targets) std::printf(" %s", t.name.c_str());
  std::printf("\n");
}

TEST(Simd, EnvironmentOverrideSelectsEachTarget) {
  // A child process per target: the choice is made once per process.
#ifdef CHUTORO_CLI_PATH
  for (const auto& t : chutoro::detail::compiled_simd_targets()) {
    const std::string cmd = "CHUTORO_SIMD_TARGET=" + t.name + " " CHUTORO_CLI_PATH " --version";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[256];
    while (fgets(buf, sizeof buf, p)) out += buf;
    EXPECT_EQ(pclose(p), 0) << cmd;
    EXPECT_NE(out.find("simd " + t.name), std::string::npos) << cmd << " printed: " << out;
  }
  const std::string bad = "CHUTORO_SIMD_TARGET=no-such-target " CHUTORO_CLI_PATH " --version 2>&1";
  FILE* p = popen(bad.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_NE(pclose(p), 0);
  EXPECT_NE(out.find("CHUTORO_SIMD_TARGET"), std::string::npos) << out;
#else
  GTEST_SKIP() << "the CLI is not built";
#endif
}

// The one-row-against-many kernels (the graph build's batched distances) give
// every row exactly what the pair kernels give, bit for bit, on every target
// and the reference, for any number of rows (the blocks of four and the rest),
// rows in any order, repeated rows, and the euclidean fallback's scales.
TEST(Simd, RowsKernelsEqualPairKernelsBitForBit) {
  auto tables = std::vector<chutoro::detail::dense_kernel_table>{chutoro::detail::reference_kernels()};
  for (const auto& t : chutoro::detail::compiled_simd_targets())
    tables.push_back(chutoro::detail::dense_kernels_for(t.bits));
  std::mt19937 rng(13);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (const auto& k : tables) {
    SCOPED_TRACE("target " + k.target);
    for (std::size_t dim : {1, 15, 16, 17, 64, 100, 784}) {
      SCOPED_TRACE("dim " + std::to_string(dim));
      const std::size_t stride = (dim + 15) / 16 * 16, rows = 13;
      float* base = static_cast<float*>(::operator new[](rows* stride * sizeof(float), std::align_val_t{64}));
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < stride; ++c) {
          const float scale = r == 5 ? 1e25f : r == 6 ? 1e-25f : 1.0f;  // the l2 fallback's rows
          base[r * stride + c] = c < dim ? g(rng) * scale : 0.0f;
        }
      for (std::size_t n : {0, 1, 3, 4, 5, 8, 11}) {
        std::vector<std::uint32_t> ids(n);
        for (auto& i : ids) i = static_cast<std::uint32_t>(rng() % rows);
        const float* q = base + (rng() % rows) * stride;
        std::vector<float> l1(n, -1.0f), dot(n, -1.0f), l2(n, -1.0f);
        k.l1_rows(q, base, stride, ids.data(), n, l1.data());
        k.dot_rows(q, base, stride, ids.data(), n, dot.data());
        k.l2_rows(q, base, stride, ids.data(), n, l2.data());
        for (std::size_t j = 0; j < n; ++j) {
          const float* b = base + std::size_t{ids[j]} * stride;
          EXPECT_EQ(std::bit_cast<std::uint32_t>(l1[j]), std::bit_cast<std::uint32_t>(k.l1(q, b, stride)));
          EXPECT_EQ(std::bit_cast<std::uint32_t>(dot[j]), std::bit_cast<std::uint32_t>(k.dot(q, b, stride)));
          EXPECT_EQ(std::bit_cast<std::uint32_t>(l2[j]), std::bit_cast<std::uint32_t>(k.l2(q, b, stride)));
        }
      }
      ::operator delete[](base, std::align_val_t{64});
    }
  }
}

// dense_source::distance_batch (runs of pairs sharing their first item through
// the blocked kernels) equals distance() bit for bit, for every dense metric.
TEST(Simd, DenseSourceDistanceBatchEqualsDistance) {
  std::mt19937 rng(14);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const std::size_t n = 9, dim = 100;
  std::vector<float> v(n * dim);
  for (auto& x : v) x = g(rng);
  std::vector<chutoro::index_pair> pairs;
  for (std::uint32_t a : {0u, 0u, 0u, 0u, 0u, 3u, 3u, 8u, 0u, 5u, 5u, 5u, 5u, 5u, 5u})
    pairs.push_back({a, static_cast<std::uint32_t>(rng() % n)});
  using chutoro::dense_metric;
  for (dense_metric m : {dense_metric::euclidean, dense_metric::cosine, dense_metric::manhattan,
                         dense_metric::chebyshev, dense_metric::seuclidean, dense_metric::canberra}) {
    SCOPED_TRACE(std::string(chutoro::to_string(m)));
    const chutoro::dense_source src(v, n, dim, m);
    std::vector<float> out(pairs.size(), -1.0f);
    src.distance_batch(pairs, out);
    for (std::size_t k = 0; k < pairs.size(); ++k)
      EXPECT_EQ(std::bit_cast<std::uint32_t>(out[k]),
                std::bit_cast<std::uint32_t>(src.distance(pairs[k].a, pairs[k].b)));
    std::vector<float> short_out(2);
    EXPECT_THROW(src.distance_batch(pairs, short_out), chutoro::error);
  }
}
