// chutoro — helpers shared by the readers and writers in src/io.
#include "io/io_common.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "io/stale_temporaries.hpp"

namespace chutoro::io_detail {

void throw_io(const std::filesystem::path& path, std::string_view what, int err) {
  std::string msg = path.string();
  msg += ": ";
  msg += what;
  if (err != 0) {
    msg += ": ";
    msg += std::strerror(err);
  }
  throw error(error_code::io, msg);
}

namespace {
std::atomic<unsigned> temp_counter{0};
}  // namespace

output_file::output_file(const std::filesystem::path& target) : target_(target) {
  if (target.empty()) throw_io("\"\"", "cannot write the output file: the file name is empty", 0);
  if (target == "-") {
    fd_ = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd_ < 0) throw_io("standard output", "cannot write", errno);
    return;
  }
  struct stat st {};
  const bool exists = ::stat(target.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) throw_io(target_, "cannot write the output file", errno);
  if (!exists) {
    struct stat link {};
    if (::lstat(target.c_str(), &link) == 0)  // a symbolic link to nothing
      throw_io(target_, "cannot write the output file: it is a symbolic link to a missing file", 0);
  }
  if (exists && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
    // Write through: never truncate, create or replace a FIFO or a device.
    fd_ = ::open(target.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd_ < 0) throw_io(target_, "cannot open the output for writing", errno);
    return;
  }
  if (exists && !S_ISREG(st.st_mode)) {
    const char* what = S_ISDIR(st.st_mode)    ? "it is a directory"
                       : S_ISBLK(st.st_mode)  ? "it is a block device, not a file (refusing to write to it)"
                       : S_ISSOCK(st.st_mode) ? "it is a socket, not a file"
                                              : "it is not a regular file";
    throw_io(target_, std::string("cannot write the output file: ") + what, 0);
  }
  // A regular file or a new one: replace the file a symbolic link points to, not the link.
  real_ = target;
  if (exists) {
    std::error_code ec;
    std::filesystem::path resolved = std::filesystem::canonical(target, ec);
    if (!ec) real_ = std::move(resolved);
  }
  const std::filesystem::path dir = real_.has_parent_path() ? real_.parent_path() : ".";
  const std::string base = real_.filename().string();
  for (int attempt = 0;; ++attempt) {
    path_ = dir / ("." + base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(temp_counter++));
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) break;
    if (errno != EEXIST || attempt > 100) throw_io(target_, "cannot create the output file", errno);
  }
  if (exists) {
    // Keep the replaced file's owner (best effort: only root may give a file
    // away) and its mode (after the owner: chown clears set-id bits).
    if (st.st_uid != ::geteuid() || st.st_gid != ::getegid()) (void)::fchown(fd_, st.st_uid, st.st_gid);
    if (::fchmod(fd_, st.st_mode & 07777) != 0) {
      const int err = errno;
      ::close(fd_);
      ::unlink(path_.c_str());
      throw_io(target_, "cannot set the output file's mode", err);
    }
  }
}

output_file::~output_file() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !path_.empty()) ::unlink(path_.c_str());
}

void output_file::write(std::string_view data) {
  while (!data.empty()) {
    const ssize_t w = ::write(fd_, data.data(), data.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_io(target_, "cannot write the output file", errno);
    }
    data.remove_prefix(static_cast<std::size_t>(w));
  }
}

void output_file::commit(bool require_directory_sync) {
  if (writes_through()) {
    // Devices and pipes: nothing to rename; fsync means nothing to most of them.
    const int fd = fd_;
    fd_ = -1;
    committed_ = true;
    if (::close(fd) != 0 && errno != EINTR) throw_io(target_, "cannot close the output", errno);
    return;
  }
  if (::fsync(fd_) != 0) throw_io(target_, "cannot flush the output file to disk", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw_io(target_, "cannot close the output file", errno);
  if (::rename(path_.c_str(), real_.c_str()) != 0) throw_io(target_, "cannot replace the output file", errno);
  committed_ = true;
  remove_stale_temporaries(target_);  // those of writers of target_ killed before their commit
  // Make the rename durable (some file systems refuse fsync on a directory).
  const std::filesystem::path dir = real_.has_parent_path() ? real_.parent_path() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int rc = dfd >= 0 ? ::fsync(dfd) : -1;
  const int err = errno;
  if (dfd >= 0) ::close(dfd);
  if (rc != 0 && require_directory_sync)
    throw_io(target_, "replaced, but cannot flush its directory to disk", err);
}

bool would_replace(const std::filesystem::path& output, const std::filesystem::path& other) noexcept {
  if (output.empty() || other.empty() || output == "-") return false;
  struct stat a {
  }, b{};
  if (::stat(output.c_str(), &a) != 0 || ::stat(other.c_str(), &b) != 0) return false;
  return S_ISREG(a.st_mode) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

file_lock::file_lock(const std::filesystem::path& path, double timeout_seconds,
                     const std::function<void()>& on_wait) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                             std::chrono::duration<double>(std::max(timeout_seconds, 0.0)));
  bool waited = false;
  for (;;) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw_io(path, "cannot open the file to lock it", errno);
    for (;;) {
      if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) break;
      const int err = errno;
      if (err == EINTR) continue;
      if (err != EWOULDBLOCK) {
        ::close(fd_);
        fd_ = -1;
        throw_io(path, "cannot lock the file", err);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ::close(fd_);
        fd_ = -1;
        std::ostringstream os;
        os << "another process is changing this file (still locked after waiting " << timeout_seconds
           << " s); try again when it has finished";
        throw_io(path, os.str(), 0);
      }
      if (!waited && on_wait) on_wait();
      waited = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // The holder may have replaced the file while we waited: lock the file the path names now.
    struct stat held {
    }, now{};
    if (::fstat(fd_, &held) == 0 && ::stat(path.c_str(), &now) == 0 && held.st_dev == now.st_dev &&
        held.st_ino == now.st_ino)
      return;
    ::close(fd_);
    fd_ = -1;
  }
}

