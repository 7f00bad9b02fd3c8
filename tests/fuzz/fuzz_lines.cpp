// libFuzzer target: the one-item-per-line reader (io_detail::parse_lines).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.hpp"
#include "io/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto items = chutoro::io_detail::parse_lines(bytes, "fuzz.txt");
    chutoro_fuzz::require(!items.empty(), "no items and no error");
    std::size_t total = 0;
    for (const auto& s : items) {
      total += s.size() + 1;  // each item had a line end, but perhaps the last
      chutoro_fuzz::require(s.find('\n') == std::string::npos && s.find('\r') == std::string::npos,
                            "an item holds a line end");
    }
    chutoro_fuzz::require(total <= size + 1, "items hold more bytes than the input");
  } catch (const chutoro::error& e) {
    chutoro_fuzz::check_error(e);
  }
  return 0;
}
