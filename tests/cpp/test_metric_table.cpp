// test_metric_table.cpp — the one metric table (metric_table.hpp) and the
// scipy-style dense metrics.
//
// What the tests prove:
//  - MetricTable.EveryRowParses: every row's name (and every alias) resolves to
//    a row whose source class reports that name; the per-class parsers and
//    to_string agree with the table, so the doors that read it cannot drift.
//  - MetricTable.ScipyValues: chebyshev, minkowski (p = 3, 0.5), seuclidean,
//    mahalanobis, canberra and braycurtis on hand-computed pairs (values as
//    scipy.spatial.distance gives them), within float32 rounding.
//  - MetricTable.Params*: defaults (minkowski p = 2, seuclidean's column
//    variances, mahalanobis' inverse covariance) match the explicit values;
//    bad parameters throw error(invalid_argument) naming the problem; sources
//    with different parameters are not compatible (type_mismatch); a model
//    saved and loaded keeps the parameters and measures new items alike.
#include <gtest/gtest.h>

#include <chutoro/chutoro.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/model.hpp>
#include <cmath>
#include <string>
#include <vector>

namespace {

using chutoro::dense_metric;
using chutoro::dense_source;

TEST(MetricTable, EveryRowParses) {
  const std::vector<float> v = {0, 1, 1, 1, 0, 1, 1, 1, 0};  // 3 x 3, 0/1 values, no constant column
  for (const chutoro::metric_info& m : chutoro::builtin_metrics) {
    EXPECT_EQ(chutoro::find_builtin_metric(m.name), &m);
    if (m.items == chutoro::metric_items::vectors) {
      auto s = chutoro::make_vector_source(v, 3, 3, m.name,
                                           m.name == "mahalanobis"
                                               ? chutoro::metric_params{{}, {}, {1, 0, 0, 0, 1, 0, 0, 0, 1}}
                                               : chutoro::metric_params{});
      EXPECT_EQ(s->name(), m.name);
      EXPECT_EQ(s->kind(), m.kind);
    } else {
      const std::vector<std::string> items = {"a b", "b c"};
      auto s = chutoro::make_string_source(items, m.name);
      EXPECT_EQ(s->name(), m.name);
      EXPECT_EQ(s->kind(), m.kind);
    }
    if (m.kind == chutoro::source_kind::dense) {
      EXPECT_EQ(static_cast<int>(chutoro::parse_dense_metric(m.name)), m.value);
      EXPECT_EQ(chutoro::to_string(static_cast<dense_metric>(m.value)), m.name);
    }
  }
  for (const chutoro::metric_alias& a : chutoro::builtin_metric_aliases) {
    ASSERT_NE(chutoro::find_builtin_metric(a.alias), nullptr) << a.alias;
    EXPECT_EQ(chutoro::find_builtin_metric(a.alias)->name, a.name);
  }
  EXPECT_EQ(chutoro::parse_dense_metric("cityblock"), dense_metric::manhattan);
  EXPECT_EQ(chutoro::find_builtin_metric("nope"), nullptr);
  EXPECT_THROW((void)chutoro::builtin_metric("nope"), chutoro::error);
  EXPECT_THROW((void)chutoro::make_vector_source(v, 3, 3, "levenshtein"), chutoro::error);
}

float d01(dense_metric m, const std::vector<float>& x, std::size_t dim, std::vector<double> params = {}) {
  const dense_source s(x, x.size() / dim, dim, m, params);
  EXPECT_EQ(s.distance(0, 1), s.distance(1, 0));
  EXPECT_EQ(s.distance(0, 0), 0.0f);
  return s.distance(0, 1);
}

TEST(MetricTable, ScipyValues) {
  const std::vector<float> x = {1, 2, 3, 4, 0, 6};  // rows (1, 2, 3), (4, 0, 6)
  EXPECT_FLOAT_EQ(d01(dense_metric::chebyshev, x, 3), 3.0f);
  EXPECT_NEAR(d01(dense_metric::minkowski, x, 3, {3}), std::cbrt(27.0 + 8 + 27), 1e-5);
  EXPECT_NEAR(d01(dense_metric::minkowski, x, 3, {0.5}),
              std::pow(std::sqrt(3.0) + std::sqrt(2.0) + std::sqrt(3.0), 2), 1e-4);
  EXPECT_NEAR(d01(dense_metric::minkowski, x, 3), std::sqrt(22.0), 1e-5);  // p defaults to 2
  EXPECT_NEAR(d01(dense_metric::seuclidean, x, 3, {1, 4, 9}), std::sqrt(9.0 + 1 + 1), 1e-5);
  // VI = diag(1, 2, 3) plus a symmetric off-diagonal 0.5 at (0, 2): (x-y) = (-3, 2, -3).
  const double q = 9 * 1 + 4 * 2 + 9 * 3 + 2 * 0.5 * (-3) * (-3);
  EXPECT_NEAR(d01(dense_metric::mahalanobis, x, 3, {1, 0, 0.5, 0, 2, 0, 0.5, 0, 3}), std::sqrt(q), 1e-5);
  EXPECT_NEAR(d01(dense_metric::canberra, x, 3), 3.0 / 5 + 2.0 / 2 + 3.0 / 9, 1e-6);
  EXPECT_NEAR(d01(dense_metric::braycurtis, x, 3), 8.0 / 16, 1e-6);
  const std::vector<float> zeros = {0, 0, 0, 0};
  EXPECT_EQ(d01(dense_metric::braycurtis, zeros, 2), 0.0f);  // scipy: NaN; 0 keeps d(x, x) = 0
  EXPECT_EQ(d01(dense_metric::canberra, zeros, 2), 0.0f);
}

TEST(MetricTable, ParamsDefaultsAndErrors) {
  const std::vector<float> x = {1, 2, 2, 1, 4, 3, 0, 5, 3, 3, 7, 1};  // 6 x 2
  const dense_source s(x, 6, 2, dense_metric::seuclidean);
  ASSERT_EQ(s.params().size(), 2u);
  // column 0: 1 2 4 0 3 7, mean 17/6; column 1: 2 1 3 5 3 1, mean 15/6
  double m0 = 17.0 / 6, m1 = 15.0 / 6, v0 = 0, v1 = 0;
  for (int i = 0; i < 6; ++i)
    v0 += (x[2 * i] - m0) * (x[2 * i] - m0), v1 += (x[2 * i + 1] - m1) * (x[2 * i + 1] - m1);
  EXPECT_NEAR(s.params()[0], v0 / 5, 1e-12);
  EXPECT_NEAR(s.params()[1], v1 / 5, 1e-12);
  const dense_source given(x, 6, 2, dense_metric::seuclidean, std::vector<double>{v0 / 5, v1 / 5});
  EXPECT_EQ(s.distance(0, 5), given.distance(0, 5));
  EXPECT_NO_THROW(s.check_compatible(given));

  const dense_source mah(x, 6, 2, dense_metric::mahalanobis);  // VI = inverse covariance
  ASSERT_EQ(mah.params().size(), 4u);
  double c01 = 0;
  for (int i = 0; i < 6; ++i) c01 += (x[2 * i] - m0) * (x[2 * i + 1] - m1);
  c01 /= 5;
  const double c00 = v0 / 5, c11 = v1 / 5, det = c00 * c11 - c01 * c01;
  EXPECT_NEAR(mah.params()[0], c11 / det, 1e-9);
  EXPECT_NEAR(mah.params()[1], -c01 / det, 1e-9);
  EXPECT_NEAR(mah.params()[3], c00 / det, 1e-9);

  auto throws_with = [](auto make, const std::string& needle) {
    try {
      make();
      ADD_FAILURE() << "no error, expected: " << needle;
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  throws_with([&] { dense_source(x, 6, 2, dense_metric::minkowski, std::vector<double>{0}); }, "p must be");
  throws_with([&] { dense_source(x, 6, 2, dense_metric::seuclidean, std::vector<double>{1}); }, "2 values");
  throws_with(
      [&] {
        dense_source(x, 6, 2, dense_metric::seuclidean, std::vector<double>{1, 0});
      },
      "V[1] = 0");
  throws_with(
      [&] {
        dense_source(x, 6, 2, dense_metric::mahalanobis, std::vector<double>{1, 2, 0, 1});
      },
      "not symmetric");
  throws_with(
      [&] {
        dense_source(x, 6, 2, dense_metric::mahalanobis, std::vector<double>{1, 2, 2, 1});
      },
      "not positive definite");
  throws_with([&] { dense_source(x, 6, 2, dense_metric::euclidean, std::vector<double>{1}); },
              "takes no parameters");
  const std::vector<float> same = {1, 1, 1, 1, 1, 1};  // a constant column: variance 0
  throws_with([&] { dense_source(same, 3, 2, dense_metric::seuclidean); }, "variance > 0");
  throws_with([&] { dense_source(same, 3, 2, dense_metric::mahalanobis); }, "singular");
  chutoro::metric_params p;
  throws_with([&] { chutoro::parse_metric_param("q=1", p); }, "unknown name 'q'");
  chutoro::parse_metric_param("V=1,2.5", p);
  EXPECT_EQ(p.V, (std::vector<double>{1, 2.5}));
  throws_with([&] { chutoro::check_metric_params(chutoro::builtin_metric("euclidean"), p); },
              "euclidean takes no parameters");

  const dense_source other(x, 6, 2, dense_metric::seuclidean, std::vector<double>{1, 1});
  try {
    s.check_compatible(other);
    ADD_FAILURE() << "different V accepted";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::type_mismatch);
  }
}

TEST(MetricTable, ModelKeepsParameters) {
  std::vector<float> x;
  for (int i = 0; i < 40; ++i) {
    x.push_back(static_cast<float>(i % 4) + 0.01f * static_cast<float>(i));
    x.push_back(static_cast<float>((i * 7) % 5) - 0.02f * static_cast<float>(i));
    x.push_back(static_cast<float>(i / 10));
  }
  for (dense_metric m : {dense_metric::seuclidean, dense_metric::mahalanobis, dense_metric::minkowski}) {
    auto data = std::make_shared<dense_source>(
        std::span<const float>(x).first(30 * 3), 30, 3, m,
        m == dense_metric::minkowski ? std::vector<double>{3} : std::vector<double>{});
    chutoro::params p;
    p.selection.min_cluster_size = 5;
    p.build.candidates = chutoro::candidate_mode::exact;
    chutoro::model fitted(data, p);
    const auto bytes = fitted.to_bytes();
    chutoro::model back = chutoro::model::from_bytes(bytes);
    const auto& d = static_cast<const dense_source&>(back.data());
    ASSERT_EQ(d.metric(), m);
    EXPECT_EQ(std::vector<double>(d.params().begin(), d.params().end()),
              std::vector<double>(data->params().begin(), data->params().end()));
    for (std::size_t i = 0; i < 30; i += 7) EXPECT_EQ(d.distance(i, 29 - i), data->distance(i, 29 - i));
    auto fresh =
        chutoro::make_vector_source_like(back.data(), std::span<const float>(x).subspan(30 * 3), 10, 3);
    EXPECT_NO_THROW(back.data().check_compatible(*fresh));
    EXPECT_EQ(back.data().cross_distance(*fresh, 0, 3), data->cross_distance(*fresh, 0, 3));
  }
}

}  // namespace
