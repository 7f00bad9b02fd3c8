// Sparse CSR rows (chutoro::sparse_source, metrics.hpp): its merge-join kernels
// against the dense kernels on the same rows densified, input validation and
// its messages, exact fits equal to the dense fit's, growth and model files.
#include <gtest/gtest.h>

#include <algorithm>
#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/model.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

/// A CSR matrix and the same rows dense (row-major n x dim).
struct csr {
  std::size_t n = 0, dim = 0;
  std::vector<std::int64_t> indptr{0}, indices;
  std::vector<float> values, dense;
};

/// TF-IDF-like rows: `topics` groups of items, each drawing ~nnz words from its own part of the
/// vocabulary (plus a few shared words), positive weights, rows scaled to unit length when `unit`.
csr tfidf_like(std::size_t per_topic, std::size_t topics, std::size_t dim, std::size_t nnz, bool unit,
               std::uint32_t seed) {
  std::mt19937 rng(seed);
  csr m;
  m.n = per_topic * topics;
  m.dim = dim;
  m.dense.assign(m.n * dim, 0.0f);
  const std::size_t part = dim / (topics + 1);  // the last part is shared by every topic
  std::uniform_real_distribution<float> w(0.2f, 1.0f);
  for (std::size_t t = 0; t < topics; ++t) {
    for (std::size_t i = 0; i < per_topic; ++i) {
      const std::size_t row = t * per_topic + i;
      std::vector<std::uint32_t> cols;
      while (cols.size() < nnz) {
        const bool shared = rng() % 5 == 0;
        const std::size_t c =
            shared ? topics * part + rng() % (dim - topics * part) : t * part + rng() % part;
        if (std::find(cols.begin(), cols.end(), c) == cols.end())
          cols.push_back(static_cast<std::uint32_t>(c));
      }
      std::sort(cols.begin(), cols.end());
      std::vector<float> v(cols.size());
      double norm2 = 0;
      for (float& x : v) x = w(rng), norm2 += double(x) * x;
      for (std::size_t k = 0; k < cols.size(); ++k) {
        const float x = unit ? static_cast<float>(v[k] / std::sqrt(norm2)) : v[k];
        m.indices.push_back(cols[k]);
        m.values.push_back(x);
        m.dense[row * dim + cols[k]] = x;
      }
      m.indptr.push_back(static_cast<std::int64_t>(m.indices.size()));
    }
  }
  return m;
}

std::unique_ptr<chutoro::data_source> sparse_of(const csr& m, std::string_view metric) {
  return chutoro::make_sparse_source<std::int64_t>(m.indptr, m.indices, m.values, m.dim, metric);
}

std::unique_ptr<chutoro::data_source> dense_of(const csr& m, std::string_view metric) {
  return chutoro::make_vector_source(m.dense, m.n, m.dim, metric);
}

/// The message of the error(invalid_argument) `f` throws ("" if none).
template <class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), chutoro::error_code::invalid_argument);
    return e.what();
  }
  return "";
}

constexpr const char* kMetrics[] = {"euclidean", "cosine", "manhattan", "inner_product"};

TEST(SparseSource, KernelsMatchDenseOnDensifiedRows) {
  for (const bool unit : {true, false}) {
    const csr m = tfidf_like(15, 3, 60, 8, unit, 7);
    for (const char* metric : kMetrics) {
      if (!unit && std::string(metric) == "inner_product") continue;  // |x|^2 > 1: most pairs clamp to 0
      const auto s = sparse_of(m, metric);
      const auto d = dense_of(m, metric);
      EXPECT_EQ(s->kind(), chutoro::source_kind::sparse);
      EXPECT_EQ(s->name(), metric);
      EXPECT_EQ(s->dim(), m.dim);
      for (std::size_t i = 0; i < m.n; ++i)
        for (std::size_t j = 0; j < m.n; ++j)
          ASSERT_NEAR(s->distance(i, j), d->distance(i, j), 1e-5 * std::max(1.0f, d->distance(i, j)))
              << metric << " " << i << " " << j;
    }
  }
}

