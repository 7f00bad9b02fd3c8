// chutoro — plugin loader (dlopen) and the checked wrapper around a chutoro_v1 v-table.
#include <dlfcn.h>

#include <chutoro/error.hpp>
#include <chutoro/plugin_source.hpp>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>

#include "io/io_common.hpp"

namespace chutoro {

static_assert(sizeof(chutoro_pair) == sizeof(index_pair) && alignof(chutoro_pair) == alignof(index_pair));
static_assert(offsetof(chutoro_pair, a) == offsetof(index_pair, a) &&
              offsetof(chutoro_pair, b) == offsetof(index_pair, b));

namespace {

/// The message buffer handed to the plugin: one per thread, emptied before each call.
thread_local char t_error[CHUTORO_ERROR_MAX];

char* fresh_error_buffer() noexcept {
  t_error[0] = '\0';
  t_error[CHUTORO_ERROR_MAX - 1] = '\0';
  return t_error;
}

error_code code_of(std::int32_t status) noexcept {
  if (status >= static_cast<std::int32_t>(error_code::invalid_argument) &&
      status <= static_cast<std::int32_t>(error_code::internal))
    return static_cast<error_code>(status);
  return error_code::invalid_argument;
}

/// The plugin's message (at most CHUTORO_ERROR_MAX - 1 bytes), control
/// characters and bytes that are not UTF-8 escaped; `fallback` when it is empty.
std::string message_or(const char* msg, const char* fallback) {
  if (msg == nullptr || msg[0] == '\0') return fallback;
  return io_detail::escape_text(std::string_view(msg, strnlen(msg, CHUTORO_ERROR_MAX - 1)));
}

std::string float_text(float d) {
  if (std::isnan(d)) return "NaN";
  return std::to_string(d);
}

}  // namespace

plugin_source::plugin_source(const std::filesystem::path& path, std::string_view arg)
    : path_(path), label_("plugin " + path.string()) {
  // dlopen searches the library path for a bare name; a plugin is always a file path.
  const std::string file = path.has_parent_path() ? path.string() : ("./" + path.string());
  ::dlerror();
  handle_ = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* why = ::dlerror();
    throw error(error_code::io, label_ + ": cannot load the library: " + message_or(why, "dlopen failed"));
  }
  try {
    ::dlerror();
    void* sym = ::dlsym(handle_, CHUTORO_PLUGIN_ENTRY_NAME);
    if (sym == nullptr) {
      throw error(error_code::unsupported, label_ + ": not a chutoro plugin: it exports no function \"" +
                                               CHUTORO_PLUGIN_ENTRY_NAME + "\" (see chutoro/plugin.h)");
    }
    chutoro_plugin_open_fn open_fn = nullptr;
    static_assert(sizeof(open_fn) == sizeof(sym));
    std::memcpy(&open_fn, &sym, sizeof(sym));
    const std::string arg_copy(arg);
    char* err = fresh_error_buffer();
    const chutoro_v1* vt = open_fn(CHUTORO_ABI_VERSION, arg_copy.c_str(), err);
    if (vt == nullptr) {
      throw error(error_code::invalid_argument,
                  label_ + ": " + CHUTORO_PLUGIN_ENTRY_NAME + "(" + io_detail::quote_text(arg_copy, 200) +
                      ") failed: " + message_or(err, "it returned NULL without a message"));
    }
    adopt(vt);
  } catch (...) {
    ::dlclose(handle_);
    handle_ = nullptr;
    throw;
  }
}

plugin_source::plugin_source(const chutoro_v1* vtable, std::string label) : label_(std::move(label)) {
  expects(vtable != nullptr, error_code::invalid_argument, label_ + ": the v-table is NULL");
  adopt(vtable);
}

