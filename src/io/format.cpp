// chutoro — input format names and detection by file extension.
#include <algorithm>
#include <cctype>
#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <string>

namespace chutoro {

input_format parse_input_format(std::string_view name) {
  if (name == "csv") return input_format::csv;
  if (name == "npy") return input_format::npy;
  if (name == "lines") return input_format::lines;
  if (name == "parquet") return input_format::parquet;
  if (name == "arrow") return input_format::arrow;
  throw error(error_code::invalid_argument,
              "unknown input format \"" + std::string(name) + "\"; choose csv, npy, lines, parquet or arrow");
}

std::string_view to_string(input_format f) noexcept {
  switch (f) {
    case input_format::csv:
      return "csv";
    case input_format::npy:
      return "npy";
    case input_format::lines:
      return "lines";
    case input_format::parquet:
      return "parquet";
    case input_format::arrow:
      return "arrow";
  }
  return "unknown";
}

input_format detect_format(const std::filesystem::path& path) {
  auto lower = [](std::string e) {
    std::transform(e.begin(), e.end(), e.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return e;
  };
  std::string ext = lower(path.extension().string());
  // data.csv.gz / data.csv.zst: read through zlib / libzstd
  if (ext == ".gz" || ext == ".zst") ext = lower(path.stem().extension().string());
  if (ext == ".csv" || ext == ".tsv" || ext == ".tab") return input_format::csv;
  if (ext == ".npy") return input_format::npy;
  if (ext == ".txt" || ext == ".lines" || ext == ".lst") return input_format::lines;
  if (ext == ".parquet" || ext == ".pq") return input_format::parquet;
  if (ext == ".arrow" || ext == ".feather" || ext == ".ipc" || ext == ".arrows") return input_format::arrow;
  throw error(
      error_code::invalid_argument,
      path.string() + ": cannot tell the format from the extension \"" + ext +
          "\" (known: .csv, .tsv, .tab, .npy, .txt, .lines, .lst, .parquet, .pq, .arrow, .feather, .ipc, "
          ".arrows; .csv, .tsv, .tab, .txt, .lines and .lst also gzip- or zstd-compressed with .gz or .zst "
          "after them); "
          "name it with --format csv|npy|lines|parquet|arrow");
}

}  // namespace chutoro
