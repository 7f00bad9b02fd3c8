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

#include <algorithm>
#include <array>
#include <chutoro/chutoro.hpp>
#include <chutoro/model.hpp>
#include <chutoro/scores.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "model_file_bytes.hpp"
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
  EXPECT_NE(message(patched(8, 5)).find("format version 5, this build reads versions 1 to 4"),
            std::string::npos)
      << message(patched(8, 5));
  EXPECT_NE(message(patched(8, 0)).find("format version 0"), std::string::npos);
  EXPECT_NE(message(patched(12, 0x04030201u)).find("big-endian"), std::string::npos);
  EXPECT_NE(message(patched(8, 5)).find("test.chutoro"), std::string::npos);
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

// ---------------------------------------------------------------- crafted model files
//
// Files with valid checksums whose fields hold out-of-range values
// (model_file_bytes.hpp rewrites a field and reseals): each must be one
// error(parse) naming the section, the field, the value and the allowed
// range, never a crash or an allocation sized by the bad value (run under
// the asan preset too).

namespace {

using chutoro_test::model_file_bytes;

struct load_outcome {
  bool threw = false;
  error_code code = error_code::internal;
  std::string message;
};

load_outcome try_load(const std::vector<std::byte>& b) {
  load_outcome o;
  try {
    (void)chutoro::model::from_bytes(b, nullptr, "crafted.chutoro");
  } catch (const chutoro::error& e) {
    o.threw = true;
    o.code = e.code();
    o.message = e.what();
  }
  return o;
}

void expect_parse_error(const std::vector<std::byte>& b, const std::vector<std::string>& parts) {
  const load_outcome o = try_load(b);
  ASSERT_TRUE(o.threw) << "no error; expected one naming " << parts.front();
  EXPECT_EQ(o.code, error_code::parse) << o.message;
  EXPECT_EQ(o.message.rfind("crafted.chutoro: ", 0), 0u) << o.message;
  for (const auto& part : parts)
    EXPECT_NE(o.message.find(part), std::string::npos) << part << " not in: " << o.message;
}

constexpr std::size_t kItems = 200;

/// A version 3 hnsw model file rewritten in the version 2 layout (layer-0
/// lists padded to 2m links, FRST with a buffered-edge list): the forest's
/// last `move` edges become buffered edges, followed by `extra`.
std::vector<std::byte> as_version_2(const std::vector<std::byte>& v3, std::size_t move = 0,
                                    const std::vector<std::byte>& extra = {}, std::size_t extra_count = 0) {
  model_file_bytes f(v3);
  const auto m = f.get<std::uint64_t>("PARM", 12);
  const auto n = f.get<std::uint64_t>("HNSW", 0);
  const auto hnsw = f.payload_bytes("HNSW");
  std::vector<std::byte> g(hnsw.begin(), hnsw.begin() + static_cast<std::ptrdiff_t>(24 + n));
  std::size_t pos = 24 + n;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t c;
    std::memcpy(&c, hnsw.data() + pos, 4);
    g.insert(g.end(), hnsw.begin() + static_cast<std::ptrdiff_t>(pos),
             hnsw.begin() + static_cast<std::ptrdiff_t>(pos + 4 * (1 + c)));
    g.resize(g.size() + 4 * (2 * m - c));  // zero padding
    pos += 4 * (1 + c);
  }
  g.insert(g.end(), hnsw.begin() + static_cast<std::ptrdiff_t>(pos), hnsw.end());
  f.replace_payload("HNSW", g);
  const auto frst = f.payload_bytes("FRST");
  std::uint64_t forest, buffered;
  std::memcpy(&forest, frst.data(), 8);
  std::memcpy(&buffered, frst.data() + 8 + 12 * forest, 8);
  const auto at = [&](std::size_t offset) { return frst.begin() + static_cast<std::ptrdiff_t>(offset); };
  std::vector<std::byte> p;
  model_file_bytes::append<std::uint64_t>(p, forest - move);
  p.insert(p.end(), at(8), at(8 + 12 * (forest - move)));
  model_file_bytes::append<std::uint64_t>(p, move + buffered + extra_count);
  p.insert(p.end(), at(8 + 12 * (forest - move)), at(8 + 12 * forest));  // the moved forest edges
  p.insert(p.end(), at(16 + 12 * forest), frst.end());                   // the buffered edges
  p.insert(p.end(), extra.begin(), extra.end());
  f.replace_payload("FRST", p);
  f.set_header<std::uint32_t>(8, 2);
  return f.bytes();
}

const std::vector<std::byte>& crafted_base(chutoro::candidate_mode mode) {
  static const std::vector<std::byte> hnsw =
      chutoro::model(dense(make_blobs(kItems, 4, 3, 0.0, 31)), make_params(chutoro::candidate_mode::hnsw))
          .to_bytes();
  static const std::vector<std::byte> exact =
      chutoro::model(dense(make_blobs(kItems, 4, 3, 0.0, 31)), make_params(chutoro::candidate_mode::exact))
          .to_bytes();
  return mode == chutoro::candidate_mode::hnsw ? hnsw : exact;
}

model_file_bytes crafted(chutoro::candidate_mode mode = chutoro::candidate_mode::hnsw) {
  return model_file_bytes(crafted_base(mode));
}

