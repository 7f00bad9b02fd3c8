// chutoro — removal of the temporary files left by atomic writers that died
// before they committed (see stale_temporaries.hpp).
#include "io/stale_temporaries.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace chutoro::io_detail {

namespace {

/// An unsigned decimal without sign or leading zero ("0" itself allowed), at most `max`.
bool parse_decimal(std::string_view s, std::uint64_t max, std::uint64_t& out) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return false;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

/// True when no process has `pid` (as far as this pid namespace can tell).
bool process_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

/// The stat of the file the name `name` in `dfd` now points at equals `st` (same file).
bool same_file_as(int dfd, const char* name, const struct stat& st) {
  struct stat now {};
  return ::fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st.st_dev &&
         now.st_ino == st.st_ino;
}

/// Removes one candidate after the checks of remove_stale_temporaries; true when removed.
bool remove_if_stale(int dfd, const std::string& name, pid_t pid) {
  if (pid == ::getpid() || !process_gone(pid)) return false;
  struct stat st {};
  if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || st.st_nlink != 1) return false;
  // O_NONBLOCK: never wait on a FIFO swapped in under the name; O_NOFOLLOW: never a symlink.
  const int fd = ::openat(dfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat opened {};
    const bool same = ::fstat(fd, &opened) == 0 && opened.st_dev == st.st_dev && opened.st_ino == st.st_ino &&
                      S_ISREG(opened.st_mode);
    // A writer that flocks its temporary file is alive wherever its pid is not visible.
    const bool unlocked = same && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    bool removed = false;
    if (unlocked && same_file_as(dfd, name.c_str(), st)) removed = ::unlinkat(dfd, name.c_str(), 0) == 0;
    ::close(fd);  // releases the lock
    return removed;
  }
  // A temporary file the writer could not leave readable (e.g. mode 0200 kept from its target):
  // the checks above, without the lock test.
  if (errno != EACCES) return false;
  return same_file_as(dfd, name.c_str(), st) && ::unlinkat(dfd, name.c_str(), 0) == 0;
}

}  // namespace

std::optional<long> stale_temporary_pid(std::string_view name, std::string_view target_name) {
  if (target_name.empty()) return std::nullopt;
  constexpr std::string_view tag = ".tmp-";
  if (name.size() < 1 + target_name.size() + tag.size() || name[0] != '.') return std::nullopt;
  name.remove_prefix(1);
  if (name.substr(0, target_name.size()) != target_name) return std::nullopt;
  name.remove_prefix(target_name.size());
  if (name.substr(0, tag.size()) != tag) return std::nullopt;
  name.remove_prefix(tag.size());
  const std::size_t dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::uint64_t pid = 0, k = 0;
  if (!parse_decimal(name.substr(0, dash), INT_MAX, pid) || pid == 0) return std::nullopt;
  if (!parse_decimal(name.substr(dash + 1), UINT32_MAX, k)) return std::nullopt;
  return static_cast<long>(pid);
}

std::size_t remove_stale_temporaries(const std::filesystem::path& target) noexcept {
  try {
    const std::string target_name = target.filename().string();
    if (target_name.empty() || target_name == "." || target_name == "..") return 0;
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
    const std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), &::closedir);
    if (!d) return 0;
    std::vector<std::pair<std::string, pid_t>> candidates;
    while (const dirent* e = ::readdir(d.get())) {
      if (const auto pid = stale_temporary_pid(e->d_name, target_name))
        candidates.emplace_back(e->d_name, static_cast<pid_t>(*pid));
    }
    std::size_t removed = 0;
    const int dfd = ::dirfd(d.get());
    for (const auto& [name, pid] : candidates) removed += remove_if_stale(dfd, name, pid) ? 1 : 0;
    return removed;
  } catch (...) {  // std::bad_alloc from a path or the list: nothing removed, nothing lost
    return 0;
  }
}

}  // namespace chutoro::io_detail