TEST(SparseSource, HandValuesAndEmptyRows) {
  // rows: {0: 3, 2: 4}, {} (empty), {1: 1, 2: 4}
  const std::vector<std::int32_t> indptr = {0, 2, 2, 4}, indices = {0, 2, 1, 2};
  const std::vector<float> values = {3, 4, 1, 4};
  const chutoro::sparse_source e(indptr, indices, values, 3, chutoro::sparse_metric::euclidean);
  EXPECT_FLOAT_EQ(e.distance(0, 1), 5.0f);
  EXPECT_FLOAT_EQ(e.distance(0, 2), std::sqrt(10.0f));
  EXPECT_FLOAT_EQ(e.distance(1, 1), 0.0f);
  const chutoro::sparse_source l1(indptr, indices, values, 3, chutoro::sparse_metric::manhattan);
  EXPECT_FLOAT_EQ(l1.distance(0, 2), 4.0f);
  const chutoro::sparse_source ip(indptr, indices, values, 3, chutoro::sparse_metric::inner_product);
  EXPECT_FLOAT_EQ(ip.distance(0, 1), 1.0f);  // max(0, 1 - 0)
  EXPECT_FLOAT_EQ(ip.distance(0, 2), 0.0f);  // max(0, 1 - 16)
  // cosine refuses the empty row, as dense cosine refuses a zero row
  EXPECT_NE(message_of([&] {
              chutoro::sparse_source(indptr, indices, values, 3, chutoro::sparse_metric::cosine);
            }).find("row 1 (0-based) is all zeros"),
            std::string::npos);
}

TEST(SparseSource, UnsortedRowsAreSortedInTheCopy) {
  const csr m = tfidf_like(10, 2, 40, 6, true, 3);
  csr shuffled = m;
  std::mt19937 rng(5);
  for (std::size_t i = 0; i < m.n; ++i) {
    std::vector<std::size_t> order(m.indptr[i + 1] - m.indptr[i]);
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = m.indptr[i] + k;
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t k = 0; k < order.size(); ++k) {
      shuffled.indices[m.indptr[i] + k] = m.indices[order[k]];
      shuffled.values[m.indptr[i] + k] = m.values[order[k]];
    }
  }
  ASSERT_NE(shuffled.indices, m.indices);
  for (const char* metric : kMetrics) {
    const auto a = sparse_of(m, metric), b = sparse_of(shuffled, metric);
    for (std::size_t i = 0; i < m.n; ++i)
      for (std::size_t j = 0; j < m.n; ++j) ASSERT_EQ(a->distance(i, j), b->distance(i, j)) << metric;
  }
}

TEST(SparseSource, BadInputsNameTheRowAndTheProblem) {
  using I = std::vector<std::int64_t>;
  using V = std::vector<float>;
  auto make = [](I indptr, I indices, V values, std::size_t dim,
                 chutoro::sparse_metric m = chutoro::sparse_metric::euclidean) {
    return message_of([&] { chutoro::sparse_source(indptr, indices, values, dim, m); });
  };
  auto has = [](const std::string& msg, const std::string& part) {
    EXPECT_NE(msg.find(part), std::string::npos) << "'" << msg << "' lacks '" << part << "'";
  };
  has(make({0}, {}, {}, 3), "no rows");
  has(make({0, 1}, {0}, {1}, 0), "n_features = 0");
  has(make({1, 1}, {0}, {1}, 3), "indptr[0] = 1");
  has(make({0, 2, 1}, {0, 1}, {1, 1}, 3), "indptr is not non-decreasing at row 1");
  has(make({0, 2}, {0}, {1}, 3), "indptr[n] = 2 stored entries, but indices has 1");
  has(make({0, 1, 2}, {0, 3}, {1, 1}, 3), "row 1 (0-based): column index 3 is outside [0, n_features = 3)");
  has(make({0, 1, 2}, {0, -1}, {1, 1}, 3), "column index -1 is outside");
  has(make({0, 1, 3}, {0, 2, 2}, {1, 1, 1}, 3), "row 1 (0-based): column 2 is stored twice");
  has(make({0, 1, 2}, {0, 1}, {1, NAN}, 3), "row 1 (0-based), column 1: the value is NaN");
  has(make({0, 1, 2}, {0, 1}, {INFINITY, 1}, 3), "row 0 (0-based), column 0: the value is infinite");
  has(make({0, 1, 2}, {0, 1}, {3e38f, 3e38f}, 3), "row 0 (0-based) has sum |x_k|");
  has(make({0, 1, 1}, {0}, {1}, 3, chutoro::sparse_metric::cosine), "row 1 (0-based) is all zeros");
  // a metric sparse rows do not offer
  const I indptr = {0, 1}, indices = {0};
  const V values = {1};
  const std::string msg = message_of(
      [&] { (void)chutoro::make_sparse_source<std::int64_t>(indptr, indices, values, 3, "chebyshev"); });
  has(msg,
      "'chebyshev' is not available for sparse rows (expected euclidean, cosine, manhattan, inner_product)");
}

