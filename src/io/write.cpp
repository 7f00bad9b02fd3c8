// chutoro — atomic writer of clustering results (temporary file, fsync, rename).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <string>

#include "io/io_common.hpp"

namespace chutoro {
namespace {

std::atomic<unsigned> temp_counter{0};

/// Owns the temporary file until it is renamed; removes it otherwise.
class temp_file {
 public:
  temp_file(const std::filesystem::path& target) : target_(target) {
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
    const std::string base = target.filename().string();
    for (int attempt = 0;; ++attempt) {
      path_ =
          dir / ("." + base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(temp_counter++));
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) break;
      if (errno != EEXIST || attempt > 100)
        io_detail::throw_io(target_, "cannot create the output file", errno);
    }
  }
  ~temp_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;

  void write(std::string_view data) {
    while (!data.empty()) {
      const ssize_t w = ::write(fd_, data.data(), data.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        io_detail::throw_io(target_, "cannot write the output file", errno);
      }
      data.remove_prefix(static_cast<std::size_t>(w));
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) io_detail::throw_io(target_, "cannot flush the output file to disk", errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) io_detail::throw_io(target_, "cannot close the output file", errno);
    if (::rename(path_.c_str(), target_.c_str()) != 0) {
      io_detail::throw_io(target_, "cannot replace the output file", errno);
    }
    committed_ = true;
    // Make the rename durable; best effort (some file systems refuse fsync on a directory).
    const std::filesystem::path dir = target_.has_parent_path() ? target_.parent_path() : ".";
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  std::filesystem::path target_, path_;
  int fd_ = -1;
  bool committed_ = false;
};

template <class T>
void append_number(std::string& out, T v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

void write_clustering_csv(const std::filesystem::path& path, std::span<const std::int32_t> labels,
                          std::span<const double> probabilities, std::span<const double> outlier_scores) {
  if (labels.size() != probabilities.size() || labels.size() != outlier_scores.size()) {
    throw error(error_code::invalid_argument,
                path.string() + ": labels, probabilities and outlier_scores differ in length (" +
                    std::to_string(labels.size()) + ", " + std::to_string(probabilities.size()) + ", " +
                    std::to_string(outlier_scores.size()) + ")");
  }
  temp_file tmp(path);
  std::string buf = "label,probability,outlier_score\n";
  constexpr std::size_t flush_at = std::size_t{1} << 20;
  buf.reserve(flush_at + 128);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    append_number(buf, labels[i]);
    buf += ',';
    append_number(buf, probabilities[i]);
    buf += ',';
    append_number(buf, outlier_scores[i]);
    buf += '\n';
    if (buf.size() >= flush_at) {
      tmp.write(buf);
      buf.clear();
    }
  }
  tmp.write(buf);
  tmp.commit();
}

}  // namespace chutoro
