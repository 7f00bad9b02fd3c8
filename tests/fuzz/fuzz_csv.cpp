// libFuzzer target: the CSV reader (io_detail::parse_csv, what read_csv runs
// on the file's bytes), without and with a label column. Any exception other
// than chutoro::error, any sanitizer report or broken invariant is a crash.
#include <chutoro/io.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.hpp"
#include "io/parse.hpp"

namespace {

void check_table(const chutoro::dense_table& t, bool labelled) {
  using chutoro_fuzz::require;
  require(t.n >= 1 && t.dim >= 1, "an empty table was returned");
  require(t.values.size() == t.n * t.dim, "values.size() != n * dim");
  require(t.columns.size() == t.dim, "columns.size() != dim");
  require(labelled ? t.labels.size() == t.n : t.labels.empty(), "labels do not match n");
  for (const float v : t.values) require(std::isfinite(v), "a non-finite value was returned");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    check_table(chutoro::io_detail::parse_csv(bytes, "fuzz.csv"), false);
  } catch (const chutoro::error& e) {
    chutoro_fuzz::check_error(e);
  }
  try {
    check_table(chutoro::io_detail::parse_csv(bytes, "fuzz.csv", "label"), true);
  } catch (const chutoro::error& e) {
    chutoro_fuzz::check_error(e);
  }
  return 0;
}
