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

// One query row q against rows base + ids[k] * stride, four rows per pass:
// each row keeps the two accumulators and the reduction of AccumulateVec, so
// finish(sum, row) sees exactly the vector AccumulateVec(q, row) returns (bit
// for bit: same operations on the same values), while q's vectors are loaded
// once per four rows.
template <class Step, class Finish>
HWY_INLINE void AccumulateRows(const float* HWY_RESTRICT q, const float* HWY_RESTRICT base,
                               std::size_t stride, const std::uint32_t* HWY_RESTRICT ids, std::size_t n,
                               float* HWY_RESTRICT out, Step step, Finish finish) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  std::size_t r = 0;
  for (; r + 4 <= n; r += 4) {
    const float* HWY_RESTRICT b0 = base + std::size_t{ids[r]} * stride;
    const float* HWY_RESTRICT b1 = base + std::size_t{ids[r + 1]} * stride;
    const float* HWY_RESTRICT b2 = base + std::size_t{ids[r + 2]} * stride;
    const float* HWY_RESTRICT b3 = base + std::size_t{ids[r + 3]} * stride;
    auto s00 = hn::Zero(d), s01 = hn::Zero(d), s10 = hn::Zero(d), s11 = hn::Zero(d);
    auto s20 = hn::Zero(d), s21 = hn::Zero(d), s30 = hn::Zero(d), s31 = hn::Zero(d);
    std::size_t i = 0;
    for (; i + 2 * N <= stride; i += 2 * N) {
      const auto q0 = hn::Load(d, q + i), q1 = hn::Load(d, q + i + N);
      s00 = step(q0, hn::Load(d, b0 + i), s00);
      s01 = step(q1, hn::Load(d, b0 + i + N), s01);
      s10 = step(q0, hn::Load(d, b1 + i), s10);
      s11 = step(q1, hn::Load(d, b1 + i + N), s11);
      s20 = step(q0, hn::Load(d, b2 + i), s20);
      s21 = step(q1, hn::Load(d, b2 + i + N), s21);
      s30 = step(q0, hn::Load(d, b3 + i), s30);
      s31 = step(q1, hn::Load(d, b3 + i + N), s31);
    }
    for (; i < stride; i += N) {
      const auto q0 = hn::Load(d, q + i);
      s00 = step(q0, hn::Load(d, b0 + i), s00);
      s10 = step(q0, hn::Load(d, b1 + i), s10);
      s20 = step(q0, hn::Load(d, b2 + i), s20);
      s30 = step(q0, hn::Load(d, b3 + i), s30);
    }
    out[r] = finish(hn::SumOfLanes(d, hn::Add(s00, s01)), b0);
    out[r + 1] = finish(hn::SumOfLanes(d, hn::Add(s10, s11)), b1);
    out[r + 2] = finish(hn::SumOfLanes(d, hn::Add(s20, s21)), b2);
    out[r + 3] = finish(hn::SumOfLanes(d, hn::Add(s30, s31)), b3);
  }
  for (; r < n; ++r) {
    const float* HWY_RESTRICT b = base + std::size_t{ids[r]} * stride;
    out[r] = finish(AccumulateVec(q, b, stride, step), b);
  }
}

void L1Rows(const float* HWY_RESTRICT q, const float* HWY_RESTRICT base, std::size_t stride,
            const std::uint32_t* HWY_RESTRICT ids, std::size_t n, float* HWY_RESTRICT out) {
  AccumulateRows(
      q, base, stride, ids, n, out,
      [](auto x, auto y, auto acc) { return hn::Add(acc, hn::Abs(hn::Sub(x, y))); },
      [](auto sum, const float*) { return hn::GetLane(sum); });
}

void DotRows(const float* HWY_RESTRICT q, const float* HWY_RESTRICT base, std::size_t stride,
             const std::uint32_t* HWY_RESTRICT ids, std::size_t n, float* HWY_RESTRICT out) {
  AccumulateRows(
      q, base, stride, ids, n, out, [](auto x, auto y, auto acc) { return hn::MulAdd(x, y, acc); },
      [](auto sum, const float*) { return hn::GetLane(sum); });
}

// L2 of q against each row, with L2's double fallback for the rare rows whose
// float32 sum of squares squares_in_range rejects.
void L2Rows(const float* HWY_RESTRICT q, const float* HWY_RESTRICT base, std::size_t stride,
            const std::uint32_t* HWY_RESTRICT ids, std::size_t n, float* HWY_RESTRICT out) {
  AccumulateRows(
      q, base, stride, ids, n, out,
      [](auto x, auto y, auto acc) {
        const auto diff = hn::Sub(x, y);
        return hn::MulAdd(diff, diff, acc);
      },
      [q, stride](auto sum, const float* b) {
        if (squares_in_range(hn::GetLane(sum))) [[likely]]
          return hn::GetLane(hn::Sqrt(sum));
        return L2Wide(q, b, stride);
      });
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
HWY_EXPORT(L1Rows);
HWY_EXPORT(DotRows);
HWY_EXPORT(L2Rows);

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
  t.l1_rows = HWY_DYNAMIC_DISPATCH(L1Rows);
  t.dot_rows = HWY_DYNAMIC_DISPATCH(DotRows);
  t.l2_rows = HWY_DYNAMIC_DISPATCH(L2Rows);
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
