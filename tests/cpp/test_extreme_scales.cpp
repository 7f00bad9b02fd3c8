// test_extreme_scales.cpp — dense data at extreme magnitudes (issue 15, defect 6).
//
// float32 holds |x| in [1.2e-38, 3.4e38] (normal) and down to 1.4e-45
// (subnormal), but squares and products of such values do not fit: data x 1e20
// made every squared distance inf, data x 1e-30 made it 0, and every item came
// out as noise with exit status 0. What the tests prove:
//  - ExtremeScales.DenseDistancesMatchDouble: euclidean, manhattan and cosine
//    distances of rows scaled by 1e20, 1e-30, 2^100, 2^-120, of rows near
//    FLT_MAX and of subnormal rows are finite and equal the double-precision
//    distance of the same float32 inputs (relative 1e-5; cosine absolute
//    2e-6; subnormal results within one subnormal step more), for dims 1, 3,
//    17 and 100 (padding tails and several blocks); symmetric; 0 on the
//    diagonal and for a repeated row; cross_distance equals distance.
//  - ExtremeScales.TinyDifferencesBetweenOrdinaryRows: rows of magnitude 1
//    that differ by 1e-25 (whose square underflows) get their euclidean and
//    angular distances right: why the fallback works per pair, not per source.
//  - ExtremeScales.ProductDistances: angular likewise; inner_product at tiny
//    scales equals max(0, 1 - <x, y>) in double, and where |x|^2 could make
//    1 - <x, y> overflow float32 the source is refused naming the row.
//  - ExtremeScales.Refuses*: a column whose values differ by more than
//    float32 holds, or rows whose distances could exceed 2^127, are refused
//    with error(invalid_argument) naming the rows and the column; so are an
//    added or predicted source whose items lie too far from the model's.
//  - ExtremeScales.FitLabelsIndependentOfScale: fit (hnsw and exact), model
//    add and approximate_predict give the labels of scale 1 at every scale,
//    for euclidean, manhattan, cosine and angular.
//  - The CLI test is in test_cli.cpp (Cli.ExtremeScales*).
#include <gtest/gtest.h>

#include <chutoro/chutoro.hpp>
#include <chutoro/model.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test_data.hpp"

namespace {

using chutoro::dense_metric;
constexpr double kFloatMax = std::numeric_limits<float>::max();
constexpr double kSubnormalStep = 0x1p-149;  // the smallest positive float32

struct data_case {
  std::string name;
  double scale;            // rows are float(x * scale) of standard rows x
  bool near_max = false;   // instead: sign_k (0.5 + 1e-4 x) FLT_MAX
  bool subnormal = false;  // results may be subnormal: allow one subnormal step more
};

const std::vector<data_case>& data_cases() {
  static const std::vector<data_case> cases{
      {"x1e20", 1e20},       {"x1e-30", 1e-30},           {"x2^100", 0x1p100},
      {"x2^-120", 0x1p-120}, {"near FLT_MAX", 1.0, true}, {"subnormal x2^-140", 0x1p-140, false, true},
  };
  return cases;
}

/// n x dim rows of N(0, 3) values turned into `c`'s magnitude; row 2 repeats row 1.
std::vector<float> make_rows(const data_case& c, std::size_t n, std::size_t dim, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 3.0);
  std::vector<float> v(n * dim);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < dim; ++k) {
      const double x = g(rng);
      v[i * dim + k] = c.near_max ? static_cast<float>((k % 2 ? -1.0 : 1.0) * (0.5 + 1e-4 * x) * kFloatMax)
                                  : static_cast<float>(x * c.scale);
    }
  std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(dim), dim,
              v.begin() + static_cast<std::ptrdiff_t>(2 * dim));
  return v;
}

/// The metric's value in double on the float32 inputs.
double exact(dense_metric m, const float* x, const float* y, std::size_t dim) {
  double s = 0, xx = 0, yy = 0, xy = 0;
  for (std::size_t k = 0; k < dim; ++k) {
    const double a = x[k], b = y[k];
    s += m == dense_metric::manhattan ? std::fabs(a - b) : (a - b) * (a - b);
    xx += a * a, yy += b * b, xy += a * b;
  }
  if (m == dense_metric::euclidean) return std::sqrt(s);
  if (m == dense_metric::manhattan) return s;
  return 1.0 - xy / (std::sqrt(xx) * std::sqrt(yy));
}

