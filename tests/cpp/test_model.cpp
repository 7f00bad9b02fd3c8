// test_model.cpp — chutoro::model (include/chutoro/model.hpp): fit, add,
// re-cluster, approximate_predict and the model file.
//
// What the tests prove:
//  - ModelFit.*: a model's clusters and tree are those of chutoro::fit, in
//    both candidate modes; cluster() with new selection parameters gives what
//    fit gives with them (the tree does not depend on them).
//  - ModelAdd.*: exact mode after add equals an exact fit of all items;
//    hnsw mode in 10 batches agrees with one fit (ARI >= 0.98 on digits and on
//    8,000 blobs); a failing add (wrong dimension, a progress callback that
//    throws half way) leaves the model unchanged and usable.
//  - ModelPredict.*: predicting the training items gives their own labels
//    for >= 95% of them; probabilities lie in [0, 1] and are 0 for noise; a
//    point far from everything is noise; dimension mismatch is type_mismatch.
//  - ModelFile.*: save/load and to_bytes/from_bytes round trips are exact
//    (bytes, labels, probabilities, scores, tree), also after load + add and
//    for strings; every flipped header byte, a flipped byte in every section,
//    every truncation, a wrong version and a wrong byte order are parse
//    errors; a writer killed at random points mid-save leaves the previous
//    file (or the complete new one), never a broken one; sources whose items
//    are not stored need the same source at load (checked by fingerprint); a
//    directory given as the file is an io error; the file is the same bytes
//    whatever the thread counts used to build and grow the model.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chutoro/chutoro.hpp>
#include <chutoro/model.hpp>
#include <chutoro/scores.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "test_data.hpp"

namespace {

using namespace chutoro_test;
using chutoro::error_code;

std::shared_ptr<chutoro::dense_source> dense(const dense_data& d, std::size_t from = 0,
                                             std::size_t to = SIZE_MAX) {
  to = std::min(to, d.n);
  return std::make_shared<chutoro::dense_source>(
      std::span(d.values).subspan(from * d.dim, (to - from) * d.dim), to - from, d.dim,
      chutoro::dense_metric::euclidean);
}

chutoro::params make_params(chutoro::candidate_mode mode, std::size_t mcs = 10, std::size_t ms = 5) {
  chutoro::params p;
  p.build.candidates = mode;
  p.build.min_samples = ms;
  p.selection.min_cluster_size = mcs;
  return p;
}

template <class F>
error_code code_of(F&& f) {
  try {
    f();
  } catch (const chutoro::error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no chutoro::error thrown";
  return error_code::internal;
}

void expect_same_clusters(const chutoro::clustering& a, const chutoro::clustering& b) {
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.probabilities, b.probabilities);
  ASSERT_EQ(a.outlier_scores.size(), b.outlier_scores.size());
  for (std::size_t i = 0; i < a.outlier_scores.size(); ++i)
    if (!(std::isnan(a.outlier_scores[i]) && std::isnan(b.outlier_scores[i])))
      EXPECT_EQ(a.outlier_scores[i], b.outlier_scores[i]) << i;
  EXPECT_EQ(a.cluster_persistence, b.cluster_persistence);
}

void expect_same_tree(const chutoro::spanning_tree& a, const chutoro::spanning_tree& b) {
  EXPECT_EQ(a.n, b.n);
  EXPECT_EQ(a.core_distances, b.core_distances);
  ASSERT_EQ(a.edges.size(), b.edges.size());
  for (std::size_t i = 0; i < a.edges.size(); ++i) {
    EXPECT_EQ(a.edges[i].a, b.edges[i].a);
    EXPECT_EQ(a.edges[i].b, b.edges[i].b);
    EXPECT_EQ(a.edges[i].distance, b.edges[i].distance);
  }
}

std::filesystem::path temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("chutoro_model_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

/// A source whose items cannot be stored or grown (like a plugin).
class opaque_source final : public chutoro::data_source {
 public:
  explicit opaque_source(std::shared_ptr<chutoro::dense_source> inner) : inner_(std::move(inner)) {}
  [[nodiscard]] std::size_t size() const noexcept override { return inner_->size(); }
  [[nodiscard]] std::string name() const override { return "opaque"; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override { return inner_->distance(i, j); }

 private:
  std::shared_ptr<chutoro::dense_source> inner_;
};

}  // namespace

TEST(ModelFit, SameAsFit) {
  const dense_data d = make_blobs(1500, 8, 5, 0.1, 7);
  for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact}) {
    const auto p = make_params(mode);
    const chutoro::model m(dense(d), p);
    const chutoro::result r = chutoro::fit(*dense(d), p);
    expect_same_clusters(m.clusters(), r);
    expect_same_tree(m.tree(), r.tree);
    EXPECT_EQ(m.size(), d.n);
  }
}