// PARM payload offsets (docs/model_format.md).
constexpr std::size_t kMinSamples = 0, kCandidates = 8, kM = 12, kEf = 20, kBatch = 36, kFactor = 44,
                      kMinEdges = 52, kMinClusterSize = 60, kMethod = 68, kEpsilon = 72, kSingle = 80;

constexpr std::uint64_t two_to(int e) { return std::uint64_t{1} << e; }

}  // namespace

TEST(ModelFileFields, UntouchedCraftedFilesLoad) {
  // The helper itself: rewriting a field with its own value and resealing loads fine.
  for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact}) {
    auto f = crafted(mode);
    f.set<std::uint64_t>("PARM", kMinClusterSize, f.get<std::uint64_t>("PARM", kMinClusterSize));
    EXPECT_FALSE(try_load(f.bytes()).threw) << try_load(f.bytes()).message;
  }
}

TEST(ModelFileFields, MinClusterSizeBeyondTheItemsIsNamed) {
  for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact}) {
    // 2^63 used to wrap to a negative int64 in the condensed tree and crash.
    expect_parse_error(crafted(mode).set<std::uint64_t>("PARM", kMinClusterSize, two_to(63)).bytes(),
                       {"section PARM", "field min_cluster_size = 9223372036854775808", "[2, 4294967294]"});
    expect_parse_error(crafted(mode).set<std::uint64_t>("PARM", kMinClusterSize, two_to(63) - 1).bytes(),
                       {"section PARM", "field min_cluster_size = 9223372036854775807"});
    expect_parse_error(crafted(mode).set<std::uint64_t>("PARM", kMinClusterSize, kItems + 1).bytes(),
                       {"section PARM", "field min_cluster_size = 201", "[2, 200]", "section DATA"});
    expect_parse_error(crafted(mode).set<std::uint64_t>("PARM", kMinClusterSize, 1).bytes(),
                       {"section PARM", "field min_cluster_size = 1", "[2, "});
  }
  // n itself is allowed: one cluster or none.
  EXPECT_FALSE(try_load(crafted().set<std::uint64_t>("PARM", kMinClusterSize, kItems).bytes()).threw);
}

TEST(ModelFileFields, MinSamplesIsNamedNotTheItemCount) {
  for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact}) {
    expect_parse_error(crafted(mode).set<std::uint64_t>("PARM", kMinSamples, two_to(62)).bytes(),
                       {"section PARM", "field min_samples = 4611686018427387904", "[1, 4294967294]"});
    expect_parse_error(crafted(mode).set<std::uint64_t>("PARM", kMinSamples, 0).bytes(),
                       {"section PARM", "field min_samples = 0"});
    expect_parse_error(crafted(mode).set<std::uint64_t>("PARM", kMinSamples, kItems + 1).bytes(),
                       {"section PARM", "field min_samples = 201", "[1, 200]"});
  }
  // Within range but not the k the stored neighbour lists have.
  expect_parse_error(crafted().set<std::uint64_t>("PARM", kMinSamples, 7).bytes(),
                     {"section KNNS", "field k = 4 differs from 6"});
}

// candidates = 4 (knn, GPU kNN candidates) is stored like exact (no graph
// sections): an exact file marked 4 loads as a knn model; an hnsw file so
// marked is refused (its graph sections do not belong to it).
TEST(ModelFileFields, KnnModelsLoadAsKnn) {
  const auto bytes =
      crafted(chutoro::candidate_mode::exact).set<std::uint32_t>("PARM", kCandidates, 4).bytes();
  const chutoro::model m = chutoro::model::from_bytes(bytes, nullptr, "crafted.chutoro");
  EXPECT_EQ(m.parameters().build.candidates, chutoro::candidate_mode::knn);
  EXPECT_EQ(m.stats().candidates, chutoro::candidate_mode::knn);
  EXPECT_TRUE(
      try_load(crafted(chutoro::candidate_mode::hnsw).set<std::uint32_t>("PARM", kCandidates, 4).bytes())
          .threw);
}

