// test_crash.cpp — crash safety of the files chutoro writes.
//
// What the tests prove:
//  - StaleTemporaries.*: io_detail::remove_stale_temporaries removes exactly
//    the ".<name>.tmp-<pid>-<k>" files of dead writers of that target, and
//    keeps this process's and live processes' temporaries, other targets',
//    near-miss names, symlinks, directories, FIFOs, files of other users and
//    files locked by a writer; a successful write (output_file::commit) runs it.
//  - CrashCli.*: `chutoro fit --save` and `chutoro add` (CHUTORO_CLI_PATH)
//    killed with SIGKILL at seeded random points — anywhere in the run, and
//    right after the temporary model file appears (the write itself) — leave
//    the model file absent (a fit on a new path), the old model byte for byte,
//    or the complete new one (the bytes of an uninterrupted run), never a
//    half-written one; a labels file likewise; the next successful write to
//    that path removes the temporaries the killed runs left behind.
// About 3 s on 2 cores.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <chutoro/model.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "io/io_common.hpp"
#include "io/stale_temporaries.hpp"
#include "test_data.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using chutoro::io_detail::remove_stale_temporaries;
using chutoro::io_detail::stale_temporary_pid;

#ifdef CHUTORO_CLI_PATH
const char* const cli_path = CHUTORO_CLI_PATH;
#else
const char* const cli_path = nullptr;
#endif

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A folder of its own under CHUTORO_TEST_TMP for the running test, emptied.
fs::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir =
      fs::path(CHUTORO_TEST_TMP) / "crash" / (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

/// The pid of a process that has exited and been reaped (no process has it now,
/// barring reuse within the test's few milliseconds).
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

std::string temp_name(const std::string& target, long pid, unsigned k) {
  return "." + target + ".tmp-" + std::to_string(pid) + "-" + std::to_string(k);
}

/// Names in `dir` that are temporaries of some writer of `target`.
std::vector<std::string> temporaries(const fs::path& dir, const std::string& target) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (stale_temporary_pid(name, target)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

// ---------------------------------------------------------------- the cleaner

TEST(StaleTemporaries, NamePattern) {
  EXPECT_EQ(stale_temporary_pid(".m.chutoro.tmp-123-0", "m.chutoro"), 123);
  EXPECT_EQ(stale_temporary_pid(".m.chutoro.tmp-1-4294967295", "m.chutoro"), 1);
  EXPECT_EQ(stale_temporary_pid(".m.chutoro.tmp-2147483647-17", "m.chutoro"), 2147483647);
  for (const char* wrong :
       {"m.chutoro.tmp-123-0", ".m.chutoro.tmp-123-", ".m.chutoro.tmp--0", ".m.chutoro.tmp-123",
        ".m.chutoro.tmp-0123-0", ".m.chutoro.tmp-123-00", ".m.chutoro.tmp-0-0", ".m.chutoro.tmp-+12-0",
        ".m.chutoro.tmp-12-3x", ".m.chutoro.tmp-12-3-4", ".m.chutoro.tmp-2147483648-0",
        ".m.chutoro.tmp-1-4294967296", ".m.chutoroX.tmp-1-0", ".n.chutoro.tmp-1-0", ".m.chutoro.TMP-1-0",
        ".m.chutoro.tmp-1-0.bak", ""}) {
    EXPECT_FALSE(stale_temporary_pid(wrong, "m.chutoro")) << wrong;
  }
  EXPECT_FALSE(stale_temporary_pid(".tmp-1-0", ""));
}

TEST(StaleTemporaries, RemovesOnlyDeadWritersOwnFiles) {
  const fs::path dir = test_dir();
  const std::string target = "model.chutoro";
  const pid_t dead = dead_pid();
  const pid_t self = ::getpid();
  const pid_t live = ::getppid();  // alive while this test runs
  ASSERT_NE(dead, self);
  spit(dir / target, "the current file\n");
  const std::vector<std::string> stale = {temp_name(target, dead, 0), temp_name(target, dead, 7)};
  for (const auto& name : stale) spit(dir / name, "half-written");
  const std::vector<std::string> kept = {
      temp_name(target, self, 3),                                // this process: maybe a write in progress
      temp_name(target, live, 0),                                // a live process
      temp_name("other.chutoro", dead, 0),                       // another target
      "." + target + ".tmp-" + std::to_string(dead) + "-1.old",  // near miss
      "." + target + ".tmp-0" + std::to_string(dead) + "-1",     // leading zero: not ours
      "notes.txt",
  };
  for (const auto& name : kept) spit(dir / name, "keep");
  // Not regular files: a symlink (to a file that must survive), a directory, a FIFO.
  spit(dir / "precious.txt", "precious");
  fs::create_symlink(dir / "precious.txt", dir / temp_name(target, dead, 1));
  fs::create_directory(dir / temp_name(target, dead, 2));
  ASSERT_EQ(::mkfifo((dir / temp_name(target, dead, 3)).c_str(), 0600), 0);
  // A file locked by its writer (alive in a pid namespace we cannot see).
  spit(dir / temp_name(target, dead, 4), "locked");
  const int locked = ::open((dir / temp_name(target, dead, 4)).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(locked, 0);
  ASSERT_EQ(::flock(locked, LOCK_EX), 0);
  // A file of another user (we may create one only as root).
  const bool root = ::geteuid() == 0;
  if (root) {
    spit(dir / temp_name(target, dead, 5), "someone else's");
    ASSERT_EQ(::chown((dir / temp_name(target, dead, 5)).c_str(), 65534, 65534), 0);
  }

  EXPECT_EQ(remove_stale_temporaries(dir / target), stale.size());
  for (const auto& name : stale) EXPECT_FALSE(fs::exists(fs::symlink_status(dir / name))) << name;
  for (const auto& name : kept) EXPECT_EQ(slurp(dir / name), "keep") << name;
  EXPECT_EQ(slurp(dir / target), "the current file\n");
  EXPECT_TRUE(fs::is_symlink(dir / temp_name(target, dead, 1)));
  EXPECT_EQ(slurp(dir / "precious.txt"), "precious");
  EXPECT_TRUE(fs::is_directory(dir / temp_name(target, dead, 2)));
  EXPECT_TRUE(fs::is_fifo(dir / temp_name(target, dead, 3)));
  EXPECT_EQ(slurp(dir / temp_name(target, dead, 4)), "locked");
  if (root) EXPECT_TRUE(fs::exists(dir / temp_name(target, dead, 5)));

  // Unlocked, the locked one is a dead writer's file like the others.
  ::close(locked);
  EXPECT_EQ(remove_stale_temporaries(dir / target), 1u);
  EXPECT_FALSE(fs::exists(dir / temp_name(target, dead, 4)));
  // Nothing to do, a missing directory, a target without a name: no error.
  EXPECT_EQ(remove_stale_temporaries(dir / target), 0u);
  EXPECT_EQ(remove_stale_temporaries(dir / "no_such_dir" / target), 0u);
  EXPECT_EQ(remove_stale_temporaries(fs::path("/")), 0u);
  fs::remove_all(dir);
}

TEST(StaleTemporaries, UnreadableStaleFileIsRemoved) {
  const fs::path dir = test_dir();
  const pid_t dead = dead_pid();
  const fs::path stale = dir / temp_name("labels.csv", dead, 0);
  spit(stale, "1,0.5,0.1\n");
  ASSERT_EQ(::chmod(stale.c_str(), 0200), 0);  // as a temporary that kept a write-only target's mode
  EXPECT_EQ(remove_stale_temporaries(dir / "labels.csv"), 1u);
  EXPECT_FALSE(fs::exists(stale));
  fs::remove_all(dir);
}

TEST(StaleTemporaries, CommitRemovesThem) {
  const fs::path dir = test_dir();
  const pid_t dead = dead_pid();
  spit(dir / temp_name("out.csv", dead, 0), "partial");
  spit(dir / temp_name("out.csv", dead, 1), "partial");
  spit(dir / temp_name("other.csv", dead, 0), "partial");
  {
    chutoro::io_detail::output_file f(dir / "out.csv");
    f.write("label\n");
    EXPECT_EQ(temporaries(dir, "out.csv").size(), 3u);  // before commit: the two stale ones and f's own
  }  // destroyed uncommitted: its own temporary goes, the stale ones stay
  EXPECT_EQ(temporaries(dir, "out.csv").size(), 2u);
  chutoro::io_detail::output_file f(dir / "out.csv");
  f.write("label\n");
  f.commit();
  EXPECT_TRUE(temporaries(dir, "out.csv").empty());
  EXPECT_EQ(slurp(dir / "out.csv"), "label\n");
  EXPECT_EQ(temporaries(dir, "other.csv").size(), 1u);
  fs::remove_all(dir);
}

// ---------------------------------------------------------------- kill -9 of the CLI

namespace {

/// Four-blob CSV (3 columns) of n rows.
std::string blobs_csv(std::size_t n, std::uint64_t seed) {
  const chutoro_test::dense_data d = chutoro_test::make_blobs(n, 3, 4, 0.02, seed);
  std::ostringstream s;
  s << "x,y,z\n";
  for (std::size_t i = 0; i < n; ++i) s << d.at(i, 0) << ',' << d.at(i, 1) << ',' << d.at(i, 2) << '\n';
  return s.str();
}

/// Starts the CLI with `args`, stdin/stdout/stderr on /dev/null.
pid_t spawn_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv_s{cli_path};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, cli_path, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

/// Runs the CLI to the end; its exit status (-1 if it did not exit normally).
int run_cli(const std::vector<std::string>& args) {
  const pid_t pid = spawn_cli(args);
  if (pid < 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

using clock_type = std::chrono::steady_clock;

/// How one killed run went.
struct kill_outcome {
  bool killed = false;             ///< SIGKILL ended it (rather than its own exit)
  std::vector<std::string> stray;  ///< its temporaries of the target left after it died
};

/// Starts the CLI with `args` and kills it with SIGKILL: after `delay` from
/// the start, or (when `at_write`) `delay` after its temporary file of
/// `dir/target` appears.
kill_outcome kill_cli_at(const std::vector<std::string>& args, const fs::path& dir, const std::string& target,
                         std::chrono::microseconds delay, bool at_write) {
  const pid_t pid = spawn_cli(args);
  EXPECT_GT(pid, 0);
  if (pid <= 0) return {};
  auto own_temporaries = [&] {
    std::vector<std::string> own;
    for (const auto& name : temporaries(dir, target))
      if (stale_temporary_pid(name, target) == pid) own.push_back(name);
    return own;
  };
  int status = 0;
  bool ended = false;
  if (at_write) {
    const auto give_up = clock_type::now() + std::chrono::seconds(20);
    while (own_temporaries().empty() && clock_type::now() < give_up) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        ended = true;  // it ended before writing
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  if (!ended) {
    std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  kill_outcome out;
  out.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  if (!out.killed) EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  out.stray = own_temporaries();
  return out;
}

/// Tracks the temporaries the runs of a test leave in the folder and checks
/// them after every run (`now`: the temporaries there, `committed`: the run
/// renamed its file over the target). A run killed before its commit adds its
/// own temporary and removes none; a run that committed removes some or all
/// of the earlier ones (all when it completed: the clean-up runs right after
/// the rename, so a kill may land before or during it) and leaves none of its own.
struct stray_ledger {
  std::vector<std::string> expected;
  int killed = 0, killed_writing = 0;
  void note(const kill_outcome& k, bool committed, const std::vector<std::string>& now, int t) {
    killed += k.killed ? 1 : 0;
    if (!committed) {
      EXPECT_TRUE(k.killed) << "trial " << t << ": a run that was not killed did not commit";
      killed_writing += k.stray.empty() ? 0 : 1;
      expected.insert(expected.end(), k.stray.begin(), k.stray.end());
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(now, expected) << "trial " << t << ": a killed writer leaves its temporary file, and only it";
      return;
    }
    EXPECT_TRUE(k.stray.empty()) << "trial " << t << ": a committed run left its temporary file";
    if (!k.killed) EXPECT_TRUE(now.empty()) << "trial " << t << ": a complete write left stray temporaries";
    for (const auto& name : now)
      EXPECT_TRUE(std::binary_search(expected.begin(), expected.end(), name))
          << "trial " << t << ": " << name << " appeared from a committed run";
    expected = now;
  }
};

/// Under load a kill aimed at the write may land after it, and a run that
/// completes removes the strays of earlier ones. Until the latest runs have
/// left a stray for the clean-up check (at most 20 more), runs `trial(t)`
/// (killing right as the temporary file appears); returns how many it ran.
template <class Trial>
int kill_until_stray(const stray_ledger& ledger, Trial&& trial, int first) {
  int extra = 0;
  for (; extra < 20 && ledger.expected.empty(); ++extra) trial(first + extra);
  return extra;
}

class CrashCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cli_path == nullptr) GTEST_SKIP() << "CHUTORO_CLI_PATH is not defined (CLI not built)";
    if (!fs::exists(cli_path)) GTEST_SKIP() << cli_path << " does not exist";
    dir_ = test_dir();
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  /// Seconds an uninterrupted run of `args` takes (it must succeed).
  double timed_run(const std::vector<std::string>& args) {
    const auto t = clock_type::now();
    EXPECT_EQ(run_cli(args), 0);
    return std::chrono::duration<double>(clock_type::now() - t).count();
  }

  /// Kill points of trial `t` of `trials`: the first half anywhere in [0, 1.2 x run time],
  /// the second half within 3 ms of the temporary file's appearance.
  std::pair<std::chrono::microseconds, bool> kill_point(int t, int trials, double run_seconds) {
    const bool at_write = t >= trials / 2;
    const double span = at_write ? 0.003 : 1.2 * run_seconds;
    std::uniform_real_distribution<double> u(0.0, span);
    return {std::chrono::microseconds(static_cast<long>(1e6 * u(rng_))), at_write};
  }

  fs::path dir_;
  std::mt19937_64 rng_{20261122};  // seeded: the same kill points every run (up to timing)
};

}  // namespace

TEST_F(CrashCli, KilledFitSaveLeavesNoModelTheOldOneOrTheNewOne) {
  spit(dir_ / "data.csv", blobs_csv(1200, 1));
  spit(dir_ / "small.csv", blobs_csv(200, 2));
  const fs::path model = dir_ / "m.chutoro";
  const std::vector<std::string> fit = {
      "fit", (dir_ / "data.csv").string(), "--save", model.string(), "--threads", "1", "--quiet"};
  // The two possible complete files: an old model (from small.csv) and the new one.
  ASSERT_EQ(
      run_cli({"fit", (dir_ / "small.csv").string(), "--save", model.string(), "--threads", "1", "--quiet"}),
      0);
  const std::string old_bytes = slurp(model);
  const double seconds = timed_run(fit);
  const std::string new_bytes = slurp(model);
  ASSERT_NE(old_bytes, new_bytes);
  ASSERT_EQ(slurp(model), new_bytes);
  ASSERT_EQ(run_cli(fit), 0);
  ASSERT_EQ(slurp(model), new_bytes) << "fit --threads 1 is not deterministic: the test's premise";

  const int trials = 10;
  stray_ledger ledger;
  auto trial = [&](int t, std::chrono::microseconds delay, bool at_write) {
    // Even trials fit onto a new path, odd ones over the old model.
    const bool fresh = t % 2 == 0;
    fs::remove(model);
    if (!fresh) spit(model, old_bytes);
    const kill_outcome k = kill_cli_at(fit, dir_, "m.chutoro", delay, at_write);
    const bool exists = fs::exists(model);
    const std::string bytes = exists ? slurp(model) : std::string();
    ledger.note(k, exists && (fresh || bytes != old_bytes), temporaries(dir_, "m.chutoro"), t);
    if (fresh) {
      EXPECT_TRUE(!exists || bytes == new_bytes) << "trial " << t << ": a half-written model on a new path";
    } else {
      EXPECT_TRUE(exists && (bytes == old_bytes || bytes == new_bytes))
          << "trial " << t << ": the old model was lost or half replaced";
    }
    if (exists) EXPECT_NO_THROW((void)chutoro::model::load(model)) << "trial " << t;
  };
  for (int t = 0; t < trials; ++t) {
    const auto [delay, at_write] = kill_point(t, trials, seconds);
    trial(t, delay, at_write);
  }
  EXPECT_GE(ledger.killed, trials / 2) << "too few runs were killed to test anything";
  const int extra = kill_until_stray(
      ledger, [&](int t) { trial(t, std::chrono::microseconds(0), true); }, trials);
  RecordProperty("extra_trials", extra);
  RecordProperty("killed", ledger.killed);
  RecordProperty("killed_writing", ledger.killed_writing);
  ASSERT_FALSE(ledger.expected.empty()) << "no run was killed while writing its model file";

  // The next successful write to that path removes them; other files stay.
  spit(dir_ / "notes.txt", "keep");
  ASSERT_EQ(run_cli(fit), 0);
  EXPECT_EQ(slurp(model), new_bytes);
  EXPECT_TRUE(temporaries(dir_, "m.chutoro").empty());
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"data.csv", "m.chutoro", "notes.txt", "small.csv"}));
}

TEST_F(CrashCli, KilledAddLeavesTheOldModelOrTheNewOne) {
  spit(dir_ / "first.csv", blobs_csv(1000, 3));
  spit(dir_ / "second.csv", blobs_csv(400, 4));
  const fs::path model = dir_ / "m.chutoro", labels = dir_ / "labels.csv";
  ASSERT_EQ(
      run_cli({"fit", (dir_ / "first.csv").string(), "--save", model.string(), "--threads", "1", "--quiet"}),
      0);
  const std::string old_bytes = slurp(model);
  const std::vector<std::string> add = {"add",      model.string(),  (dir_ / "second.csv").string(),
                                        "--output", labels.string(), "--threads",
                                        "1",        "--quiet"};
  const double seconds = timed_run(add);
  const std::string new_bytes = slurp(model), new_labels = slurp(labels);
  ASSERT_NE(old_bytes, new_bytes);
  ASSERT_EQ(std::count(new_labels.begin(), new_labels.end(), '\n'), 1401);
  spit(model, old_bytes);
  ASSERT_EQ(run_cli(add), 0);
  ASSERT_EQ(slurp(model), new_bytes) << "add --threads 1 is not deterministic: the test's premise";
  ASSERT_EQ(slurp(labels), new_labels);

  const int trials = 10;
  stray_ledger ledger;
  auto trial = [&](int t, std::chrono::microseconds delay, bool at_write) {
    spit(model, old_bytes);
    fs::remove(labels);
    const kill_outcome k = kill_cli_at(add, dir_, "m.chutoro", delay, at_write);
    const std::string bytes = slurp(model);
    ledger.note(k, bytes != old_bytes, temporaries(dir_, "m.chutoro"), t);
    EXPECT_TRUE(bytes == old_bytes || bytes == new_bytes) << "trial " << t << ": the model was half replaced";
    EXPECT_NO_THROW((void)chutoro::model::load(model)) << "trial " << t;
    EXPECT_TRUE(!fs::exists(labels) || slurp(labels) == new_labels)
        << "trial " << t << ": half-written labels";
  };
  for (int t = 0; t < trials; ++t) {
    const auto [delay, at_write] = kill_point(t, trials, seconds);
    trial(t, delay, at_write);
  }
  EXPECT_GE(ledger.killed, trials / 2) << "too few runs were killed to test anything";
  const int extra = kill_until_stray(
      ledger, [&](int t) { trial(t, std::chrono::microseconds(0), true); }, trials);
  RecordProperty("extra_trials", extra);
  RecordProperty("killed", ledger.killed);
  RecordProperty("killed_writing", ledger.killed_writing);
  ASSERT_FALSE(ledger.expected.empty()) << "no run was killed while writing its model file";

  // A successful add to the model removes the model's stray temporaries.
  spit(model, old_bytes);
  ASSERT_EQ(run_cli(add), 0);
  EXPECT_EQ(slurp(model), new_bytes);
  EXPECT_TRUE(temporaries(dir_, "m.chutoro").empty());
  EXPECT_TRUE(temporaries(dir_, "labels.csv").empty());
}
