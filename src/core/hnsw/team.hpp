// chutoro — a barrier for the threads of one OpenMP parallel region whose
// waiting is bounded by the library, not by the user's environment, and
// whose width adapts to a busy machine.
//
// Why: the HNSW build synchronises its threads three times per insertion
// batch (docs/algorithm.md, "Threads and determinism"). OpenMP's own barriers
// spin before they sleep for as long as the runtime was told at start-up
// (libgomp: 300,000 iterations, a few milliseconds, unless GOMP_SPINCOUNT /
// OMP_WAIT_POLICY say otherwise, and only the environment can say it). When
// another process holds a core, a thread spinning there keeps the thread it
// waits for off the CPU, and thousands of batches each lose a time slice.
// This barrier spins for at most kSpin (200 microseconds), then sleeps in
// std::atomic::wait (a futex on Linux), so a waiting thread gives its core
// to the one that is late. kSpin was measured (docs/benchmarks.md, "Barrier
// spin"): 20 us slept through most of the short waits of a quiet machine (2
// threads 1.70x one on 30k x 128, 200 us 1.94x).
//
// Adaptive width. Sleeping is not enough: with more runnable threads than
// free cores, the scheduler keeps taking a team thread off its core in the
// middle of a phase, and the others wait for it up to a time slice at every
// barrier (2 threads beside a busy core: 1.28x the time of 1 thread). So the
// team measures, per active thread and work phase (from leaving one barrier
// to arriving at the next), the wall time it did not run: wall time minus
// the thread's CPU time (CLOCK_THREAD_CPUTIME_ID; preemption, and blocking).
// Over a window (at least kWindowBatches batches and kMinWindow), if that
// lost time exceeds kMaxLost of the active threads' wall time, the team
// shrinks by one at the batch boundary: the highest-numbered active thread
// parks on a futex of its own, and the others take all the work (items,
// reverse-link lists and parts are claimed dynamically). A parked thread is
// re-admitted after a backoff (kFirstBackoff batches, doubling after every
// re-admission that shrinks again, up to kMaxBackoff, back to kFirstBackoff
// after one that holds), so a machine that turns quiet gets its threads back.
// Thread 0 (the caller) never parks. Only the split of work among threads
// changes, never what is computed, so results stay bit-identical. A quiet
// machine loses no time to it: its threads run when they have work (lost
// time near 0), and one active thread measures nothing.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

