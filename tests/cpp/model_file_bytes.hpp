// model_file_bytes.hpp — crafts chutoro model files (docs/model_format.md)
// with valid checksums, for tests of the reader's range checks: a field is
// rewritten in place (or a section's payload replaced) and every XXH64 is
// recomputed, so the reader gets past its checksums to the field itself.
// Independent of the library's reader; knows only the documented layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace chutoro_test {

class model_file_bytes {
 public:
  explicit model_file_bytes(std::vector<std::byte> bytes) : b_(std::move(bytes)) {}

  /// Offset in the file of the payload of section `tag` ("PARM", "DATA", ...).
  [[nodiscard]] std::size_t payload(const char* tag) const {
    for (std::size_t pos = 32; pos + 16 <= b_.size();) {
      const std::uint64_t len = read<std::uint64_t>(pos + 8);
      if (std::memcmp(b_.data() + pos, tag, 4) == 0) return pos + 16;
      if (!fits(pos, len)) break;
      pos += 16 + len + 8;
    }
    throw std::logic_error(std::string("model_file_bytes: no section ") + tag);
  }
  /// Payload length of section `tag`.
  [[nodiscard]] std::uint64_t length(const char* tag) const { return read<std::uint64_t>(payload(tag) - 8); }

  /// Field of section `tag` at `offset` bytes into its payload.
  template <class T>
  [[nodiscard]] T get(const char* tag, std::size_t offset) const {
    return read<T>(payload(tag) + offset);
  }
  /// Rewrites a payload field and reseals the file.
  template <class T>
  model_file_bytes& set(const char* tag, std::size_t offset, T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    std::memcpy(b_.data() + payload(tag) + offset, &value, sizeof value);
    reseal();
    return *this;
  }
  /// A header field (offset 0..23) rewritten, the header checksum recomputed.
  template <class T>
  model_file_bytes& set_header(std::size_t offset, T value) {
    std::memcpy(b_.data() + offset, &value, sizeof value);
    reseal();
    return *this;
  }

  [[nodiscard]] std::vector<std::byte> payload_bytes(const char* tag) const {
    const std::size_t at = payload(tag);
    return {b_.begin() + static_cast<std::ptrdiff_t>(at),
            b_.begin() + static_cast<std::ptrdiff_t>(at + length(tag))};
  }
  /// Replaces section `tag`'s payload (its length follows) and reseals.
  model_file_bytes& replace_payload(const char* tag, const std::vector<std::byte>& p) {
    const std::size_t at = payload(tag);
    const std::uint64_t old = length(tag);
    std::vector<std::byte> out(b_.begin(), b_.begin() + static_cast<std::ptrdiff_t>(at));
    out.insert(out.end(), p.begin(), p.end());
    out.insert(out.end(), b_.begin() + static_cast<std::ptrdiff_t>(at + old), b_.end());
    const std::uint64_t len = p.size();
    std::memcpy(out.data() + at - 8, &len, sizeof len);
    b_ = std::move(out);
    reseal();
    return *this;
  }

  /// Recomputes each section's checksum (while the length fields fit the
  /// bytes) and the header's (when there are 32 bytes).
  void reseal() {
    if (b_.size() < 32) return;
    for (std::size_t pos = 32; pos + 16 <= b_.size();) {
      const std::uint64_t len = read<std::uint64_t>(pos + 8);
      if (!fits(pos, len)) break;
      const std::uint64_t sum = XXH64(b_.data() + pos, static_cast<std::size_t>(len) + 16, 0);
      std::memcpy(b_.data() + pos + 16 + len, &sum, sizeof sum);
      pos += 16 + len + 8;
    }
    const std::uint64_t sum = XXH64(b_.data(), 24, 0);
    std::memcpy(b_.data() + 24, &sum, sizeof sum);
  }

  [[nodiscard]] const std::vector<std::byte>& bytes() const noexcept { return b_; }

  /// Little-endian bytes of `v`, to build payloads.
  template <class T>
  static void append(std::vector<std::byte>& out, T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof v);
  }

 private:
  /// Whether a section at `pos` with payload length `len` and its checksum fit in the bytes.
  [[nodiscard]] bool fits(std::size_t pos, std::uint64_t len) const noexcept {
    const std::size_t after_header = b_.size() - pos - 16;  // pos + 16 <= size
    return len <= after_header && after_header - len >= 8;
  }

  template <class T>
  [[nodiscard]] T read(std::size_t at) const {
    T v;
    std::memcpy(&v, b_.data() + at, sizeof v);
    return v;
  }

  std::vector<std::byte> b_;
};

}  // namespace chutoro_test