TEST(ModelFileFields, EveryParameterIsRangeChecked) {
  struct field_case {
    std::size_t offset;
    int bytes;  // 1, 4 or 8 (u8, u32, u64); 0: f64
    std::uint64_t value;
    double real;
    std::vector<std::string> parts;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<field_case> cases = {
      {kCandidates,
       4,
       5,
       0,
       {"field candidates = 5", "[0, 4]", "0 hnsw, 1 exact, 2 auto chose exact", "4 knn"}},
      {kCandidates, 4, 0xFFFFFFFFu, 0, {"field candidates = 4294967295"}},
      {kM, 8, 1, 0, {"field m = 1", "[2, 1024]"}},
      {kM, 8, 1025, 0, {"field m = 1025", "[2, 1024]"}},
      {kM, 8, ~std::uint64_t{0}, 0, {"field m = 18446744073709551615"}},
      {kEf, 8, 0, 0, {"field ef_construction = 0", "[1, 100000]"}},
      {kEf, 8, two_to(40), 0, {"field ef_construction = 1099511627776", "[1, 100000]"}},
      {kBatch, 8, 0, 0, {"field batch_size = 0"}},
      {kFactor, 8, 0, 0, {"field compaction_factor = 0", "[1, 65536]"}},
      {kFactor, 8, two_to(40), 0, {"field compaction_factor = 1099511627776", "[1, 65536]"}},
      {kMinEdges, 8, two_to(60), 0, {"field compaction_min_edges = 1152921504606846976", "[0, 4294967296]"}},
      {kMethod, 4, 2, 0, {"field cluster_selection_method = 2", "[0, 1]", "0 eom, 1 leaf"}},
      {kEpsilon, 0, 0, nan, {"field cluster_selection_epsilon = NaN", "a finite number >= 0"}},
      {kEpsilon, 0, 0, -1.0, {"field cluster_selection_epsilon = -1", "a finite number >= 0"}},
      {kEpsilon, 0, 0, inf, {"field cluster_selection_epsilon = inf"}},
      {kSingle, 1, 2, 0, {"field allow_single_cluster = 2", "[0, 1]"}},
  };
  for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact})
    for (const auto& c : cases) {
      auto f = crafted(mode);
      if (c.bytes == 1) f.set<std::uint8_t>("PARM", c.offset, static_cast<std::uint8_t>(c.value));
      if (c.bytes == 4) f.set<std::uint32_t>("PARM", c.offset, static_cast<std::uint32_t>(c.value));
      if (c.bytes == 8) f.set<std::uint64_t>("PARM", c.offset, c.value);
      if (c.bytes == 0) f.set<double>("PARM", c.offset, c.real);
      std::vector<std::string> parts{"section PARM"};
      parts.insert(parts.end(), c.parts.begin(), c.parts.end());
      SCOPED_TRACE(c.parts.front());
      expect_parse_error(f.bytes(), parts);
    }
}

TEST(ModelFileFields, DataHeaderFieldsAreRangeChecked) {
  // DATA payload: kind u32 @0, metric u32 @4, n u64 @8, dim u64 @16, rows @24.
  expect_parse_error(crafted().set<std::uint32_t>("DATA", 0, 7).bytes(),
                     {"section DATA", "field kind = 7", "[0, 6]"});
  expect_parse_error(crafted().set<std::uint32_t>("DATA", 4, 9).bytes(),
                     {"section DATA", "field metric = 9", "[0, 8]", "euclidean", "braycurtis"});
  expect_parse_error(crafted().set<std::uint64_t>("DATA", 8, 1).bytes(),
                     {"section DATA", "field n = 1", "[2, 4294967294]"});
  expect_parse_error(crafted().set<std::uint64_t>("DATA", 8, two_to(63)).bytes(),
                     {"section DATA", "field n = 9223372036854775808"});
  expect_parse_error(crafted().set<std::uint64_t>("DATA", 8, kItems + 1).bytes(),
                     {"section DATA", "truncated", "field rows"});
  expect_parse_error(crafted().set<std::uint64_t>("DATA", 16, 0).bytes(),
                     {"section DATA", "field dim = 0", "[1, 2147483648]"});
  expect_parse_error(crafted().set<std::uint64_t>("DATA", 16, ~std::uint64_t{0}).bytes(),
                     {"section DATA", "field dim = 18446744073709551615"});
  expect_parse_error(crafted().set<std::uint64_t>("DATA", 16, two_to(31)).bytes(),
                     {"section DATA", "truncated", "field rows"});
  // Fewer rows than stored: bytes are left over.
  expect_parse_error(crafted().set<std::uint64_t>("DATA", 16, 3).bytes(),
                     {"section DATA", "after the last field"});
  // A stored value that is not finite is named by the source's check.
  expect_parse_error(
      crafted().set<float>("DATA", 24 + 4 * 5, std::numeric_limits<float>::quiet_NaN()).bytes(),
      {"section DATA", "row 1", "NaN"});
}

TEST(ModelFileFields, HugeCountsOfStringsAndSetsAllocateNothing) {
  // strings: kind 2, metric 0, n, dim 0, then n x (length u64, bytes).
  std::vector<std::byte> p;
  model_file_bytes::append<std::uint32_t>(p, 2);
  model_file_bytes::append<std::uint32_t>(p, 0);
  model_file_bytes::append<std::uint64_t>(p, 0xFFFFFFFEu);
  model_file_bytes::append<std::uint64_t>(p, 0);
  model_file_bytes::append<std::uint64_t>(p, 1);
  p.push_back(std::byte{'a'});
  expect_parse_error(crafted().replace_payload("DATA", p).bytes(),
                     {"section DATA", "field n = 4294967294", "strings need at least 8 bytes each"});
  p[0] = std::byte{3};  // sets
  expect_parse_error(crafted().replace_payload("DATA", p).bytes(),
                     {"section DATA", "field n = 4294967294", "sets"});
  // One string whose length runs past the section.
  std::vector<std::byte> q;
  model_file_bytes::append<std::uint32_t>(q, 2);
  model_file_bytes::append<std::uint32_t>(q, 0);
  model_file_bytes::append<std::uint64_t>(q, 2);
  model_file_bytes::append<std::uint64_t>(q, 0);
  model_file_bytes::append<std::uint64_t>(q, two_to(62));
  model_file_bytes::append<std::uint64_t>(q, 0);
  expect_parse_error(crafted().replace_payload("DATA", q).bytes(),
                     {"section DATA", "field item 0 length count = 4611686018427387904", "truncated"});
  // Invalid UTF-8 in a stored string names the item (0-based).
  std::vector<std::byte> u;
  model_file_bytes::append<std::uint32_t>(u, 2);
  model_file_bytes::append<std::uint32_t>(u, 0);
  model_file_bytes::append<std::uint64_t>(u, 2);
  model_file_bytes::append<std::uint64_t>(u, 0);
  for (int i = 0; i < 2; ++i) {
    model_file_bytes::append<std::uint64_t>(u, 1);
    u.push_back(i == 0 ? std::byte{'a'} : std::byte{0xFF});
  }
  expect_parse_error(crafted().replace_payload("DATA", u).bytes(),
                     {"section DATA", "item 1 (0-based)", "UTF-8"});
}

