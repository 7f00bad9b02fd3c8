// test_backend.cpp — one pipeline, one seam (src/core/backend/backend.hpp,
// include/chutoro/params.hpp's device_kind).
//
// What the tests prove:
//  - Pipeline.FitEqualsModel*: chutoro::fit and chutoro::model are the same
//    pipeline: identical labels, probabilities, scores, persistence, condensed
//    and single-linkage trees, spanning tree, core distances and stats
//    counters, for hnsw (with compactions) and exact candidates.
//  - Pipeline.BuildSpanningTree*: min_samples travels in one channel:
//    build_params::min_samples gives fit's tree; the legacy argument replaces
//    it; unset, it is an invalid_argument naming build_params::min_samples.
//  - Device.*: device auto equals device cpu bit for bit (labels,
//    probabilities, tree edges, model file bytes) and reports the fallback
//    reason; cuda (without a usable GPU) is one unsupported error with the loader's reason, from
//    fit, model, load and set_device (which leaves the model unchanged);
//    parse/to_string round trip; an out-of-range value fails validate.
//  - DeviceEnv.*: CHUTORO_DEVICE applies to auto only (an explicit cpu wins,
//    also over a bad value); cpu/auto/empty/cuda/bad values behave as documented.
//  - SourceKind.*: kind() of every built-in source and external sources,
//    visit_source dispatch, matrix views (shape, stride, dtype, rows).
//  - Backend.*: distance tiles equal the sources' distance() bit for bit
//    (0 on equal ids, errors naming the pair); compactions, final trees and
//    exact core distances go through the backend's solver and tiles (a
//    counting backend sees them) and give the CPU's results.
#include <gtest/gtest.h>

#include <chutoro/chutoro.hpp>
#include <chutoro/devices.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/model.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/backend/backend.hpp"
#include "test_data.hpp"

