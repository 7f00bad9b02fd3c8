// Dense float32 kernels through Google Highway's dynamic dispatch: one
// source compiled for every x86/Arm target Highway supports (SSE2...AVX-512,
// NEON), the best one the CPU has chosen once at start-up.
// Rows are padded to a multiple of 16 floats and 64-byte aligned (dense_source),
// so full aligned vectors cover a row with no tail at any vector width.

#include "metrics/dense_kernels.hpp"  // squares_in_range

// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "metrics/dense_simd.cpp"
#include <hwy/foreach_target.h>
#include <hwy/highway.h>
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace chutoro::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sum over the row of step(a_k, b_k, acc) with two vector accumulators, in
// every lane of the vector returned.
template <class Step>
HWY_INLINE auto AccumulateVec(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t stride,
                              Step step) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 2 * N <= stride; i += 2 * N) {
    s0 = step(hn::Load(d, a + i), hn::Load(d, b + i), s0);
    s1 = step(hn::Load(d, a + i + N), hn::Load(d, b + i + N), s1);
  }
  for (; i < stride; i += N) s0 = step(hn::Load(d, a + i), hn::Load(d, b + i), s0);
  return hn::SumOfLanes(d, hn::Add(s0, s1));
}

template <class Step>
HWY_INLINE float Accumulate(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t stride,
                            Step step) {
  return hn::GetLane(AccumulateVec(a, b, stride, step));
}

// sum (a_k - b_k)^2 in float32, in every lane.
HWY_INLINE auto SumOfSquares(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t stride) {
  return AccumulateVec(a, b, stride, [](auto x, auto y, auto acc) {
    const auto diff = hn::Sub(x, y);
    return hn::MulAdd(diff, diff, acc);
  });
}

float SquaredL2(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t stride) {
  return hn::GetLane(SumOfSquares(a, b, stride));
}

float L1(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t stride) {
  return Accumulate(a, b, stride,
                    [](auto x, auto y, auto acc) { return hn::Add(acc, hn::Abs(hn::Sub(x, y))); });
}

float Dot(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t stride) {
  return Accumulate(a, b, stride, [](auto x, auto y, auto acc) { return hn::MulAdd(x, y, acc); });
}

// sum (a_k - b_k)^2 in double: each half vector of floats promoted to a full
// vector of doubles (offsets are multiples of the half vector's size, so the
// loads stay aligned), two accumulators.
double SquaredL2Wide(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t stride) {
#if HWY_HAVE_FLOAT64
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const std::size_t N = hn::Lanes(dd);
  auto diff = [&](std::size_t i) {
    return hn::Sub(hn::PromoteTo(dd, hn::Load(df, a + i)), hn::PromoteTo(dd, hn::Load(df, b + i)));
  };
  auto s0 = hn::Zero(dd), s1 = hn::Zero(dd);
  std::size_t i = 0;
  for (; i + 2 * N <= stride; i += 2 * N) {
    const auto d0 = diff(i), d1 = diff(i + N);
    s0 = hn::MulAdd(d0, d0, s0);
    s1 = hn::MulAdd(d1, d1, s1);
  }
  for (; i < stride; i += N) {
    const auto d0 = diff(i);
    s0 = hn::MulAdd(d0, d0, s0);
  }
  return hn::GetLane(hn::SumOfLanes(dd, hn::Add(s0, s1)));
#else
  double s = 0;
  for (std::size_t i = 0; i < stride; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    s += d * d;
  }
  return s;
#endif
}

// L2's fallback, out of line so that L2 itself saves no registers and calls nothing.
HWY_NOINLINE float L2Wide(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t stride) {
  return static_cast<float>(std::sqrt(SquaredL2Wide(a, b, stride)));
}

// The euclidean distance: the float32 sum of squares, and the double one for
// the rare pairs squares_in_range rejects. The check sits here, after the
// reduction (a and b are still in their argument registers; the fallback is a
// tail call), so the callers' loops are those of a plain float32 kernel; the
// vector square root needs no errno check, unlike std::sqrt.
float L2(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, std::size_t stride) {
  const auto sum = SumOfSquares(a, b, stride);
  if (squares_in_range(hn::GetLane(sum))) [[likely]]
    return hn::GetLane(hn::Sqrt(sum));
  return L2Wide(a, b, stride);
}

}  // namespace chutoro::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <cctype>
#include <chutoro/error.hpp>
#include <cstdlib>
#include <mutex>
#include <string>

#include "metrics/dense_simd.hpp"

namespace chutoro::detail {

HWY_EXPORT(SquaredL2);
HWY_EXPORT(L1);
HWY_EXPORT(Dot);
HWY_EXPORT(SquaredL2Wide);
HWY_EXPORT(L2);

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Reads the function pointers for the currently chosen target.
dense_kernel_table read_table() {
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
  dense_kernel_table t;
  t.squared_l2 = HWY_DYNAMIC_DISPATCH(SquaredL2);
  t.l1 = HWY_DYNAMIC_DISPATCH(L1);
  t.dot = HWY_DYNAMIC_DISPATCH(Dot);
  t.l2 = HWY_DYNAMIC_DISPATCH(L2);
  t.squared_l2_wide = HWY_DYNAMIC_DISPATCH(SquaredL2Wide);
  return t;
}

std::mutex& table_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace

std::vector<simd_target_info> compiled_simd_targets() {
  std::vector<simd_target_info> out;
  for (std::int64_t t : hwy::SupportedAndGeneratedTargets()) out.push_back({t, lower(hwy::TargetName(t))});
  return out;
}

dense_kernel_table dense_kernels_for(std::int64_t target) {
  std::lock_guard<std::mutex> lock(table_mutex());
  hwy::SetSupportedTargetsForTest(target);
  dense_kernel_table t = read_table();
  t.target = lower(hwy::TargetName(target));
  hwy::SetSupportedTargetsForTest(0);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
  return t;
}

const dense_kernel_table& dense_kernels() {
  static const dense_kernel_table table = [] {
    const auto targets = compiled_simd_targets();  // best first
    if (const char* env = std::getenv("CHUTORO_SIMD_TARGET"); env && *env) {
      const std::string want = lower(env);
      std::string names;
      for (const auto& t : targets) {
        if (t.name == want) return dense_kernels_for(t.bits);
        names += (names.empty() ? "" : ", ") + t.name;
      }
      throw error(error_code::invalid_argument, "CHUTORO_SIMD_TARGET='" + std::string(env) +
                                                    "' is not a target this CPU supports and this build has "
                                                    "(available: " +
                                                    names + ")");
    }
    return dense_kernels_for(targets.front().bits);
  }();
  return table;
}

}  // namespace chutoro::detail

namespace chutoro {
std::string simd_target() { return detail::dense_kernels().target; }
}  // namespace chutoro
#endif  // HWY_ONCE
