// test_progress.cpp — the progress callback of chutoro::fit: it is called
// with a stage name and counts, and an exception it throws (how Python's
// Ctrl-C stops a fit) aborts the fit promptly in every mode and reaches the
// caller intact, also from inside the OpenMP loops of the exact mode.
#include <gtest/gtest.h>

#include <chrono>
#include <chutoro/chutoro.hpp>
#include <string>

#include "test_data.hpp"

namespace {

struct cancelled {};

chutoro::params with(chutoro::candidate_mode mode, int threads) {
  chutoro::params p;
  p.build.candidates = mode;
  p.build.threads = threads;
  return p;
}

}  // namespace

TEST(Progress, ReportsStagesAndFinalCounts) {
  const auto d = chutoro_test::make_blobs(3000, 4, 5, 0.1, 5);
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact}) {
    std::vector<std::string> stages;
    std::size_t last_done = 0, last_total = 0;
    chutoro::fit(src, with(mode, 2), [&](std::string_view stage, std::size_t done, std::size_t total) {
      if (stages.empty() || stages.back() != stage) stages.emplace_back(stage);
      last_done = done, last_total = total;
    });
    ASSERT_FALSE(stages.empty());
    if (mode == chutoro::candidate_mode::hnsw) {
      EXPECT_EQ(stages, std::vector<std::string>{"graph"});
    } else {
      EXPECT_EQ(stages, (std::vector<std::string>{"core distances", "mst"}));
    }
    EXPECT_EQ(last_done, d.n);
    EXPECT_EQ(last_total, d.n);
  }
}

TEST(Progress, ThrowingCallbackAbortsEveryModePromptly) {
  const auto d = chutoro_test::make_blobs(6000, 8, 5, 0.1, 6);
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  for (auto mode : {chutoro::candidate_mode::hnsw, chutoro::candidate_mode::exact})
    for (int threads : {1, 2}) {
      SCOPED_TRACE(std::string(chutoro::to_string(mode)) + ", threads " + std::to_string(threads));
      // Let the fit run ~100 ms, then cancel: it must stop within well under a second.
      const auto t0 = std::chrono::steady_clock::now();
      std::chrono::steady_clock::time_point cancel_at{};
      auto cb = [&](std::string_view, std::size_t, std::size_t) {
        const auto now = std::chrono::steady_clock::now();
        if (now - t0 > std::chrono::milliseconds(100)) {
          cancel_at = now;
          throw cancelled{};
        }
      };
      EXPECT_THROW(chutoro::fit(src, with(mode, threads), cb), cancelled);
      if (cancel_at != std::chrono::steady_clock::time_point{}) {
        const double after =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - cancel_at).count();
        EXPECT_LT(after, 0.5) << "the fit went on for " << after << " s after the callback threw";
      }
    }
}
