// End-to-end tests of the `chutoro` executable (CHUTORO_CLI_PATH) on the
// shared real data sets (CHUTORO_DATA_DIR) and on small bad inputs made here.
// Every run uses the default HNSW candidates; the whole file takes a few
// seconds on 2 cores.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chutoro/simd.hpp>
#include <chutoro/version.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "model_file_bytes.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;

namespace {

#ifdef CHUTORO_CLI_PATH
const char* const cli_path = CHUTORO_CLI_PATH;
#else
const char* const cli_path = nullptr;
#endif

const fs::path data_dir = CHUTORO_DATA_DIR;

struct run_result {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (const char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::size_t count_lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cli_path == nullptr) GTEST_SKIP() << "CHUTORO_CLI_PATH is not defined (CLI not built)";
    if (!fs::exists(cli_path)) GTEST_SKIP() << cli_path << " does not exist";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = fs::path(CHUTORO_TEST_TMP) / "cli" / name;
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  void need_data(const char* file) {
    if (!fs::exists(data_dir / file)) GTEST_SKIP() << (data_dir / file) << " missing";
  }

  /// Runs `chutoro` with shell-quoted `args`, capturing stdout and stderr;
  /// `env`: NAME=VALUE assignments for its environment ("" for none).
  run_result run(const std::vector<std::string>& args, const std::string& env = "") {
    std::string cmd = (env.empty() ? "" : "env " + env + " ") + sh_quote(cli_path);
    for (const auto& a : args) cmd += " " + sh_quote(a);
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    cmd += " >" + sh_quote(out.string()) + " 2>" + sh_quote(err.string()) + " </dev/null";
    const int status = std::system(cmd.c_str());
    run_result r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    fs::remove(out);
    fs::remove(err);
    return r;
  }

  nlohmann::json run_json(const std::vector<std::string>& args, const std::string& env = "") {
    const run_result r = run(args, env);
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(count_lines(r.out), 1u) << r.out;
    try {
      return nlohmann::json::parse(r.out);  // throws on anything but exactly one JSON value
    } catch (const std::exception& e) {
      ADD_FAILURE() << "stdout is not one JSON object: " << e.what() << "\n" << r.out;
      return {};
    }
  }

  /// Files in the test folder other than the inputs listed.
  std::vector<std::string> leftovers(const std::vector<std::string>& inputs) {
    std::vector<std::string> extra;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (std::find(inputs.begin(), inputs.end(), name) == inputs.end()) extra.push_back(name);
    }
    return extra;
  }

  fs::path dir_;
};

void expect_summary_fields(const nlohmann::json& j) {
  for (const char* key : {"n", "dim", "metric", "candidates", "min_cluster_size", "min_samples", "clusters",
                          "noise_fraction", "seconds", "peak_rss_bytes", "distance_computations"}) {
    EXPECT_TRUE(j.contains(key)) << key << " missing in " << j.dump();
  }
  for (const char* key : {"total", "read", "graph", "mst", "hierarchy"}) {
    ASSERT_TRUE(j["seconds"].contains(key)) << key;
    EXPECT_GE(j["seconds"][key].get<double>(), 0.0);
  }
  EXPECT_GE(j["noise_fraction"].get<double>(), 0.0);
  EXPECT_LE(j["noise_fraction"].get<double>(), 1.0);
  EXPECT_GT(j["peak_rss_bytes"].get<std::uint64_t>(), 1000000u);
  EXPECT_GT(j["distance_computations"].get<std::uint64_t>(), 0u);
}

/// Checks a result CSV: header, n rows, labels >= -1, probabilities and scores in [0, 1].
void expect_result_csv(const fs::path& p, std::size_t n) {
  std::ifstream in(p);
  ASSERT_TRUE(in.good()) << p;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "label,probability,outlier_score");
  std::size_t rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    std::istringstream cells(line);
    std::string a, b, c;
    std::getline(cells, a, ',');
    std::getline(cells, b, ',');
    std::getline(cells, c, ',');
    ASSERT_FALSE(c.empty()) << "row " << rows << ": " << line;
    EXPECT_GE(std::stoi(a), -1);
    EXPECT_GE(std::stod(b), 0.0);
    EXPECT_LE(std::stod(b), 1.0);
    EXPECT_GE(std::stod(c), 0.0);
    EXPECT_LE(std::stod(c), 1.0 + 1e-12);
  }
  EXPECT_EQ(rows, n);
}

}  // namespace

// ---------------------------------------------------------------- good runs

