// Shared by the mpirun CLI tests (test_distributed_cli.cpp,
// test_distributed_columnar.cpp): runs a shell command line that starts
// `CHUTORO_MPIEXEC -np P CHUTORO_CLI_PATH ...`, capturing its exit status,
// standard output and error; a fresh directory per test under
// CHUTORO_TEST_TMP. Both macros are set by tests/mpi/CMakeLists.txt.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace mpirun_cli {

namespace fs = std::filesystem;

struct run_result {
  int status = -1;
  std::string out, err;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// An empty directory named after the running test.
inline fs::path tmp_dir() {
  const fs::path d =
      fs::path(CHUTORO_TEST_TMP) / ::testing::UnitTest::GetInstance()->current_test_info()->name();
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// Runs a shell command line, capturing its standard output and error.
inline run_result run(const std::string& command, const fs::path& dir) {
  const fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  const int rc = std::system((command + " >" + out.string() + " 2>" + err.string()).c_str());
  run_result r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = slurp(out), r.err = slurp(err);
  fs::remove(out), fs::remove(err);
  return r;
}

/// The launcher prefix for np ranks (oversubscribed: 2 cores here).
inline std::string mpirun(int np) {
  return std::string(CHUTORO_MPIEXEC) + " -np " + std::to_string(np) + " --oversubscribe ";
}

inline const std::string cli = CHUTORO_CLI_PATH;

}  // namespace mpirun_cli
