// Set, bit-vector and inner-product metrics (include/chutoro/metrics.hpp):
// hand-computed values, metric properties on random inputs, input validation,
// and the inlined dispatch agreeing with the checked virtual path.
#include <gtest/gtest.h>

#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/metrics.hpp>
#include <cmath>
#include <memory>
#include <numbers>
#include <random>
#include <string>
#include <vector>

namespace {

/// Hides the concrete type so fit() takes the checked virtual path.
class opaque final : public chutoro::data_source {
 public:
  explicit opaque(const chutoro::data_source& s) : s_(s) {}
  std::size_t size() const noexcept override { return s_.size(); }
  std::string name() const override { return s_.name(); }
  float distance(std::size_t i, std::size_t j) const override { return s_.distance(i, j); }

 private:
  const chutoro::data_source& s_;
};

/// Exact-mode fits through the inlined kernel and through the virtual path agree.
void expect_same_fit(const chutoro::data_source& s, std::size_t min_cluster_size) {
  chutoro::params p;
  p.selection.min_cluster_size = min_cluster_size;
  p.build.candidates = chutoro::candidate_mode::exact;
  const chutoro::result a = chutoro::fit(s, p);
  const chutoro::result b = chutoro::fit(opaque(s), p);
  EXPECT_EQ(a.labels, b.labels) << s.name();
  ASSERT_EQ(a.tree.edges.size(), b.tree.edges.size());
  for (std::size_t k = 0; k < a.tree.edges.size(); ++k)
    EXPECT_EQ(a.tree.edges[k].distance, b.tree.edges[k].distance);
}

/// d >= 0, d(i, i) = 0, symmetry, and (for metrics) the triangle inequality on all triples.
void expect_metric(const chutoro::data_source& s, bool triangle) {
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(s.distance(i, i), 0.0f) << s.name() << " " << i;
    for (std::size_t j = 0; j < n; ++j) {
      EXPECT_GE(s.distance(i, j), 0.0f);
      EXPECT_EQ(s.distance(i, j), s.distance(j, i));
      if (!triangle) continue;
      for (std::size_t k = 0; k < n; ++k)
        EXPECT_LE(s.distance(i, k), s.distance(i, j) + s.distance(j, k) + 1e-5f) << s.name();
    }
  }
}

TEST(Jaccard, HandValues) {
  const std::vector<std::uint32_t> a = {1, 2, 3}, b = {2, 3, 4, 5}, none;
  EXPECT_FLOAT_EQ(chutoro::jaccard_distance(a, b), 1.0f - 2.0f / 5.0f);
  EXPECT_EQ(chutoro::jaccard_distance(a, a), 0.0f);
  EXPECT_EQ(chutoro::jaccard_distance(none, none), 0.0f);
  EXPECT_EQ(chutoro::jaccard_distance(a, none), 1.0f);
  const std::vector<std::uint32_t> c = {7, 9};
  EXPECT_EQ(chutoro::jaccard_distance(a, c), 1.0f);
}

TEST(Jaccard, SetSourceValidatesAndTokenises) {
  const std::vector<std::uint32_t> ids = {1, 2, 3, 2, 3, 4, 5};
  const std::vector<std::size_t> offsets = {0, 3, 7, 7};
  chutoro::set_source s(ids, offsets);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.name(), "jaccard");
  EXPECT_FLOAT_EQ(s.distance(0, 1), 0.6f);
  EXPECT_EQ(s.distance(2, 2), 0.0f);
  EXPECT_EQ(s.distance(0, 2), 1.0f);
  const std::vector<std::uint32_t> unsorted = {3, 1};
  const std::vector<std::size_t> off2 = {0, 2};
  EXPECT_THROW(chutoro::set_source(unsorted, off2), chutoro::error);
  const std::vector<std::size_t> bad_end = {0, 5};
  EXPECT_THROW(chutoro::set_source(ids, bad_end), chutoro::error);

  const std::vector<std::string> lines = {"the cat sat", "sat the  cat cat", "", "a dog\tbarked", "the dog"};
  const chutoro::set_source t = chutoro::set_source::from_token_lines(lines);
  EXPECT_EQ(t.size(), 5u);
  EXPECT_EQ(t.distance(0, 1), 0.0f);  // same token set
  EXPECT_EQ(t.item(2).size(), 0u);
  EXPECT_FLOAT_EQ(t.distance(0, 4), 1.0f - 1.0f / 4.0f);
  EXPECT_EQ(t.distance(2, 3), 1.0f);
}

TEST(Jaccard, IsAMetricAndDispatchAgrees) {
  std::mt19937 rng(7);
  std::vector<std::uint32_t> ids;
  std::vector<std::size_t> offsets = {0};
  for (int i = 0; i < 40; ++i) {
    const int base = i < 20 ? 0 : 30;
    for (std::uint32_t v = 0; v < 40; ++v)
      if (static_cast<int>(v) >= base && static_cast<int>(v) < base + 12 && rng() % 3 != 0) ids.push_back(v);
    offsets.push_back(ids.size());
  }
  const chutoro::set_source s(ids, offsets);
  expect_metric(s, true);
  expect_same_fit(s, 4);
}

