// chutoro — one-item-per-line text reader.
#include <algorithm>
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <string>

#include "io/io_common.hpp"
#include "io/parse.hpp"

namespace chutoro {

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  return io_detail::parse_lines(io_detail::read_whole_input(path), path.string());
}

std::vector<std::string> io_detail::parse_lines(std::string_view bytes, const std::string& name) {
  std::string_view text = io_detail::strip_bom(bytes);
  if (text.empty()) {
    throw error(error_code::parse, name + ": empty input: the file holds no lines");
  }
  std::vector<std::string> items;
  items.reserve(static_cast<std::size_t>(std::max(std::count(text.begin(), text.end(), '\n'),
                                                  std::count(text.begin(), text.end(), '\r'))) +
                1);
  // Lines end with "\n", "\r\n" or a lone "\r"; after the last line end
  // nothing is left: that empty piece is not an item.
  std::size_t start = 0;
  const std::size_t size = text.size();
  for (std::size_t i = 0; i < size; ++i) {
    const char c = text[i];
    if (c != '\n' && c != '\r') continue;
    items.emplace_back(text.substr(start, i - start));
    if (c == '\r' && i + 1 < size && text[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < size) items.emplace_back(text.substr(start));
  // Invalid UTF-8 is named by its line here (1-based, as an editor counts),
  // before the items become a string_source that only knows item ids.
  for (std::size_t k = 0; k < items.size(); ++k)
    (void)decode_utf8(items[k], name + ": line " + std::to_string(k + 1));
  return items;
}

}  // namespace chutoro