namespace chutoro::detail {

/// Nanoseconds of CPU time the calling thread has used (0 where the system
/// has no per-thread CPU clock: then the team never shrinks).
inline std::int64_t thread_cpu_ns() noexcept {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
#endif
  return -1;
}

/// Reusable barrier for a team of `n` threads, of which the first width()
/// take part in a phase (the others are parked); it runs a completion on the
/// last active thread to arrive before any thread is released (like
/// std::barrier, with a bounded spin). Waiting: at most kSpin of spinning
/// with a pause instruction, then std::atomic::wait. Protocol, per thread t
/// of the team, per batch:
///
///     if (!b.wait_admitted(t)) stop;      // parks while t >= width()
///     ...work...; b.arrive_and_wait(t, c1);
///     ...work...; b.arrive_and_wait(t, c2);
///     ...work...; if (!b.end_batch(t, c3)) stop;   // c3 returns "go on"
///
/// width() changes only inside end_batch (after c3 said "go on"; see the
/// file header), so every phase of a batch has the same active threads.
/// When c3 returns false, every thread's wait_admitted/end_batch returns
/// false. Completions must not throw (the caller catches inside them).
class team_barrier {
 public:
  /// Longest spin before sleeping.
  static constexpr std::chrono::nanoseconds kSpin{200'000};
  /// The adaptive width's settings (see the file header); tests change them.
  struct policy {
    int window_batches = 8;                               // kWindowBatches
    std::chrono::nanoseconds min_window{20'000'000};      // kMinWindow: 20 ms
    double max_lost = 0.10;                               // kMaxLost
    std::uint32_t first_backoff = 16, max_backoff = 512;  // batches parked before a probe
    std::int64_t (*cpu_ns)() = thread_cpu_ns;             // the calling thread's CPU time
  };

  explicit team_barrier(int n = 1) { reset(n); }
  team_barrier(const team_barrier&) = delete;
  team_barrier& operator=(const team_barrier&) = delete;

  /// Starts a parallel region of n threads; only while no thread waits. The
  /// width and backoff of the previous region are kept when n is the same
  /// (a compaction between two regions of one build does not make the team
  /// learn the machine again); else all n threads are active.
  void reset(int n) {
    if (n != n_ || static_cast<int>(marks_.size()) != n) {
      n_ = n;
      marks_ = std::vector<mark>(static_cast<std::size_t>(std::max(n, 1)));
      width_.store(n, std::memory_order_relaxed);
      backoff_ = policy_.first_backoff, countdown_ = 0, probing_ = false;
    } else if (width_.load(std::memory_order_relaxed) == 0) {
      width_.store(last_width_, std::memory_order_relaxed);  // the previous region ended
    }
    count_.store(0, std::memory_order_relaxed);
    lost_.store(0, std::memory_order_relaxed);
    window_lost_ = 0, window_batches_ = 0, window_wall_ = {};
    batch_start_ = std::chrono::steady_clock::now();
  }
  void set_policy(const policy& p) { policy_ = p, backoff_ = p.first_backoff; }
  /// Threads in the team.
  [[nodiscard]] int size() const noexcept { return n_; }
  /// Threads taking part in the current batch: team threads 0..width()-1.
  /// Read by team threads between wait_admitted and end_batch (constant
  /// there), or by anyone while no region runs.
  [[nodiscard]] int width() const noexcept {
    const int w = width_.load(std::memory_order_acquire);
    return w == 0 ? last_width_ : w;
  }

  /// Team thread t at the start of a batch: returns true at once when t is
  /// active, sleeps while it is parked, returns false once the team ended.
  bool wait_admitted(int t) noexcept {
    for (;;) {
      const int w = width_.load(std::memory_order_acquire);
      if (w == 0) return false;
      if (t < w) break;
      width_.wait(w, std::memory_order_acquire);
    }
    if (width_.load(std::memory_order_relaxed) > 1) start_clock(t);
    return true;
  }

  template <class Completion>
  void arrive_and_wait(int t, Completion&& completion) noexcept {
    arrive<true>(t, [&] { completion(); });
  }
  /// The batch's last barrier. `completion` returns whether the team goes
  /// on; then the team may shrink or grow for the next batch. Returns the
  /// completion's answer on every active thread.
  template <class Completion>
  bool end_batch(int t, Completion&& completion) noexcept {
    arrive<false>(t, [&] {
      if (completion()) {
        adapt();
      } else {
        last_width_ = width_.load(std::memory_order_relaxed);
        width_.store(0, std::memory_order_release);  // the end: parked threads leave too
        width_.notify_all();
      }
    });
    return width_.load(std::memory_order_acquire) != 0;
  }

 private:
  struct alignas(64) mark {
    std::chrono::steady_clock::time_point wall;
    std::int64_t cpu = 0;
  };

  void start_clock(int t) noexcept {
    mark& m = marks_[static_cast<std::size_t>(t)];
    m.cpu = policy_.cpu_ns();
    m.wall = std::chrono::steady_clock::now();
  }

  // Lost time of thread t's work phase since start_clock(t): wall time it
  // did not run. The CPU readings bracket the wall readings (CPU, wall ...
  // wall, CPU), so the clocks' own cost never counts as lost.
  void stop_clock(int t) noexcept {
    const mark& m = marks_[static_cast<std::size_t>(t)];
    const auto wall = std::chrono::steady_clock::now();
    const std::int64_t cpu = policy_.cpu_ns();
    if (cpu < 0 || m.cpu < 0) return;
    const std::int64_t lost =
        std::chrono::duration_cast<std::chrono::nanoseconds>(wall - m.wall).count() - (cpu - m.cpu);
    if (lost > 0) lost_.fetch_add(lost, std::memory_order_relaxed);
  }

  // Restart: whether the thread's next work phase starts when it leaves
  // (not after end_batch: wait_admitted starts it, so that what the caller
  // does between batches, e.g. progress output, is not counted).
  template <bool Restart, class Completion>
  void arrive(int t, Completion&& completion) noexcept {
    const int n = width_.load(std::memory_order_acquire);
    const std::uint32_t gen = gen_.load(std::memory_order_acquire);
    if (n > 1) stop_clock(t);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
      completion();
      count_.store(0, std::memory_order_relaxed);
      gen_.store(gen + 1, std::memory_order_release);
      if (n > 1) gen_.notify_all();
      if (grow_to_ > 0) {
        width_.store(grow_to_, std::memory_order_release);
        width_.notify_all();
        grow_to_ = 0;
      }
    } else {
      const auto start = std::chrono::steady_clock::now();
      for (unsigned i = 1;; ++i) {
        if (gen_.load(std::memory_order_acquire) != gen) break;
        relax();
        if (i % 64 == 0 && std::chrono::steady_clock::now() - start > kSpin) {
          for (std::uint32_t g = gen; g == gen; g = gen_.load(std::memory_order_acquire))
            gen_.wait(gen, std::memory_order_acquire);
          break;
        }
      }
    }
    if constexpr (Restart)
      if (width_.load(std::memory_order_relaxed) > 1) start_clock(t);
  }

