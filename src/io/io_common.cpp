// chutoro — helpers shared by the readers and writers in src/io.
#include "io/io_common.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

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

output_file::output_file(const std::filesystem::path& target, bool keep_mode) : target_(target) {
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  const std::string base = target.filename().string();
  for (int attempt = 0;; ++attempt) {
    path_ = dir / ("." + base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(temp_counter++));
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) break;
    if (errno != EEXIST || attempt > 100) throw_io(target_, "cannot create the output file", errno);
  }
  struct stat old {};
  if (keep_mode && ::stat(target.c_str(), &old) == 0 && ::fchmod(fd_, old.st_mode & 07777) != 0) {
    const int err = errno;
    ::close(fd_);
    ::unlink(path_.c_str());
    throw_io(target_, "cannot set the output file's mode", err);
  }
}

output_file::~output_file() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(path_.c_str());
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
  if (::fsync(fd_) != 0) throw_io(target_, "cannot flush the output file to disk", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw_io(target_, "cannot close the output file", errno);
  if (::rename(path_.c_str(), target_.c_str()) != 0)
    throw_io(target_, "cannot replace the output file", errno);
  committed_ = true;
  // Make the rename durable (some file systems refuse fsync on a directory).
  const std::filesystem::path dir = target_.has_parent_path() ? target_.parent_path() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int rc = dfd >= 0 ? ::fsync(dfd) : -1;
  const int err = errno;
  if (dfd >= 0) ::close(dfd);
  if (rc != 0 && require_directory_sync)
    throw_io(target_, "replaced, but cannot flush its directory to disk", err);
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