TEST(ModelFileFields, GraphFieldsAreRangeChecked) {
  // HNSW payload: n u64 @0, inserted u64 @8, entry u32 @16, max_level i32 @20,
  // levels (n bytes) @24, layer-0 lists (n x (count u32, count ids u32)) @24 + n.
  const std::size_t links0 = 24 + kItems, m0 = 32;
  expect_parse_error(crafted().set<std::uint64_t>("HNSW", 0, kItems - 1).bytes(),
                     {"section HNSW", "field n = 199 differs from 200"});
  expect_parse_error(crafted().set<std::uint64_t>("HNSW", 8, two_to(63)).bytes(),
                     {"section HNSW", "field inserted = 9223372036854775808 differs from 200"});
  expect_parse_error(crafted().set<std::uint32_t>("HNSW", 16, kItems).bytes(),
                     {"section HNSW", "field entry = 200", "[0, 199]"});
  expect_parse_error(crafted().set<std::int32_t>("HNSW", 20, -1).bytes(),
                     {"section HNSW", "field max_level = -1", "[0, 255]"});
  expect_parse_error(crafted().set<std::int32_t>("HNSW", 20, 7).bytes(),
                     {"section HNSW", "field max_level = 7", "entry point"});
  expect_parse_error(crafted().set<std::uint8_t>("HNSW", 24 + 3, 9).bytes(),
                     {"section HNSW", "field levels: item 3 (0-based) is on level 9"});
  expect_parse_error(
      crafted().set<std::uint32_t>("HNSW", links0, m0 + 1).bytes(),
      {"section HNSW", "field layer-0 list of item 0 (0-based) count = 33 is out of range [0, 32]"});
  auto f = crafted();
  ASSERT_GT(f.get<std::uint32_t>("HNSW", links0), 0u);
  expect_parse_error(f.set<std::uint32_t>("HNSW", links0 + 4, kItems).bytes(),
                     {"section HNSW", "item 0 (0-based) links to item 200, which is not < n = 200"});
  std::size_t upper = links0;
  for (std::size_t i = 0; i < kItems; ++i)
    upper += 4 * (1 + std::size_t{f.get<std::uint32_t>("HNSW", upper)});
  expect_parse_error(crafted().set<std::uint64_t>("HNSW", upper, two_to(61)).bytes(),
                     {"section HNSW", "truncated", "field upper-layer lists count = 2305843009213693952"});
}

TEST(ModelFileFields, NeighbourListsAreRangeChecked) {
  // KNNS payload: n u64 @0, k u64 @8, known (n u32) @16, distances (n x k f32), ids (n x k u32).
  const std::size_t k = 4, dists = 16 + 4 * kItems, ids = dists + 4 * kItems * k;
  expect_parse_error(crafted().set<std::uint64_t>("KNNS", 0, two_to(40)).bytes(),
                     {"section KNNS", "field n = 1099511627776 differs from 200"});
  expect_parse_error(crafted().set<std::uint64_t>("KNNS", 8, two_to(40)).bytes(),
                     {"section KNNS", "field k = 1099511627776 differs from 4", "min_samples - 1"});
  expect_parse_error(crafted().set<std::uint32_t>("KNNS", 16 + 4 * 7, 5).bytes(),
                     {"section KNNS", "field known: item 7 (0-based) has 5 neighbours, more than k = 4"});
  expect_parse_error(crafted().set<std::uint32_t>("KNNS", ids + 4 * (7 * k), kItems).bytes(),
                     {"section KNNS", "item 7 (0-based), slot 0", "neighbour 200 is not < n = 200"});
  expect_parse_error(crafted().set<std::uint32_t>("KNNS", ids + 4 * (7 * k), 7).bytes(),
                     {"section KNNS", "item 7 (0-based), slot 0", "the item itself"});
  expect_parse_error(crafted().set<float>("KNNS", dists + 4 * (7 * k), -1.0f).bytes(),
                     {"section KNNS", "item 7 (0-based), slot 0", "distance -1 is not a number >= 0"});
  expect_parse_error(
      crafted().set<float>("KNNS", dists + 4 * (7 * k), std::numeric_limits<float>::quiet_NaN()).bytes(),
      {"section KNNS", "distance NaN"});
  expect_parse_error(crafted().set<float>("KNNS", dists + 4 * (7 * k + 3), 1e30f).bytes(),
                     {"section KNNS", "item 7 (0-based), slot 3", "not sorted descending"});
}

