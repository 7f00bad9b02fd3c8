// The C plugin ABI host side: plugin_source loading, validation, failures,
// destroy counting, batch routing and thread-local error messages, driven by
// tests/c/misbehaving_plugin.c (CHUTORO_TEST_PLUGIN).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/plugin_source.hpp>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace {

using chutoro::error_code;

/// Keeps the test plugin loaded (so its destroy counter survives the wrapper's dlclose).
class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    handle_ = ::dlopen(CHUTORO_TEST_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << ::dlerror();
    count_ = reinterpret_cast<int (*)()>(::dlsym(handle_, "test_plugin_destroy_count"));
    ASSERT_NE(count_, nullptr);
  }
  void TearDown() override {
    if (handle_) ::dlclose(handle_);
  }
  int destroyed() const { return count_(); }

  /// Loading with `arg` must fail with `code` and a message holding the plugin path and `needle`.
  void expect_load_error(const std::string& arg, error_code code, const std::string& needle) {
    try {
      chutoro::plugin_source p(CHUTORO_TEST_PLUGIN, arg);
      ADD_FAILURE() << "loading with \"" << arg << "\" did not throw";
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), code) << arg << ": " << e.what();
      const std::string msg = e.what();
      EXPECT_NE(msg.find(CHUTORO_TEST_PLUGIN), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << arg << ": " << msg;
    }
  }

  void* handle_ = nullptr;
  int (*count_)() = nullptr;
};

TEST_F(PluginTest, LoadsAndComputesDistances) {
  const int before = destroyed();
  {
    chutoro::plugin_source p(CHUTORO_TEST_PLUGIN, "ok");
    EXPECT_EQ(p.size(), 12u);
    EXPECT_EQ(p.name(), "line");
    EXPECT_EQ(p.caps(), CHUTORO_HAS_DISTANCE_BATCH);
    EXPECT_EQ(p.distance(2, 7), 5.0f);
    EXPECT_EQ(p.distance(7, 7), 0.0f);
    EXPECT_EQ(destroyed(), before);
  }
  EXPECT_EQ(destroyed(), before + 1);
}

TEST_F(PluginTest, BatchesGoToDistanceBatchWhenTheCapIsSet) {
  const std::vector<chutoro::index_pair> pairs = {{0, 3}, {5, 1}, {4, 4}};
  std::vector<float> out(3);
  chutoro::plugin_source with(CHUTORO_TEST_PLUGIN, "ok");
  with.distance_batch(pairs, out);
  EXPECT_EQ(out, (std::vector<float>{103.0f, 104.0f, 100.0f}));  // +100: the plugin's batch path
  chutoro::plugin_source without(CHUTORO_TEST_PLUGIN, "ok-nobatch");
  without.distance_batch(pairs, out);
  EXPECT_EQ(out, (std::vector<float>{3.0f, 4.0f, 0.0f}));
  std::vector<float> short_out(2);
  EXPECT_THROW(with.distance_batch(pairs, short_out), chutoro::error);
}

TEST_F(PluginTest, AbiVersionMismatch) {
  const int before = destroyed();
  expect_load_error("abi=2", error_code::unsupported,
                    "plugin ABI version 2, but this chutoro speaks version 1");
  // Another layout: its destroy cannot be trusted and is not called.
  EXPECT_EQ(destroyed(), before);
}

TEST_F(PluginTest, MissingFileAndMissingEntryPoint) {
  try {
    chutoro::plugin_source p("/nonexistent/libnothing.so", "");
    ADD_FAILURE();
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), error_code::io);
    EXPECT_NE(std::string(e.what()).find("plugin /nonexistent/libnothing.so: cannot load"),
              std::string::npos);
  }
  try {
    chutoro::plugin_source p(CHUTORO_TEST_NO_ENTRY, "");
    ADD_FAILURE();
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), error_code::unsupported);
    const std::string msg = e.what();
    EXPECT_NE(msg.find(CHUTORO_TEST_NO_ENTRY), std::string::npos) << msg;
    EXPECT_NE(msg.find("exports no function \"chutoro_plugin_open\""), std::string::npos) << msg;
  }
}

TEST_F(PluginTest, NullVtable) {
  expect_load_error("null", error_code::invalid_argument,
                    "chutoro_plugin_open(\"null\") failed: asked to return NULL");
  expect_load_error("null-silent", error_code::invalid_argument, "returned NULL without a message");
}

