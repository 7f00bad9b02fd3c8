// Writes the model-file seeds of fuzz_model (tests/fuzz/corpus/model/): small
// models of every source kind, both candidate modes, fitted on cuts of the
// shared data sets (CHUTORO_DATA_DIR) with m = 4 and frequent compactions, to
// keep them a few KB.
// Build: cmake --build --preset fuzz --target fuzz_model_seeds;
// run: build/fuzz/tests/fuzz/fuzz_model_seeds <shared data dir> tests/fuzz/corpus/model
#include <chutoro/io.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/model.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace {

void write(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  std::printf("%s: %zu bytes\n", path.c_str(), bytes.size());
}

chutoro::params small(chutoro::candidate_mode mode, std::size_t mcs = 4, std::size_t ms = 3) {
  chutoro::params p;
  p.build.candidates = mode;
  p.build.m = 4;
  p.build.ef_construction = 16;
  p.build.compaction_factor = 1;  // compactions keep the stored candidate edges few
  p.build.compaction_min_edges = 64;
  p.build.min_samples = ms;
  p.selection.min_cluster_size = mcs;
  return p;
}

/// The first `n` rows of a dense table.
std::vector<float> rows(const chutoro::dense_table& t, std::size_t n) {
  return {t.values.begin(), t.values.begin() + static_cast<std::ptrdiff_t>(n * t.dim)};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DATA_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path data = argv[1], out = argv[2];
  std::filesystem::create_directories(out);
  using chutoro::candidate_mode;
  const auto letter = chutoro::read_csv(data / "letter.csv", "label");
  const auto shuttle = chutoro::read_csv(data / "shuttle.csv", "label");
  const auto words = chutoro::read_lines(data / "words_en.txt");

  auto dense = [&](std::size_t n, chutoro::dense_metric metric) {
    return std::make_shared<chutoro::dense_source>(rows(letter, n), n, letter.dim, metric);
  };
  write(out / "dense_hnsw.chutoro",
        chutoro::model(dense(40, chutoro::dense_metric::euclidean), small(candidate_mode::hnsw)).to_bytes());
  write(out / "dense_exact_cosine.chutoro",
        chutoro::model(dense(30, chutoro::dense_metric::cosine), small(candidate_mode::exact)).to_bytes());
  {
    chutoro::model grown(dense(30, chutoro::dense_metric::manhattan), small(candidate_mode::hnsw, 3, 2));
    const std::vector<float> more(letter.values.begin() + 30 * 16, letter.values.begin() + 40 * 16);
    grown.add(chutoro::dense_source(more, 10, letter.dim, chutoro::dense_metric::manhattan));
    write(out / "dense_hnsw_added.chutoro", grown.to_bytes());
  }
  const std::vector<std::string> some(words.begin() + 1000, words.begin() + 1040);
  write(
      out / "strings_hnsw.chutoro",
      chutoro::model(std::make_shared<chutoro::string_source>(some), small(candidate_mode::hnsw)).to_bytes());
  std::vector<std::string> letters;  // each word as the set of its letters
  for (const auto& w : some) {
    std::string s;
    for (const char c : w) (s += c) += ' ';
    letters.push_back(s);
  }
  write(out / "sets_hnsw.chutoro",
        chutoro::model(std::make_shared<chutoro::set_source>(chutoro::set_source::from_token_lines(letters)),
                       small(candidate_mode::hnsw))
            .to_bytes());
  std::vector<float> bits = rows(letter, 40);
  for (float& v : bits) v = v > 7 ? 1.0f : 0.0f;
  write(out / "bits_exact.chutoro",
        chutoro::model(std::make_shared<chutoro::bit_source>(chutoro::bit_source::from_dense(
                           bits, 40, letter.dim, chutoro::bit_metric::tanimoto)),
                       small(candidate_mode::exact))
            .to_bytes());
  write(out / "products_hnsw.chutoro",
        chutoro::model(std::make_shared<chutoro::product_source>(rows(shuttle, 40), 40, shuttle.dim,
                                                                 chutoro::product_metric::angular),
                       small(candidate_mode::hnsw))
            .to_bytes());
  return 0;
}