  // At a batch boundary, in the completion: the window's verdict and the
  // parked threads' backoff (see the file header).
  void adapt() noexcept {
    const auto now = std::chrono::steady_clock::now();
    int w = width_.load(std::memory_order_relaxed);
    const std::int64_t lost = lost_.exchange(0, std::memory_order_relaxed);
    bool shrunk = false;
    if (w > 1) {
      window_lost_ += lost, window_wall_ += now - batch_start_, ++window_batches_;
      if (window_batches_ >= policy_.window_batches && window_wall_ >= policy_.min_window) {
        const double budget = policy_.max_lost * w * static_cast<double>(window_wall_.count());
        if (static_cast<double>(window_lost_) > budget) {
          --w, shrunk = true;  // thread w parks at its next wait_admitted
          countdown_ = backoff_;
          backoff_ = std::min(backoff_ * 2, policy_.max_backoff);
        } else {
          if (probing_) backoff_ = policy_.first_backoff;        // the machine is quiet again
          if (w < n_ && countdown_ == 0) countdown_ = backoff_;  // then the next parked thread
        }
        probing_ = false;
        window_lost_ = 0, window_batches_ = 0, window_wall_ = {};
      }
    }
    if (!shrunk && w < n_ && countdown_ > 0 && --countdown_ == 0) {
      ++w, probing_ = true;  // re-admit one thread and measure again
      window_lost_ = 0, window_batches_ = 0, window_wall_ = {};
    }
    batch_start_ = now;
    // A shrink is published now, before the barrier releases anyone; a
    // growth only after (grow_to_, in arrive): a re-admitted thread must not
    // arrive at the next phase while this one is still being closed.
    if (w < width_.load(std::memory_order_relaxed))
      width_.store(w, std::memory_order_release);
    else if (w > width_.load(std::memory_order_relaxed))
      grow_to_ = w;
  }

  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
  }

  int n_ = 0;
  policy policy_;
  std::vector<mark> marks_;  // per team thread, written by that thread only
  // Completion-only state (the barrier orders the completions).
  int last_width_ = 1;
  int grow_to_ = 0;  // the width to publish once the batch's last barrier has released
  std::uint32_t backoff_ = 16, countdown_ = 0;
  bool probing_ = false;
  int window_batches_ = 0;
  std::int64_t window_lost_ = 0;
  std::chrono::nanoseconds window_wall_{};
  std::chrono::steady_clock::time_point batch_start_{};
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<std::uint32_t> gen_{0};
  alignas(64) std::atomic<int> width_{1};  // active threads; 0: the team ended
  alignas(64) std::atomic<std::int64_t> lost_{0};
};

}  // namespace chutoro::detail
