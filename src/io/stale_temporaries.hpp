// chutoro — removal of the temporary files left by atomic writers that died
// before they committed (internal).
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string_view>

namespace chutoro::io_detail {

/// The writer's process id when `name` is exactly the name output_file gives
/// a temporary file for a target file named `target_name`:
/// ".<target_name>.tmp-<pid>-<k>", pid and k unsigned decimals without sign,
/// leading zero or anything after (pid in [1, INT_MAX], k < 2^32). Else none.
[[nodiscard]] std::optional<long> stale_temporary_pid(std::string_view name, std::string_view target_name);

/// Removes the temporary files that writers of `target` (io_detail::output_file)
/// left in its directory when they died before commit (kill -9, power loss
/// after a crash, ...), and returns how many it removed. A file is removed only
/// when all of these hold:
///  - its name is exactly ".<name of target>.tmp-<pid>-<k>" (stale_temporary_pid);
///  - pid is not this process and no process has it: kill(pid, 0) fails with
///    ESRCH (EPERM means a live process of another user: kept). A pid reused
///    since the writer died keeps the file until that process is gone too, so
///    a live writer's file is never taken for a dead one's within one pid
///    namespace;
///  - it is a regular file (not a symlink, directory or FIFO: checked without
///    following links and again on the opened file) owned by this process's
///    effective user, with one link;
///  - no process holds an flock() on it (a writer may lock its temporary file
///    to say it is alive where pids do not tell, e.g. across pid namespaces).
/// Best effort and noexcept: a directory that cannot be read, or a file that
/// vanished or cannot be removed, is skipped silently, since the caller has
/// already written its own file. Other targets' temporaries and other files
/// are never touched. Cost: one readdir pass over the directory.
/// Thread safety: safe to call concurrently (also from several processes);
/// it never removes this process's own temporaries.
std::size_t remove_stale_temporaries(const std::filesystem::path& target) noexcept;

}  // namespace chutoro::io_detail
