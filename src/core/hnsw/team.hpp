// chutoro — a barrier for the threads of one OpenMP parallel region whose
// waiting is bounded by the library, not by the user's environment.
//
// Why: the HNSW build synchronises its threads three times per insertion
// batch (docs/algorithm.md, "Threads"). OpenMP's own barriers spin before
// they sleep for as long as the runtime was told at start-up (libgomp: 300,000
// iterations, a few milliseconds, unless GOMP_SPINCOUNT / OMP_WAIT_POLICY say
// otherwise, and only the environment can say it). When another process holds
// a core, a thread spinning there keeps the thread it waits for off the CPU,
// and thousands of batches each lose a time slice. This barrier spins for at
// most kSpin (200 microseconds), then sleeps in std::atomic::wait (a
// futex on Linux), so a waiting thread gives its core to the one that is late.
// kSpin was measured (docs/benchmarks.md, "Barrier spin"): 20 us slept
// through most of the short waits of a quiet machine (2 threads 1.70x one on
// 30k x 128, 200 us 1.94x) and 200 us costs 6% when a busy process shares a core.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace chutoro::detail {

/// Reusable barrier for `n` threads that runs a completion on the last thread
/// to arrive before any thread is released (like std::barrier, with a bounded
/// spin). Waiting: at most kSpin of spinning with a pause instruction, then
/// std::atomic::wait. Thread safe for exactly n threads per phase; the
/// completion must not throw (the caller catches inside it).
class team_barrier {
 public:
  /// Longest spin before sleeping.
  static constexpr std::chrono::nanoseconds kSpin{200'000};

  explicit team_barrier(int n = 1) noexcept : n_(n) {}
  /// Sets the thread count; only while no thread waits.
  void reset(int n) noexcept { n_ = n, count_.store(0, std::memory_order_relaxed); }
  [[nodiscard]] int size() const noexcept { return n_; }

  template <class Completion>
  void arrive_and_wait(Completion&& completion) noexcept {
    const std::uint32_t gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      completion();
      count_.store(0, std::memory_order_relaxed);
      gen_.store(gen + 1, std::memory_order_release);
      if (n_ > 1) gen_.notify_all();
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    for (unsigned i = 1;; ++i) {
      if (gen_.load(std::memory_order_acquire) != gen) return;
      relax();
      if (i % 64 == 0 && std::chrono::steady_clock::now() - start > kSpin) break;
    }
    for (std::uint32_t g = gen; g == gen; g = gen_.load(std::memory_order_acquire))
      gen_.wait(gen, std::memory_order_acquire);
  }
  void arrive_and_wait() noexcept {
    arrive_and_wait([] {});
  }

 private:
  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }

  int n_;
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<std::uint32_t> gen_{0};
};

}  // namespace chutoro::detail