TEST(ModelFileFields, CandidateEdgesAreRangeChecked) {
  // FRST payload: forest count u64, forest edges (a u32, b u32, d f32), buffered count u64, buffered edges.
  auto payload = [](std::vector<std::array<std::uint32_t, 2>> forest, float d = 1.0f) {
    std::vector<std::byte> p;
    model_file_bytes::append<std::uint64_t>(p, forest.size());
    for (const auto& e : forest) {
      model_file_bytes::append(p, e[0]);
      model_file_bytes::append(p, e[1]);
      model_file_bytes::append(p, d);
    }
    model_file_bytes::append<std::uint64_t>(p, 0);
    return p;
  };
  expect_parse_error(crafted().replace_payload("FRST", payload({{0, 1}, {1, 2}, {0, 2}})).bytes(),
                     {"section FRST", "field forest: edge 2 (0-based) = (0, 2) closes a cycle"});
  expect_parse_error(crafted().replace_payload("FRST", payload({{0, 200}})).bytes(),
                     {"section FRST", "field forest: edge 0 (0-based) = (0, 200, 1)", "outside [0, 199]"});
  expect_parse_error(crafted().replace_payload("FRST", payload({{5, 5}})).bytes(),
                     {"section FRST", "self-loop"});
  expect_parse_error(crafted().replace_payload("FRST", payload({{0, 1}}, -2.0f)).bytes(),
                     {"section FRST", "distance that is not a number >= 0"});
  std::vector<std::array<std::uint32_t, 2>> too_many;
  for (std::uint32_t i = 0; i < kItems; ++i) too_many.push_back({i, (i + 1) % 200});
  expect_parse_error(crafted().replace_payload("FRST", payload(too_many)).bytes(),
                     {"section FRST", "field forest count = 200 is more than n - 1 = 199"});
  expect_parse_error(crafted().set<std::uint64_t>("FRST", 0, two_to(60)).bytes(),
                     {"section FRST", "truncated", "field forest count = 1152921504606846976"});
  // A buffered edge with an id >= n.
  auto f = crafted();
  std::vector<std::byte> p = f.payload_bytes("FRST");
  const std::uint64_t forest = f.get<std::uint64_t>("FRST", 0);
  p.resize(8 + 12 * forest);
  model_file_bytes::append<std::uint64_t>(p, 1);
  model_file_bytes::append<std::uint32_t>(p, 0);
  model_file_bytes::append<std::uint32_t>(p, 4000000000u);
  model_file_bytes::append<float>(p, 1.0f);
  expect_parse_error(
      f.replace_payload("FRST", p).bytes(),
      {"section FRST", "field buffered edges: edge 0 (0-based)", "4000000000", "outside [0, 199]"});
}

TEST(ModelFileFields, ParallelCandidateEdgesRoundTrip) {
  // Buffered copies of forest edges with smaller raw distances (equal mutual
  // reachability weight: the core distances dominate) and a -0 / +0 pair:
  // the forest must take the smallest d of each tie, and what the loaded
  // model writes must load back to the same bytes (a fuzz_model finding: the
  // compaction kept whichever parallel edge its sort put first).
  auto f = crafted();
  std::vector<std::byte> p = f.payload_bytes("FRST");
  const std::uint64_t forest = f.get<std::uint64_t>("FRST", 0);
  ASSERT_GE(forest, 3u);
  const std::uint64_t buffered = f.get<std::uint64_t>("FRST", 8 + 12 * forest);
  std::vector<std::byte> extra;
  std::uint32_t tie_a = 0, tie_b = 0;
  float tie_d = 0.0f;
  for (std::uint64_t e = 0; e < 3; ++e) {
    const auto a = f.get<std::uint32_t>("FRST", 8 + 12 * e), b = f.get<std::uint32_t>("FRST", 12 + 12 * e);
    const auto d = f.get<float>("FRST", 16 + 12 * e);
    if (e == 0) tie_a = std::min(a, b), tie_b = std::max(a, b), tie_d = d * 0.25f;
    for (const float scaled : {d * 0.5f, d * 0.25f}) {  // both ways round, in two orders
      model_file_bytes::append(extra, e % 2 ? b : a);
      model_file_bytes::append(extra, e % 2 ? a : b);
      model_file_bytes::append(extra, scaled);
    }
  }
  for (const float zero : {-0.0f, 0.0f}) {  // a pair at distance 0, stored twice
    model_file_bytes::append<std::uint32_t>(extra, 7);
    model_file_bytes::append<std::uint32_t>(extra, 8);
    model_file_bytes::append(extra, zero);
  }
  p.resize(8 + 12 * forest);
  model_file_bytes::append<std::uint64_t>(p, buffered + 8);
  const auto tail = f.payload_bytes("FRST");
  p.insert(p.end(), tail.begin() + static_cast<std::ptrdiff_t>(16 + 12 * forest), tail.end());
  p.insert(p.end(), extra.begin(), extra.end());
  const std::vector<std::byte> crafted_file = f.replace_payload("FRST", p).bytes();
  const chutoro::model m = chutoro::model::from_bytes(crafted_file, nullptr, "crafted.chutoro");
  const std::vector<std::byte> once = m.to_bytes();
  const std::vector<std::byte> twice = chutoro::model::from_bytes(once, nullptr, "again.chutoro").to_bytes();
  EXPECT_EQ(once, twice);
  const auto& edges = m.tree().edges;
  const auto tie = std::find_if(edges.begin(), edges.end(), [&](const auto& e) {
    return std::min(e.a, e.b) == tie_a && std::max(e.a, e.b) == tie_b;
  });
  ASSERT_NE(tie, edges.end());
  EXPECT_GE(tie->distance, double{tie_d});  // the weight (core dominated) is unchanged
  model_file_bytes g(once);
  bool smallest = false;
  for (std::uint64_t e = 0; e < g.get<std::uint64_t>("FRST", 0); ++e)
    if (std::min(g.get<std::uint32_t>("FRST", 8 + 12 * e), g.get<std::uint32_t>("FRST", 12 + 12 * e)) ==
            tie_a &&
        std::max(g.get<std::uint32_t>("FRST", 8 + 12 * e), g.get<std::uint32_t>("FRST", 12 + 12 * e)) ==
            tie_b)
      smallest = g.get<float>("FRST", 16 + 12 * e) == tie_d;
  EXPECT_TRUE(smallest) << "the forest did not keep the smallest raw distance of the tied parallel edges";
}