TEST(ModelFit, ReclusterEqualsFitWithThoseParameters) {
  const dense_data d = make_blobs(1500, 8, 5, 0.1, 8);
  chutoro::model m(dense(d), make_params(chutoro::candidate_mode::hnsw, 10));
  for (std::size_t mcs : {5, 25, 60}) {
    chutoro::selection_params sp;
    sp.min_cluster_size = mcs;
    sp.method = mcs == 25 ? chutoro::cluster_selection_method::leaf : chutoro::cluster_selection_method::eom;
    const chutoro::clustering& c = m.cluster(sp);
    auto p = make_params(chutoro::candidate_mode::hnsw, mcs);
    p.selection = sp;
    expect_same_clusters(c, chutoro::fit(*dense(d), p));
    EXPECT_EQ(m.parameters().selection.min_cluster_size, mcs);
  }
  chutoro::selection_params bad;
  bad.min_cluster_size = 1;
  const auto before = m.clusters().labels;
  EXPECT_EQ(code_of([&] { m.cluster(bad); }), error_code::invalid_argument);
  EXPECT_EQ(m.clusters().labels, before);
}

TEST(ModelAdd, ExactModeEqualsExactFitOfAllItems) {
  const dense_data d = make_blobs(900, 4, 4, 0.1, 9);
  const auto p = make_params(chutoro::candidate_mode::exact);
  chutoro::model m(dense(d, 0, 600), p);
  m.add(*dense(d, 600, 900));
  const chutoro::result r = chutoro::fit(*dense(d), p);
  expect_same_tree(m.tree(), r.tree);
  expect_same_clusters(m.clusters(), r);
}

namespace {
double batches_vs_one(const dense_data& d, std::size_t batches, std::size_t mcs) {
  const auto p = make_params(chutoro::candidate_mode::hnsw, mcs, 5);
  const std::size_t step = (d.n + batches - 1) / batches;
  chutoro::model m(dense(d, 0, step), p);
  for (std::size_t from = step; from < d.n; from += step) m.add(*dense(d, from, from + step));
  EXPECT_EQ(m.size(), d.n);
  const chutoro::result one = chutoro::fit(*dense(d), p);
  return chutoro::adjusted_rand_index(m.clusters().labels, one.labels);
}
}  // namespace

TEST(ModelAdd, TenBatchesAgreeWithOneFitOnDigits) {
  const double ari = batches_vs_one(load_csv(data_path("digits.csv"), true), 10, 10);
  std::printf("[ ari ] digits 10 batches vs one fit: %.4f\n", ari);
  EXPECT_GE(ari, 0.98);
}

TEST(ModelAdd, TenBatchesAgreeWithOneFitOnBlobs) {
  const double ari = batches_vs_one(make_blobs(8000, 16, 8, 0.1, 10), 10, 20);
  std::printf("[ ari ] 8000 x 16 blobs 10 batches vs one fit: %.4f\n", ari);
  EXPECT_GE(ari, 0.98);
}

TEST(ModelAdd, FailureLeavesTheModelUnchanged) {
  const dense_data d = make_blobs(1200, 8, 4, 0.1, 11);
  chutoro::model m(dense(d, 0, 1000), make_params(chutoro::candidate_mode::hnsw));
  const auto labels = m.clusters().labels;
  const auto bytes = m.to_bytes();
  const dense_data other = make_blobs(50, 4, 2, 0.0, 12);
  EXPECT_EQ(code_of([&] { m.add(*dense(other)); }), error_code::type_mismatch);
  EXPECT_EQ(m.size(), 1000u);
  EXPECT_EQ(m.to_bytes(), bytes);
  struct interrupted {};
  EXPECT_THROW(m.add(*dense(d, 1000),
                     [](std::string_view, std::size_t done, std::size_t) {
                       if (done > 0) throw interrupted{};
                     }),
               interrupted);
  EXPECT_EQ(m.size(), 1000u);
  EXPECT_EQ(m.data().size(), 1000u);
  EXPECT_EQ(m.clusters().labels, labels);
  EXPECT_EQ(m.to_bytes(), bytes);
  m.add(*dense(d, 1000));  // still usable
  EXPECT_EQ(m.size(), 1200u);
  EXPECT_EQ(m.clusters().labels.size(), 1200u);
}