TEST(SparseSource, MetricTableListsTheSparseMetrics) {
  std::vector<std::string> names;
  for (const chutoro::metric_info& m : chutoro::builtin_metrics)
    if (m.sparse >= 0) {
      names.emplace_back(m.name);
      EXPECT_EQ(chutoro::to_string(static_cast<chutoro::sparse_metric>(m.sparse)), m.name);
    }
  EXPECT_EQ(names, (std::vector<std::string>{"euclidean", "cosine", "manhattan", "inner_product"}));
  EXPECT_EQ(chutoro::parse_sparse_metric("l1"), chutoro::sparse_metric::manhattan);
  EXPECT_EQ(chutoro::parse_sparse_metric("l2"), chutoro::sparse_metric::euclidean);
}

TEST(SparseSource, ExactFitEqualsTheDenseFit) {
  const csr m = tfidf_like(40, 3, 120, 10, true, 11);
  for (const char* metric : {"cosine", "euclidean", "manhattan"}) {
    chutoro::params p;
    p.selection.min_cluster_size = 10;
    p.build.min_samples = 5;
    p.build.candidates = chutoro::candidate_mode::exact;
    const chutoro::result s = chutoro::fit(*sparse_of(m, metric), p);
    const chutoro::result d = chutoro::fit(*dense_of(m, metric), p);
    EXPECT_EQ(s.labels, d.labels) << metric;
    if (std::string(metric) != "manhattan")  // manhattan merges two of the three topics on this data
      EXPECT_EQ(*std::max_element(s.labels.begin(), s.labels.end()), 2) << metric;  // the three topics
    ASSERT_EQ(s.tree.edges.size(), d.tree.edges.size());
    double ws = 0, wd = 0;
    for (std::size_t k = 0; k < s.tree.edges.size(); ++k)
      ws += s.tree.edges[k].distance, wd += d.tree.edges[k].distance;
    EXPECT_NEAR(ws, wd, 1e-4) << metric;
  }
}

TEST(SparseSource, AutoAndHnswCandidates) {
  const csr m = tfidf_like(40, 3, 120, 10, true, 13);
  chutoro::params p;
  p.selection.min_cluster_size = 10;
  p.build.min_samples = 5;
  const chutoro::result a = chutoro::fit(*sparse_of(m, "cosine"), p);  // auto: all pairs for small n
  EXPECT_EQ(a.stats.candidates, chutoro::candidate_mode::exact);
  p.build.candidates = chutoro::candidate_mode::hnsw;
  const chutoro::result h = chutoro::fit(*sparse_of(m, "cosine"), p);
  EXPECT_EQ(h.stats.candidates, chutoro::candidate_mode::hnsw);
  EXPECT_EQ(h.labels, a.labels);  // three well-separated topics: the approximation finds them too
}

