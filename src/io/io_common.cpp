// chutoro — helpers shared by the readers and writers in src/io.
#include "io/io_common.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  if (cut) out += "...";
  out += '"';
  return out;
}

}  // namespace chutoro::io_detail