TEST_F(PluginTest, NullRequiredFieldsAndBadCaps) {
  const int before = destroyed();
  expect_load_error("null:len", error_code::invalid_argument, "v-table field len is NULL");
  expect_load_error("null:name", error_code::invalid_argument, "v-table field name is NULL");
  expect_load_error("null:distance", error_code::invalid_argument, "v-table field distance is NULL");
  expect_load_error("batch-missing", error_code::invalid_argument, "distance_batch is NULL");
  expect_load_error("batch-undeclared", error_code::invalid_argument,
                    "caps lacks CHUTORO_HAS_DISTANCE_BATCH");
  expect_load_error("caps-unknown", error_code::invalid_argument, "caps has unknown bits 0x100");
  expect_load_error("reserved", error_code::invalid_argument, "reserved[2] must be NULL");
  expect_load_error("name-null", error_code::invalid_argument, "name() returned NULL");
  // Every rejected v-table with a destroy was destroyed exactly once.
  EXPECT_EQ(destroyed(), before + 8);
  expect_load_error("null:destroy", error_code::invalid_argument, "v-table field destroy is NULL");
  EXPECT_EQ(destroyed(), before + 8);
}

TEST_F(PluginTest, LenZeroAndTooLarge) {
  const int before = destroyed();
  expect_load_error("len0", error_code::invalid_argument, "len() returned 0");
  expect_load_error("lenhuge", error_code::invalid_argument, "more than 2^32 - 2 items");
  EXPECT_EQ(destroyed(), before + 2);
}

TEST_F(PluginTest, NanNegativeAndFailedDistances) {
  struct bad {
    const char* arg;
    error_code code;
    const char* needle;
  };
  for (const bad& b :
       {bad{"nan", error_code::invalid_argument, "distance(3, 4) = NaN is not a non-negative number"},
        bad{"negative", error_code::invalid_argument, "distance(4, 3) = -1"},
        bad{"fail", error_code::io, "distance(3, 4) failed (status 3): disk on fire at (3, 4)"},
        bad{"fail-silent", error_code::invalid_argument, "failed (status 99): the plugin gave no message"}}) {
    chutoro::plugin_source p(CHUTORO_TEST_PLUGIN, b.arg);
    EXPECT_EQ(p.distance(1, 2), 1.0f);
    const bool swap = std::string(b.arg) == "negative";
    try {
      (void)(swap ? p.distance(4, 3) : p.distance(3, 4));
      ADD_FAILURE() << b.arg;
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), b.code) << e.what();
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(std::string("plugin ") + CHUTORO_TEST_PLUGIN + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(b.needle), std::string::npos) << msg;
    }
    // A fit stops with the same error, in both candidate modes.
    chutoro::params prm;
    prm.selection.min_cluster_size = 2;
    for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact}) {
      prm.build.candidates = mode;
      EXPECT_THROW((void)chutoro::fit(p, prm), chutoro::error) << b.arg;
    }
  }
}

TEST_F(PluginTest, BatchFailureAndBatchValuesAreChecked) {
  chutoro::plugin_source p(CHUTORO_TEST_PLUGIN, "batch-fail");
  const std::vector<chutoro::index_pair> pairs = {{0, 1}, {2, 3}};
  std::vector<float> out(2);
  try {
    p.distance_batch(pairs, out);
    ADD_FAILURE();
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), error_code::parse);
    EXPECT_NE(std::string(e.what()).find("distance_batch of 2 pairs failed (status 4): batch broke at 1"),
              std::string::npos)
        << e.what();
  }
}

