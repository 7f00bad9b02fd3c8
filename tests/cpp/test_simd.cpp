// test_simd.cpp — every SIMD target compiled into this build (and supported
// by this CPU) computes the dense kernels like the scalar reference, and the
// dispatch honours CHUTORO_SIMD_TARGET's choice.
#include <gtest/gtest.h>

#include <chutoro/chutoro.hpp>
#include <cmath>
#include <cstdlib>
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