TEST(ModelAdd, SourcesThatCannotGrowAreUnsupported) {
  const dense_data d = make_blobs(300, 4, 3, 0.0, 13);
  chutoro::model m(std::make_shared<opaque_source>(dense(d)), make_params(chutoro::candidate_mode::hnsw));
  EXPECT_EQ(code_of([&] { m.add(opaque_source(dense(d))); }), error_code::unsupported);
  EXPECT_EQ(code_of([&] { (void)m.approximate_predict(opaque_source(dense(d))); }), error_code::unsupported);
}

TEST(ModelPredict, TrainingItemsGetTheirOwnLabels) {
  const dense_data d = make_blobs(2000, 8, 5, 0.05, 14);
  for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact}) {
    const chutoro::model m(dense(d), make_params(mode, 15));
    const chutoro::prediction pr = m.approximate_predict(*dense(d));
    ASSERT_EQ(pr.labels.size(), d.n);
    std::size_t same = 0;
    for (std::size_t i = 0; i < d.n; ++i) {
      same += pr.labels[i] == m.clusters().labels[i];
      EXPECT_GE(pr.probabilities[i], 0.0);
      EXPECT_LE(pr.probabilities[i], 1.0);
      if (pr.labels[i] < 0) EXPECT_EQ(pr.probabilities[i], 0.0);
      EXPECT_LT(pr.labels[i], static_cast<std::int32_t>(m.clusters().n_clusters()));
    }
    const double agree = static_cast<double>(same) / static_cast<double>(d.n);
    std::printf("[ predict ] %s: training items keep their label: %.4f\n",
                std::string(chutoro::to_string(mode)).c_str(), agree);
    EXPECT_GE(agree, 0.95);
  }
}

TEST(ModelPredict, FarPointIsNoiseAndDimensionIsChecked) {
  const dense_data d = make_blobs(1000, 4, 3, 0.0, 15);
  const chutoro::model m(dense(d), make_params(chutoro::candidate_mode::hnsw));
  const std::vector<float> far{1e6f, 1e6f, 1e6f, 1e6f};
  const chutoro::prediction pr =
      m.approximate_predict(chutoro::dense_source(far, 1, 4, chutoro::dense_metric::euclidean));
  EXPECT_EQ(pr.labels, std::vector<std::int32_t>{-1});
  EXPECT_EQ(pr.probabilities, std::vector<double>{0.0});
  const std::vector<float> wrong{1, 2, 3};
  EXPECT_EQ(
      code_of([&] {
        (void)m.approximate_predict(chutoro::dense_source(wrong, 1, 3, chutoro::dense_metric::euclidean));
      }),
      error_code::type_mismatch);
}

