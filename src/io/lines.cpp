// chutoro — one-item-per-line text reader.
#include <algorithm>
#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <cstring>

#include "io/io_common.hpp"

namespace chutoro {

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  const std::string bytes = io_detail::read_whole_file(path);
  std::string_view text = io_detail::strip_bom(bytes);
  if (text.empty()) {
    throw error(error_code::parse, path.string() + ": empty input: the file holds no lines");
  }
  std::vector<std::string> items;
  items.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  while (!text.empty()) {
    const auto* nl = static_cast<const char*>(std::memchr(text.data(), '\n', text.size()));
    const std::size_t len = nl ? static_cast<std::size_t>(nl - text.data()) : text.size();
    std::string_view line = text.substr(0, len);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    items.emplace_back(line);
    // After the last '\n' nothing is left: the empty piece is not an item.
    text.remove_prefix(nl ? len + 1 : len);
  }
  return items;
}

}  // namespace chutoro
