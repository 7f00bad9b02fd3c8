// chutoro — helpers shared by the readers and writers in src/io (internal).
#pragma once

#include <chutoro/error.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace chutoro::io_detail {

/// Throws error(io) "<path>: <what>: <strerror(err)>".
[[noreturn]] void throw_io(const std::filesystem::path& path, std::string_view what, int err);

/// An output file (RAII) that never destroys what it must not.
///
/// What happens depends on what `target` names (symbolic links followed):
/// - nothing yet, or a regular file: the bytes go to a new temporary file in
///   the (resolved) target's directory (".<name>.tmp-<pid>-<k>"), which
///   commit() fsyncs, renames over the target, then fsyncs the directory (best
///   effort unless require_directory_sync). An existing file's mode (and, where
///   permitted, owner and group) is kept; a symbolic link stays a link and the
///   file it points to is replaced. Until commit() succeeds the target is
///   untouched; the destructor removes an uncommitted temporary file;
/// - a FIFO or a character device (/dev/null, /dev/stdout, a terminal): the
///   bytes are written through it as they come (it is opened without
///   truncating or creating, never replaced); commit() closes it. Such a
///   target cannot be atomic: a failure may leave part of the bytes written;
/// - "-": standard output, written through as above;
/// - anything else (a directory, a block device, a socket, a link to a
///   missing file): error(io) naming the target and what it is.
/// Errors: error(io) "<target>: <what>: <strerror>". Not thread safe.
class output_file {
 public:
  explicit output_file(const std::filesystem::path& target);
  ~output_file();
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;

  void write(std::string_view data);
  void commit(bool require_directory_sync = false);
  /// Whether the bytes go straight to the target (FIFO, device, "-"): not atomic.
  [[nodiscard]] bool writes_through() const noexcept { return path_.empty(); }

 private:
  std::filesystem::path target_;  // as given, for messages
  std::filesystem::path real_;    // the file replaced (links resolved)
  std::filesystem::path path_;    // the temporary file; empty when writing through
  int fd_ = -1;
  bool committed_ = false;
};

/// write_clustering_csv's file, written but not committed (commit() makes it
/// visible): lets a caller commit it only after other steps succeeded.
std::unique_ptr<output_file> stage_clustering_csv(const std::filesystem::path& path,
                                                  std::span<const std::int32_t> labels,
                                                  std::span<const double> probabilities,
                                                  std::span<const double> outlier_scores);

/// Whether `output` names the same existing regular file as `other` (by
/// device and inode, so links and different spellings count): writing to
/// `output` would replace `other`. False when either does not exist or
/// `output` is not a regular file (a FIFO or device is written through, never
/// replaced). Never throws.
bool would_replace(const std::filesystem::path& output, const std::filesystem::path& other) noexcept;

/// An exclusive advisory lock (flock(2)) on an existing file, held for the
/// object's lifetime: serialises processes that read, change and replace the
/// same file (`chutoro add` on one model). After taking the lock it checks that
/// `path` still names the locked file (a writer that replaced the file by
/// rename held a lock on the old one) and otherwise locks the new one. Waits
/// up to `timeout_seconds` while another process holds it, calling `on_wait`
/// once when it starts waiting. Errors: error(io) naming the file when it
/// cannot be opened or locked, or the lock is still held after the timeout.
/// Locks of other programs that do not use flock are not seen.
class file_lock {
 public:
  file_lock(const std::filesystem::path& path, double timeout_seconds,
            const std::function<void()>& on_wait = {});
  ~file_lock();
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;

 private:
  int fd_ = -1;
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
  /// Moves `bytes` forward (lseek, or reading and dropping them where the
  /// file cannot seek); returns how many bytes were skipped (< bytes only at
  /// the end of a file that cannot seek, or past the end of a regular file).
  std::size_t skip(std::size_t bytes);
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

/// How an input's first bytes say it is compressed: gzip (1f 8b), zstd
/// (28 b5 2f fd), or neither (also for fewer bytes than a magic number).
enum class compression { none, gzip, zstd };
[[nodiscard]] inline compression compression_of(const void* bytes, std::size_t size) noexcept {
  const auto* b = static_cast<const unsigned char*>(bytes);
  if (size >= 2 && b[0] == 0x1f && b[1] == 0x8b) return compression::gzip;
  if (size >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return compression::zstd;
  return compression::none;
}

/// The whole input as bytes, for the text readers (csv, lines): "-" is standard
/// input; a file (or standard input) starting with the gzip magic bytes is
/// decompressed through zlib (several concatenated gzip members too), one
/// starting with the zstd magic bytes (28 b5 2f fd) through libzstd (several
/// frames too). Throws error(io) naming the path on a read error,
/// error(parse) naming it on corrupt or truncated gzip or zstd data.
std::string read_whole_input(const std::filesystem::path& path);

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
