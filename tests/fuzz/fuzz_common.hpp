// fuzz_common.hpp — what the libFuzzer targets in tests/fuzz share: a check
// that aborts (so libFuzzer records the input) and the error-message rules.
#pragma once

#include <chutoro/error.hpp>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace chutoro_fuzz {

/// Aborts with `what` when `ok` is false: an invariant of the reader broke.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

/// The rules every chutoro::error a reader throws on bad input must follow:
/// one line, no control character (file text is escaped), a known code.
inline void check_error(const chutoro::error& e) {
  const std::string_view msg = e.what();
  require(!msg.empty(), "empty error message");
  for (const char c : msg) {
    const auto u = static_cast<unsigned char>(c);
    require(u >= 0x20 && u != 0x7F, "raw control character in an error message");
  }
  const auto code = static_cast<int>(e.code());
  require(code >= static_cast<int>(chutoro::error_code::invalid_argument) &&
              code <= static_cast<int>(chutoro::error_code::internal),
          "unknown error code");
}

}  // namespace chutoro_fuzz
