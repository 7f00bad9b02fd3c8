// End-to-end tests of the `chutoro` executable (CHUTORO_CLI_PATH) on the
// shared real data sets (CHUTORO_DATA_DIR) and on small bad inputs made here.
// Every run uses the default HNSW candidates; the whole file takes a few
// seconds on 2 cores.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chutoro/simd.hpp>
#include <chutoro/version.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

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

  /// Runs `chutoro` with shell-quoted `args`, capturing stdout and stderr.
  run_result run(const std::vector<std::string>& args) {
    std::string cmd = sh_quote(cli_path);
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

  nlohmann::json run_json(const std::vector<std::string>& args) {
    const run_result r = run(args);
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

TEST_F(Cli, Version) {
  const run_result r = run({"--version"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out,
            std::string("chutoro ") + CHUTORO_VERSION_STRING + "\nsimd " + chutoro::simd_target() + "\n");
}

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
  EXPECT_EQ(j["candidates"], "hnsw");
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
     {"--min-cluster-size", ">= 2", "got 0"}},
    {"MinClusterSizeNegative",
     "five.csv",
     five_rows,
     {"--min-cluster-size", "-3"},
     2,
     {"--min-cluster-size", "got -3"}},
    {"MinSamplesZero", "five.csv", five_rows, {"--min-samples", "0"}, 2, {"--min-samples", "got 0"}},
    {"NegativeSeed", "five.csv", five_rows, {"--seed", "-1"}, 2, {"--seed"}},
    {"UnknownMetric", "five.csv", five_rows, {"--metric", "minkowski"}, 2, {"minkowski", "euclidean"}},
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