TEST(ModelFileFields, ExactTreeFieldsAreRangeChecked) {
  // TREE payload: count u64, n core distances f32, count u64, edges (a i64, b i64, d f64).
  const auto exact = chutoro::candidate_mode::exact;
  const std::size_t edges = 8 + 4 * kItems + 8;
  expect_parse_error(crafted(exact).set<std::uint64_t>("TREE", 0, two_to(62)).bytes(),
                     {"section TREE", "truncated", "field core distances count = 4611686018427387904"});
  expect_parse_error(crafted(exact).set<float>("TREE", 8 + 4 * 9, -1.0f).bytes(),
                     {"section TREE", "field core distances: item 9 (0-based) has -1"});
  expect_parse_error(crafted(exact).set<std::uint64_t>("TREE", edges - 8, two_to(62)).bytes(),
                     {"section TREE", "truncated", "field edges count"});
  expect_parse_error(crafted(exact).set<std::int64_t>("TREE", edges + 24 * 4, kItems).bytes(),
                     {"section TREE", "field edges: edge 4 (0-based) = (200, ", "outside [0, 199]"});
  expect_parse_error(crafted(exact).set<std::int64_t>("TREE", edges + 24 * 4 + 8, -1).bytes(),
                     {"section TREE", "field edges: edge 4 (0-based)", "outside [0, 199]"});
  expect_parse_error(crafted(exact)
                         .set<double>("TREE", edges + 24 * 4 + 16, std::numeric_limits<double>::quiet_NaN())
                         .bytes(),
                     {"section TREE", "edge 4 (0-based)", "NaN", "not a number >= 0"});
  // Valid edges that do not span: edge 4 repeats edge 3.
  auto f = crafted(exact);
  f.set<std::int64_t>("TREE", edges + 24 * 4, f.get<std::int64_t>("TREE", edges + 24 * 3));
  f.set<std::int64_t>("TREE", edges + 24 * 4 + 8, f.get<std::int64_t>("TREE", edges + 24 * 3 + 8));
  expect_parse_error(f.bytes(), {"section TREE", "not a spanning tree"});
}

TEST(ModelFileFields, SectionsThatDisagreeAreNamed) {
  // The DATA section of a model of 199 items in a file whose other sections have 200.
  const auto other =
      chutoro::model(dense(make_blobs(kItems - 1, 4, 3, 0.0, 32)), make_params(chutoro::candidate_mode::hnsw))
          .to_bytes();
  const auto data199 = model_file_bytes(other).payload_bytes("DATA");
  expect_parse_error(crafted().replace_payload("DATA", data199).bytes(),
                     {"section HNSW", "field n = 200 differs from 199", "section DATA"});
  expect_parse_error(crafted(chutoro::candidate_mode::exact).replace_payload("DATA", data199).bytes(),
                     {"section TREE", "field core distances count = 200 differs from 199"});
  // Header: a section count that does not fit the mode, a reserved field set.
  expect_parse_error(crafted().set_header<std::uint32_t>(16, 3).bytes(),
                     {"section header", "field sections = 3", "hnsw model", "5 sections"});
  expect_parse_error(crafted().set_header<std::uint32_t>(16, 9).bytes(),
                     {"section header", "field sections = 9", "[3, 5]"});
  expect_parse_error(crafted().set_header<std::uint32_t>(20, 1).bytes(),
                     {"section header", "field reserved = 1 is not 0"});
  // A section out of order names the tag it found, escaped.
  auto f = crafted();
  const std::size_t data_tag = f.payload("DATA") - 16;
  std::vector<std::byte> b = f.bytes();
  const char tag[4] = {'D', '\x1b', '\n', 'A'};
  std::memcpy(b.data() + data_tag, tag, 4);
  model_file_bytes g(b);
  g.reseal();
  expect_parse_error(g.bytes(), {"section DATA", "expected section DATA", "found tag \"D\\x1b\\nA\""});
}

TEST(ModelFileFields, TruncationSaysWhatIsMissing) {
  const auto& good = crafted_base(chutoro::candidate_mode::hnsw);
  const std::vector<std::byte> cut(good.begin(), good.end() - 1);
  const std::string size = std::to_string(good.size() - 1);
  expect_parse_error(cut, {"section FRST", "truncated", "8-byte checksum",
                           "but the file ends at offset " + size, "(1 byte short)"});
  expect_parse_error(std::vector<std::byte>(good.begin(), good.begin() + 20),
                     {"section header", "the file is 20 bytes long, too short for the 32-byte header"});
  expect_parse_error({}, {"the file is 0 bytes long", "empty"});
  std::vector<std::byte> junk(good.begin(), good.end());
  junk[0] = std::byte{'X'};
  expect_parse_error(junk, {"not a chutoro model file"});
  // Cut inside the 16-byte header of section HNSW.
  const std::size_t hnsw = model_file_bytes(good).payload("HNSW") - 16;
  expect_parse_error(
      std::vector<std::byte>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(hnsw + 5)),
      {"section HNSW", "truncated", "the section header", "needs 16 bytes"});
}

