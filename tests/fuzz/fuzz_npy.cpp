// libFuzzer target: the .npy reader (read_npy streams from a file, so the
// input is written to an in-memory file, memfd_create, and read through
// /proc/self/fd/N: the regular-file path, where the size is known up front).
#include <sys/mman.h>
#include <unistd.h>

#include <chutoro/io.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using chutoro_fuzz::require;
  const int fd = ::memfd_create("fuzz.npy", MFD_CLOEXEC);
  require(fd >= 0, "memfd_create failed");
  std::size_t done = 0;
  while (done < size) {
    const ssize_t w = ::write(fd, data + done, size - done);
    require(w > 0, "write to the memfd failed");
    done += static_cast<std::size_t>(w);
  }
  try {
    const chutoro::dense_table t = chutoro::read_npy("/proc/self/fd/" + std::to_string(fd));
    require(t.n >= 1 && t.dim >= 1, "an empty array was returned");
    require(t.values.size() == t.n * t.dim && t.columns.size() == t.dim, "shape and values disagree");
    for (const float v : t.values) require(std::isfinite(v), "a non-finite value was returned");
  } catch (const chutoro::error& e) {
    chutoro_fuzz::check_error(e);
  }
  ::close(fd);
  return 0;
}