// The exact mode calls distance() from OpenMP threads: every thread must see its
// own plugin message, the one about the pair the host names.
TEST_F(PluginTest, ErrorMessagesAreThreadLocal) {
  chutoro::plugin_source p(CHUTORO_TEST_PLUGIN, "fail-all");
  std::vector<std::string> messages(64);
#pragma omp parallel for num_threads(4)
  for (int k = 0; k < 64; ++k) {
    const auto i = static_cast<std::size_t>(k % 12), j = static_cast<std::size_t>((k * 7 + 1) % 12);
    try {
      (void)p.distance(i, j);
    } catch (const chutoro::error& e) {
      messages[static_cast<std::size_t>(k)] = e.what();
    }
  }
  for (int k = 0; k < 64; ++k) {
    const auto i = k % 12, j = (k * 7 + 1) % 12;
    const std::string pair = std::to_string(i) + ", " + std::to_string(j);
    const std::string& msg = messages[static_cast<std::size_t>(k)];
    EXPECT_NE(msg.find("distance(" + pair + ") failed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("failed (" + pair + ")"), std::string::npos) << msg;
  }
  chutoro::params prm;
  prm.selection.min_cluster_size = 2;
  prm.build.candidates = chutoro::candidate_mode::exact;
  prm.build.threads = 2;
  try {
    (void)chutoro::fit(p, prm);
    ADD_FAILURE();
  } catch (const chutoro::error& e) {
    const std::string msg = e.what();
    const auto at = msg.find("distance(");
    ASSERT_NE(at, std::string::npos) << msg;
    const std::string pair = msg.substr(at + 9, msg.find(')', at) - at - 9);
    EXPECT_NE(msg.find("failed (" + pair + ")"), std::string::npos) << msg;
  }
}

TEST_F(PluginTest, AdoptedVtableIsDestroyedOnce) {
  struct counter {
    int destroyed = 0;
  };
  static counter c;
  c.destroyed = 0;
  chutoro_v1 vt{};
  vt.abi_version = CHUTORO_ABI_VERSION;
  vt.state = &c;
  vt.len = [](void*) -> std::uint64_t { return 3; };
  vt.name = [](void*) -> const char* { return "adopted"; };
  vt.distance = [](void*, std::uint64_t i, std::uint64_t j, float* out, char*) -> std::int32_t {
    *out = std::fabs(static_cast<float>(i) - static_cast<float>(j));
    return CHUTORO_OK;
  };
  vt.destroy = [](void* s) { ++static_cast<counter*>(s)->destroyed; };
  {
    chutoro::plugin_source p(&vt, "in-process plugin");
    EXPECT_EQ(p.size(), 3u);
    EXPECT_EQ(p.distance(0, 2), 2.0f);
    EXPECT_TRUE(p.path().empty());
  }
  EXPECT_EQ(c.destroyed, 1);
  EXPECT_THROW(chutoro::plugin_source(nullptr, "x"), chutoro::error);
}

TEST_F(PluginTest, PluginMessagesAreEscaped) {
  // A plugin's message is text the host did not write: terminal escapes and
  // bytes that are not UTF-8 are escaped, valid UTF-8 is kept.
  chutoro_v1 vt{};
  vt.abi_version = CHUTORO_ABI_VERSION;
  vt.len = [](void*) -> std::uint64_t { return 3; };
  vt.name = [](void*) -> const char* { return "escapes"; };
  vt.distance = [](void*, std::uint64_t, std::uint64_t, float*, char* err) -> std::int32_t {
    return chutoro_fail(err, CHUTORO_ERR_IO, "read \x1b[2Jfailed\xff at caf\xc3\xa9\n");
  };
  vt.destroy = [](void*) {};
  chutoro::plugin_source p(&vt, "in-process plugin");
  try {
    (void)p.distance(0, 1);
    ADD_FAILURE() << "no error";
  } catch (const chutoro::error& e) {
    EXPECT_EQ(e.code(), error_code::io);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("read \\x1b[2Jfailed\\xff at caf\xc3\xa9\\n"), std::string::npos) << msg;
    for (const char c : msg) EXPECT_NE(c, '\x1b') << msg;
  }
}

TEST_F(PluginTest, ClustersThroughTheCheckedPath) {
  // "ok-nobatch": "ok"'s distance_batch adds 100 to mark the batch path, which fits take.
  chutoro::plugin_source p(CHUTORO_TEST_PLUGIN, "ok-nobatch");
  chutoro::params prm;
  prm.selection.min_cluster_size = 3;
  prm.build.candidates = chutoro::candidate_mode::exact;
  const chutoro::result r = chutoro::fit(p, prm);
  EXPECT_EQ(r.labels.size(), 12u);
  EXPECT_EQ(r.tree.edges.size(), 11u);
  for (const auto& e : r.tree.edges) EXPECT_LE(e.distance, 3.0);  // core distance 2 on a line
}

}  // namespace

// The graph build measures each search expansion (one query against the
// unvisited neighbours of a node) and each item against its batch-mates as one
// distance_batch call, so a plugin with CHUTORO_HAS_DISTANCE_BATCH receives
// batches; the values are those distance() gives, so the result is the same
// as without the cap.
TEST_F(PluginTest, TheGraphBuildSendsBatchesToDistanceBatch) {
  auto calls = reinterpret_cast<std::uint64_t (*)(int)>(::dlsym(handle_, "test_plugin_calls"));
  ASSERT_NE(calls, nullptr);
  chutoro::params prm;
  prm.selection.min_cluster_size = 5;
  prm.build.candidates = chutoro::candidate_mode::hnsw;
  prm.build.threads = 1;  // the plugin's counters are not atomic
  chutoro::plugin_source batched(CHUTORO_TEST_PLUGIN, "count");
  calls(-1);
  const chutoro::result with = chutoro::fit(batched, prm);
  const std::uint64_t single = calls(0), batches = calls(1), pairs = calls(2);
  EXPECT_GT(batches, 100u);
  EXPECT_GT(pairs, 2 * batches) << "batches of one pair only";
  EXPECT_GT(pairs, single) << "most distances should come in batches";
  EXPECT_EQ(single + pairs, with.stats.distance_computations);

  chutoro::plugin_source plain(CHUTORO_TEST_PLUGIN, "count-nobatch");
  calls(-1);
  const chutoro::result without = chutoro::fit(plain, prm);
  EXPECT_EQ(calls(1), 0u);
  EXPECT_EQ(calls(0), with.stats.distance_computations);
  EXPECT_EQ(without.labels, with.labels);
  EXPECT_EQ(without.stats.distance_computations, with.stats.distance_computations);
}
