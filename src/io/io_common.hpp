// chutoro — helpers shared by the readers and writers in src/io (internal).
#pragma once

#include <chutoro/error.hpp>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace chutoro::io_detail {

/// Throws error(io) "<path>: <what>: <strerror(err)>".
[[noreturn]] void throw_io(const std::filesystem::path& path, std::string_view what, int err);

/// A file written atomically (RAII): the bytes go to a new temporary file in
/// the target's directory (".<name>.tmp-<pid>-<k>", mode 0666 & ~umask, or the
/// existing target's mode with keep_mode), which commit() fsyncs, renames over
/// the target, then fsyncs the directory (best effort unless
/// require_directory_sync). Until commit() succeeds the target is untouched;
/// the destructor removes an uncommitted temporary file. Errors: error(io)
/// "<target>: <what>: <strerror>". Not thread safe.
class output_file {
 public:
  explicit output_file(const std::filesystem::path& target, bool keep_mode = false);
  ~output_file();
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;

  void write(std::string_view data);
  void commit(bool require_directory_sync = false);

 private:
  std::filesystem::path target_, path_;
  int fd_ = -1;
  bool committed_ = false;
};

/// A file opened read-only (RAII). Throws error(io) naming the path when it is
/// missing, unreadable or a directory.
class input_file {
 public:
  explicit input_file(const std::filesystem::path& path);
  ~input_file();
  input_file(const input_file&) = delete;
  input_file& operator=(const input_file&) = delete;

  /// Reads up to `size` bytes, retrying short reads; returns the bytes read
  /// (< size only at end of file). Throws error(io) on a read error.
  std::size_t read(void* out, std::size_t size);
  /// The whole rest of the file.
  std::string read_all();
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// The size of a regular file when it was opened, else 0 (a pipe, a device, an empty file).
  [[nodiscard]] std::size_t size_hint() const noexcept { return size_hint_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::size_t size_hint_ = 0;  // st_size of a regular file, else 0
};

/// The whole file as bytes.
inline std::string read_whole_file(const std::filesystem::path& path) { return input_file(path).read_all(); }

/// `s` safe to print on a terminal, for error messages: valid UTF-8 is kept
/// except control characters, which are escaped (\n, \r, \t, \xNN for C0 and
/// DEL, \uXXXX for C1 controls, line/paragraph separators and bidirectional
/// overrides); each byte that is not part of valid UTF-8 becomes \xNN.
/// Backslashes are kept as they are, so escaping twice changes nothing.
std::string escape_text(std::string_view s);

/// `s` in double quotes for a one-line error message: cut to `max_chars` bytes
/// (not inside a UTF-8 sequence) with "...", escaped as escape_text() does,
/// and '"' and '\\' escaped as \" and \\ inside the quotes.
std::string quote_text(std::string_view s, std::size_t max_chars = 40);

/// Removes a leading UTF-8 byte order mark.
inline std::string_view strip_bom(std::string_view s) noexcept {
  if (s.size() >= 3 && static_cast<unsigned char>(s[0]) == 0xEF && static_cast<unsigned char>(s[1]) == 0xBB &&
      static_cast<unsigned char>(s[2]) == 0xBF) {
    s.remove_prefix(3);
  }
  return s;
}

}  // namespace chutoro::io_detail