namespace {

using namespace chutoro_test;
using chutoro::device_kind;
using chutoro::error_code;

std::shared_ptr<chutoro::dense_source> dense(const dense_data& d) {
  return std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
}

chutoro::params params_for(chutoro::candidate_mode mode, device_kind device = device_kind::auto_select) {
  chutoro::params p;
  p.selection.min_cluster_size = 10;
  p.build.min_samples = 5;
  p.build.candidates = mode;
  p.build.device = device;
  p.build.threads = 2;
  return p;
}

/// Expects `thrown` to throw chutoro::error with `code` and every `parts` in its message.
template <class F>
void expect_error(F&& thrown, error_code code, std::initializer_list<const char*> parts) {
  try {
    thrown();
    ADD_FAILURE() << "no error thrown";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const char* part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

/// Sets an environment variable for its lifetime (unset: nullptr), then restores it.
class env_guard {
 public:
  env_guard(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~env_guard() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  env_guard(const env_guard&) = delete;
  env_guard& operator=(const env_guard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

void expect_same_clustering(const chutoro::clustering& a, const chutoro::clustering& b) {
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.probabilities, b.probabilities);
  ASSERT_EQ(a.outlier_scores.size(), b.outlier_scores.size());
  for (std::size_t i = 0; i < a.outlier_scores.size(); ++i) {
    const double x = a.outlier_scores[i], y = b.outlier_scores[i];
    EXPECT_TRUE(x == y || (std::isnan(x) && std::isnan(y))) << i;
  }
  EXPECT_EQ(a.cluster_persistence, b.cluster_persistence);
  ASSERT_EQ(a.condensed_tree.size(), b.condensed_tree.size());
  for (std::size_t i = 0; i < a.condensed_tree.size(); ++i) {
    const auto &x = a.condensed_tree[i], &y = b.condensed_tree[i];
    EXPECT_TRUE(x.parent == y.parent && x.child == y.child && x.lambda_val == y.lambda_val &&
                x.child_size == y.child_size)
        << "condensed row " << i;
  }
  ASSERT_EQ(a.single_linkage_tree.size(), b.single_linkage_tree.size());
  for (std::size_t i = 0; i < a.single_linkage_tree.size(); ++i) {
    const auto &x = a.single_linkage_tree[i], &y = b.single_linkage_tree[i];
    EXPECT_TRUE(x.left == y.left && x.right == y.right && x.distance == y.distance && x.size == y.size)
        << "linkage row " << i;
  }
}

void expect_same_tree(const chutoro::spanning_tree& a, const chutoro::spanning_tree& b) {
  EXPECT_EQ(a.n, b.n);
  EXPECT_EQ(a.core_distances, b.core_distances);
  ASSERT_EQ(a.edges.size(), b.edges.size());
  for (std::size_t i = 0; i < a.edges.size(); ++i)
    EXPECT_TRUE(a.edges[i].a == b.edges[i].a && a.edges[i].b == b.edges[i].b &&
                a.edges[i].distance == b.edges[i].distance)
        << "edge " << i;
}

void expect_same_counters(const chutoro::fit_stats& a, const chutoro::fit_stats& b) {
  EXPECT_EQ(a.distance_computations, b.distance_computations);
  EXPECT_EQ(a.candidate_edges, b.candidate_edges);
  EXPECT_EQ(a.peak_buffered_edges, b.peak_buffered_edges);
  EXPECT_EQ(a.compactions, b.compactions);
  EXPECT_EQ(a.max_batch_edges, b.max_batch_edges);
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.device_fallback_reason, b.device_fallback_reason);
}

// ---------------------------------------------------------------- one pipeline

class Pipeline : public ::testing::TestWithParam<chutoro::candidate_mode> {};

TEST_P(Pipeline, FitEqualsModel) {
  const dense_data d = make_blobs(1500, 4, 6, 0.1, 11);
  chutoro::params p = params_for(GetParam());
  // Small compaction thresholds: hnsw mode compacts many times (the model
  // keeps its forest, fit frees it: the trees must not differ).
  p.build.compaction_min_edges = 2000;
  p.build.compaction_factor = 1;
  const auto data = dense(d);
  const chutoro::result r = chutoro::fit(*data, p);
  const chutoro::model m(data, p);
  expect_same_clustering(r, m.clusters());
  expect_same_tree(r.tree, m.tree());
  expect_same_counters(r.stats, m.stats());
  EXPECT_GT(r.stats.distance_computations, 0u);
  if (GetParam() == chutoro::candidate_mode::hnsw) EXPECT_GT(r.stats.compactions, 0u);
  EXPECT_GE(r.n_clusters(), 2u);
}

TEST_P(Pipeline, BuildSpanningTreeOneChannel) {
  const dense_data d = make_blobs(600, 3, 4, 0.1, 12);
  const auto data = dense(d);
  chutoro::params p = params_for(GetParam());
  const chutoro::result r = chutoro::fit(*data, p);

  chutoro::fit_stats st;
  const chutoro::spanning_tree t = chutoro::build_spanning_tree(*data, p.build, &st);
  expect_same_tree(t, r.tree);
  EXPECT_EQ(st.distance_computations, r.stats.distance_computations);
  EXPECT_EQ(st.device, device_kind::cpu);

  // The legacy argument replaces build_params::min_samples.
  chutoro::build_params other = p.build;
  other.min_samples = 3;
  expect_same_tree(chutoro::build_spanning_tree(*data, other, std::size_t{5}), r.tree);

  // Unset: fit would take min_cluster_size; build_spanning_tree has none.
  other.min_samples.reset();
  expect_error([&] { (void)chutoro::build_spanning_tree(*data, other); }, error_code::invalid_argument,
               {"build_params::min_samples"});
}

INSTANTIATE_TEST_SUITE_P(Modes, Pipeline,
                         ::testing::Values(chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact),
                         [](const auto& info) { return std::string(chutoro::to_string(info.param)); });

// ---------------------------------------------------------------- device

TEST(Device, ParseAndNames) {
  for (const device_kind d : {device_kind::auto_select, device_kind::cpu, device_kind::cuda})
    EXPECT_EQ(chutoro::parse_device_kind(chutoro::to_string(d)), d);
  EXPECT_EQ(chutoro::to_string(device_kind::auto_select), "auto");
  EXPECT_EQ(static_cast<int>(device_kind::auto_select), 0);
  EXPECT_EQ(static_cast<int>(device_kind::cpu), 1);
  EXPECT_EQ(static_cast<int>(device_kind::cuda), 2);
  expect_error([] { (void)chutoro::parse_device_kind("gpu"); }, error_code::invalid_argument,
               {"device", "'gpu'", "auto, cpu or cuda"});
  chutoro::params p;
  p.build.device = static_cast<device_kind>(7);
  expect_error([&] { chutoro::validate(p); }, error_code::invalid_argument, {"device"});
}

TEST(Device, AutoEqualsCpuBitForBit) {
  const env_guard env("CHUTORO_DEVICE", nullptr);
  const dense_data d = make_blobs(1200, 5, 5, 0.1, 13);
  for (const auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact}) {
    SCOPED_TRACE(chutoro::to_string(mode));
    const auto data = dense(d);
    const chutoro::result a = chutoro::fit(*data, params_for(mode, device_kind::auto_select));
    const chutoro::result c = chutoro::fit(*data, params_for(mode, device_kind::cpu));
    EXPECT_EQ(a.labels, c.labels);
    EXPECT_EQ(a.probabilities, c.probabilities);
    expect_same_tree(a.tree, c.tree);
    expect_same_clustering(a, c);
    EXPECT_EQ(a.stats.device, device_kind::cpu);
    EXPECT_EQ(a.stats.device_fallback_reason, chutoro::detail::auto_fallback_reason);
    EXPECT_EQ(c.stats.device, device_kind::cpu);
    EXPECT_EQ(c.stats.device_fallback_reason, "");

    // Models: the same files (the device is not stored), the same device.
    const chutoro::model ma(dense(d), params_for(mode, device_kind::auto_select));
    const chutoro::model mc(dense(d), params_for(mode, device_kind::cpu));
    EXPECT_EQ(ma.to_bytes(), mc.to_bytes());
    EXPECT_EQ(ma.device(), device_kind::cpu);
    EXPECT_EQ(ma.parameters().build.device, device_kind::auto_select);
    EXPECT_EQ(mc.parameters().build.device, device_kind::cpu);
    const chutoro::model back = chutoro::model::from_bytes(mc.to_bytes(), nullptr, "bytes", device_kind::cpu);
    EXPECT_EQ(back.to_bytes(), mc.to_bytes());
    expect_same_clustering(back.clusters(), mc.clusters());
    EXPECT_EQ(back.stats().device, device_kind::cpu);
    EXPECT_EQ(back.stats().distance_computations, 0u);
  }
}

TEST(Device, CudaIsOneClearError) {
  const env_guard env("CHUTORO_DEVICE", nullptr);
  const chutoro::device_list gpus = chutoro::list_devices();
  if (!gpus.devices.empty()) GTEST_SKIP() << "a CUDA device is present: device cuda is no error here";
  const dense_data d = make_blobs(300, 3, 3, 0.1, 14);
  const auto data = dense(d);
  // The loader's reason (no module, no driver, no device, ...), as list_devices() gives it.
  const std::initializer_list<const char*> why = {"device cuda: ", gpus.reason.c_str()};
  const chutoro::params p = params_for(chutoro::candidate_mode::hnsw, device_kind::cuda);
  expect_error([&] { (void)chutoro::select_device(device_kind::cuda); }, error_code::unsupported, why);
  expect_error([&] { (void)chutoro::fit(*data, p); }, error_code::unsupported, why);
  expect_error([&] { chutoro::model m(data, p); }, error_code::unsupported, why);
  expect_error([&] { (void)chutoro::build_spanning_tree(*data, p.build); }, error_code::unsupported, why);

  chutoro::model m(data, params_for(chutoro::candidate_mode::hnsw, device_kind::cpu));
  const std::vector<std::byte> bytes = m.to_bytes();
  expect_error([&] { (void)chutoro::model::from_bytes(bytes, nullptr, "bytes", device_kind::cuda); },
               error_code::unsupported, why);
  expect_error([&] { m.set_device(device_kind::cuda); }, error_code::unsupported, why);
  EXPECT_EQ(m.device(), device_kind::cpu);  // unchanged
  EXPECT_EQ(m.parameters().build.device, device_kind::cpu);
  m.add(*dense(make_blobs(50, 3, 3, 0.1, 15)));  // still works
  EXPECT_EQ(m.size(), 350u);
  m.set_device(device_kind::auto_select);
  EXPECT_EQ(m.parameters().build.device, device_kind::auto_select);
  EXPECT_EQ(m.device(), device_kind::cpu);
}

TEST(DeviceEnv, AppliesToAutoOnly) {
  const dense_data d = make_blobs(300, 3, 3, 0.1, 16);
  const auto data = dense(d);
  const chutoro::params autop = params_for(chutoro::candidate_mode::hnsw, device_kind::auto_select);
  const chutoro::params cpup = params_for(chutoro::candidate_mode::hnsw, device_kind::cpu);
  const chutoro::result reference = [&] {
    const env_guard env("CHUTORO_DEVICE", nullptr);
    return chutoro::fit(*data, cpup);
  }();
  {
    const env_guard env("CHUTORO_DEVICE", "cpu");  // chosen, not a fallback
    const chutoro::result r = chutoro::fit(*data, autop);
    EXPECT_EQ(r.stats.device, device_kind::cpu);
    EXPECT_EQ(r.stats.device_fallback_reason, "");
    EXPECT_EQ(r.labels, reference.labels);
  }
  for (const char* automatic : {"auto", ""}) {
    const env_guard env("CHUTORO_DEVICE", automatic);
    const chutoro::device_selection s = chutoro::select_device(device_kind::auto_select);
    EXPECT_EQ(s.device, device_kind::cpu) << automatic;
    EXPECT_EQ(s.fallback_reason, chutoro::detail::auto_fallback_reason) << automatic;
  }
  {
    const env_guard env("CHUTORO_DEVICE", "cuda");
    if (chutoro::list_devices().devices.empty())
      expect_error([&] { (void)chutoro::fit(*data, autop); }, error_code::unsupported, {"device cuda: "});
    EXPECT_EQ(chutoro::fit(*data, cpup).labels, reference.labels);  // explicit cpu wins
  }
  for (const char* bad : {"gpu", "CPU", "cuda0"}) {
    const env_guard env("CHUTORO_DEVICE", bad);
    expect_error([&] { (void)chutoro::select_device(device_kind::auto_select); },
                 error_code::invalid_argument, {"CHUTORO_DEVICE", bad, "auto, cpu or cuda"});
    expect_error([&] { chutoro::model m(data, autop); }, error_code::invalid_argument, {"CHUTORO_DEVICE"});
    EXPECT_EQ(chutoro::select_device(device_kind::cpu).device, device_kind::cpu);  // not read: explicit
  }
}

// ---------------------------------------------------------------- source kinds

/// An external source: d(i, j) = |i - j|, or NaN for the pair (1, 2).
class line_source final : public chutoro::data_source {
 public:
  explicit line_source(std::size_t n, bool nan = false) : n_(n), nan_(nan) {}
  [[nodiscard]] std::size_t size() const noexcept override { return n_; }
  [[nodiscard]] std::string name() const override { return "line"; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override {
    if (nan_ && std::min(i, j) == 1 && std::max(i, j) == 2) return std::numeric_limits<float>::quiet_NaN();
    return static_cast<float>(i > j ? i - j : j - i);
  }

 private:
  std::size_t n_;
  bool nan_;
};

struct built_ins {
  dense_data d = make_blobs(40, 19, 3, 0.1, 17);  // dim 19: rows padded to 32 floats
  std::vector<float> bits01;
  std::vector<std::string> words = {"kitten", "sitting", "mitten", "smitten", "bitten", "written", "fitting"};
  chutoro::dense_source dense{d.values, d.n, d.dim, chutoro::dense_metric::cosine};
  chutoro::product_source products{d.values, d.n, d.dim, chutoro::product_metric::angular};
  chutoro::string_source strings{words};
  chutoro::set_source sets = chutoro::set_source::from_token_lines(words);
  std::optional<chutoro::bit_source> bits;
  built_ins() {
    bits01.resize(d.n * 70);
    for (std::size_t i = 0; i < bits01.size(); ++i)
      bits01[i] = ((i * 2654435761u) >> 7) % 3 == 0 ? 1.0f : 0.0f;
    bits.emplace(chutoro::bit_source::from_dense(bits01, d.n, 70, chutoro::bit_metric::tanimoto));
  }
};

TEST(SourceKind, KindsAndNames) {
  const built_ins b;
  EXPECT_EQ(b.dense.kind(), chutoro::source_kind::dense);
  EXPECT_EQ(b.strings.kind(), chutoro::source_kind::strings);
  EXPECT_EQ(b.sets.kind(), chutoro::source_kind::sets);
  EXPECT_EQ(b.bits->kind(), chutoro::source_kind::bits);
  EXPECT_EQ(b.products.kind(), chutoro::source_kind::products);
  EXPECT_EQ(line_source(3).kind(), chutoro::source_kind::external);
  // The model file's stable values (docs/model_format.md).
  EXPECT_EQ(static_cast<int>(chutoro::source_kind::external), 0);
  EXPECT_EQ(static_cast<int>(chutoro::source_kind::dense), 1);
  EXPECT_EQ(static_cast<int>(chutoro::source_kind::strings), 2);
  EXPECT_EQ(static_cast<int>(chutoro::source_kind::sets), 3);
  EXPECT_EQ(static_cast<int>(chutoro::source_kind::bits), 4);
  EXPECT_EQ(static_cast<int>(chutoro::source_kind::products), 5);
  EXPECT_EQ(chutoro::to_string(chutoro::source_kind::products), "products");
  EXPECT_EQ(chutoro::to_string(chutoro::source_kind::external), "external");
  // A copy (bit_source::from_dense returns one) keeps the kind.
  const chutoro::set_source copy = b.sets;
  EXPECT_EQ(copy.kind(), chutoro::source_kind::sets);
}

TEST(SourceKind, VisitDispatchesToTheClass) {
  const built_ins b;
  auto which = [](const chutoro::data_source& s) {
    return chutoro::visit_source(s, [](const auto& x) -> std::string {
      using S = std::remove_cvref_t<decltype(x)>;
      if constexpr (std::is_same_v<S, chutoro::dense_source>) return "dense_source";
      if constexpr (std::is_same_v<S, chutoro::string_source>) return "string_source";
      if constexpr (std::is_same_v<S, chutoro::set_source>) return "set_source";
      if constexpr (std::is_same_v<S, chutoro::bit_source>) return "bit_source";
      if constexpr (std::is_same_v<S, chutoro::product_source>) return "product_source";
      return "data_source";
    });
  };
  EXPECT_EQ(which(b.dense), "dense_source");
  EXPECT_EQ(which(b.strings), "string_source");
  EXPECT_EQ(which(b.sets), "set_source");
  EXPECT_EQ(which(*b.bits), "bit_source");
  EXPECT_EQ(which(b.products), "product_source");
  EXPECT_EQ(which(line_source(3)), "data_source");
}

TEST(SourceKind, MatrixViews) {
  const built_ins b;
  for (const chutoro::data_source* s : {static_cast<const chutoro::data_source*>(&b.dense),
                                        static_cast<const chutoro::data_source*>(&b.products)}) {
    const auto v = s->matrix();
    ASSERT_TRUE(v.has_value()) << s->name();
    EXPECT_EQ(v->dtype, chutoro::element_type::float32);
    EXPECT_EQ(v->rows, b.d.n);
    EXPECT_EQ(v->cols, 19u);
    EXPECT_EQ(v->stride, 32u);
    if (s->kind() == chutoro::source_kind::dense)
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v->data) % 64, 0u) << "dense rows are 64-byte aligned";
    for (std::size_t i = 0; i < v->rows; ++i)
      for (std::size_t k = v->cols; k < v->stride; ++k)
        ASSERT_EQ(v->row<float>(i)[k], 0.0f) << "zero padding";
  }
  EXPECT_EQ(b.dense.matrix()->row<float>(7), b.dense.row(7));
  EXPECT_EQ(b.products.matrix()->row<float>(7), b.products.row(7));
  const auto v = b.bits->matrix();
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->dtype, chutoro::element_type::uint64);
  EXPECT_EQ(v->rows, b.d.n);
  EXPECT_EQ(v->cols, 2u);  // 70 bits
  EXPECT_EQ(v->stride, 2u);
  EXPECT_EQ(v->row<std::uint64_t>(5), b.bits->row(5));
  EXPECT_FALSE(b.strings.matrix().has_value());
  EXPECT_FALSE(b.sets.matrix().has_value());
  EXPECT_FALSE(line_source(3).matrix().has_value());
}

// ---------------------------------------------------------------- the backend

TEST(Backend, DistanceTilesEqualDistances) {
  const built_ins b;
  const line_source line(40);
  const auto cpu = chutoro::detail::shared_cpu_backend();
  EXPECT_EQ(cpu->device(), device_kind::cpu);
  for (const chutoro::data_source* s :
       {static_cast<const chutoro::data_source*>(&b.dense),
        static_cast<const chutoro::data_source*>(&b.products),
        static_cast<const chutoro::data_source*>(&b.strings),
        static_cast<const chutoro::data_source*>(&b.sets), static_cast<const chutoro::data_source*>(&*b.bits),
        static_cast<const chutoro::data_source*>(&line)}) {
    SCOPED_TRACE(s->name());
    const std::uint32_t n = static_cast<std::uint32_t>(s->size());
    const std::vector<std::uint32_t> rows = {0, 3, n - 1, 2}, cols = {n - 1, 2, 1, 0, 3, 4};
    std::vector<float> out(rows.size() * cols.size(), -1.0f);
    cpu->distance_tile(*s, rows, cols, out);
    for (std::size_t r = 0; r < rows.size(); ++r)
      for (std::size_t c = 0; c < cols.size(); ++c) {
        const float want = rows[r] == cols[c] ? 0.0f : s->distance(rows[r], cols[c]);
        EXPECT_EQ(out[r * cols.size() + c], want) << rows[r] << ", " << cols[c];
      }
  }
  const line_source bad(5, true);
  std::vector<float> out(4);
  const std::vector<std::uint32_t> rows = {0, 1}, cols = {1, 2};
  expect_error([&] { cpu->distance_tile(bad, rows, cols, out); }, error_code::invalid_argument,
               {"'line'", "distance(1, 2)"});
}

/// The CPU backend, counting what goes through its seam.
class counting_backend final : public chutoro::detail::cpu_backend {
 public:
  mutable std::size_t forests = 0, compactions = 0, tiles = 0;
  std::vector<chutoro::detail::raw_edge> minimum_spanning_forest(
      std::size_t n, std::span<const chutoro::detail::raw_edge> edges,
      std::span<const chutoro::detail::raw_edge> more, std::span<const float> core) const override {
    ++forests;
    return cpu_backend::minimum_spanning_forest(n, edges, more, core);
  }
  std::vector<chutoro::detail::raw_edge> compact(std::size_t n,
                                                 std::vector<chutoro::detail::raw_edge>&& edges,
                                                 std::vector<chutoro::detail::raw_edge>&& more,
                                                 std::span<const float> core) const override {
    ++compactions;
    return cpu_backend::compact(n, std::move(edges), std::move(more), core);
  }
  void distance_tile(const chutoro::data_source& data, std::span<const std::uint32_t> rows,
                     std::span<const std::uint32_t> cols, std::span<float> out) const override {
#pragma omp atomic
    ++tiles;
    cpu_backend::distance_tile(data, rows, cols, out);
  }
};

TEST(Backend, StagesGoThroughTheSeam) {
  const dense_data d = make_blobs(2500, 4, 5, 0.1, 18);
  const auto data = dense(d);
  chutoro::params p = params_for(chutoro::candidate_mode::hnsw, device_kind::cpu);
  p.build.compaction_min_edges = 4000;
  p.build.compaction_factor = 1;
  const chutoro::result reference = chutoro::fit(*data, p);

  auto counting = std::make_shared<counting_backend>();
  {
    chutoro::detail::hnsw_state s(p.build, counting);
    chutoro::fit_stats st;
    const auto scope = counting->enter(2);
    const chutoro::spanning_tree t = counting->extend_hnsw(s, *data, p.build, st, {});
    expect_same_tree(t, reference.tree);
    EXPECT_EQ(counting->compactions, st.compactions);
    EXPECT_GT(counting->compactions, 0u);
    EXPECT_EQ(counting->forests, 1u);  // finish()
    EXPECT_EQ(counting->tiles, 0u);
  }
  p.build.candidates = chutoro::candidate_mode::exact;
  {
    // Dense euclidean at d = 4: the kd-tree path, which measures pairs, not tiles.
    const chutoro::result exact = chutoro::fit(*data, p);
    chutoro::fit_stats st;
    const chutoro::spanning_tree t = counting->build_exact(*data, p.build, st, {});
    expect_same_tree(t, exact.tree);
    EXPECT_EQ(counting->tiles, 0u);
  }
  // Cosine: no kd-tree; the all-pairs path, whose core distances come from tiles.
  const chutoro::dense_source cosine(d.values, d.n, d.dim, chutoro::dense_metric::cosine);
  const chutoro::result exact = chutoro::fit(cosine, p);
  chutoro::fit_stats st;
  const chutoro::spanning_tree t = counting->build_exact(cosine, p.build, st, {});
  expect_same_tree(t, exact.tree);
  const std::size_t blocks = (d.n + 15) / 16, chunks = (d.n + 2047) / 2048;
  EXPECT_EQ(counting->tiles, blocks * chunks);  // every exact core distance came from a tile
}

TEST(Backend, SelectBackendIsOneFunction) {
  const env_guard env("CHUTORO_DEVICE", nullptr);
  const auto a = chutoro::detail::select_backend(device_kind::auto_select);
  const auto c = chutoro::detail::select_backend(device_kind::cpu);
  EXPECT_EQ(a.ptr, c.ptr);  // one shared CPU backend
  EXPECT_EQ(a.device, device_kind::cpu);
  EXPECT_EQ(a.fallback_reason, chutoro::detail::auto_fallback_reason);
  EXPECT_EQ(c.fallback_reason, "");
  if (chutoro::list_devices().devices.empty())
    expect_error([] { (void)chutoro::detail::select_backend(device_kind::cuda); }, error_code::unsupported,
                 {"device cuda: "});
}

}  // namespace
