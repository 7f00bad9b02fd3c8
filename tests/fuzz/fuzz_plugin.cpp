// libFuzzer target: the plugin host's v-table checks and call wrappers
// (plugin_source adopting an in-process chutoro_v1, the same code a loaded
// library goes through). The fuzz bytes choose the v-table: abi_version, caps,
// which function pointers and reserved slots are set (all point at benign
// functions here), what len() and name() return, and how distance() and
// distance_batch() answer (status, value, message bytes). Checked: every
// rejection is one chutoro::error with an escaped message; destroy is called
// exactly once for a v-table of the right version with a destroy, never for
// another version; a plugin's bad value or failure is an error, not a result.
#include <chutoro/plugin_source.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace {

/// Reads the fuzz bytes front to back; zeros once they run out.
class bytes_in {
 public:
  bytes_in(const std::uint8_t* p, std::size_t n) : p_(p), n_(n) {}
  template <class T>
  T get() {
    T v{};
    const std::size_t k = std::min(sizeof v, n_);
    std::memcpy(&v, p_, k);
    p_ += k, n_ -= k;
    return v;
  }
  std::string rest(std::size_t most) {
    const std::size_t k = std::min(most, n_);
    std::string s(reinterpret_cast<const char*>(p_), k);
    p_ += k, n_ -= k;
    return s;
  }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

/// What the fuzzed plugin does, and what the host did to it.
struct fake_plugin {
  std::uint64_t len = 0;
  bool name_null = false;
  std::string name;         // NUL-terminated by std::string
  std::int32_t status = 0;  // returned by distance / distance_batch
  float value = 0;          // written by distance / distance_batch
  std::string message;      // written into the error buffer on failure
  int destroyed = 0;
};

std::uint64_t len_of(void* s) { return static_cast<fake_plugin*>(s)->len; }
const char* name_of(void* s) {
  auto* f = static_cast<fake_plugin*>(s);
  return f->name_null ? nullptr : f->name.c_str();
}
std::int32_t answer(fake_plugin* f, float* out, std::size_t count, char* error) {
  for (std::size_t k = 0; k < count; ++k) out[k] = f->value;
  if (f->status != CHUTORO_OK && error != nullptr) {
    std::memcpy(error, f->message.data(), std::min<std::size_t>(f->message.size(), CHUTORO_ERROR_MAX - 1));
    error[std::min<std::size_t>(f->message.size(), CHUTORO_ERROR_MAX - 1)] = '\0';
  }
  return f->status;
}
std::int32_t distance_of(void* s, std::uint64_t, std::uint64_t, float* out, char* error) {
  return answer(static_cast<fake_plugin*>(s), out, 1, error);
}
std::int32_t batch_of(void* s, const chutoro_pair*, float* out, std::uint64_t n, char* error) {
  return answer(static_cast<fake_plugin*>(s), out, static_cast<std::size_t>(n), error);
}
void destroy_of(void* s) { ++static_cast<fake_plugin*>(s)->destroyed; }
int reserved_target;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using chutoro_fuzz::require;
  bytes_in in(data, size);
  fake_plugin f;
  chutoro_v1 vt{};
  const auto abi = in.get<std::uint8_t>();
  vt.abi_version = abi < 240 ? CHUTORO_ABI_VERSION : in.get<std::uint32_t>();  // mostly the right version
  const auto caps = in.get<std::uint8_t>();
  vt.caps = caps < 224 ? (caps & CHUTORO_CAPS_ALL_V1) : in.get<std::uint32_t>();
  const auto present = in.get<std::uint8_t>();  // bit k: field k is set (mostly all)
  const std::uint8_t set = present < 200 ? 0x1F : present;
  vt.state = &f;
  if (set & 0x01) vt.len = len_of;
  if (set & 0x02) vt.name = name_of;
  if (set & 0x04) vt.distance = distance_of;
  if (set & 0x08)
    vt.distance_batch = (vt.caps & CHUTORO_HAS_DISTANCE_BATCH) || (present & 0x40) ? batch_of : nullptr;
  if (set & 0x10) vt.destroy = destroy_of;
  const auto reserved = in.get<std::uint8_t>();
  for (int k = 0; k < 4; ++k)
    if (reserved >= 250 && (reserved >> k & 1)) vt.reserved[k] = &reserved_target;
  const auto len_kind = in.get<std::uint8_t>();
  f.len = len_kind < 200 ? 1 + len_kind % 16 : in.get<std::uint64_t>();
  f.status =
      static_cast<std::int32_t>(in.get<std::uint8_t>() % 9) - 1;  // -1 .. 7: OK and all codes, and beyond
  if (f.status < 0) f.status = CHUTORO_OK;
  f.value = in.get<float>();
  f.name_null = in.get<std::uint8_t>() == 255;
  const auto name_len = in.get<std::uint8_t>();
  f.name = in.rest(name_len % 64);
  f.message = in.rest(CHUTORO_ERROR_MAX + 16);

  const bool right_version = vt.abi_version == CHUTORO_ABI_VERSION;
  {
    std::optional<chutoro::plugin_source> p;
    try {
      p.emplace(&vt, "fuzz plugin");
    } catch (const chutoro::error& e) {
      chutoro_fuzz::check_error(e);
    }
    if (p) {
      require(right_version && vt.len && vt.name && vt.distance && vt.destroy, "a bad v-table was adopted");
      require(p->size() == f.len && p->size() >= 1 && p->size() <= 0xFFFFFFFEu, "size() differs from len()");
      const std::size_t n = p->size();
      for (std::size_t i = 0; i < std::min<std::size_t>(n, 3); ++i)
        for (std::size_t j = 0; j < std::min<std::size_t>(n, 3); ++j) {
          try {
            const float d = p->distance(i, j);
            require(f.status == CHUTORO_OK && d >= 0 && d == f.value,
                    "a failed or bad distance was returned");
          } catch (const chutoro::error& e) {
            chutoro_fuzz::check_error(e);
            require(f.status != CHUTORO_OK || !(f.value >= 0), "a good distance was an error");
          }
        }
      const std::vector<chutoro::index_pair> pairs(3,
                                                   chutoro::index_pair{0, static_cast<std::uint32_t>(n - 1)});
      std::vector<float> out(pairs.size());
      try {
        p->distance_batch(pairs, out);
        for (const float d : out) require(d >= 0 && d == f.value, "a bad batch distance was returned");
      } catch (const chutoro::error& e) {
        chutoro_fuzz::check_error(e);
      }
    }
  }
  // destroy: once for a v-table of this version that has one, never for another version.
  require(f.destroyed == (right_version && vt.destroy ? 1 : 0), "destroy was not called exactly once");
  return 0;
}
