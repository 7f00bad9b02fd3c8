// The example plugins (examples/plugins) cluster real data, through the
// library and through the CLI, and agree exactly with the built-in metrics:
//  - the C++ Tanimoto plugin over digits.csv binarised (pixel >= 8) as hex fingerprints;
//  - the C Jaccard plugin over token sets made from letter.csv rows ("c<k>=<value>").
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/io.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/plugin_source.hpp>
#include <chutoro/scores.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_data.hpp"

namespace fs = std::filesystem;

namespace {

fs::path tmp_dir() {
  const fs::path d = fs::path(CHUTORO_TEST_TMP) / "plugin_examples";
  fs::create_directories(d);
  return d;
}

chutoro::params exact_params(std::size_t mcs) {
  chutoro::params p;
  p.selection.min_cluster_size = mcs;
  p.build.candidates = chutoro::candidate_mode::exact;
  return p;
}

TEST(PluginExamples, TanimotoFingerprintsOfDigitsMatchBuiltIn) {
  const chutoro::dense_table digits = chutoro::read_csv(chutoro_test::data_path("digits.csv"), "label");
  std::vector<float> bits(digits.values.size());
  for (std::size_t k = 0; k < bits.size(); ++k) bits[k] = digits.values[k] >= 8.0f ? 1.0f : 0.0f;
  // 64 pixels -> 16 hex digits a line, bit k = pixel k, most significant first.
  const fs::path file = tmp_dir() / "digits_fingerprints.txt";
  {
    std::ofstream out(file);
    for (std::size_t i = 0; i < digits.n; ++i) {
      for (std::size_t h = 0; h < 16; ++h) {
        int v = 0;
        for (std::size_t b = 0; b < 4; ++b) v = v * 2 + (bits[i * 64 + h * 4 + b] != 0.0f);
        out << "0123456789abcdef"[v];
      }
      out << '\n';
    }
  }
  chutoro::plugin_source plugin(CHUTORO_TANIMOTO_PLUGIN, file.string());
  EXPECT_EQ(plugin.size(), digits.n);
  EXPECT_EQ(plugin.name(), "tanimoto");
  EXPECT_EQ(plugin.caps(), 0u);
  const auto builtin = chutoro::bit_source::from_dense(bits, digits.n, 64, chutoro::bit_metric::tanimoto);
  for (std::size_t i = 0; i < 50; ++i)
    for (std::size_t j = 0; j < 50; ++j) ASSERT_EQ(plugin.distance(i, j), builtin.distance(i, j));

  chutoro::params p = exact_params(15);
  p.build.min_samples = 2;
  const chutoro::result a = chutoro::fit(plugin, p);
  const chutoro::result b = chutoro::fit(builtin, p);
  EXPECT_EQ(a.labels, b.labels);
  const auto truth = chutoro::encode_labels(digits.labels);
  const double ari = chutoro::adjusted_rand_index(truth, a.labels);
  // Binarising loses most of the signal (0.49 on the raw pixels): exact HDBSCAN* gives 0.152 here.
  EXPECT_GT(ari, 0.1) << "binarised digits should still cluster by digit";
  std::printf("tanimoto plugin on digits fingerprints: ARI %.3f\n", ari);
  // The default (hnsw) mode runs too.
  chutoro::params h = p;
  h.build.candidates = chutoro::candidate_mode::hnsw;
  EXPECT_EQ(chutoro::fit(plugin, h).labels.size(), digits.n);
}

TEST(PluginExamples, JaccardTokenSetsOfLetterMatchBuiltIn) {
  const chutoro::dense_table letter = chutoro::read_csv(chutoro_test::data_path("letter.csv"), "label");
  const std::size_t n = 2000;
  std::vector<std::string> lines(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::ostringstream s;
    for (std::size_t k = 0; k < letter.dim; ++k)
      s << (k ? " " : "") << 'c' << k << '=' << letter.values[i * letter.dim + k];
    lines[i] = s.str();
  }
  const fs::path file = tmp_dir() / "letter_tokens.txt";
  {
    std::ofstream out(file);
    for (const auto& l : lines) out << l << '\n';
  }
  chutoro::plugin_source plugin(CHUTORO_JACCARD_PLUGIN, "file=" + file.string());
  EXPECT_EQ(plugin.size(), n);
  EXPECT_EQ(plugin.name(), "jaccard");
  EXPECT_EQ(plugin.caps(), CHUTORO_HAS_DISTANCE_BATCH);
  const auto builtin = chutoro::set_source::from_token_lines(lines);
  std::vector<chutoro::index_pair> pairs;
  for (std::uint32_t i = 0; i < 60; ++i)
    for (std::uint32_t j = 0; j < 60; ++j) pairs.push_back({i, j});
  std::vector<float> out(pairs.size());
  plugin.distance_batch(pairs, out);
  for (std::size_t k = 0; k < pairs.size(); ++k)
    ASSERT_EQ(out[k], builtin.distance(pairs[k].a, pairs[k].b)) << pairs[k].a << "," << pairs[k].b;

  const chutoro::params p = exact_params(5);
  const chutoro::result a = chutoro::fit(plugin, p);
  const chutoro::result b = chutoro::fit(builtin, p);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_GE(a.n_clusters(), 2u);

  // Bad arguments are the plugin's own errors, named.
  try {
    chutoro::plugin_source bad(CHUTORO_JACCARD_PLUGIN, "file=/nonexistent.txt");
    ADD_FAILURE();
  } catch (const chutoro::error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent.txt: cannot open"), std::string::npos) << e.what();
  }
}

TEST(PluginExamples, JaccardShinglesOfWords) {
  // Character 3-grams of the first 1500 words: similar spellings cluster.
  std::ifstream in(chutoro_test::data_path("words_en.txt"));
  const fs::path file = tmp_dir() / "words_1500.txt";
  std::ofstream out(file);
  std::string w;
  for (int k = 0; k < 1500 && std::getline(in, w); ++k) out << w << '\n';
  out.close();
  chutoro::plugin_source plugin(CHUTORO_JACCARD_PLUGIN, "file=" + file.string() + ",shingle=3");
  EXPECT_EQ(plugin.size(), 1500u);
  chutoro::params p;
  p.selection.min_cluster_size = 5;
  const chutoro::result r = chutoro::fit(plugin, p);
  EXPECT_GE(r.n_clusters(), 2u);
}

}  // namespace

