// chutoro — a data_source backed by a C plugin (include/chutoro/plugin.h).
//
// plugin_source is the one place where chutoro touches a plugin: it dlopen()s
// the library, resolves CHUTORO_PLUGIN_ENTRY_NAME, validates the v-table, and
// turns every plugin failure into a chutoro::error whose message starts with
// "plugin <file>: ". Everything unchecked about a plugin stays inside it.
#pragma once

#include <chutoro/plugin.h>

#include <chutoro/data_source.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace chutoro {

/// Items and distance supplied by a plugin (see plugin.h for the contract).
///
/// Construction checks, in order: the file loads (error io: missing file,
/// dlerror text), the entry point exists (error unsupported), it returns a
/// v-table (else error invalid_argument or the plugin's own status, with the
/// plugin's message), abi_version == CHUTORO_ABI_VERSION (error unsupported,
/// naming both versions), caps holds only known bits, len/name/distance/destroy
/// are non-NULL, distance_batch is non-NULL exactly when caps says so,
/// reserved[] are NULL (error invalid_argument naming the field), and
/// 1 <= len < 2^32 - 1 (error invalid_argument). Once a v-table of the right
/// version was received, destroy(state) is called exactly once: by the
/// destructor, or before the constructor throws.
///
/// distance() and distance_batch() throw error(code from the plugin's status)
/// with the plugin's message when the plugin fails, and
/// error(invalid_argument) naming the pair when it returns NaN or a negative
/// value. Thread safety: both are safe to call concurrently (the message
/// buffer handed to the plugin is thread-local); the plugin must be too.
/// Not copyable or movable.
class plugin_source final : public data_source {
 public:
  /// Loads the plugin library at `path` and opens it with `arg`.
  plugin_source(const std::filesystem::path& path, std::string_view arg);
  /// Adopts a v-table obtained in-process (no library is loaded or unloaded).
  /// `label` names the plugin in error messages. Same checks as above.
  plugin_source(const chutoro_v1* vtable, std::string label);
  ~plugin_source() override;
  plugin_source(const plugin_source&) = delete;
  plugin_source& operator=(const plugin_source&) = delete;

  [[nodiscard]] std::size_t size() const noexcept override { return n_; }
  /// The plugin's name() string, copied at load.
  [[nodiscard]] std::string name() const override { return name_; }
  /// d(i, j) from the plugin's distance; O(1) host overhead.
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override;
  /// Routed to the plugin's distance_batch when CHUTORO_HAS_DISTANCE_BATCH is
  /// set, else to distance() pair by pair. Every value is checked.
  void distance_batch(std::span<const index_pair> pairs, std::span<float> out) const override;

  /// The caps bits the plugin declared.
  [[nodiscard]] std::uint32_t caps() const noexcept { return vt_.caps; }
  /// The plugin file ("" for an adopted v-table) and the label used in messages.
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] const std::string& label() const noexcept { return label_; }

 private:
  void adopt(const chutoro_v1* vt);
  [[noreturn]] void fail_call(const char* what, std::int32_t status, const char* message) const;
  void check_value(float d, std::size_t i, std::size_t j) const;

  std::filesystem::path path_;
  std::string label_;  // "plugin <path>" or the caller's label
  void* handle_ = nullptr;
  chutoro_v1 vt_{};
  bool owns_state_ = false;
  std::size_t n_ = 0;
  std::string name_;
};

}  // namespace chutoro