TEST(ModelFile, RoundTripIsExact) {
  const dense_data d = make_blobs(3000, 8, 6, 0.1, 16);
  const auto dir = temp_dir();
  for (auto metric : {chutoro::dense_metric::euclidean, chutoro::dense_metric::cosine}) {
    for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact}) {
      auto src = [&](std::size_t from, std::size_t to) {
        return std::make_shared<chutoro::dense_source>(
            std::span(d.values).subspan(from * d.dim, (to - from) * d.dim), to - from, d.dim, metric);
      };
      const std::size_t n0 = mode == chutoro::candidate_mode::exact ? 800 : 2500;
      chutoro::model a(src(0, n0), make_params(mode));
      const auto path = dir / "m.chutoro";
      a.save(path);
      chutoro::model b = chutoro::model::load(path);
      expect_same_clusters(a.clusters(), b.clusters());
      expect_same_tree(a.tree(), b.tree());
      EXPECT_EQ(a.to_bytes(), b.to_bytes());
      EXPECT_EQ(a.parameters().build.seed, b.parameters().build.seed);
      // load + add == add
      a.add(*src(n0, n0 + 200));
      b.add(*src(n0, n0 + 200));
      expect_same_clusters(a.clusters(), b.clusters());
      EXPECT_EQ(a.to_bytes(), b.to_bytes());
      const auto pa = a.approximate_predict(*src(0, 100));
      const auto pb = b.approximate_predict(*src(0, 100));
      EXPECT_EQ(pa.labels, pb.labels);
      EXPECT_EQ(pa.probabilities, pb.probabilities);
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(ModelFile, StringsRoundTrip) {
  std::vector<std::string> words;
  std::mt19937 rng(3);
  const std::vector<std::string> stems{"naïve", "Straße", "東京", "cat", "dog", "zebra"};
  for (int i = 0; i < 400; ++i) {
    std::string w = stems[static_cast<std::size_t>(i) % stems.size()];
    for (int k = 0; k < static_cast<int>(rng() % 3); ++k) w += static_cast<char>('a' + rng() % 26);
    words.push_back(w);
  }
  chutoro::model a(std::make_shared<chutoro::string_source>(words),
                   make_params(chutoro::candidate_mode::hnsw));
  chutoro::model b = chutoro::model::from_bytes(a.to_bytes());
  expect_same_clusters(a.clusters(), b.clusters());
  EXPECT_EQ(a.to_bytes(), b.to_bytes());
  const auto& sa = dynamic_cast<const chutoro::string_source&>(a.data());
  const auto& sb = dynamic_cast<const chutoro::string_source&>(b.data());
  for (std::size_t i = 0; i < words.size(); ++i) EXPECT_TRUE(std::ranges::equal(sa.item(i), sb.item(i))) << i;
}

namespace {
// Offsets of each section's header in a model file (layout: 32-byte header,
// then per section tag u32, reserved u32, length u64, payload, checksum u64).
std::vector<std::size_t> section_offsets(const std::vector<std::byte>& b) {
  std::vector<std::size_t> out;
  for (std::size_t pos = 32; pos + 16 <= b.size();) {
    out.push_back(pos);
    std::uint64_t len;
    std::memcpy(&len, b.data() + pos + 8, 8);
    pos += 16 + len + 8;
  }
  return out;
}
}  // namespace

TEST(ModelFile, CorruptionIsAParseError) {
  const dense_data d = make_blobs(400, 4, 3, 0.1, 17);
  const chutoro::model m(dense(d), make_params(chutoro::candidate_mode::hnsw));
  const std::vector<std::byte> good = m.to_bytes();
  const auto sections = section_offsets(good);
  ASSERT_EQ(sections.size(), 5u);
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < 32; ++i) positions.push_back(i);
  std::mt19937_64 rng(5);
  for (std::size_t s = 0; s < sections.size(); ++s) {
    const std::size_t end = s + 1 < sections.size() ? sections[s + 1] : good.size();
    for (std::size_t i = 0; i < 16; ++i) positions.push_back(sections[s] + i);  // section header
    for (int k = 0; k < 40; ++k) positions.push_back(sections[s] + 16 + rng() % (end - sections[s] - 16));
  }
  for (std::size_t pos : positions) {
    std::vector<std::byte> bad = good;
    bad[pos] ^= std::byte{0x5A};
    EXPECT_EQ(code_of([&] { (void)chutoro::model::from_bytes(bad); }), error_code::parse) << "byte " << pos;
  }
  for (std::size_t len = 0; len < good.size(); len += 1 + len / 7) {
    const std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
    EXPECT_EQ(code_of([&] { (void)chutoro::model::from_bytes(cut); }), error_code::parse) << "length " << len;
  }
}

TEST(ModelFile, WrongVersionAndByteOrderAreNamed) {
  const dense_data d = make_blobs(200, 4, 2, 0.0, 18);
  const std::vector<std::byte> good =
      chutoro::model(dense(d), make_params(chutoro::candidate_mode::hnsw)).to_bytes();
  auto patched = [&](std::size_t offset, std::uint32_t value) {
    std::vector<std::byte> b = good;
    std::memcpy(b.data() + offset, &value, 4);
    const std::uint64_t sum = XXH64(b.data(), 24, 0);
    std::memcpy(b.data() + 24, &sum, 8);
    return b;
  };
  auto message = [](const std::vector<std::byte>& b) {
    try {
      (void)chutoro::model::from_bytes(b, nullptr, "test.chutoro");
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), error_code::parse);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(patched(8, 2)).find("format version 2"), std::string::npos) << message(patched(8, 2));
  EXPECT_NE(message(patched(12, 0x04030201u)).find("big-endian"), std::string::npos);
  EXPECT_NE(message(patched(8, 2)).find("test.chutoro"), std::string::npos);
}

