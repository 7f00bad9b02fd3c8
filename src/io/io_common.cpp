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
  remove_stale_temporaries(target_);  // those of writers of target_ killed before their commit
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