file_lock::~file_lock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

input_file::input_file(const std::filesystem::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw_io(path_, "cannot open file", errno);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    throw_io(path_, "cannot stat file", err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    throw_io(path_, "is a directory, not a file", 0);
  }
  if (S_ISREG(st.st_mode) && st.st_size > 0) size_hint_ = static_cast<std::size_t>(st.st_size);
}

input_file::~input_file() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t input_file::read(void* out, std::size_t size) {
  auto* p = static_cast<char*>(out);
  std::size_t done = 0;
  while (done < size) {
    // Linux reads at most ~2 GiB per call.
    const std::size_t chunk = std::min<std::size_t>(size - done, std::size_t{1} << 30);
    const ssize_t r = ::read(fd_, p + done, chunk);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_io(path_, "cannot read file", errno);
    }
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return done;
}

std::size_t input_file::skip(std::size_t bytes) {
  if (bytes == 0) return 0;
  const off_t here = ::lseek(fd_, 0, SEEK_CUR);
  if (here >= 0 && size_hint_ > 0) {
    const std::size_t left =
        size_hint_ > static_cast<std::size_t>(here) ? size_hint_ - static_cast<std::size_t>(here) : 0;
    const std::size_t step = std::min(bytes, left);
    if (::lseek(fd_, static_cast<off_t>(step), SEEK_CUR) < 0) throw_io(path_, "cannot seek in file", errno);
    return step;
  }
  std::string sink(std::min<std::size_t>(bytes, std::size_t{1} << 20), '\0');
  std::size_t done = 0;
  while (done < bytes) {
    const std::size_t got = read(sink.data(), std::min(sink.size(), bytes - done));
    if (got == 0) break;
    done += got;
  }
  return done;
}

std::string input_file::read_all() {
  std::string data;
  // One extra byte so that a file of exactly the hinted size ends in one pass.
  std::size_t capacity = size_hint_ > 0 ? size_hint_ + 1 : std::size_t{1} << 16;
  std::size_t used = 0;
  for (;;) {
    data.resize(capacity);
    const std::size_t got = read(data.data() + used, capacity - used);
    used += got;
    if (used < capacity) break;
    capacity *= 2;
  }
  data.resize(used);
  return data;
}

namespace {

/// Zstandard data (RFC 8878; frame after frame, as `cat a.zst b.zst` makes,
/// skippable frames ignored) decompressed through libzstd's streaming API,
/// so frames without a recorded content size work too. `name` is the input
/// for error messages.
std::string decompress_zstd(const std::string& raw, const std::string& name) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), &ZSTD_freeDCtx);
  if (!dctx) throw error(error_code::io, name + ": cannot start libzstd (out of memory)");
  std::string out;
  out.resize(std::max<std::size_t>(raw.size() * 4, ZSTD_DStreamOutSize()));
  ZSTD_inBuffer in{raw.data(), raw.size(), 0};
  std::size_t produced = 0;
  std::size_t last = 0;  // ZSTD_decompressStream's last return: 0 at the end of a frame
  while (in.pos < in.size) {
    if (produced == out.size()) out.resize(out.size() * 2);
    ZSTD_outBuffer o{out.data() + produced, out.size() - produced, 0};
    const std::size_t before = in.pos;
    last = ZSTD_decompressStream(dctx.get(), &o, &in);
    if (ZSTD_isError(last))
      throw error(error_code::parse, name + ": corrupt zstd data near compressed byte " +
                                         std::to_string(before) + " (libzstd: " + ZSTD_getErrorName(last) +
                                         ")");
    produced += o.pos;
    if (o.pos == 0 && in.pos == before && o.size != 0) break;  // no progress: cannot happen with input left
  }
  // Output still held inside libzstd once the input is consumed.
  while (last != 0) {
    if (produced == out.size()) out.resize(out.size() * 2);
    ZSTD_outBuffer o{out.data() + produced, out.size() - produced, 0};
    last = ZSTD_decompressStream(dctx.get(), &o, &in);
    if (ZSTD_isError(last))
      throw error(error_code::parse, name + ": corrupt zstd data (libzstd: " + ZSTD_getErrorName(last) + ")");
    produced += o.pos;
    if (o.pos == 0) break;  // it needs more input, and there is none
  }
  if (last != 0)
    throw error(error_code::parse, name + ": the zstd data is truncated (it ends inside a compressed frame)");
  out.resize(produced);
  return out;
}

}  // namespace