TEST(ModelFile, KilledWriterLeavesAValidFile) {
  const auto dir = temp_dir();
  const auto path = dir / "killed.chutoro";
  const chutoro::model small(dense(make_blobs(300, 4, 3, 0.0, 19)),
                             make_params(chutoro::candidate_mode::hnsw));
  const dense_data big_data = make_blobs(20000, 32, 8, 0.1, 20);
  const chutoro::model big(dense(big_data), make_params(chutoro::candidate_mode::hnsw));
  const auto small_bytes = small.to_bytes(), big_bytes = big.to_bytes();
  std::mt19937 rng(7);
  for (int round = 0; round < 6; ++round) {
    small.save(path);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (;;) big.save(path);  // killed by the parent
    }
    ::usleep(1000 * (1 + rng() % 40));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    const chutoro::model back = chutoro::model::load(path);
    const auto bytes = back.to_bytes();
    EXPECT_TRUE(bytes == small_bytes || bytes == big_bytes) << "round " << round;
  }
  std::filesystem::remove_all(dir);
}

TEST(ModelFile, UnstoredSourcesNeedTheSameSourceAtLoad) {
  const dense_data d = make_blobs(300, 4, 3, 0.0, 21);
  const chutoro::model m(std::make_shared<opaque_source>(dense(d)),
                         make_params(chutoro::candidate_mode::hnsw));
  const auto bytes = m.to_bytes();
  EXPECT_EQ(code_of([&] { (void)chutoro::model::from_bytes(bytes); }), error_code::invalid_argument);
  const dense_data other = make_blobs(300, 4, 3, 0.0, 22);
  EXPECT_EQ(code_of([&] {
              (void)chutoro::model::from_bytes(bytes, std::make_shared<opaque_source>(dense(other)));
            }),
            error_code::invalid_argument);
  const chutoro::model back = chutoro::model::from_bytes(bytes, std::make_shared<opaque_source>(dense(d)));
  expect_same_clusters(m.clusters(), back.clusters());
  // a model that stores its items refuses an extra source
  const auto stored = chutoro::model(dense(d), make_params(chutoro::candidate_mode::hnsw)).to_bytes();
  EXPECT_EQ(code_of([&] { (void)chutoro::model::from_bytes(stored, dense(d)); }),
            error_code::invalid_argument);
}

TEST(ModelFile, UnwritableDirectoryIsAnIoError) {
  const dense_data d = make_blobs(100, 2, 2, 0.0, 23);
  const chutoro::model m(dense(d), make_params(chutoro::candidate_mode::hnsw));
  EXPECT_EQ(code_of([&] { m.save("/nonexistent-dir/x.chutoro"); }), error_code::io);
  EXPECT_EQ(code_of([&] { (void)chutoro::model::load("/nonexistent-dir/x.chutoro"); }), error_code::io);
}

TEST(ModelFile, DirectoryIsAnIoErrorNamingIt) {
  const auto dir = temp_dir() / "a_directory.chutoro";
  std::filesystem::create_directories(dir);
  try {
    (void)chutoro::model::load(dir);
    ADD_FAILURE() << "no error";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), error_code::io);
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir.parent_path());
}

TEST(ModelAdd, ThreadCountDoesNotChangeTheModel) {
  const dense_data d = make_blobs(3000, 8, 5, 0.1, 24);
  std::vector<std::vector<std::byte>> files;
  for (int threads : {1, 2, 3}) {
    auto p = make_params(chutoro::candidate_mode::hnsw);
    p.build.threads = threads;
    chutoro::model m(dense(d, 0, 2000), p);
    m.set_threads(threads == 3 ? 1 : threads);
    m.add(*dense(d, 2000, 3000));
    files.push_back(m.to_bytes());
  }
  EXPECT_EQ(files[0], files[1]);
  EXPECT_EQ(files[0], files[2]);
}