TEST(SparseSource, GrowsPredictsAndRoundTripsThroughModelFiles) {
  const csr m = tfidf_like(30, 3, 90, 8, true, 17);
  // the first 60 rows, then the last 30 added
  csr head = m, tail;
  head.n = 60;
  head.indptr.resize(61);
  head.indices.resize(head.indptr.back());
  head.values.resize(head.indptr.back());
  tail.n = 30;
  tail.dim = m.dim;
  for (std::size_t i = 61; i <= 90; ++i) tail.indptr.push_back(m.indptr[i] - m.indptr[60]);
  tail.indices.assign(m.indices.begin() + m.indptr[60], m.indices.end());
  tail.values.assign(m.values.begin() + m.indptr[60], m.values.end());

  chutoro::params p;
  p.selection.min_cluster_size = 10;
  p.build.min_samples = 5;
  p.build.candidates = chutoro::candidate_mode::exact;
  chutoro::model model(std::shared_ptr<chutoro::data_source>(sparse_of(head, "cosine")), p);
  const auto whole = sparse_of(m, "cosine");
  const auto more = sparse_of(tail, "cosine");
  for (std::size_t i = 0; i < 30; ++i)
    for (std::size_t j = 0; j < 60; j += 7)
      ASSERT_EQ(model.data().cross_distance(*more, i, j), whole->distance(60 + i, j));
  // the same as a dense model's predictions (the tail: the third topic, unknown to the model: noise)
  const std::vector<float> head_rows(m.dense.begin(), m.dense.begin() + 60 * m.dim),
      tail_rows(m.dense.begin() + 60 * m.dim, m.dense.end());
  const chutoro::model dense(
      std::shared_ptr<chutoro::data_source>(chutoro::make_vector_source(head_rows, 60, m.dim, "cosine")), p);
  EXPECT_EQ(model.clusters().labels, dense.clusters().labels);
  const chutoro::prediction pred = model.approximate_predict(*more);
  const chutoro::prediction want =
      dense.approximate_predict(*chutoro::make_vector_source(tail_rows, 30, m.dim, "cosine"));
  EXPECT_EQ(pred.labels, want.labels);
  for (std::size_t i = 0; i < 30; ++i) EXPECT_NEAR(pred.probabilities[i], want.probabilities[i], 1e-4);
  model.add(*more);
  ASSERT_EQ(model.size(), 90u);
  for (std::size_t i = 0; i < 90; i += 5)
    for (std::size_t j = 0; j < 90; j += 3) ASSERT_EQ(model.data().distance(i, j), whole->distance(i, j));

  const std::vector<std::byte> bytes = model.to_bytes();
  const chutoro::model back = chutoro::model::from_bytes(bytes);
  EXPECT_EQ(back.data().kind(), chutoro::source_kind::sparse);
  EXPECT_EQ(back.data().name(), "cosine");
  EXPECT_EQ(back.clusters().labels, model.clusters().labels);
  for (std::size_t i = 0; i < 90; i += 4)
    for (std::size_t j = 0; j < 90; j += 3)
      ASSERT_EQ(back.data().distance(i, j), model.data().distance(i, j));
  EXPECT_EQ(back.to_bytes(), bytes);
  // a model file with a sparse DATA section is not loaded with a data source given
  EXPECT_THROW(
      (void)chutoro::model::from_bytes(bytes, std::shared_ptr<chutoro::data_source>(sparse_of(m, "cosine"))),
      chutoro::error);
}

TEST(SparseSource, KindAndSourceLikeFromDenseRows) {
  EXPECT_EQ(static_cast<int>(chutoro::source_kind::sparse), 6);  // model files store it
  EXPECT_EQ(chutoro::to_string(chutoro::source_kind::sparse), "sparse");
  const csr m = tfidf_like(10, 2, 30, 5, true, 23);
  const auto s = sparse_of(m, "cosine");
  // dense rows for a sparse model (the CLI's add / predict): their non-zero entries
  const auto like = chutoro::make_vector_source_like(*s, m.dense, m.n, m.dim);
  ASSERT_EQ(like->kind(), chutoro::source_kind::sparse);
  s->check_compatible(*like);
  for (std::size_t i = 0; i < m.n; ++i)
    for (std::size_t j = 0; j < m.n; ++j) ASSERT_EQ(s->cross_distance(*like, i, j), s->distance(i, j));
}

TEST(SparseSource, AppendToItselfAndTruncate) {
  const csr m = tfidf_like(5, 2, 20, 4, false, 19);
  auto s = sparse_of(m, "manhattan");
  s->append(*s);
  ASSERT_EQ(s->size(), 2 * m.n);
  for (std::size_t i = 0; i < m.n; ++i)
    for (std::size_t j = 0; j < m.n; ++j) ASSERT_EQ(s->distance(m.n + i, j), s->distance(i, j));
  s->truncate(3);
  ASSERT_EQ(s->size(), 3u);
  const auto fresh = sparse_of(m, "manhattan");
  EXPECT_EQ(s->distance(0, 2), fresh->distance(0, 2));
  const auto other = sparse_of(m, "euclidean");
  EXPECT_THROW(s->append(*other), chutoro::error);  // another metric
}

}  // namespace
