// chutoro — error hierarchy.
//
// Every failure chutoro reports is a chutoro::error carrying an error_code and a
// message that names the input, the place (file, row, column, parameter) and the
// problem. The codes are stable: the C ABI and the Python package map them
// one-to-one (invalid_argument -> ValueError, type_mismatch -> TypeError,
// io -> OSError).
#pragma once

#include <stdexcept>
#include <string>

namespace chutoro {

/// Stable numeric codes; values are shared with the C ABI and Python.
enum class error_code : int {
  invalid_argument = 1,  ///< a parameter or input value is out of range
  type_mismatch = 2,     ///< wrong dtype, rank or kind of input
  io = 3,                ///< a file could not be opened, read or written
  parse = 4,             ///< a file's contents are malformed
  unsupported = 5,       ///< a feature that was not built or is not available
  internal = 6,          ///< a broken invariant: a bug in chutoro
};

/// The one exception type chutoro throws. Thread safety: immutable after construction.
class error : public std::runtime_error {
 public:
  error(error_code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  [[nodiscard]] error_code code() const noexcept { return code_; }

 private:
  error_code code_;
};

/// Throws chutoro::error(code, message) when `condition` is false (faiss/RAFT EXPECTS style).
inline void expects(bool condition, error_code code, const std::string& message) {
  if (!condition) throw error(code, message);
}

}  // namespace chutoro