// ---------------------------------------------------------------- hdbscan 0.8.40 selection options, soft
// clustering

TEST(ModelFile, SelectionOptionsAreStoredAndVersionOneFilesRead) {
  const dense_data d = make_blobs(600, 4, 4, 0.1, 21);
  chutoro::params p = make_params(chutoro::candidate_mode::exact);
  p.selection.max_cluster_size = 120;
  p.selection.cluster_selection_persistence = 0.5;
  p.selection.cluster_selection_epsilon_max = 30.0;
  const chutoro::model m(dense(d), p);
  const auto bytes = m.to_bytes();
  const chutoro::model back = chutoro::model::from_bytes(bytes);
  EXPECT_EQ(back.parameters().selection.max_cluster_size, 120u);
  EXPECT_EQ(back.parameters().selection.cluster_selection_persistence, 0.5);
  EXPECT_EQ(back.parameters().selection.cluster_selection_epsilon_max, 30.0);
  expect_same_clusters(back.clusters(), m.clusters());

  // PARM of version 1 ends after allow_single_cluster (payload offset 81): the three fields take their
  // defaults.
  model_file_bytes v1(bytes);
  const auto parm = v1.payload_bytes("PARM");
  ASSERT_EQ(parm.size(), 105u);
  v1.replace_payload("PARM", std::vector<std::byte>(parm.begin(), parm.begin() + 81));
  v1.set_header<std::uint32_t>(8, 1);
  const chutoro::model old = chutoro::model::from_bytes(v1.bytes());
  EXPECT_EQ(old.parameters().selection.max_cluster_size, 0u);
  EXPECT_EQ(old.parameters().selection.cluster_selection_persistence, 0.0);
  EXPECT_TRUE(std::isinf(old.parameters().selection.cluster_selection_epsilon_max));

  // The new fields are range-checked, naming the field.
  auto message = [](const std::vector<std::byte>& b) {
    try {
      (void)chutoro::model::from_bytes(b, nullptr, "t.chutoro");
    } catch (const chutoro::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(model_file_bytes(bytes).set<double>("PARM", 89, -1.0).bytes())
                .find("cluster_selection_persistence"),
            std::string::npos);
  EXPECT_NE(message(model_file_bytes(bytes).set<double>("PARM", 97, std::nan("")).bytes())
                .find("cluster_selection_epsilon_max"),
            std::string::npos);
}

TEST(ModelSoft, MembershipVectorsExemplarsAndScores) {
  const dense_data d = make_blobs(800, 4, 4, 0.05, 22);
  const chutoro::model m(dense(d), make_params(chutoro::candidate_mode::hnsw, 15, 5));
  const chutoro::clustering& c = m.clusters();
  const std::size_t k = c.n_clusters();
  ASSERT_GE(k, 2u);
  ASSERT_EQ(m.exemplars().size(), k);
  for (std::size_t j = 0; j < k; ++j) {
    ASSERT_FALSE(m.exemplars()[j].empty()) << j;
    for (const auto e : m.exemplars()[j]) EXPECT_EQ(c.labels[e], static_cast<std::int32_t>(j));
  }
  const std::vector<double> all = m.all_points_membership_vectors();
  ASSERT_EQ(all.size(), d.n * k);
  std::size_t agree = 0, clustered = 0;
  for (std::size_t i = 0; i < d.n; ++i) {
    double sum = 0;
    std::size_t best = 0;
    for (std::size_t j = 0; j < k; ++j) {
      EXPECT_GE(all[i * k + j], 0.0);
      sum += all[i * k + j];
      if (all[i * k + j] > all[i * k + best]) best = j;
    }
    EXPECT_LE(sum, 1.0 + 1e-9);
    if (c.labels[i] >= 0) ++clustered, agree += best == static_cast<std::size_t>(c.labels[i]);
  }
  EXPECT_GT(static_cast<double>(agree), 0.95 * static_cast<double>(clustered));

  // New items: soft membership rows and outlier scores; a far item scores near 1.
  std::vector<float> q(d.values.begin(), d.values.begin() + 20 * d.dim);
  for (std::size_t t = 0; t < d.dim; ++t) q[19 * d.dim + t] = 1000.0f;
  const chutoro::dense_source items(q, 20, d.dim, chutoro::dense_metric::euclidean);
  const chutoro::prediction plain = m.approximate_predict(items);
  EXPECT_TRUE(plain.membership.empty());
  const chutoro::prediction soft = m.approximate_predict(items, true);
  EXPECT_EQ(soft.labels, plain.labels);
  EXPECT_EQ(soft.n_clusters, k);
  ASSERT_EQ(soft.membership.size(), 20 * k);
  ASSERT_EQ(soft.outlier_scores.size(), 20u);
  EXPECT_GT(soft.outlier_scores[19], 0.9);
  for (std::size_t i = 0; i < 19; ++i) {
    if (soft.labels[i] < 0) continue;
    const auto row = std::span(soft.membership).subspan(i * k, k);
    EXPECT_EQ(static_cast<std::int32_t>(std::max_element(row.begin(), row.end()) - row.begin()),
              soft.labels[i]);
  }
}

// ---------------------------------------------------------------- compact model files (format version 3)

TEST(ModelFile, FittedModelsStoreAtMost200BytesPerItemAboveTheData) {
  // Default parameters (min_cluster_size 5, min_samples 5, m 16): the HNSW
  // graph's filled links, the k nearest neighbours and the compacted forest.
  for (const char* name : {"clusterable_data.npy", "digits.csv"}) {
    const dense_data d =
        std::string(name).ends_with(".npy") ? load_npy(data_path(name)) : load_csv(data_path(name), true);
    chutoro::params p;  // the defaults, with the HNSW graph (auto would pick exact at this size)
    p.build.candidates = chutoro::candidate_mode::hnsw;
    const chutoro::model m(dense(d), p);
    const auto bytes = m.to_bytes();
    const model_file_bytes f(bytes);
    const double above = double(bytes.size() - f.length("DATA")) / double(d.n);
    EXPECT_LE(above, 200.0) << name << ": " << bytes.size() << " bytes for " << d.n << " items";
    EXPECT_GE(above, 12.0) << name;  // at least the forest's n - 1 edges
    const auto forest = f.get<std::uint64_t>("FRST", 0);
    EXPECT_LE(forest, d.n - 1) << name;
    // The buffer keeps few edges: mostly those within an endpoint's core distance (k = 4 per item).
    EXPECT_LE(f.get<std::uint64_t>("FRST", 8 + 12 * forest), 4 * d.n) << name;
  }
}

TEST(ModelFile, VersionOneAndTwoFilesReadAndGrowLikeTheModelThatWroteThem) {
  const dense_data d = make_blobs(700, 4, 4, 0.1, 43);
  chutoro::model a(dense(d, 0, 600), make_params(chutoro::candidate_mode::hnsw));
  const auto v3 = a.to_bytes();
  // A version 2 file whose last 5 forest edges sit in the buffered list, with
  // a duplicate of edge (0, 1) far heavier than any forest edge (never chosen).
  std::vector<std::byte> extra;
  model_file_bytes::append<std::uint32_t>(extra, 0);
  model_file_bytes::append<std::uint32_t>(extra, 1);
  model_file_bytes::append<float>(extra, 1e30f);
  const auto v2 = as_version_2(v3, 5, extra, 1);
  ASSERT_GT(v2.size(), v3.size());
  chutoro::model b = chutoro::model::from_bytes(v2);
  expect_same_clusters(a.clusters(), b.clusters());
  expect_same_tree(a.tree(), b.tree());
  EXPECT_EQ(b.to_bytes(), v3);  // written back as version 3, the moved and the heavy edge compacted away
  // Version 1: version 2 without PARM's last three fields.
  model_file_bytes v1(v2);
  const auto parm = v1.payload_bytes("PARM");
  v1.replace_payload("PARM", std::vector<std::byte>(parm.begin(), parm.begin() + 81));
  v1.set_header<std::uint32_t>(8, 1);
  chutoro::model c = chutoro::model::from_bytes(v1.bytes());
  EXPECT_EQ(c.to_bytes(), v3);
  // Grown after loading: the same model as the one that never was saved.
  a.add(*dense(d, 600, 700));
  b.add(*dense(d, 600, 700));
  c.add(*dense(d, 600, 700));
  expect_same_clusters(a.clusters(), b.clusters());
  EXPECT_EQ(a.to_bytes(), b.to_bytes());
  EXPECT_EQ(a.to_bytes(), c.to_bytes());
}

TEST(ModelFile, CheckedInVersionOneFilesLoadAndAreWrittenBackSmaller) {
  // tests/fuzz/corpus/model: files written by the version 1 writer (fuzz seeds,
  // made by tests/fuzz/make_model_seeds.cpp before version 2): every source kind, both modes.
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CHUTORO_OLD_MODEL_FILES)) {
    const auto path = entry.path();
    if (path.extension() != ".chutoro") continue;
    ++files;
    std::ifstream in(path, std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> old(chars.size());
    std::memcpy(old.data(), chars.data(), chars.size());
    ASSERT_GE(old.size(), 12u) << path;
    std::uint32_t version;
    std::memcpy(&version, old.data() + 8, 4);
    EXPECT_EQ(version, 1u) << path;
    const chutoro::model m = chutoro::model::load(path);
    const auto now = m.to_bytes();
    std::memcpy(&version, now.data() + 8, 4);
    EXPECT_EQ(version, 4u) << path;
    // Version 2 added 24 bytes to PARM; hnsw files shed their layer-0 padding and buffered edges
    // (version 4 adds 8 bytes to a sets file: its vocabulary count, 0; the corpus' sets model is hnsw).
    if (m.parameters().build.candidates == chutoro::candidate_mode::hnsw)
      EXPECT_LT(now.size(), old.size()) << path;
    else
      EXPECT_EQ(now.size(), old.size() + 24) << path;
    const chutoro::model back = chutoro::model::from_bytes(now);
    expect_same_clusters(m.clusters(), back.clusters());
    expect_same_tree(m.tree(), back.tree());
    EXPECT_EQ(back.to_bytes(), now) << path;
  }
  EXPECT_GE(files, 5u);
}