std::string read_whole_input(const std::filesystem::path& path) {
  std::string raw;
  if (path == "-") {
    raw.resize(std::size_t{1} << 16);
    std::size_t used = 0;
    for (;;) {
      const ssize_t r = ::read(STDIN_FILENO, raw.data() + used, raw.size() - used);
      if (r < 0) {
        if (errno == EINTR) continue;
        throw_io(path, "cannot read standard input", errno);
      }
      if (r == 0) break;
      used += static_cast<std::size_t>(r);
      if (used == raw.size()) raw.resize(raw.size() * 2);
    }
    raw.resize(used);
  } else {
    raw = input_file(path).read_all();
  }
  const std::string name = path == "-" ? std::string("standard input") : path.string();
  const compression c = compression_of(raw.data(), raw.size());
  if (c == compression::zstd) return decompress_zstd(raw, name);
  if (c == compression::none) return raw;
  // gzip (zlib's inflate with automatic gzip header detection), member after member.
  std::string out;
  out.resize(std::max<std::size_t>(raw.size() * 4, std::size_t{1} << 16));
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) throw error(error_code::io, name + ": cannot start zlib");
  std::size_t in_pos = 0, produced = 0;  // bytes of raw handed to zlib; bytes of out written
  auto feed = [&] {
    if (zs.avail_in != 0 || in_pos >= raw.size()) return;
    const std::size_t k = std::min<std::size_t>(raw.size() - in_pos, std::size_t{1} << 30);
    zs.next_in = reinterpret_cast<Bytef*>(raw.data() + in_pos);
    zs.avail_in = static_cast<uInt>(k);
    in_pos += k;
  };
  auto fail = [&](const std::string& message) {
    inflateEnd(&zs);
    throw error(error_code::parse, name + ": " + message);
  };
  feed();
  for (;;) {
    if (produced == out.size()) out.resize(out.size() * 2);
    const std::size_t room = std::min<std::size_t>(out.size() - produced, std::size_t{1} << 30);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    const std::size_t consumed = in_pos - zs.avail_in;
    if (rc == Z_STREAM_END) {
      // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else ends the data.
      if (consumed + 1 >= raw.size() || static_cast<unsigned char>(raw[consumed]) != 0x1f ||
          static_cast<unsigned char>(raw[consumed + 1]) != 0x8b)
        break;
      if (inflateReset(&zs) != Z_OK) fail("cannot restart zlib");
      feed();
      continue;
    }
    if (rc == Z_OK || rc == Z_BUF_ERROR) {
      if (zs.avail_in == 0 && in_pos >= raw.size() && zs.avail_out != 0)
        fail("the gzip data is truncated (it ends inside a compressed member)");
      feed();
      continue;
    }
    fail("corrupt gzip data near compressed byte " + std::to_string(consumed) +
         " (zlib: " + (zs.msg ? std::string(zs.msg) : "error " + std::to_string(rc)) + ")");
  }
  inflateEnd(&zs);
  out.resize(produced);
  return out;
}

namespace {

/// Length of the valid UTF-8 sequence at s[i] (1 to 4), or 0 when the bytes
/// there are not one (stray continuation byte, overlong form, surrogate, above
/// U+10FFFF, cut short); `cp` gets its code point.
std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len;
  char32_t min;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1Fu, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0Fu, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

/// Code points a terminal may act on: C1 controls, line and paragraph
/// separators, bidirectional embeddings, overrides and isolates.
bool is_control_point(char32_t c) noexcept {
  return (c >= 0x80 && c <= 0x9F) || c == 0x2028 || c == 0x2029 || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069);
}

void append_escaped(std::string& out, std::string_view s, bool quoted) {
  static const char* hex = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(s, i, cp);
    if (len == 0) {  // not UTF-8: the byte in hex
      const auto u = static_cast<unsigned char>(c);
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
      ++i;
      continue;
    }
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (quoted && (c == '"' || c == '\\')) {
      out += '\\';
      out += c;
    } else if (cp < 0x20 || cp == 0x7F) {
      out += "\\x";
      out += hex[cp >> 4];
      out += hex[cp & 15];
    } else if (is_control_point(cp)) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out += hex[(cp >> shift) & 15];
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
}

}  // namespace

std::string escape_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_escaped(out, s, false);
  return out;
}

std::string quote_text(std::string_view s, std::size_t max_chars) {
  bool cut = false;
  if (s.size() > max_chars) {
    std::size_t n = max_chars;
    // Do not cut a UTF-8 sequence in two.
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s = s.substr(0, n);
    cut = true;
  }
  std::string out = "\"";
  append_escaped(out, s, true);
  if (cut) out += "...";
  out += '"';
  return out;
}

}  // namespace chutoro::io_detail