/// 2 asin(|x/|x| - y/|y||/2) / pi in double.
double exact_angular(const float* x, const float* y, std::size_t dim) {
  double xx = 0, yy = 0;
  for (std::size_t k = 0; k < dim; ++k) xx += double(x[k]) * x[k], yy += double(y[k]) * y[k];
  double s = 0;
  for (std::size_t k = 0; k < dim; ++k) {
    const double d = x[k] / std::sqrt(xx) - y[k] / std::sqrt(yy);
    s += d * d;
  }
  return 2.0 * std::asin(std::min(1.0, std::sqrt(s) / 2.0)) / M_PI;
}

template <class F>
std::string error_of(F&& f, chutoro::error_code want = chutoro::error_code::invalid_argument) {
  try {
    f();
  } catch (const chutoro::error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(want)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no chutoro::error thrown";
  return {};
}

void expect_contains(const std::string& msg, const std::vector<std::string>& parts) {
  for (const auto& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "'" << msg << "' lacks '" << p << "'";
}

}  // namespace

TEST(ExtremeScales, DenseDistancesMatchDouble) {
  const std::size_t n = 12;
  for (const auto& c : data_cases())
    for (std::size_t dim : {1, 3, 17, 100})
      for (auto metric : {dense_metric::euclidean, dense_metric::manhattan, dense_metric::cosine}) {
        SCOPED_TRACE(c.name + ", dim " + std::to_string(dim) + ", " +
                     std::string(chutoro::to_string(metric)));
        const std::vector<float> v = make_rows(c, n, dim, 40 + dim);
        const chutoro::dense_source src(v, n, dim, metric);
        const chutoro::dense_source other(v, n, dim, metric);
        ASSERT_NO_THROW(src.check_compatible(other));
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t j = 0; j < n; ++j) {
            const float got = src.distance(i, j);
            const double want = exact(metric, &v[i * dim], &v[j * dim], dim);
            ASSERT_TRUE(std::isfinite(got)) << i << ", " << j << ": " << got << " (want " << want << ")";
            if (metric == dense_metric::cosine) {
              ASSERT_NEAR(got, want, 2e-6) << i << ", " << j;
            } else {
              ASSERT_NEAR(got, want, 1e-5 * want + (c.subnormal ? kSubnormalStep : 0.0))
                  << i << ", " << j << ": got " << got << ", want " << want;
              if (want > 0) ASSERT_GT(got, 0.0f) << i << ", " << j;
            }
            ASSERT_EQ(got, src.distance(j, i)) << i << ", " << j;
            ASSERT_EQ(got, src.cross_distance(other, i, j)) << i << ", " << j;
          }
        const float same = src.distance(1, 2);  // row 2 repeats row 1
        if (metric == dense_metric::cosine)
          EXPECT_LE(same, 1e-6f);
        else
          EXPECT_EQ(same, 0.0f);
      }
}

TEST(ExtremeScales, ProductDistances) {
  const std::size_t n = 12;
  for (const auto& c : data_cases())
    for (std::size_t dim : {1, 3, 17, 100}) {
      SCOPED_TRACE(c.name + ", dim " + std::to_string(dim));
      const std::vector<float> v = make_rows(c, n, dim, 50 + dim);
      const chutoro::product_source angular(v, n, dim, chutoro::product_metric::angular);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          const float got = angular.distance(i, j);
          ASSERT_TRUE(std::isfinite(got)) << i << ", " << j;
          ASSERT_NEAR(got, exact_angular(&v[i * dim], &v[j * dim], dim), 2e-6) << i << ", " << j;
        }
      EXPECT_EQ(angular.distance(1, 2), 0.0f);
      // inner_product is not scale invariant: 1 - <x, y> is ~1 for tiny rows and beyond
      // float32 for huge ones, which the source refuses.
      double max_norm2 = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t k = 0; k < dim; ++k) s += double(v[i * dim + k]) * v[i * dim + k];
        max_norm2 = std::max(max_norm2, s);
      }
      if (max_norm2 > 0x1p127) {
        const std::string msg =
            error_of([&] { chutoro::product_source s(v, n, dim, chutoro::product_metric::inner_product); });
        expect_contains(msg, {"product_source", "inner_product", "row ", "squared norm", "float32"});
        continue;
      }
      const chutoro::product_source ip(v, n, dim, chutoro::product_metric::inner_product);
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          double xy = 0;
          for (std::size_t k = 0; k < dim; ++k) xy += double(v[i * dim + k]) * v[j * dim + k];
          ASSERT_NEAR(ip.distance(i, j), std::max(0.0, 1.0 - xy), 1e-6) << i << ", " << j;
        }
    }
}