#ifdef CHUTORO_CLI_PATH
namespace {

std::string run_cli(const std::string& args, int* rc) {
  const fs::path out = tmp_dir() / "cli_out.txt";
  const std::string cmd = std::string(CHUTORO_CLI_PATH) + " cluster " + args + " >" + out.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  *rc = WEXITSTATUS(status);
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(PluginExamples, CliRunsAPlugin) {
  const fs::path words = tmp_dir() / "cli_words.txt";
  {
    std::ifstream in(chutoro_test::data_path("words_en.txt"));
    std::ofstream out(words);
    std::string w;
    for (int k = 0; k < 800 && std::getline(in, w); ++k) out << w << '\n';
  }
  int rc = 0;
  std::string out = run_cli(std::string("--plugin ") + CHUTORO_JACCARD_PLUGIN +
                                " --plugin-arg file=" + words.string() + ",shingle=2 --json",
                            &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("\"format\":\"plugin\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"metric\":\"jaccard\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"n\":800"), std::string::npos) << out;
  // A plugin failure: one error line naming the plugin file, exit 1.
  out = run_cli(std::string("--plugin ") + CHUTORO_JACCARD_PLUGIN + " --plugin-arg /nonexistent.txt", &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find(std::string("chutoro: error: plugin ") + CHUTORO_JACCARD_PLUGIN), std::string::npos)
      << out;
  EXPECT_NE(out.find("/nonexistent.txt: cannot open"), std::string::npos) << out;
  // Usage errors: INPUT and --plugin together, --metric with a plugin.
  out = run_cli(words.string() + " --plugin " + CHUTORO_JACCARD_PLUGIN, &rc);
  EXPECT_EQ(rc, 2) << out;
  out =
      run_cli(std::string("--plugin ") + CHUTORO_JACCARD_PLUGIN + " --plugin-arg x --metric euclidean", &rc);
  EXPECT_EQ(rc, 2) << out;
}

}  // namespace
#endif