/// Sets (or unsets, for nullptr) an environment variable for one scope; the
/// commands run() starts inherit it.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~scoped_env() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST_F(Cli, Version) {
  scoped_env lib("CHUTORO_CUDA_LIBRARY", CHUTORO_TEST_FAKE_CUDA);
  scoped_env mode("CHUTORO_FAKE_CUDA", "two_gpus");
  run_result r = run({"--version"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, std::string("chutoro ") + CHUTORO_VERSION_STRING + "\nsimd " + chutoro::simd_target() +
                       "\ncuda: 2 devices: Fake GPU 0 (9.0), Fake GPU 1 (7.0)\n");
  scoped_env none("CHUTORO_FAKE_CUDA", "no_device");
  r = run({"--version"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out, std::string("chutoro ") + CHUTORO_VERSION_STRING + "\nsimd " + chutoro::simd_target() +
                       "\ncuda: none (no CUDA device (the NVIDIA driver sees none))\n");
}

TEST_F(Cli, VersionWithoutTheCudaModule) {
  const std::string missing = (dir_ / "libchutoro_cuda.so").string();
  scoped_env lib("CHUTORO_CUDA_LIBRARY", missing.c_str());
  const run_result r = run({"--version"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("\ncuda: none (no CUDA device: CHUTORO_CUDA_LIBRARY=" + missing + ": no such file)\n"),
            std::string::npos)
      << r.out;
}

TEST_F(Cli, DevicesHuman) {
  scoped_env lib("CHUTORO_CUDA_LIBRARY", CHUTORO_TEST_FAKE_CUDA);
  scoped_env mode("CHUTORO_FAKE_CUDA", "two_gpus");
  const run_result r = run({"devices"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "0: Fake GPU 0, compute capability 9.0, 132 multiprocessors, 141.0 GiB (140.0 GiB free), driver "
            "CUDA 13.0, "
            "runtime CUDA 13.0, PCI 0000:19:00.0\n"
            "1: Fake GPU 1, compute capability 7.0, 80 multiprocessors, 16.0 GiB (15.0 GiB free), driver "
            "CUDA 13.0, "
            "runtime CUDA 13.0, PCI 0000:1a:00.0, not supported (the CUDA module has no code for it)\n");
}

TEST_F(Cli, DevicesJson) {
  scoped_env lib("CHUTORO_CUDA_LIBRARY", CHUTORO_TEST_FAKE_CUDA);
  scoped_env mode("CHUTORO_FAKE_CUDA", "two_gpus");
  const auto j = run_json({"devices", "--json"});
  ASSERT_EQ(j["devices"].size(), 2u) << j.dump();
  const auto& d = j["devices"][0];
  EXPECT_EQ(d["index"], 0);
  EXPECT_EQ(d["name"], "Fake GPU 0");
  EXPECT_EQ(d["compute_capability"], "9.0");
  EXPECT_EQ(d["multiprocessors"], 132);
  EXPECT_EQ(d["total_memory_bytes"], std::uint64_t{141} << 30);
  EXPECT_EQ(d["free_memory_bytes"], std::uint64_t{140} << 30);
  EXPECT_EQ(d["driver_version"], "13.0");
  EXPECT_EQ(d["runtime_version"], "13.0");
  EXPECT_EQ(d["pci_bus_id"], "0000:19:00.0");
  EXPECT_EQ(d["supported"], true);
  EXPECT_EQ(j["devices"][1]["supported"], false);
  EXPECT_TRUE(j["reason"].is_null());
  EXPECT_EQ(j["module"], CHUTORO_TEST_FAKE_CUDA);
  EXPECT_EQ(j["module_build"], "fake CUDA module (tests/c/fake_cuda_module.c)");
  EXPECT_EQ(j["driver_version"], "13.0");
  EXPECT_EQ(j["runtime_version"], "13.0");
}

TEST_F(Cli, DevicesSayWhyThereIsNone) {
  scoped_env lib("CHUTORO_CUDA_LIBRARY", CHUTORO_TEST_FAKE_CUDA);
  struct situation {
    const char* mode;
    const char* reason;
    const char* line;
  };
  for (const situation s :
       {situation{"no_driver", "no NVIDIA driver (libcuda.so.1 not found: fake)",
                  "no CUDA device: no NVIDIA driver (libcuda.so.1 not found: fake)\n"},
        situation{"too_old", "NVIDIA driver too old (driver 12.2, this module needs >= 13.0)",
                  "no CUDA device: NVIDIA driver too old (driver 12.2, this module needs >= 13.0)\n"},
        situation{"no_device", "no CUDA device (the NVIDIA driver sees none)",
                  "no CUDA device (the NVIDIA driver sees none)\n"}}) {
    SCOPED_TRACE(s.mode);
    scoped_env mode("CHUTORO_FAKE_CUDA", s.mode);
    const run_result r = run({"devices"});
    EXPECT_EQ(r.rc, 0);
    EXPECT_EQ(r.out, s.line);
    EXPECT_EQ(r.err, "");
    const auto j = run_json({"devices", "--json"});
    EXPECT_EQ(j["devices"].size(), 0u);
    EXPECT_EQ(j["reason"], s.reason);
  }
  // A module that is not one, or of another ABI version: the same, naming the file.
  scoped_env mode("CHUTORO_FAKE_CUDA", "wrong_abi");
  auto j = run_json({"devices", "--json"});
  EXPECT_EQ(j["devices"].size(), 0u);
  EXPECT_TRUE(j["module"].is_null());
  EXPECT_EQ(j["reason"], std::string("CHUTORO_CUDA_LIBRARY=") + CHUTORO_TEST_FAKE_CUDA +
                             ": CUDA module ABI version 99, "
                             "but this chutoro speaks version 3; use the "
                             "libchutoro_cuda.so built with it");
  scoped_env lib2("CHUTORO_CUDA_LIBRARY", CHUTORO_TEST_NO_ENTRY);
  j = run_json({"devices", "--json"});
  EXPECT_EQ(j["reason"], std::string("CHUTORO_CUDA_LIBRARY=") + CHUTORO_TEST_NO_ENTRY +
                             ": not a chutoro CUDA module: it exports no function \"chutoro_cuda_open\"");
}

// With no CHUTORO_CUDA_LIBRARY the CLI finds the module next to itself, where
// the build puts it; without a GPU it says why there is none.
TEST_F(Cli, DevicesFindTheModuleNextToTheExecutable) {
  scoped_env lib("CHUTORO_CUDA_LIBRARY", nullptr);
  const auto j = run_json({"devices", "--json"});
#ifdef CHUTORO_TEST_CUDA_MODULE
  EXPECT_EQ(j["module"], fs::canonical(CHUTORO_TEST_CUDA_MODULE).string());
  EXPECT_TRUE(!j["devices"].empty() || !j["reason"].get<std::string>().empty()) << j.dump();
#else
  EXPECT_TRUE(j["module"].is_null());
  EXPECT_NE(j["reason"].get<std::string>().find("CUDA module not found: no libchutoro_cuda.so in"),
            std::string::npos)
      << j.dump();
#endif
  const run_result r = run({"devices"});
  EXPECT_EQ(r.rc, 0);
  if (j["devices"].empty()) EXPECT_EQ(r.out.rfind("no CUDA device", 0), 0u) << r.out;
}

#if defined(CHUTORO_TEST_CUDA_MODULE) && defined(CHUTORO_TEST_CUDA_STUB)
// The CUDA toolkit's stub libcuda.so where the driver should be: the real
// module says it is no driver.
TEST_F(Cli, DevicesWithTheToolkitsStubDriver) {
  fs::create_symlink(CHUTORO_TEST_CUDA_STUB, dir_ / "libcuda.so.1");
  scoped_env lib("CHUTORO_CUDA_LIBRARY", CHUTORO_TEST_CUDA_MODULE);
  scoped_env path("LD_LIBRARY_PATH", dir_.c_str());
  const run_result r = run({"devices"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(
      r.out,
      "no CUDA device: no NVIDIA driver (libcuda.so.1 is the CUDA toolkit's stub library, not a driver)\n");
}
#endif

TEST_F(Cli, HelpExitsZero) {
  const run_result r = run({"cluster", "--help"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("--min-cluster-size"), std::string::npos);
}

TEST_F(Cli, DigitsJsonWithLabelColumn) {
  need_data("digits.csv");
  const auto j =
      run_json({"cluster", (data_dir / "digits.csv").string(), "--label-column", "label", "--json"});
  expect_summary_fields(j);
  EXPECT_EQ(j["n"], 1797);
  EXPECT_EQ(j["dim"], 64);  // the label column is not a feature
  EXPECT_EQ(j["metric"], "euclidean");
  // The default, auto, resolves to exact (all pairs) for 1,797 items; the JSON gives both.
  EXPECT_EQ(j["candidates"], "exact");
  EXPECT_EQ(j["candidates_requested"], "auto");
  EXPECT_EQ(j["min_cluster_size"], 5);
  EXPECT_EQ(j["min_samples"], 5);
  EXPECT_GE(j["clusters"].get<int>(), 5);
  ASSERT_TRUE(j.contains("ari"));
  ASSERT_TRUE(j.contains("ami"));
  EXPECT_GT(j["ari"].get<double>(), 0.3);
  EXPECT_GT(j["ami"].get<double>(), 0.5);
}

TEST_F(Cli, DigitsCosineWithOptions) {
  need_data("digits.csv");
  const auto j = run_json({"cluster",
                           (data_dir / "digits.csv").string(),
                           "--label-column",
                           "label",
                           "--metric",
                           "cosine",
                           "--min-cluster-size",
                           "10",
                           "--min-samples",
                           "3",
                           "--cluster-selection-method",
                           "leaf",
                           "--m",
                           "8",
                           "--ef-construction",
                           "50",
                           "--seed",
                           "7",
                           "--threads",
                           "2",
                           "--json"});
  expect_summary_fields(j);
  EXPECT_EQ(j["metric"], "cosine");
  EXPECT_EQ(j["min_cluster_size"], 10);
  EXPECT_EQ(j["min_samples"], 3);
  EXPECT_GT(j["ari"].get<double>(), 0.1);
}

TEST_F(Cli, DigitsHumanSummary) {
  need_data("digits.csv");
  const run_result r = run({"cluster", (data_dir / "digits.csv").string(), "--label-column", "label"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.err, "");  // no progress bar: stderr is not a terminal
  for (const char* word : {"1797 items x 64 dims", "clusters", "noise", "ARI / AMI", "time", "peak RSS"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word << " not in:\n" << r.out;
  }
}

TEST_F(Cli, ClusterableNpy) {
  need_data("clusterable_data.npy");
  const auto j = run_json(
      {"cluster", (data_dir / "clusterable_data.npy").string(), "--min-cluster-size", "15", "--json"});
  expect_summary_fields(j);
  EXPECT_EQ(j["n"], 2309);
  EXPECT_EQ(j["dim"], 2);
  EXPECT_GE(j["clusters"].get<int>(), 2);
  EXPECT_FALSE(j.contains("ari"));
}

TEST_F(Cli, ChameleonWithOutputFile) {
  need_data("chameleon_ds3.csv");
  const fs::path out = dir_ / "labels.csv";
  const auto j = run_json({"cluster", (data_dir / "chameleon_ds3.csv").string(), "--min-cluster-size", "25",
                           "--output", out.string(), "--json"});
  expect_summary_fields(j);
  EXPECT_EQ(j["n"], 8000);
  EXPECT_GE(j["clusters"].get<int>(), 2);
  expect_result_csv(out, 8000);
  EXPECT_TRUE(leftovers({"labels.csv"}).empty());
}

TEST_F(Cli, QuietPrintsNothingAndWritesOutput) {
  need_data("clusterable_data.npy");
  const fs::path out = dir_ / "labels.csv";
  spit(out, "old contents\n");  // replaced
  const run_result r =
      run({"cluster", (data_dir / "clusterable_data.npy").string(), "--output", out.string(), "--quiet"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  expect_result_csv(out, 2309);
}

namespace {

/// The label column of a result CSV.
std::vector<int> read_labels(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  std::vector<int> labels;
  while (std::getline(in, line)) labels.push_back(std::stoi(line.substr(0, line.find(','))));
  return labels;
}

}  // namespace

// Issue 15, defect 6: data x 1e20 (squares overflow float32) and x 1e-30 (squares underflow)
// made every item noise with exit status 0. Each scale must give the labels of scale 1.
TEST_F(Cli, ExtremeScalesGiveTheLabelsOfScaleOne) {
  const chutoro_test::dense_data d = chutoro_test::make_blobs(300, 3, 3, 0.05, 5);
  for (const char* candidates : {"hnsw", "exact"}) {
    std::vector<int> want;
    for (const double scale : {1.0, 1e20, 1e-30, 0x1p-120}) {
      SCOPED_TRACE(std::string(candidates) + ", scale " + std::to_string(scale));
      std::string csv = "a,b,c\n";
      char cell[32];
      for (std::size_t i = 0; i < d.n; ++i)
        for (std::size_t k = 0; k < d.dim; ++k) {
          std::snprintf(cell, sizeof cell, "%.9g",
                        static_cast<double>(static_cast<float>(d.at(i, k) * scale)));
          csv += cell;
          csv += k + 1 < d.dim ? "," : "\n";
        }
      spit(dir_ / "blobs.csv", csv);
      const fs::path out = dir_ / "labels.csv";
      const run_result r = run({"cluster", (dir_ / "blobs.csv").string(), "--candidates", candidates,
                                "--min-cluster-size", "15", "--output", out.string(), "--quiet"});
      ASSERT_EQ(r.rc, 0) << r.err;
      const std::vector<int> labels = read_labels(out);
      ASSERT_EQ(labels.size(), d.n);
      if (scale == 1.0) {
        want = labels;
        EXPECT_GE(*std::max_element(want.begin(), want.end()), 1);  // at least two clusters
      } else {
        EXPECT_EQ(labels, want);
      }
    }
  }
}

// Values whose difference float32 cannot hold: refused, naming the file, the rows and the column.
TEST_F(Cli, ExtremeScalesDifferenceBeyondFloat32IsRefused) {
  spit(dir_ / "wide.csv", "x,y\n1,2\n3e38,2\n1,2\n-3e38,2\n1,3\n2,2\n");
  const run_result r = run({"cluster", (dir_ / "wide.csv").string(), "--min-cluster-size", "2", "--output",
                            (dir_ / "out.csv").string()});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  for (const char* part : {"wide.csv", "euclidean", "column 0", "(row 3)", "(row 1)", "float32"})
    EXPECT_NE(r.err.find(part), std::string::npos) << part << " not in " << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "out.csv"));
}

TEST_F(Cli, WordsExcerptLevenshtein) {
  need_data("words_en.txt");
  // Every 50th word: 2000 words from all over the alphabet.
  std::ifstream in(data_dir / "words_en.txt");
  std::string line, excerpt;
  std::size_t k = 0, taken = 0;
  while (taken < 2000 && std::getline(in, line)) {
    if (k++ % 50 == 0) {
      excerpt += line + "\n";
      ++taken;
    }
  }
  ASSERT_EQ(taken, 2000u);
  const fs::path words = dir_ / "words.txt";
  spit(words, excerpt);
  const fs::path out = dir_ / "labels.csv";
  const auto j =
      run_json({"cluster", words.string(), "--min-cluster-size", "5", "--output", out.string(), "--json"});
  expect_summary_fields(j);
  EXPECT_EQ(j["n"], 2000);
  EXPECT_EQ(j["dim"], 0);
  EXPECT_EQ(j["metric"], "levenshtein");
  expect_result_csv(out, 2000);
}

// ---------------------------------------------------------------- bad runs

namespace {

struct bad_case {
  const char* name;
  const char* file;               ///< input file name written in the test folder ("" = none written)
  std::string content;            ///< its bytes
  std::vector<std::string> args;  ///< after "cluster <file>"; "--output out.csv" is always added
  int rc;
  std::vector<std::string> in_message;
};

std::string npy_bytes(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

const std::string npy_i8 =
    npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (8, 1), }", std::string(64, '\1'));
const std::string npy_short =
    npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (8, 2), }", std::string(60, '\0'));

const std::string five_rows = "x,y\n1,2\n3,4\n5,6\n7,8\n9,10\n";

const std::vector<bad_case> bad_cases = {
    {"MissingFile", "", "", {}, 1, {"missing.csv", "cannot open"}},
    {"EmptyCsv", "empty.csv", "", {}, 1, {"empty.csv", "empty input"}},
    {"HeaderOnlyCsv", "header.csv", "x,y\n", {}, 1, {"header.csv", "no data rows"}},
    {"RaggedCsv", "ragged.csv", "x,y\n1,2\n3,4,5\n", {}, 1, {"ragged.csv", "line 3", "3 cells"}},
    {"NanCsv", "nan.csv", "x,y\n1,2\n3,nan\n", {}, 1, {"nan.csv", "line 3", "column 2", "\"y\"", "NaN"}},
    {"InfCsv", "inf.csv", "x,y\n1,inf\n", {}, 1, {"inf.csv", "line 2", "column 2", "infinite"}},
    {"TextCellCsv",
     "text.csv",
     "x,y\n1,2\nA,4\n",
     {},
     1,
     {"text.csv", "line 3", "column 1", "\"x\"", "non-numeric"}},
    {"UnknownLabelColumn",
     "nolabel.csv",
     "x,y\n1,2\n",
     {"--label-column", "class"},
     1,
     {"nolabel.csv", "\"class\"", "not in the header"}},
    {"NpyWrongDtype", "ints.npy", npy_i8, {}, 1, {"ints.npy", "int64"}},
    {"NpyTruncated", "short.npy", npy_short, {}, 1, {"short.npy", "truncated"}},
    {"EmptyLines", "empty.txt", "", {}, 1, {"empty.txt", "empty input"}},
    {"FewerItemsThanMinClusterSize",
     "five.csv",
     five_rows,
     {"--min-cluster-size", "6"},
     1,
     {"five.csv", "5 items", "--min-cluster-size 6"}},
    {"MinClusterSizeZero",
     "five.csv",
     five_rows,
     {"--min-cluster-size", "0"},
     2,
     {"--min-cluster-size", "must be an integer in [2, 4294967294]", "got \"0\""}},
    {"MinClusterSizeNegative",
     "five.csv",
     five_rows,
     {"--min-cluster-size", "-3"},
     2,
     {"--min-cluster-size", "got \"-3\""}},
    {"MinSamplesZero", "five.csv", five_rows, {"--min-samples", "0"}, 2, {"--min-samples", "got \"0\""}},
    // Beyond long long: the text given, not CLI11's saturated 9223372036854775807.
    {"MinClusterSizeBeyondInt64",
     "five.csv",
     five_rows,
     {"--min-cluster-size", "9223372036854775808"},
     2,
     {"--min-cluster-size", "[2, 4294967294]", "got \"9223372036854775808\""}},
    {"MinSamplesHuge",
     "five.csv",
     five_rows,
     {"--min-samples", "4611686018427387904"},
     2,
     {"--min-samples", "[1, 4294967294]", "got \"4611686018427387904\""}},
    {"MinClusterSizeNotANumber", "five.csv", five_rows, {"--min-cluster-size", "5x"}, 2, {"got \"5x\""}},
    {"EfConstructionHex",
     "five.csv",
     five_rows,
     {"--ef-construction", "0x10"},
     2,
     {"[1, 100000]", "\"0x10\""}},
    {"ThreadsTooMany", "five.csv", five_rows, {"--threads", "5000"}, 2, {"--threads", "[0, 4096]"}},
    {"EpsilonBeyondDouble",
     "five.csv",
     five_rows,
     {"--cluster-selection-epsilon", "1e400"},
     2,
     {"--cluster-selection-epsilon", "finite number >= 0", "got \"1e400\""}},
    // Lines ending in a lone '\r' (old Mac): five rows, so 6 is too many.
    {"CarriageReturnOnlyCsv",
     "mac.csv",
     "x,y\r1,2\r3,4\r5,6\r7,8\r9,10\r",
     {"--min-cluster-size", "6"},
     1,
     {"mac.csv", "5 items"}},
    {"NegativeSeed", "five.csv", five_rows, {"--seed", "-1"}, 2, {"--seed"}},
    {"UnknownMetric", "five.csv", five_rows, {"--metric", "dice"}, 2, {"dice", "euclidean"}},
    {"MetricDoesNotFitCsv", "five.csv", five_rows, {"--metric", "levenshtein"}, 2, {"levenshtein", "csv"}},
    {"MetricDoesNotFitLines",
     "w.txt",
     "a\nb\nc\nd\ne\n",
     {"--metric", "euclidean"},
     2,
     {"euclidean", "lines"}},
    {"UnknownFormat", "five.csv", five_rows, {"--format", "xlsx"}, 2, {"xlsx", "csv"}},
    {"UnknownExtension", "data.xlsx", "x\n1\n", {}, 2, {"data.xlsx", "--format"}},
    {"UnknownOption", "five.csv", five_rows, {"--no-such-option"}, 2, {"--no-such-option"}},
    {"UnknownSelectionMethod",
     "five.csv",
     five_rows,
     {"--cluster-selection-method", "best"},
     2,
     {"best", "eom"}},
};

class CliBadInput : public Cli, public ::testing::WithParamInterface<bad_case> {};

}  // namespace

TEST_P(CliBadInput, OneErrorLineNoOutputFile) {
  const bad_case& c = GetParam();
  std::string file = c.file;
  if (file.empty()) {
    file = "missing.csv";
  } else {
    spit(dir_ / file, c.content);
  }

  std::vector<std::string> args{"cluster", (dir_ / file).string()};
  args.insert(args.end(), c.args.begin(), c.args.end());
  args.push_back("--output");
  args.push_back((dir_ / "out.csv").string());
  const run_result r = run(args);
  EXPECT_EQ(r.rc, c.rc) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("chutoro: error: ", 0), 0u) << r.err;
  for (const auto& part : c.in_message)
    EXPECT_NE(r.err.find(part), std::string::npos) << part << " not in " << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "out.csv"));
  const std::vector<std::string> inputs{file};
  EXPECT_TRUE(leftovers(inputs).empty()) << "left behind: " << leftovers(inputs).front();
}

INSTANTIATE_TEST_SUITE_P(Cli, CliBadInput, ::testing::ValuesIn(bad_cases),
                         [](const ::testing::TestParamInfo<bad_case>& info) { return info.param.name; });

TEST_F(Cli, FailedRunKeepsExistingOutput) {
  spit(dir_ / "nan.csv", "x\n1\nnan\n");
  spit(dir_ / "out.csv", "previous result\n");
  const run_result r = run({"cluster", (dir_ / "nan.csv").string(), "--output", (dir_ / "out.csv").string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(slurp(dir_ / "out.csv"), "previous result\n");
  EXPECT_TRUE(leftovers({"nan.csv", "out.csv"}).empty());
}

TEST_F(Cli, OutputDirectoryMissing) {
  spit(dir_ / "five.csv", "x,y\n1,2\n3,4\n5,6\n7,8\n9,10\n");
  const fs::path out = dir_ / "no_dir" / "out.csv";
  const run_result r = run({"cluster", (dir_ / "five.csv").string(), "--output", out.string()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("no_dir"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Cli, NoSubcommandIsAUsageError) {
  const run_result r = run({});
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("chutoro: error: ", 0), 0u) << r.err;
}

// ---------------------------------------------------------------- models: fit, cluster --model, add, predict

namespace {

/// Four well-separated 3-d Gaussian blobs (centres 10 apart, sigma 1), n rows, as CSV.
void write_blobs(const fs::path& p, std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  const double centres[4][3] = {{0, 0, 0}, {10, 10, 0}, {0, 10, 10}, {10, 0, 10}};
  std::ostringstream s;
  s << "x,y,z\n";
  for (std::size_t i = 0; i < n; ++i) {
    const double* c = centres[i % 4];
    s << c[0] + noise(rng) << ',' << c[1] + noise(rng) << ',' << c[2] + noise(rng) << '\n';
  }
  spit(p, s.str());
}

/// The rows of a result or prediction CSV (after its header), split at commas.
std::vector<std::vector<double>> read_rows(const fs::path& p, std::string* header = nullptr) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  if (header) *header = line;
  std::vector<std::vector<double>> rows;
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::istringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) row.push_back(std::stod(cell));
    rows.push_back(row);
  }
  return rows;
}

std::vector<int> labels_of(const fs::path& p) {
  std::vector<int> labels;
  for (const auto& row : read_rows(p)) labels.push_back(static_cast<int>(row.at(0)));
  return labels;
}

/// Expects a failed run: exit status `rc`, nothing on stdout, one error line holding every part.
void expect_error(const run_result& r, int rc, const std::vector<std::string>& parts) {
  EXPECT_EQ(r.rc, rc) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("chutoro: error: ", 0), 0u) << r.err;
  for (const auto& part : parts)
    EXPECT_NE(r.err.find(part), std::string::npos) << part << " not in " << r.err;
}

/// Labels, probabilities and outlier scores of two result CSVs agree (scores within 1e-9).
void expect_same_results(const fs::path& a, const fs::path& b) {
  const auto ra = read_rows(a), rb = read_rows(b);
  ASSERT_EQ(ra.size(), rb.size());
  for (std::size_t i = 0; i < ra.size(); ++i) {
    ASSERT_EQ(ra[i].size(), 3u);
    ASSERT_EQ(rb[i].size(), 3u);
    ASSERT_EQ(ra[i][0], rb[i][0]) << "label of row " << i;
    EXPECT_NEAR(ra[i][1], rb[i][1], 1e-9) << "probability of row " << i;
    if (!std::isnan(ra[i][2]) || !std::isnan(rb[i][2]))
      EXPECT_NEAR(ra[i][2], rb[i][2], 1e-9) << "outlier score of row " << i;
  }
}

}  // namespace

TEST_F(Cli, OverSizeValuesAreReportedAsGiven) {
  spit(dir_ / "five.csv", five_rows);
  const std::string five = (dir_ / "five.csv").string();
  const run_result r = run({"cluster", five, "--min-cluster-size", "9223372036854775808"});
  EXPECT_EQ(r.err.find("9223372036854775807"), std::string::npos) << r.err;
  // Decimal, not octal as CLI11 alone reads "010".
  expect_error(run({"cluster", five, "--min-cluster-size", "010"}), 1, {"fewer than --min-cluster-size 10"});
  // Accepted forms still work.
  spit(dir_ / "ten.csv", "x\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
  EXPECT_EQ(run({"cluster", (dir_ / "ten.csv").string(), "--min-cluster-size", "+2", "--quiet"}).rc, 0);
}

TEST_F(Cli, EmptyFileNamesAreUsageErrors) {
  spit(dir_ / "five.csv", five_rows);
  const std::string five = (dir_ / "five.csv").string();
  expect_error(run({"cluster", five, "--output", ""}), 2, {"--output: empty file name"});
  expect_error(run({"fit", five, "--save", ""}), 2, {"--save: empty file name"});
  expect_error(run({"cluster", "--model", ""}), 2, {"--model: empty file name"});
  expect_error(run({"cluster", ""}), 2, {"INPUT: empty file name"});
  expect_error(run({"add", "", five}), 2, {"MODEL: empty file name"});
  expect_error(run({"predict", "m.chutoro", five, "--output", ""}), 2, {"--output: empty file name"});
  expect_error(run({"cluster", "--plugin", ""}), 2, {"--plugin: empty file name"});
  EXPECT_TRUE(leftovers({"five.csv"}).empty());
}

TEST_F(Cli, CarriageReturnOnlyCsvIsRead) {
  std::string rows = "x,y\r";
  for (int i = 0; i < 30; ++i)
    rows += std::to_string(i % 3 * 10 + i % 5) + "," + std::to_string(i % 3) + "\r";
  spit(dir_ / "mac.csv", rows);
  const auto j = run_json({"cluster", (dir_ / "mac.csv").string(), "--min-cluster-size", "3", "--json"});
  EXPECT_EQ(j["n"], 30);
  EXPECT_EQ(j["dim"], 2);
}

TEST_F(Cli, ErrorLinesCarryNoRawControlBytes) {
  // A file name and a cell holding a terminal escape, bytes that are not UTF-8.
  const std::string name = "bad\x1b[2Jname\xff.csv";
  spit(dir_ / name, "x,y\n1,2\n3,\x1b]0;title\x07\xfe\n");
  for (const auto& file : {name, std::string("missing\x1b[31m.csv")}) {
    const run_result r = run({"cluster", (dir_ / file).string()});
    EXPECT_EQ(r.rc, 1) << r.err;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    for (std::size_t i = 0; i + 1 < r.err.size(); ++i) {
      const auto c = static_cast<unsigned char>(r.err[i]);
      EXPECT_TRUE(c >= 0x20 && c != 0x7F && c < 0x80) << "byte " << i << " of " << r.err;
    }
    EXPECT_NE(r.err.find("\\x1b["), std::string::npos) << r.err;
  }
}

TEST_F(Cli, ModelHelpExitsZero) {
  for (const char* command : {"fit", "add", "predict"}) {
    const run_result r = run({command, "--help"});
    EXPECT_EQ(r.rc, 0) << command;
    EXPECT_NE(r.out.find("--output"), std::string::npos) << command;
  }
  EXPECT_NE(run({"cluster", "--help"}).out.find("--model"), std::string::npos);
}

TEST_F(Cli, ModelFitThenClusterModelMatchesCluster) {
  need_data("digits.csv");
  const std::string digits = (data_dir / "digits.csv").string();
  const fs::path model = dir_ / "digits.chutoro";
  const auto j = run_json({"fit", digits, "--label-column", "label", "--save", model.string(), "--output",
                           (dir_ / "fit.csv").string(), "--json"});
  expect_summary_fields(j);
  EXPECT_EQ(j["n"], 1797);
  EXPECT_EQ(j["dim"], 64);
  EXPECT_EQ(j["model"], model.string());
  ASSERT_TRUE(j.contains("ari"));
  ASSERT_TRUE(fs::exists(model));
  expect_result_csv(dir_ / "fit.csv", 1797);

  const auto c = run_json(
      {"cluster", digits, "--label-column", "label", "--output", (dir_ / "cluster.csv").string(), "--json"});
  EXPECT_EQ(c["clusters"], j["clusters"]);
  EXPECT_EQ(c["ari"], j["ari"]);
  expect_same_results(dir_ / "fit.csv", dir_ / "cluster.csv");

  const auto m =
      run_json({"cluster", "--model", model.string(), "--output", (dir_ / "model.csv").string(), "--json"});
  EXPECT_EQ(m["n"], 1797);
  EXPECT_EQ(m["dim"], 64);
  EXPECT_EQ(m["metric"], "euclidean");
  EXPECT_EQ(m["format"], "model");
  EXPECT_EQ(m["min_cluster_size"], 5);
  EXPECT_EQ(m["min_samples"], 5);
  EXPECT_EQ(m["clusters"], c["clusters"]);
  EXPECT_EQ(m["cluster_sizes"], c["cluster_sizes"]);
  expect_result_csv(dir_ / "model.csv", 1797);
  expect_same_results(dir_ / "cluster.csv", dir_ / "model.csv");
  EXPECT_TRUE(leftovers({"digits.chutoro", "fit.csv", "cluster.csv", "model.csv"}).empty());

  // The human summary of fit names the saved model; cluster --model reads it without rebuilding.
  const run_result h = run({"cluster", "--model", model.string()});
  EXPECT_EQ(h.rc, 0) << h.err;
  for (const char* word : {"(model)", "1797 items x 64 dims", "clusters", "noise"})
    EXPECT_NE(h.out.find(word), std::string::npos) << word << " not in:\n" << h.out;
}

TEST_F(Cli, ModelClusterWithNewSelectionEqualsClusterInput) {
  need_data("digits.csv");
  const std::string digits = (data_dir / "digits.csv").string();
  const fs::path model = dir_ / "digits.chutoro";
  ASSERT_EQ(run({"fit", digits, "--label-column", "label", "--save", model.string(), "--quiet"}).rc, 0);
  // The model's tree was built with min_samples 5: the same tree as cluster INPUT --min-samples 5.
  for (const std::vector<std::string>& sel :
       {std::vector<std::string>{"--min-cluster-size", "10"},
        std::vector<std::string>{"--min-cluster-size", "20", "--cluster-selection-method", "leaf"},
        std::vector<std::string>{"--cluster-selection-epsilon", "20"}}) {
    std::vector<std::string> from_model{
        "cluster", "--model", model.string(), "--output", (dir_ / "m.csv").string(), "--json"};
    std::vector<std::string> from_input{"cluster",       digits, "--label-column", "label",
                                        "--min-samples", "5",    "--output",       (dir_ / "c.csv").string(),
                                        "--json"};
    from_model.insert(from_model.end(), sel.begin(), sel.end());
    from_input.insert(from_input.end(), sel.begin(), sel.end());
    const auto m = run_json(from_model);
    const auto c = run_json(from_input);
    EXPECT_EQ(m["min_cluster_size"], c["min_cluster_size"]) << sel[0];
    EXPECT_EQ(m["min_samples"], 5);
    EXPECT_EQ(m["cluster_selection_method"], c["cluster_selection_method"]);
    EXPECT_EQ(m["cluster_selection_epsilon"], c["cluster_selection_epsilon"]);
    EXPECT_EQ(m["clusters"], c["clusters"]) << sel[0];
    EXPECT_EQ(labels_of(dir_ / "m.csv"), labels_of(dir_ / "c.csv")) << sel[0] << " " << sel[1];
  }
}

TEST_F(Cli, ModelClusterKeepsStoredSelection) {
  write_blobs(dir_ / "blobs.csv", 400, 1);
  const fs::path model = dir_ / "blobs.chutoro";
  ASSERT_EQ(run({"fit", (dir_ / "blobs.csv").string(), "--save", model.string(), "--min-cluster-size", "12",
                 "--min-samples", "4", "--cluster-selection-method", "leaf", "--cluster-selection-epsilon",
                 "0.25", "--allow-single-cluster", "--quiet"})
                .rc,
            0);
  auto j = run_json({"cluster", "--model", model.string(), "--json"});
  EXPECT_EQ(j["min_cluster_size"], 12);
  EXPECT_EQ(j["min_samples"], 4);
  EXPECT_EQ(j["cluster_selection_method"], "leaf");
  EXPECT_EQ(j["cluster_selection_epsilon"], 0.25);
  EXPECT_EQ(j["allow_single_cluster"], true);
  // Only the options given change.
  j = run_json({"cluster", "--model", model.string(), "--min-cluster-size", "15",
                "--allow-single-cluster=false", "--json"});
  EXPECT_EQ(j["min_cluster_size"], 15);
  EXPECT_EQ(j["cluster_selection_method"], "leaf");
  EXPECT_EQ(j["cluster_selection_epsilon"], 0.25);
  EXPECT_EQ(j["allow_single_cluster"], false);
}

TEST_F(Cli, ModelSelectionOptionsDbscanCutAndSoftPredict) {
  write_blobs(dir_ / "train.csv", 400, 1);
  write_blobs(dir_ / "new.csv", 60, 3);
  const fs::path model = dir_ / "blobs.chutoro";
  ASSERT_EQ(run({"fit", (dir_ / "train.csv").string(), "--save", model.string(), "--min-cluster-size", "10",
                 "--max-cluster-size", "150", "--cluster-selection-persistence", "0.01",
                 "--cluster-selection-epsilon-max", "50", "--quiet"})
                .rc,
            0);
  // Stored in the model; options not given keep them.
  auto j = run_json({"cluster", "--model", model.string(), "--json"});
  EXPECT_EQ(j["max_cluster_size"], 150);
  EXPECT_EQ(j["cluster_selection_persistence"], 0.01);
  EXPECT_EQ(j["cluster_selection_epsilon_max"], 50.0);
  EXPECT_EQ(j["clusters"], 4);
  // A size limit below the blobs' 100 items splits them or leaves them out.
  j = run_json({"cluster", "--model", model.string(), "--max-cluster-size", "60", "--json"});
  EXPECT_NE(j["clusters"], 4);
  // DBSCAN* cut: one distance far above the blobs' spread joins all, one inside a blob's keeps the four.
  const fs::path out = dir_ / "cut.csv";
  ASSERT_EQ(
      run({"cluster", "--model", model.string(), "--dbscan-cut", "1000", "--output", out.string(), "--quiet"})
          .rc,
      0);
  for (const int label : labels_of(out)) EXPECT_EQ(label, 0);
  ASSERT_EQ(
      run({"cluster", "--model", model.string(), "--dbscan-cut", "4", "--output", out.string(), "--quiet"})
          .rc,
      0);
  const std::vector<int> cut = labels_of(out);
  EXPECT_EQ(*std::max_element(cut.begin(), cut.end()), 3);
  expect_error(run({"cluster", (dir_ / "train.csv").string(), "--dbscan-cut", "4"}), 2,
               {"--dbscan-cut", "--model"});
  expect_error(run({"cluster", "--model", model.string(), "--cluster-selection-epsilon", "2",
                    "--cluster-selection-epsilon-max", "1"}),
               2, {"--cluster-selection-epsilon-max"});
  // predict --soft: label, probability, outlier score and one membership column per cluster.
  const fs::path soft = dir_ / "soft.csv";
  ASSERT_EQ(run({"predict", model.string(), (dir_ / "new.csv").string(), "--output", soft.string(), "--soft",
                 "--quiet"})
                .rc,
            0);
  std::string header;
  const auto rows = read_rows(soft, &header);
  EXPECT_EQ(header, "label,probability,outlier_score,membership_0,membership_1,membership_2,membership_3");
  ASSERT_EQ(rows.size(), 60u);
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 7u);
    double sum = 0;
    for (std::size_t c = 3; c < 7; ++c) sum += row[c];
    EXPECT_LE(sum, 1.0 + 1e-9);
    if (row[0] >= 0) {  // the predicted cluster holds the largest membership
      EXPECT_EQ(std::max_element(row.begin() + 3, row.end()) - (row.begin() + 3), static_cast<long>(row[0]));
    }
  }
}

TEST_F(Cli, ModelAddCoversAllItems) {
  const std::size_t n1 = 400, n2 = 200;
  write_blobs(dir_ / "first.csv", n1, 1);
  write_blobs(dir_ / "second.csv", n2, 2);
  const fs::path model = dir_ / "blobs.chutoro";
  ASSERT_EQ(run({"fit", (dir_ / "first.csv").string(), "--save", model.string(), "--min-cluster-size", "10",
                 "--quiet"})
                .rc,
            0);
  const std::string before = slurp(model);

  const auto j = run_json({"add", model.string(), (dir_ / "second.csv").string(), "--output",
                           (dir_ / "all.csv").string(), "--threads", "2", "--json"});
  EXPECT_EQ(j["n"], n1 + n2);
  EXPECT_EQ(j["added"], n2);
  EXPECT_EQ(j["dim"], 3);
  EXPECT_EQ(j["min_cluster_size"], 10);  // the model's stored selection
  EXPECT_EQ(j["clusters"], 4);
  EXPECT_GT(j["distance_computations"].get<std::uint64_t>(), 0u);
  expect_result_csv(dir_ / "all.csv", n1 + n2);
  EXPECT_NE(slurp(model), before);  // saved back

  // The saved model holds all items, with the same clusters as add reported.
  const auto m =
      run_json({"cluster", "--model", model.string(), "--output", (dir_ / "model.csv").string(), "--json"});
  EXPECT_EQ(m["n"], n1 + n2);
  expect_result_csv(dir_ / "model.csv", n1 + n2);
  EXPECT_EQ(labels_of(dir_ / "model.csv"), labels_of(dir_ / "all.csv"));
  // Items i and i + 4 of either file come from the same blob: so do their labels.
  const std::vector<int> labels = labels_of(dir_ / "all.csv");
  std::size_t agree = 0;
  for (std::size_t i = 0; i + 4 < labels.size(); ++i) agree += labels[i] == labels[i + 4] ? 1 : 0;
  EXPECT_GE(static_cast<double>(agree) / static_cast<double>(labels.size() - 4), 0.95);
  EXPECT_TRUE(leftovers({"first.csv", "second.csv", "blobs.chutoro", "all.csv", "model.csv"}).empty());

  // Without --output add prints the summary and saves.
  const run_result r = run({"add", model.string(), (dir_ / "second.csv").string()});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("added"), std::string::npos) << r.out;
  EXPECT_EQ(run_json({"cluster", "--model", model.string(), "--json"})["n"], n1 + 2 * n2);
}

TEST_F(Cli, ModelPredict) {
  const std::size_t n = 400;
  write_blobs(dir_ / "train.csv", n, 1);
  write_blobs(dir_ / "new.csv", 100, 3);
  const fs::path model = dir_ / "blobs.chutoro";
  const auto fit = run_json({"fit", (dir_ / "train.csv").string(), "--save", model.string(),
                             "--min-cluster-size", "10", "--output", (dir_ / "fit.csv").string(), "--json"});
  const int k = fit["clusters"].get<int>();
  EXPECT_EQ(k, 4);
  const std::string before = slurp(model);

  auto check = [&](const fs::path& input, std::size_t rows_expected) {
    const fs::path out = dir_ / "pred.csv";
    const auto j = run_json({"predict", model.string(), input.string(), "--output", out.string(), "--json"});
    EXPECT_EQ(j["n"], rows_expected);
    EXPECT_EQ(j["model_n"], n);
    EXPECT_EQ(j["output"], out.string());
    std::string header;
    const auto rows = read_rows(out, &header);
    EXPECT_EQ(header, "label,probability");
    EXPECT_EQ(rows.size(), rows_expected);
    std::vector<int> labels;
    for (const auto& row : rows) {
      EXPECT_EQ(row.size(), 2u);
      EXPECT_GE(row[0], -1);
      EXPECT_LT(row[0], k);
      EXPECT_GE(row[1], 0.0);
      EXPECT_LE(row[1], 1.0);
      labels.push_back(static_cast<int>(row[0]));
    }
    return labels;
  };

  // The training items themselves: mostly their fitted labels.
  const std::vector<int> predicted = check(dir_ / "train.csv", n);
  const std::vector<int> fitted = labels_of(dir_ / "fit.csv");
  ASSERT_EQ(predicted.size(), fitted.size());
  std::size_t agree = 0;
  for (std::size_t i = 0; i < n; ++i) agree += predicted[i] == fitted[i] ? 1 : 0;
  EXPECT_GE(static_cast<double>(agree) / static_cast<double>(n), 0.9);

  // New items from the same blobs: item i joins the cluster of training item i (same blob).
  const std::vector<int> fresh = check(dir_ / "new.csv", 100);
  agree = 0;
  for (std::size_t i = 0; i < fresh.size(); ++i) agree += fresh[i] == fitted[i] ? 1 : 0;
  EXPECT_GE(static_cast<double>(agree) / static_cast<double>(fresh.size()), 0.9);

  EXPECT_EQ(slurp(model), before);  // predict does not change the model
  EXPECT_TRUE(leftovers({"train.csv", "new.csv", "blobs.chutoro", "fit.csv", "pred.csv"}).empty());
}

TEST_F(Cli, ModelStringsLevenshtein) {
  need_data("words_en.txt");
  std::ifstream in(data_dir / "words_en.txt");
  std::string line, first, second;
  for (std::size_t k = 0; k < 30000 && std::getline(in, line); ++k) {
    if (k % 60 == 0) first += line + "\n";
    if (k % 60 == 30) second += line + "\n";
  }
  spit(dir_ / "first.txt", first);
  spit(dir_ / "second.txt", second);
  const fs::path model = dir_ / "words.chutoro";
  ASSERT_EQ(run({"fit", (dir_ / "first.txt").string(), "--save", model.string(), "--quiet"}).rc, 0);
  const auto a = run_json({"add", model.string(), (dir_ / "second.txt").string(), "--json"});
  EXPECT_EQ(a["metric"], "levenshtein");
  EXPECT_EQ(a["n"], 1000);
  const auto p = run_json({"predict", model.string(), (dir_ / "first.txt").string(), "--output",
                           (dir_ / "p.csv").string(), "--json"});
  EXPECT_EQ(p["n"], 500);
  EXPECT_EQ(read_rows(dir_ / "p.csv").size(), 500u);
}

// ---------------------------------------------------------------- models: errors

TEST_F(Cli, ModelFileMissing) {
  write_blobs(dir_ / "blobs.csv", 40, 1);
  const std::string missing = (dir_ / "missing.chutoro").string();
  expect_error(run({"cluster", "--model", missing}), 1, {"missing.chutoro"});
  fs::create_directory(dir_ / "folder.chutoro");
  expect_error(run({"cluster", "--model", (dir_ / "folder.chutoro").string()}), 1,
               {"folder.chutoro", "directory"});
  fs::remove(dir_ / "folder.chutoro");
  expect_error(run({"add", missing, (dir_ / "blobs.csv").string()}), 1, {"missing.chutoro"});
  expect_error(
      run({"predict", missing, (dir_ / "blobs.csv").string(), "--output", (dir_ / "p.csv").string()}), 1,
      {"missing.chutoro"});
  EXPECT_TRUE(leftovers({"blobs.csv"}).empty());
}

TEST_F(Cli, ModelFileCorrupted) {
  write_blobs(dir_ / "blobs.csv", 200, 1);
  const fs::path model = dir_ / "blobs.chutoro";
  ASSERT_EQ(run({"fit", (dir_ / "blobs.csv").string(), "--save", model.string(), "--quiet"}).rc, 0);
  std::string bytes = slurp(model);
  ASSERT_GT(bytes.size(), 200u);

  const fs::path flipped = dir_ / "flipped.chutoro";
  std::string f = bytes;
  f[f.size() / 2] = static_cast<char>(f[f.size() / 2] ^ 0x5A);
  spit(flipped, f);
  const fs::path truncated = dir_ / "truncated.chutoro";
  spit(truncated, bytes.substr(0, bytes.size() / 2));
  const fs::path not_a_model = dir_ / "notamodel.chutoro";
  spit(not_a_model, "x,y\n1,2\n");

  for (const fs::path& bad : {flipped, truncated, not_a_model}) {
    const std::string name = bad.filename().string();
    expect_error(run({"cluster", "--model", bad.string(), "--output", (dir_ / "out.csv").string()}), 1,
                 {name});
    expect_error(run({"predict", bad.string(), (dir_ / "blobs.csv").string(), "--output",
                      (dir_ / "out.csv").string()}),
                 1, {name});
    const std::string kept = slurp(bad);
    expect_error(
        run({"add", bad.string(), (dir_ / "blobs.csv").string(), "--output", (dir_ / "out.csv").string()}), 1,
        {name});
    EXPECT_EQ(slurp(bad), kept) << name;
  }
  EXPECT_FALSE(fs::exists(dir_ / "out.csv"));
  EXPECT_TRUE(
      leftovers({"blobs.csv", "blobs.chutoro", "flipped.chutoro", "truncated.chutoro", "notamodel.chutoro"})
          .empty());
}

TEST_F(Cli, ModelFieldsOutOfRangeAreCleanErrors) {
  // Valid checksums, a field beyond its range: one error naming the field,
  // never a crash (min_cluster_size 2^63 used to crash cluster --model, predict and add).
  write_blobs(dir_ / "blobs.csv", 200, 1);
  const fs::path model = dir_ / "blobs.chutoro";
  // An hnsw model (its last section, FRST, is cut below); auto would choose exact here.
  ASSERT_EQ(
      run({"fit", (dir_ / "blobs.csv").string(), "--candidates", "hnsw", "--save", model.string(), "--quiet"})
          .rc,
      0);
  const std::string bytes = slurp(model);
  std::vector<std::byte> b(bytes.size());
  std::memcpy(b.data(), bytes.data(), bytes.size());
  struct field {
    std::size_t offset;
    std::uint64_t value;
    std::string named;
  };
  const std::vector<field> fields = {
      {60, std::uint64_t{1} << 63, "field min_cluster_size = 9223372036854775808"},
      {60, (std::uint64_t{1} << 63) - 1, "field min_cluster_size = 9223372036854775807"},
      {0, std::uint64_t{1} << 62, "field min_samples = 4611686018427387904"}};
  const fs::path crafted = dir_ / "crafted.chutoro";
  const std::string blobs = (dir_ / "blobs.csv").string(), out = (dir_ / "out.csv").string();
  for (const field& f : fields) {
    chutoro_test::model_file_bytes m(b);
    m.set<std::uint64_t>("PARM", f.offset, f.value);
    std::string s(m.bytes().size(), '\0');
    std::memcpy(s.data(), m.bytes().data(), s.size());
    spit(crafted, s);
    const std::vector<std::string> parts{"crafted.chutoro", "section PARM", f.named, "out of range"};
    expect_error(run({"cluster", "--model", crafted.string(), "--output", out}), 1, parts);
    expect_error(run({"predict", crafted.string(), blobs, "--output", out}), 1, parts);
    expect_error(run({"add", crafted.string(), blobs}), 1, parts);
    EXPECT_EQ(slurp(crafted), s);
  }
  // A model cut by one byte says what is missing.
  spit(crafted, bytes.substr(0, bytes.size() - 1));
  expect_error(run({"cluster", "--model", crafted.string()}), 1,
               {"crafted.chutoro", "section FRST", "truncated", "(1 byte short)"});
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(Cli, ModelWrongItems) {
  write_blobs(dir_ / "blobs.csv", 200, 1);
  spit(dir_ / "flat.csv", "x,y\n1,2\n3,4\n5,6\n");
  spit(dir_ / "words.txt", "alpha\nbeta\ngamma\n");
  spit(dir_ / "nan.csv", "x,y,z\n1,2,3\n4,nan,6\n");
  const fs::path model = dir_ / "blobs.chutoro";
  ASSERT_EQ(run({"fit", (dir_ / "blobs.csv").string(), "--save", model.string(), "--quiet"}).rc, 0);
  const std::string before = slurp(model);
  const std::string out = (dir_ / "out.csv").string();

  // Wrong dimension, wrong kind: the model's type_mismatch, naming INPUT and the model.
  expect_error(run({"add", model.string(), (dir_ / "flat.csv").string(), "--output", out}), 1,
               {"flat.csv", "blobs.chutoro", "2 dims", "3 dims"});
  expect_error(run({"predict", model.string(), (dir_ / "flat.csv").string(), "--output", out}), 1,
               {"flat.csv", "blobs.chutoro", "2 dims", "3 dims"});
  expect_error(run({"add", model.string(), (dir_ / "words.txt").string()}), 1,
               {"words.txt", "blobs.chutoro"});
  expect_error(run({"predict", model.string(), (dir_ / "words.txt").string(), "--output", out}), 1,
               {"words.txt", "blobs.chutoro"});
  // A bad input file: the reader's error.
  expect_error(run({"add", model.string(), (dir_ / "nan.csv").string(), "--output", out}), 1,
               {"nan.csv", "NaN"});
  // Usage errors before any work.
  expect_error(run({"add", model.string(), (dir_ / "blobs.csv").string(), "--metric", "cosine"}), 2,
               {"--metric"});
  expect_error(run({"add", model.string(), (dir_ / "blobs.csv").string(), "--output", model.string()}), 2,
               {"--output", "blobs.chutoro"});
  expect_error(run({"add", model.string()}), 2, {"INPUT"});
  expect_error(run({"predict", model.string(), (dir_ / "blobs.csv").string()}), 2, {"--output"});

  EXPECT_EQ(slurp(model), before);  // every failed add left the model as it was
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(leftovers({"blobs.csv", "flat.csv", "words.txt", "nan.csv", "blobs.chutoro"}).empty());
}

TEST_F(Cli, ModelUsageErrors) {
  write_blobs(dir_ / "blobs.csv", 200, 1);
  const std::string input = (dir_ / "blobs.csv").string();
  const fs::path model = dir_ / "blobs.chutoro";
  ASSERT_EQ(run({"fit", input, "--save", model.string(), "--quiet"}).rc, 0);
  const std::string out = (dir_ / "out.csv").string();

  expect_error(run({"cluster", "--model", model.string(), input, "--output", out}), 2, {"INPUT", "--model"});
  expect_error(run({"cluster", "--output", out}), 2, {"INPUT", "--model"});
  for (const std::vector<std::string>& fit_only :
       {std::vector<std::string>{"--min-samples", "3"}, std::vector<std::string>{"--m", "8"},
        std::vector<std::string>{"--ef-construction", "50"}, std::vector<std::string>{"--seed", "7"},
        std::vector<std::string>{"--candidates", "exact"}, std::vector<std::string>{"--metric", "cosine"},
        std::vector<std::string>{"--format", "csv"}}) {
    std::vector<std::string> args{"cluster", "--model", model.string(), "--output", out};
    args.insert(args.end(), fit_only.begin(), fit_only.end());
    expect_error(run(args), 2, {fit_only[0], "--model"});
  }
  expect_error(run({"cluster", "--model", model.string(), "--min-cluster-size", "1"}), 2,
               {"--min-cluster-size"});
  expect_error(run({"cluster", "--model", model.string(), "--cluster-selection-method", "best"}), 2,
               {"best"});
  expect_error(run({"cluster", "--model", model.string(), "--min-cluster-size", "500"}), 1,
               {"blobs.chutoro", "200 items", "--min-cluster-size 500"});
  expect_error(run({"fit", input}), 2, {"--save"});
  expect_error(run({"fit", input, "--save", input}), 2, {"--save"});
  expect_error(run({"fit", input, "--save", (dir_ / "no_dir" / "m.chutoro").string()}), 1, {"no_dir"});
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(leftovers({"blobs.csv", "blobs.chutoro"}).empty());
}

// A jaccard model keeps its token vocabulary (model format version 4): `add` and
// `predict` number the tokens of new lines as the fitted items' (new tokens on
// after them), so numbering by first appearance in the new file cannot mislead.
TEST_F(Cli, ModelTokenSetsKeepTheirVocabulary) {
  std::string lines;
  for (int i = 0; i < 10; ++i) lines += "a b c" + std::to_string(i) + "\nx y z" + std::to_string(i) + "\n";
  spit(dir_ / "tokens.txt", lines);
  const fs::path model = dir_ / "tokens.chutoro";
  ASSERT_EQ(run({"fit", (dir_ / "tokens.txt").string(), "--metric", "jaccard", "--min-cluster-size", "3",
                 "--min-samples", "3", "--save", model.string(), "--output", (dir_ / "fit.csv").string(),
                 "--quiet"})
                .rc,
            0);
  EXPECT_EQ(run_json({"cluster", "--model", model.string(), "--json"})["metric"], "jaccard");
  const std::vector<int> fit = labels_of(dir_ / "fit.csv");
  ASSERT_EQ(fit.size(), 20u);
  const int ab = fit[0], xy = fit[1];
  ASSERT_GE(ab, 0);
  ASSERT_GE(xy, 0);
  ASSERT_NE(ab, xy);
  // "x y q" first: numbered by first appearance it would read as "a b c0".
  spit(dir_ / "new.txt", "x y q\na b newtoken\nz3 y x\n");
  ASSERT_EQ(run({"predict", model.string(), (dir_ / "new.txt").string(), "--output",
                 (dir_ / "p.csv").string(), "--quiet"})
                .rc,
            0);
  EXPECT_EQ(labels_of(dir_ / "p.csv"), (std::vector<int>{xy, ab, xy}));
  // add: the new items join their groups, and the new tokens join the stored vocabulary.
  EXPECT_EQ(slurp(model).find("newtoken"), std::string::npos);
  const auto a = run_json({"add", model.string(), (dir_ / "new.txt").string(), "--json"});
  EXPECT_EQ(a["n"], 23);
  ASSERT_EQ(run({"cluster", "--model", model.string(), "--output", (dir_ / "c.csv").string(), "--quiet"}).rc,
            0);
  const std::vector<int> after = labels_of(dir_ / "c.csv");
  ASSERT_EQ(after.size(), 23u);
  EXPECT_EQ(after[20], after[1]);
  EXPECT_EQ(after[21], after[0]);
  EXPECT_EQ(after[22], after[1]);
  EXPECT_NE(after[0], after[1]);
  EXPECT_NE(slurp(model).find("newtoken"), std::string::npos);
  EXPECT_TRUE(leftovers({"tokens.txt", "tokens.chutoro", "fit.csv", "new.txt", "p.csv", "c.csv"}).empty());
}

TEST_F(Cli, ModelTokenSetsWithoutVocabularyCannotTakeFileItems) {
  // A sets model written before format version 4 holds token ids only.
  const fs::path old = fs::path(CHUTORO_OLD_MODEL_FILES) / "sets_hnsw.chutoro";
  const fs::path model = dir_ / "old.chutoro";
  fs::copy_file(old, model);
  spit(dir_ / "tokens.txt", "a b c\nx y z\n");
  const std::string before = slurp(model);
  expect_error(run({"add", model.string(), (dir_ / "tokens.txt").string()}), 1,
               {"old.chutoro", "jaccard", "vocabulary"});
  expect_error(
      run({"predict", model.string(), (dir_ / "tokens.txt").string(), "--output", (dir_ / "p.csv").string()}),
      1, {"old.chutoro", "jaccard", "vocabulary"});
  EXPECT_EQ(slurp(model), before);
  EXPECT_TRUE(leftovers({"tokens.txt", "old.chutoro"}).empty());
}

#ifdef CHUTORO_JACCARD_PLUGIN
TEST_F(Cli, ModelOfPluginItems) {
  std::string lines;
  for (int i = 0; i < 60;
       ++i)  // two groups of distinct token sets (duplicates would give NaN outlier scores)
    lines +=
        (i % 2 ? "banana split w" : "apple pie w") + std::to_string(i) + " v" + std::to_string(i % 5) + "\n";
  spit(dir_ / "items.txt", lines);
  const std::string plugin = CHUTORO_JACCARD_PLUGIN;
  const std::string arg = "file=" + (dir_ / "items.txt").string();
  const fs::path model = dir_ / "plugin.chutoro";
  const auto fit =
      run_json({"fit", "--plugin", plugin, "--plugin-arg", arg, "--save", model.string(), "--json"});
  EXPECT_EQ(fit["format"], "plugin");
  const std::string before = slurp(model);

  // The items are not in the file: --plugin re-opens them.
  expect_error(run({"cluster", "--model", model.string()}), 1, {"plugin.chutoro", "--plugin"});
  const auto m = run_json({"cluster", "--model", model.string(), "--plugin", plugin, "--plugin-arg", arg,
                           "--output", (dir_ / "m.csv").string(), "--json"});
  EXPECT_EQ(m["n"], 60);
  EXPECT_EQ(m["clusters"], fit["clusters"]);
  expect_result_csv(dir_ / "m.csv", 60);
  // Other items than the fitted ones are refused.
  spit(dir_ / "other.txt", lines + "one more\n");
  expect_error(run({"cluster", "--model", model.string(), "--plugin", plugin, "--plugin-arg",
                    "file=" + (dir_ / "other.txt").string()}),
               1, {"plugin.chutoro"});
  // A plugin source cannot grow nor measure outside items: the model says so (unsupported).
  expect_error(run({"add", model.string(), (dir_ / "other.txt").string(), "--plugin", plugin, "--plugin-arg",
                    arg, "--output", (dir_ / "a.csv").string()}),
               1, {"plugin.chutoro"});
  expect_error(run({"predict", model.string(), (dir_ / "other.txt").string(), "--plugin", plugin,
                    "--plugin-arg", arg, "--output", (dir_ / "p.csv").string()}),
               1, {"plugin.chutoro"});
  // --plugin on a model that stores its items.
  write_blobs(dir_ / "blobs.csv", 40, 1);
  ASSERT_EQ(
      run({"fit", (dir_ / "blobs.csv").string(), "--save", (dir_ / "blobs.chutoro").string(), "--quiet"}).rc,
      0);
  expect_error(
      run({"cluster", "--model", (dir_ / "blobs.chutoro").string(), "--plugin", plugin, "--plugin-arg", arg}),
      1, {"blobs.chutoro", "--plugin"});
  EXPECT_EQ(slurp(model), before);
  EXPECT_TRUE(
      leftovers({"items.txt", "other.txt", "plugin.chutoro", "m.csv", "blobs.csv", "blobs.chutoro"}).empty());
}
#endif

// ---------------------------------------------------------------- outputs that must not destroy (issue 15)

namespace {

bool is_char_device(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

/// Temporary files (".<name>.tmp-...") left in `dir`.
std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> t;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) t.push_back(e.path().filename());
  return t;
}

}  // namespace

// Defect 1: a character device named by --output is written through, never
// replaced by a regular file (made here with mknod, as /dev/null and /dev/full are).
TEST_F(Cli, OutputCharacterDeviceIsWrittenThroughNotReplaced) {
  if (::geteuid() != 0) GTEST_SKIP() << "mknod needs root";
  write_blobs(dir_ / "blobs.csv", 100, 1);
  const fs::path null_dev = dir_ / "null", full_dev = dir_ / "full";
  ASSERT_EQ(::mknod(null_dev.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << std::strerror(errno);
  ASSERT_EQ(::mknod(full_dev.c_str(), S_IFCHR | 0666, makedev(1, 7)), 0) << std::strerror(errno);
  for (const char* command : {"cluster", "fit"}) {
    std::vector<std::string> args{command, (dir_ / "blobs.csv").string(), "--output", null_dev.string(),
                                  "--quiet"};
    if (std::string(command) == "fit") args.insert(args.end(), {"--save", (dir_ / "m.chutoro").string()});
    const run_result r = run(args);
    EXPECT_EQ(r.rc, 0) << command << ": " << r.err;
    EXPECT_TRUE(is_char_device(null_dev)) << command << " replaced the device by a regular file";
  }
  // /dev/full: the write fails cleanly (ENOSPC), the device stays.
  const run_result r = run({"cluster", (dir_ / "blobs.csv").string(), "--output", full_dev.string()});
  expect_error(r, 1, {full_dev.string(), "No space left"});
  EXPECT_TRUE(is_char_device(full_dev));
  EXPECT_TRUE(temporaries(dir_).empty());
  // predict and add too.
  const fs::path model = dir_ / "m.chutoro";
  EXPECT_EQ(run({"predict", model.string(), (dir_ / "blobs.csv").string(), "--output", null_dev.string(),
                 "--quiet"})
                .rc,
            0);
  EXPECT_EQ(
      run({"add", model.string(), (dir_ / "blobs.csv").string(), "--output", null_dev.string(), "--quiet"})
          .rc,
      0);
  EXPECT_TRUE(is_char_device(null_dev));
  EXPECT_TRUE(temporaries(dir_).empty());
}

// Defect 1: a FIFO named by --output is written through (a reader gets the rows), never replaced.
TEST_F(Cli, OutputFifoIsWrittenThroughNotReplaced) {
  write_blobs(dir_ / "blobs.csv", 100, 1);
  const fs::path fifo = dir_ / "rows.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  std::string received;
  std::thread reader([&] { received = slurp(fifo); });  // blocks until the writer opens it
  const run_result r = run({"cluster", (dir_ / "blobs.csv").string(), "--output", fifo.string(), "--quiet"});
  reader.join();
  EXPECT_EQ(r.rc, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced by a regular file";
  EXPECT_EQ(received.rfind("label,probability,outlier_score\n", 0), 0u) << received.substr(0, 80);
  EXPECT_EQ(count_lines(received), 101u);
  EXPECT_TRUE(temporaries(dir_).empty());
}

// --output - writes the rows to stdout and the summary to stderr.
TEST_F(Cli, OutputDashIsStandardOutput) {
  write_blobs(dir_ / "blobs.csv", 100, 1);
  run_result r = run({"cluster", (dir_ / "blobs.csv").string(), "--output", "-"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("label,probability,outlier_score\n", 0), 0u) << r.out.substr(0, 80);
  EXPECT_EQ(count_lines(r.out), 101u);
  EXPECT_NE(r.err.find("clusters"), std::string::npos) << r.err;
  r = run({"cluster", (dir_ / "blobs.csv").string(), "--output", "-", "--json"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 101u);
  EXPECT_TRUE(nlohmann::json::accept(r.err)) << r.err;
  EXPECT_TRUE(leftovers({"blobs.csv"}).empty());
}

// Defect 4: --output (and --save) naming the input, also through a symbolic or
// hard link, is refused before any work; the input is untouched.
TEST_F(Cli, OutputNamingTheInputIsRefusedByIdentity) {
  write_blobs(dir_ / "blobs.csv", 60, 1);
  const std::string before = slurp(dir_ / "blobs.csv");
  fs::create_symlink(dir_ / "blobs.csv", dir_ / "sym.csv");
  fs::create_hard_link(dir_ / "blobs.csv", dir_ / "hard.csv");
  for (const char* command : {"cluster", "fit"}) {
    for (const char* out : {"blobs.csv", "sym.csv", "hard.csv"}) {
      std::vector<std::string> args{command, (dir_ / "blobs.csv").string(), "--output",
                                    (dir_ / out).string()};
      if (std::string(command) == "fit") args.insert(args.end(), {"--save", (dir_ / "m.chutoro").string()});
      expect_error(run(args), 2, {"input"});
      EXPECT_EQ(slurp(dir_ / "blobs.csv"), before) << command << " --output " << out;
    }
    if (std::string(command) == "fit") {
      expect_error(run({"fit", (dir_ / "blobs.csv").string(), "--save", (dir_ / "hard.csv").string()}), 2,
                   {"input"});
    }
  }
  // A relative spelling of the input too.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  const run_result r =
      run({"cluster", "./blobs.csv", "--output", "../" + dir_.filename().string() + "/blobs.csv"});
  fs::current_path(cwd);
  expect_error(r, 2, {"input"});
  EXPECT_EQ(slurp(dir_ / "blobs.csv"), before);
  EXPECT_TRUE(leftovers({"blobs.csv", "sym.csv", "hard.csv"}).empty());
}

// Defect 7: a replaced output keeps its mode; a symbolic link stays a link
// and the file it points to is replaced.
TEST_F(Cli, ReplacedOutputKeepsModeAndLinks) {
  write_blobs(dir_ / "blobs.csv", 60, 1);
  spit(dir_ / "out.csv", "old\n");
  fs::permissions(dir_ / "out.csv", fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_EQ(
      run({"cluster", (dir_ / "blobs.csv").string(), "--output", (dir_ / "out.csv").string(), "--quiet"}).rc,
      0);
  EXPECT_EQ(fs::status(dir_ / "out.csv").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  expect_result_csv(dir_ / "out.csv", 60);

  spit(dir_ / "target.csv", "old\n");
  fs::create_symlink("target.csv", dir_ / "link.csv");
  ASSERT_EQ(
      run({"cluster", (dir_ / "blobs.csv").string(), "--output", (dir_ / "link.csv").string(), "--quiet"}).rc,
      0);
  EXPECT_TRUE(fs::is_symlink(dir_ / "link.csv"));
  expect_result_csv(dir_ / "target.csv", 60);
  // A link to nothing is refused, not replaced.
  fs::create_symlink("missing.csv", dir_ / "dangling.csv");
  expect_error(run({"cluster", (dir_ / "blobs.csv").string(), "--output", (dir_ / "dangling.csv").string()}),
               1, {"dangling.csv", "symbolic link"});
  EXPECT_TRUE(fs::is_symlink(dir_ / "dangling.csv"));
  EXPECT_TRUE(leftovers({"blobs.csv", "out.csv", "target.csv", "link.csv", "dangling.csv"}).empty());
}

// Defect 5: when the model cannot be saved, add (and fit --save) leave no
// labels file: outputs are committed only after the model is.
TEST_F(Cli, NoOutputWhenTheModelCannotBeSaved) {
  write_blobs(dir_ / "first.csv", 200, 1);
  write_blobs(dir_ / "more.csv", 40, 2);
  // A 250-byte file name: the model exists, but its temporary (".<name>.tmp-<pid>-<k>")
  // exceeds the 255-byte name limit, so saving it fails.
  const fs::path model = dir_ / (std::string(246, 'm') + ".mdl");
  const fs::path good = dir_ / "good.chutoro";
  ASSERT_EQ(run({"fit", (dir_ / "first.csv").string(), "--save", good.string(), "--quiet"}).rc, 0);
  fs::copy_file(good, model);
  const std::string before = slurp(model);
  run_result r =
      run({"add", model.string(), (dir_ / "more.csv").string(), "--output", (dir_ / "labels.csv").string()});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "labels.csv")) << "labels written for a model that was not saved";
  EXPECT_EQ(slurp(model), before);
  r = run({"fit", (dir_ / "first.csv").string(), "--save", model.string(), "--output",
           (dir_ / "fit.csv").string()});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "fit.csv"));
  EXPECT_TRUE(leftovers({"first.csv", "more.csv", "good.chutoro", model.filename().string()}).empty());
}

// Defect 3: concurrent adds on one model are serialised: no update is lost.
TEST_F(Cli, ConcurrentAddsLoseNothing) {
  write_blobs(dir_ / "first.csv", 2000, 1);
  write_blobs(dir_ / "a.csv", 600, 2);
  write_blobs(dir_ / "b.csv", 600, 3);
  const fs::path model = dir_ / "m.chutoro";
  ASSERT_EQ(run({"fit", (dir_ / "first.csv").string(), "--save", model.string(), "--quiet"}).rc, 0);
  for (int trial = 0; trial < 2; ++trial) {
    std::string cmd;
    for (const char* part : {"a.csv", "b.csv"}) {
      cmd += sh_quote(cli_path) + " add " + sh_quote(model.string()) + " " +
             sh_quote((dir_ / part).string()) + " --quiet --threads 1 2>>" +
             sh_quote((dir_ / "err.txt").string()) + " & ";
    }
    cmd += "wait";
    ASSERT_EQ(std::system(("bash -c " + sh_quote(cmd)).c_str()), 0);
    EXPECT_EQ(slurp(dir_ / "err.txt"), "");
    fs::remove(dir_ / "err.txt");
    EXPECT_EQ(run_json({"cluster", "--model", model.string(), "--json"})["n"], 2000 + 1200 * (trial + 1));
  }
  // A writer that does not get the lock in time fails clearly, leaving the model as it was.
  const std::string before = slurp(model);
  const int fd = ::open(model.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  const run_result r = run({"add", model.string(), (dir_ / "a.csv").string(), "--lock-timeout", "0.2"});
  ::close(fd);
  expect_error(r, 1, {"m.chutoro", "another process"});
  EXPECT_EQ(slurp(model), before);
  EXPECT_TRUE(leftovers({"first.csv", "a.csv", "b.csv", "m.chutoro"}).empty());
}

// ---------------------------------------------------------------- --device

// --device and the JSON / human device fields: auto (the default) and cpu give
// the same labels; auto reports why it stayed on the CPU; cuda is one clear
// error (exit 1) before anything is read; an unknown name is a usage error;
// CHUTORO_DEVICE applies to auto only (an explicit --device wins).
TEST_F(Cli, DeviceAutoEqualsCpuAndIsReported) {
  need_data("clusterable_data.npy");
  const std::string input = (data_dir / "clusterable_data.npy").string();
  const fs::path a = dir_ / "auto.csv", c = dir_ / "cpu.csv";
  const auto ja = run_json({"cluster", input, "--output", a.string(), "--json"}, "-u CHUTORO_DEVICE");
  const auto jc =
      run_json({"cluster", input, "--device", "cpu", "--output", c.string(), "--json"}, "-u CHUTORO_DEVICE");
  EXPECT_EQ(ja["device"], "cpu");
  EXPECT_NE(ja["device_fallback_reason"].get<std::string>().find("promotion gate"), std::string::npos);
  EXPECT_EQ(jc["device"], "cpu");
  EXPECT_FALSE(jc.contains("device_fallback_reason"));  // chosen, not a fallback
  EXPECT_EQ(slurp(a), slurp(c));
  EXPECT_EQ(ja["distance_computations"], jc["distance_computations"]);

  const run_result human = run({"cluster", input}, "-u CHUTORO_DEVICE");
  EXPECT_EQ(human.rc, 0) << human.err;
  EXPECT_NE(human.out.find("device      cpu (auto: no GPU stage has passed the promotion gate"),
            std::string::npos)
      << human.out;
}

TEST_F(Cli, DeviceCudaIsOneClearError) {
  need_data("clusterable_data.npy");
  const fs::path out = dir_ / "labels.csv";
  for (const auto& [args, env] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--device", "cuda"}, "-u CHUTORO_DEVICE"},
           {{}, "CHUTORO_DEVICE=cuda"},
       }) {
    std::vector<std::string> cmd = {"cluster", (data_dir / "clusterable_data.npy").string(), "--output",
                                    out.string()};
    cmd.insert(cmd.end(), args.begin(), args.end());
    const run_result r = run(cmd, env);
    EXPECT_EQ(r.rc, 1) << env;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("chutoro: error: device cuda: ", 0), 0u) << r.err;  // and the loader's reason
    EXPECT_FALSE(fs::exists(out));
  }
  const run_result bad = run({"cluster", (data_dir / "clusterable_data.npy").string(), "--device", "gpu"});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("unknown --device \"gpu\"; choose auto, cpu or cuda"), std::string::npos) << bad.err;
}

// --candidates exact --device cuda runs the module's exact stage (the stand-in
// module: its out-of-memory failure is the one clear error), and a module
// without that stage leaves the exact mode to the CPU (the same labels).
TEST_F(Cli, DeviceCudaExactUsesTheModulesExactStage) {
  need_data("clusterable_data.npy");
  const std::string input = (data_dir / "clusterable_data.npy").string();
  const fs::path g = dir_ / "gpu.csv", c = dir_ / "cpu.csv";
  scoped_env lib("CHUTORO_CUDA_LIBRARY", CHUTORO_TEST_FAKE_CUDA);
  {
    scoped_env mode("CHUTORO_FAKE_CUDA", "oom");
    const run_result r =
        run({"cluster", input, "--candidates", "exact", "--device", "cuda", "--output", g.string()},
            "-u CHUTORO_DEVICE");
    EXPECT_EQ(r.rc, 1);
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("device cuda: out of device memory: exact HDBSCAN*"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(g));
  }
  scoped_env mode("CHUTORO_FAKE_CUDA", "no_exact");
  const auto jg = run_json(
      {"cluster", input, "--candidates", "exact", "--device", "cuda", "--output", g.string(), "--json"},
      "-u CHUTORO_DEVICE");
  EXPECT_EQ(jg["device"], "cuda");
  (void)run_json(
      {"cluster", input, "--candidates", "exact", "--device", "cpu", "--output", c.string(), "--json"},
      "-u CHUTORO_DEVICE");
  EXPECT_EQ(slurp(g), slurp(c));
}

// --candidates knn: with --device cuda the module's kNN-candidates stage runs
// (the stand-in module's chain tree; a module without it says so); on the
// CPU (--device cpu, and auto) it is one clear error naming the fix.
TEST_F(Cli, CandidatesKnnRunsOnlyOnTheGpu) {
  need_data("clusterable_data.npy");
  const std::string input = (data_dir / "clusterable_data.npy").string();
  const fs::path g = dir_ / "gpu.csv";
  for (const char* device : {"cpu", "auto"}) {
    const run_result r =
        run({"cluster", input, "--candidates", "knn", "--device", device, "--output", g.string()},
            "-u CHUTORO_DEVICE");
    EXPECT_EQ(r.rc, 1) << device;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("candidates = knn (GPU kNN candidates) runs on a CUDA GPU only"), std::string::npos)
        << r.err;
    EXPECT_FALSE(fs::exists(g));
  }
  scoped_env lib("CHUTORO_CUDA_LIBRARY", CHUTORO_TEST_FAKE_CUDA);
  {
    scoped_env mode("CHUTORO_FAKE_CUDA", "two_gpus");  // a module without the stage
    const run_result r =
        run({"cluster", input, "--candidates", "knn", "--device", "cuda", "--output", g.string()},
            "-u CHUTORO_DEVICE");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.err.find("offers no kNN-candidates stage"), std::string::npos) << r.err;
  }
  scoped_env mode("CHUTORO_FAKE_CUDA", "knn");
  const auto j = run_json(
      {"cluster", input, "--candidates", "knn", "--device", "cuda", "--output", g.string(), "--json"},
      "-u CHUTORO_DEVICE");
  EXPECT_EQ(j["device"], "cuda");
  EXPECT_EQ(j["candidates"], "knn");
  EXPECT_EQ(j["candidates_requested"], "knn");
  EXPECT_TRUE(fs::exists(g));
}

TEST_F(Cli, DeviceEnvironment) {
  need_data("clusterable_data.npy");
  const std::string input = (data_dir / "clusterable_data.npy").string();
  const auto chosen = run_json({"cluster", input, "--json"}, "CHUTORO_DEVICE=cpu");
  EXPECT_EQ(chosen["device"], "cpu");
  EXPECT_FALSE(chosen.contains("device_fallback_reason"));
  const auto explicit_cpu = run_json({"cluster", input, "--device", "cpu", "--json"}, "CHUTORO_DEVICE=cuda");
  EXPECT_EQ(explicit_cpu["device"], "cpu");  // --device wins over the environment
  const run_result bad = run({"cluster", input, "--json"}, "CHUTORO_DEVICE=gpu");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_NE(bad.err.find("chutoro: error: CHUTORO_DEVICE: unknown value 'gpu'"), std::string::npos)
      << bad.err;
}

TEST_F(Cli, DeviceOnModelCommands) {
  need_data("clusterable_data.npy");
  const std::string input = (data_dir / "clusterable_data.npy").string();
  const fs::path model = dir_ / "m.chutoro", pred = dir_ / "pred.csv";
  const auto fit = run_json({"fit", input, "--save", model.string(), "--device", "cpu", "--json"});
  EXPECT_EQ(fit["device"], "cpu");
  const std::string bytes = slurp(model);
  const auto fit_auto =
      run_json({"fit", input, "--save", (dir_ / "a.chutoro").string(), "--json"}, "-u CHUTORO_DEVICE");
  EXPECT_EQ(slurp(dir_ / "a.chutoro"), bytes);  // the file stores no device
  EXPECT_NE(fit_auto["device_fallback_reason"].get<std::string>().find("promotion gate"), std::string::npos);

  const auto again = run_json({"cluster", "--model", model.string(), "--device", "cpu", "--json"});
  EXPECT_EQ(again["device"], "cpu");
  const auto predicted =
      run_json({"predict", model.string(), input, "--output", pred.string(), "--json"}, "-u CHUTORO_DEVICE");
  EXPECT_EQ(predicted["device"], "cpu");
  EXPECT_NE(predicted["device_fallback_reason"].get<std::string>().find("promotion gate"), std::string::npos);

  const run_result add = run({"add", model.string(), input, "--device", "cuda"});
  EXPECT_EQ(add.rc, 1);
  EXPECT_NE(add.err.find("device cuda: "), std::string::npos) << add.err;
  EXPECT_EQ(slurp(model), bytes);  // untouched
  const auto added = run_json({"add", model.string(), input, "--device", "cpu", "--json"});
  EXPECT_EQ(added["device"], "cpu");
  EXPECT_EQ(added["n"], 2 * 2309);
}