TEST(ExtremeScales, TinyDifferencesBetweenOrdinaryRows) {
  // Rows of magnitude 1 that differ by far less than float32's squares can hold (1e-25 squared
  // underflows to 0): no scale factor for the whole source would help, the per-pair fallback does.
  const std::vector<float> v{1, 0, 0, 1, 1e-25f, 0, 1, 0, -3e-30f};
  const chutoro::dense_source l2(v, 3, 3, dense_metric::euclidean);
  for (auto [i, j] : {std::pair{0, 1}, std::pair{1, 2}, std::pair{0, 2}}) {
    const double want = exact(dense_metric::euclidean, &v[3 * i], &v[3 * j], 3);
    EXPECT_NEAR(l2.distance(i, j), want, 1e-5 * want) << i << ", " << j;
  }
  const chutoro::product_source angular(v, 3, 3, chutoro::product_metric::angular);
  for (auto [i, j] : {std::pair{0, 1}, std::pair{1, 2}, std::pair{0, 2}}) {
    const double want = exact_angular(&v[3 * i], &v[3 * j], 3);
    EXPECT_GT(want, 0.0);
    EXPECT_NEAR(angular.distance(i, j), want, 1e-5 * want) << i << ", " << j;
  }
}

TEST(ExtremeScales, RefusesDifferencesBeyondFloat32) {
  // Column 2 holds 3e38 (row 1) and -3e38 (row 4): their difference, 6e38, is beyond float32.
  const std::size_t n = 6, dim = 3;
  std::vector<float> v(n * dim, 1.0f);
  v[1 * dim + 2] = 3e38f;
  v[4 * dim + 2] = -3e38f;
  for (auto metric : {dense_metric::euclidean, dense_metric::manhattan}) {
    SCOPED_TRACE(std::string(chutoro::to_string(metric)));
    const std::string msg = error_of([&] { chutoro::dense_source s(v, n, dim, metric); });
    expect_contains(msg, {"dense_source", std::string(chutoro::to_string(metric)), "column 2", "(row 4)",
                          "(row 1)", "-3e+38", "3e+38", "float32"});
  }
  // Cosine normalises each row: the same data is fine, and its distances are finite and exact.
  const chutoro::dense_source cos(v, n, dim, dense_metric::cosine);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      ASSERT_NEAR(cos.distance(i, j), exact(dense_metric::cosine, &v[i * dim], &v[j * dim], dim), 2e-6);
}

TEST(ExtremeScales, RefusesDistancesBeyondTwoToThe127) {
  // Four columns each spanning 0 .. 1e38: euclidean distance 2e38, manhattan 4e38.
  const std::size_t n = 5, dim = 4;
  std::vector<float> v(n * dim, 0.0f);
  for (std::size_t k = 0; k < dim; ++k) v[3 * dim + k] = 1e38f;
  for (auto metric : {dense_metric::euclidean, dense_metric::manhattan}) {
    SCOPED_TRACE(std::string(chutoro::to_string(metric)));
    const std::string msg = error_of([&] { chutoro::dense_source s(v, n, dim, metric); });
    expect_contains(msg, {"dense_source", std::string(chutoro::to_string(metric)), "column 0", "(row 0)",
                          "(row 3)", metric == dense_metric::euclidean ? "2e+38" : "4e+38", "2^127"});
  }
  // With two columns euclidean stays below 2^127 (1.41e38) and is measured exactly; manhattan does not
  // (2e38).
  const std::vector<float> w{0, 0, 1e38f, 1e38f, -1e37f, 2e37f};
  const chutoro::dense_source two(w, 3, 2, dense_metric::euclidean);
  EXPECT_NEAR(two.distance(0, 1), std::sqrt(2.0) * 1e38, 1e-5 * std::sqrt(2.0) * 1e38);
  EXPECT_NEAR(two.distance(1, 2), std::hypot(1.1e38, 0.8e38), 1e-5 * std::hypot(1.1e38, 0.8e38));
  const std::string msg = error_of([&] { chutoro::dense_source s(w, 3, 2, dense_metric::manhattan); });
  expect_contains(msg, {"manhattan", "2.1e+38", "column 0", "(row 2)", "(row 1)"});
}