void plugin_source::adopt(const chutoro_v1* vt) {
  if (vt->abi_version != CHUTORO_ABI_VERSION) {
    // Another layout: nothing else in it can be trusted, destroy included.
    throw error(error_code::unsupported, label_ + ": plugin ABI version " + std::to_string(vt->abi_version) +
                                             ", but this chutoro speaks version " +
                                             std::to_string(CHUTORO_ABI_VERSION) +
                                             "; rebuild the plugin against this chutoro/plugin.h");
  }
  vt_ = *vt;  // the host keeps its own copy
  if (vt_.destroy == nullptr) {
    throw error(error_code::invalid_argument,
                label_ + ": v-table field destroy is NULL (required; the plugin's state cannot be freed)");
  }
  owns_state_ = true;
  try {
    auto require = [&](bool present, const char* field) {
      if (!present)
        throw error(error_code::invalid_argument,
                    label_ + ": v-table field " + field + " is NULL (required)");
    };
    require(vt_.len != nullptr, "len");
    require(vt_.name != nullptr, "name");
    require(vt_.distance != nullptr, "distance");
    if ((vt_.caps & ~CHUTORO_CAPS_ALL_V1) != 0) {
      throw error(
          error_code::invalid_argument, label_ + ": caps has unknown bits 0x" + [&] {
            char buf[16];
            std::snprintf(buf, sizeof buf, "%x", vt_.caps & ~CHUTORO_CAPS_ALL_V1);
            return std::string(buf);
          }() + " (ABI version 1 knows CHUTORO_HAS_DISTANCE_BATCH, _DEVICE_VIEW, _NATIVE_KERNELS)");
    }
    const bool has_batch = (vt_.caps & CHUTORO_HAS_DISTANCE_BATCH) != 0;
    if (has_batch && vt_.distance_batch == nullptr) {
      throw error(error_code::invalid_argument,
                  label_ + ": caps has CHUTORO_HAS_DISTANCE_BATCH but v-table field distance_batch is NULL");
    }
    if (!has_batch && vt_.distance_batch != nullptr) {
      throw error(error_code::invalid_argument,
                  label_ + ": v-table field distance_batch is set but caps lacks CHUTORO_HAS_DISTANCE_BATCH");
    }
    for (std::size_t k = 0; k < sizeof(vt_.reserved) / sizeof(vt_.reserved[0]); ++k) {
      if (vt_.reserved[k] != nullptr) {
        throw error(error_code::invalid_argument, label_ + ": v-table field reserved[" + std::to_string(k) +
                                                      "] must be NULL in ABI version 1");
      }
    }
    const std::uint64_t n = vt_.len(vt_.state);
    if (n == 0) {
      throw error(error_code::invalid_argument,
                  label_ + ": len() returned 0: the plugin has no items to cluster");
    }
    if (n > std::uint64_t{0xFFFFFFFE}) {
      throw error(error_code::invalid_argument,
                  label_ + ": len() returned " + std::to_string(n) + ", more than 2^32 - 2 items");
    }
    n_ = static_cast<std::size_t>(n);
    const char* nm = vt_.name(vt_.state);
    if (nm == nullptr) throw error(error_code::invalid_argument, label_ + ": name() returned NULL");
    name_ = std::string(nm, strnlen(nm, 256));
  } catch (...) {
    owns_state_ = false;
    vt_.destroy(vt_.state);
    throw;
  }
}

plugin_source::~plugin_source() {
  if (owns_state_) vt_.destroy(vt_.state);
  if (handle_ != nullptr) ::dlclose(handle_);
}

void plugin_source::fail_call(const char* what, std::int32_t status, const char* message) const {
  throw error(code_of(status), label_ + ": " + what + " failed (status " + std::to_string(status) +
                                   "): " + message_or(message, "the plugin gave no message"));
}

void plugin_source::check_value(float d, std::size_t i, std::size_t j) const {
  if (!(d >= 0.0f)) {  // NaN fails too
    throw error(error_code::invalid_argument, label_ + ": distance(" + std::to_string(i) + ", " +
                                                  std::to_string(j) + ") = " + float_text(d) +
                                                  " is not a non-negative number");
  }
}

float plugin_source::distance(std::size_t i, std::size_t j) const {
  float d = 0.0f;
  char* err = fresh_error_buffer();
  const std::int32_t status = vt_.distance(vt_.state, i, j, &d, err);
  if (status != CHUTORO_OK) {
    const std::string what = "distance(" + std::to_string(i) + ", " + std::to_string(j) + ")";
    fail_call(what.c_str(), status, err);
  }
  check_value(d, i, j);
  return d;
}

void plugin_source::distance_batch(std::span<const index_pair> pairs, std::span<float> out) const {
  expects(out.size() == pairs.size(), error_code::invalid_argument,
          label_ + ": distance_batch: out has " + std::to_string(out.size()) + " slots for " +
              std::to_string(pairs.size()) + " pairs");
  if (pairs.empty()) return;
  if (vt_.distance_batch == nullptr) {
    for (std::size_t k = 0; k < pairs.size(); ++k) out[k] = distance(pairs[k].a, pairs[k].b);
    return;
  }
  char* err = fresh_error_buffer();
  const std::int32_t status = vt_.distance_batch(
      vt_.state, reinterpret_cast<const chutoro_pair*>(pairs.data()), out.data(), pairs.size(), err);
  if (status != CHUTORO_OK) {
    const std::string what = "distance_batch of " + std::to_string(pairs.size()) + " pairs";
    fail_call(what.c_str(), status, err);
  }
  for (std::size_t k = 0; k < pairs.size(); ++k) check_value(out[k], pairs[k].a, pairs[k].b);
}

}  // namespace chutoro