TEST(Bits, HandValuesAndPacking) {
  // Row 0: 1100 0000 1; row 1: 1010 0000 1; row 2: all zero (9 bits, 2 bytes a row, MSB first).
  const std::vector<std::uint8_t> packed = {0xC0, 0x80, 0xA0,
                                            0xFF, 0x00, 0x00};  // row 1's pad bits set: ignored
  chutoro::bit_source h(packed, 3, 9, chutoro::bit_metric::hamming);
  chutoro::bit_source t(packed, 3, 9, chutoro::bit_metric::tanimoto);
  EXPECT_EQ(h.distance(0, 1), 2.0f);
  EXPECT_EQ(h.distance(0, 2), 3.0f);
  EXPECT_FLOAT_EQ(t.distance(0, 1), 1.0f - 2.0f / 4.0f);
  EXPECT_EQ(t.distance(0, 2), 1.0f);
  EXPECT_EQ(t.distance(2, 2), 0.0f);  // both empty
  EXPECT_EQ(h.name(), "hamming");
  EXPECT_EQ(t.name(), "tanimoto");
  EXPECT_EQ(h.dim(), 9u);
  EXPECT_THROW(chutoro::bit_source(packed, 4, 9, chutoro::bit_metric::hamming), chutoro::error);

  const std::vector<float> dense = {1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1};
  const auto d = chutoro::bit_source::from_dense(dense, 2, 9, chutoro::bit_metric::hamming);
  EXPECT_EQ(d.distance(0, 1), 2.0f);
  const std::vector<float> bad = {0, 1, 0.5f, 1};
  try {
    (void)chutoro::bit_source::from_dense(bad, 2, 2, chutoro::bit_metric::tanimoto);
    ADD_FAILURE();
  } catch (const chutoro::error& e) {
    EXPECT_NE(std::string(e.what()).find("row 1, column 0"), std::string::npos) << e.what();
  }
  EXPECT_EQ(chutoro::parse_bit_metric("tanimoto"), chutoro::bit_metric::tanimoto);
  EXPECT_THROW((void)chutoro::parse_bit_metric("dice"), chutoro::error);
}

TEST(Bits, AreMetricsAndDispatchAgrees) {
  std::mt19937 rng(11);
  const std::size_t n = 40, nbits = 150;  // three words, a partial last one
  std::vector<float> v(n * nbits);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < nbits; ++k)
      v[i * nbits + k] = (rng() % 4 == 0) != (i < 20 && k < 60) ? 1.0f : 0.0f;
  for (auto m : {chutoro::bit_metric::hamming, chutoro::bit_metric::tanimoto}) {
    const auto s = chutoro::bit_source::from_dense(v, n, nbits, m);
    expect_metric(s, true);
    expect_same_fit(s, 4);
  }
}

TEST(Products, HandValues) {
  const std::vector<float> v = {1, 0, 0, 1, 3, 3, -2, 0};
  chutoro::product_source ip(v, 4, 2, chutoro::product_metric::inner_product);
  chutoro::product_source ang(v, 4, 2, chutoro::product_metric::angular);
  EXPECT_EQ(ip.distance(0, 1), 1.0f);             // orthogonal
  EXPECT_EQ(ip.distance(0, 3), 3.0f);             // 1 - (-2)
  EXPECT_EQ(ip.distance(1, 2), 0.0f);             // 1 - 3, clamped
  EXPECT_NEAR(ang.distance(0, 1), 0.5f, 1e-6f);   // 90 degrees
  EXPECT_NEAR(ang.distance(0, 3), 1.0f, 1e-6f);   // 180 degrees
  EXPECT_NEAR(ang.distance(1, 2), 0.25f, 1e-6f);  // 45 degrees
  EXPECT_EQ(ang.distance(2, 2), 0.0f);
  EXPECT_EQ(ip.name(), "inner_product");
  EXPECT_EQ(ang.name(), "angular");
  const std::vector<float> zero = {1, 2, 0, 0};
  EXPECT_THROW(chutoro::product_source(zero, 2, 2, chutoro::product_metric::angular), chutoro::error);
  EXPECT_NO_THROW(chutoro::product_source(zero, 2, 2, chutoro::product_metric::inner_product));
  const std::vector<float> nan = {1, std::nanf("")};
  EXPECT_THROW(chutoro::product_source(nan, 1, 2, chutoro::product_metric::inner_product), chutoro::error);
}

TEST(Products, AngularIsAMetricAndDispatchAgrees) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const std::size_t n = 40, dim = 20;
  std::vector<float> v(n * dim);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < dim; ++k) v[i * dim + k] = g(rng) + (k == i % 2 ? 4.0f : 0.0f);
  const chutoro::product_source ang(v, n, dim, chutoro::product_metric::angular);
  expect_metric(ang, true);
  expect_same_fit(ang, 4);
  // Unit rows: inner_product is cosine, a dissimilarity (not a metric).
  std::vector<float> unit(n * dim);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < dim; ++k) unit[i * dim + k] = ang.row(i)[k];
  const chutoro::product_source ip(unit, n, dim, chutoro::product_metric::inner_product);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(ip.distance(i, i), 0.0f, 1e-6f);
    for (std::size_t j = 0; j < n; ++j) {
      const float cos_angle = std::cos(ang.distance(i, j) * std::numbers::pi_v<float>);
      EXPECT_NEAR(ip.distance(i, j), 1.0f - cos_angle, 1e-4f);
    }
  }
  expect_same_fit(ip, 4);
}

}  // namespace