TEST(ExtremeScales, RefusesAddedOrPredictedItemsTooFarFromTheModels) {
  // Each source on its own is fine (values near +1.5e38, and near -1.5e38), together they are not.
  const chutoro_test::dense_data d = chutoro_test::make_blobs(300, 2, 3, 0.0, 7);
  std::vector<float> a(d.values.size()), b(d.values.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>(1.5e38 + d.values[i] * 1e35);
    b[i] = -a[i];
  }
  for (auto metric : {dense_metric::euclidean, dense_metric::manhattan}) {
    SCOPED_TRACE(std::string(chutoro::to_string(metric)));
    auto src = std::make_shared<chutoro::dense_source>(a, d.n, d.dim, metric);
    const chutoro::dense_source far(b, d.n, d.dim, metric);
    std::string msg = error_of([&] { src->check_compatible(far); });
    expect_contains(msg, {"dense_source", "column", "other source", "float32"});
    chutoro::params p;
    p.selection.min_cluster_size = 10;
    chutoro::model m(src, p);
    const auto labels = m.clusters().labels;
    msg = error_of([&] { (void)m.approximate_predict(far); });
    expect_contains(msg, {"column", "other source"});
    msg = error_of([&] { m.add(far); });
    expect_contains(msg, {"column", "other source"});
    EXPECT_EQ(m.size(), d.n);  // unchanged
    EXPECT_EQ(m.clusters().labels, labels);
    // Items near the model's are fine.
    EXPECT_NO_THROW(m.add(chutoro::dense_source(std::span<const float>(a).first(20), 10, d.dim, metric)));
    EXPECT_EQ(m.size(), d.n + 10);
  }
}

TEST(ExtremeScales, FitLabelsIndependentOfScale) {
  const chutoro_test::dense_data d = chutoro_test::make_blobs(400, 3, 4, 0.05, 21);
  const std::size_t held_out = 40, n_fit = d.n - held_out;
  std::vector<data_case> cases = data_cases();
  cases.erase(cases.begin() + 4, cases.end());  // the four scales; near FLT_MAX as 2^120:
  cases.push_back({"x2^120", 0x1p120});         // |x| <= 1.6e37, manhattan diameter <= 1.2e38
  struct metric_case {
    std::string name;
    std::function<std::shared_ptr<chutoro::data_source>(std::span<const float>, std::size_t)> make;
  };
  const std::vector<metric_case> metrics{
      {"euclidean",
       [&](std::span<const float> v, std::size_t n) {
         return std::make_shared<chutoro::dense_source>(v, n, d.dim, dense_metric::euclidean);
       }},
      {"manhattan",
       [&](std::span<const float> v, std::size_t n) {
         return std::make_shared<chutoro::dense_source>(v, n, d.dim, dense_metric::manhattan);
       }},
      {"cosine",
       [&](std::span<const float> v, std::size_t n) {
         return std::make_shared<chutoro::dense_source>(v, n, d.dim, dense_metric::cosine);
       }},
      {"angular",
       [&](std::span<const float> v, std::size_t n) {
         return std::make_shared<chutoro::product_source>(v, n, d.dim, chutoro::product_metric::angular);
       }},
  };
  for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact})
    for (const auto& mc : metrics) {
      chutoro::params p;
      p.build.candidates = mode;
      p.selection.min_cluster_size = 15;
      auto run = [&](const std::vector<float>& v) {
        const std::span<const float> all(v);
        chutoro::model m(mc.make(all.first(n_fit * d.dim), n_fit), p);
        const auto q = mc.make(all.subspan(n_fit * d.dim, 20 * d.dim), 20);
        std::vector<std::int32_t> out = m.clusters().labels;
        const auto pr = m.approximate_predict(*q);
        out.insert(out.end(), pr.labels.begin(), pr.labels.end());
        m.add(*mc.make(all.subspan((n_fit + 20) * d.dim), held_out - 20));
        out.insert(out.end(), m.clusters().labels.begin(), m.clusters().labels.end());
        return out;
      };
      const auto want = run(d.values);
      std::size_t clustered = 0;
      for (std::size_t i = 0; i < n_fit; ++i) clustered += want[i] >= 0;
      ASSERT_GE(clustered, n_fit / 2) << mc.name;  // a meaningful clustering to compare with
      for (const auto& c : cases) {
        SCOPED_TRACE(std::string(chutoro::to_string(mode)) + ", " + mc.name + ", " + c.name);
        std::vector<float> v(d.values.size());
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(d.values[i] * c.scale);
        EXPECT_EQ(run(v), want);
      }
    }
}
