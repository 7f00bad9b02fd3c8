// chutoro — Parquet / Arrow IPC readers when this build has no Arrow C++
// (CHUTORO_WITH_ARROW found none; see cmake/arrow.cmake): each says so.
#include <chutoro/arrow.hpp>
#include <chutoro/error.hpp>
#include <string>

namespace chutoro {

namespace {
[[noreturn]] void not_built(const std::filesystem::path& path, const char* format) {
  throw error(
      error_code::unsupported,
      path.string() + ": " + format +
          " support was not built into this chutoro (Apache Arrow C++ was not found at configure time; "
          "run scripts/arrow_env.sh, or install Arrow, then reconfigure with -DCHUTORO_WITH_ARROW=ON)");
}
}  // namespace

bool arrow_files_supported() noexcept { return false; }

column_data read_parquet(const std::filesystem::path& path, std::optional<std::string_view>) {
  not_built(path, "Parquet");
}

column_data read_arrow_ipc(const std::filesystem::path& path, std::optional<std::string_view>) {
  not_built(path, "Arrow IPC");
}

column_part read_parquet_part(const std::filesystem::path& path, std::optional<std::string_view>, std::size_t,
                              std::size_t) {
  not_built(path, "Parquet");
}

column_part read_arrow_ipc_part(const std::filesystem::path& path, std::optional<std::string_view>,
                                std::size_t, std::size_t) {
  not_built(path, "Arrow IPC");
}

}  // namespace chutoro
