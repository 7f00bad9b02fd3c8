// Example chutoro plugin in C++: Tanimoto (Jaccard) distance between binary
// fingerprints, as used for chemical similarity.
//
// Argument: the path of a text file with one fingerprint per line, written as
// hexadecimal digits (most significant bit first; all lines of equal length;
// blank lines are not allowed). With a = popcount(x), b = popcount(y),
// c = popcount(x & y):
//
//     d(x, y) = 1 - c / (a + b - c)      (0 when x = y = 0),
//
// a metric on bit vectors (Lipkus 1999). No distance_batch: the host loops.
//
// C++ inside, C at the boundary: no exception may cross chutoro_plugin_open or
// the v-table functions, so each catches everything and reports a status.
#include <chutoro/plugin.h>

#include <bit>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace {

struct fingerprints {
  std::uint64_t n = 0;
  std::size_t words = 0;  // 64-bit words per fingerprint
  std::vector<std::uint64_t> bits;
  chutoro_v1 vtable{};
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::unique_ptr<fingerprints> load(const std::string& path, char* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    chutoro_fail(error, CHUTORO_ERR_IO, "%s: cannot open", path.c_str());
    return nullptr;
  }
  auto fp = std::make_unique<fingerprints>();
  std::string line;
  std::size_t digits = 0;
  for (std::uint64_t row = 0; std::getline(in, line); ++row) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (row == 0) {
      digits = line.size();
      fp->words = (digits * 4 + 63) / 64;
      if (digits == 0) {
        chutoro_fail(error, CHUTORO_ERR_PARSE, "%s: line 1 is empty", path.c_str());
        return nullptr;
      }
    }
    if (line.size() != digits) {
      chutoro_fail(error, CHUTORO_ERR_PARSE, "%s: line %llu has %zu hex digits, line 1 has %zu", path.c_str(),
                   static_cast<unsigned long long>(row + 1), line.size(), digits);
      return nullptr;
    }
    const std::size_t base = fp->bits.size();
    fp->bits.resize(base + fp->words, 0);
    for (std::size_t k = 0; k < digits; ++k) {
      const int v = hex_value(line[k]);
      if (v < 0) {
        chutoro_fail(error, CHUTORO_ERR_PARSE, "%s: line %llu, column %zu: '%c' is not a hex digit",
                     path.c_str(), static_cast<unsigned long long>(row + 1), k + 1, line[k]);
        return nullptr;
      }
      const std::size_t bit = k * 4;  // digit k holds bits 4k .. 4k+3
      fp->bits[base + bit / 64] |= static_cast<std::uint64_t>(v) << (60 - bit % 64);
    }
    ++fp->n;
  }
  if (fp->n == 0) {
    chutoro_fail(error, CHUTORO_ERR_PARSE, "%s: no fingerprints", path.c_str());
    return nullptr;
  }
  return fp;
}

float tanimoto(const fingerprints& fp, std::uint64_t i, std::uint64_t j) noexcept {
  const std::uint64_t* x = fp.bits.data() + i * fp.words;
  const std::uint64_t* y = fp.bits.data() + j * fp.words;
  std::uint64_t both = 0, either = 0;
  for (std::size_t w = 0; w < fp.words; ++w) {
    both += static_cast<std::uint64_t>(std::popcount(x[w] & y[w]));
    either += static_cast<std::uint64_t>(std::popcount(x[w] | y[w]));
  }
  return either == 0 ? 0.0f
                     : static_cast<float>(1.0 - static_cast<double>(both) / static_cast<double>(either));
}

std::uint64_t fp_len(void* state) { return static_cast<fingerprints*>(state)->n; }

const char* fp_name(void*) { return "tanimoto"; }

std::int32_t fp_distance(void* state, std::uint64_t i, std::uint64_t j, float* out, char* error) {
  const auto& fp = *static_cast<const fingerprints*>(state);
  if (i >= fp.n || j >= fp.n)
    return chutoro_fail(error, CHUTORO_ERR_INVALID_ARGUMENT, "item id out of range");
  *out = tanimoto(fp, i, j);
  return CHUTORO_OK;
}

void fp_destroy(void* state) { delete static_cast<fingerprints*>(state); }

}  // namespace

CHUTORO_PLUGIN_EXPORT const chutoro_v1* chutoro_plugin_open(std::uint32_t host_abi_version, const char* arg,
                                                            char* error) {
  if (host_abi_version != CHUTORO_ABI_VERSION) {
    chutoro_fail(error, CHUTORO_ERR_UNSUPPORTED, "built for ABI version %u", CHUTORO_ABI_VERSION);
    return nullptr;
  }
  try {
    std::unique_ptr<fingerprints> fp = load(arg, error);
    if (!fp) return nullptr;
    chutoro_v1& vt = fp->vtable;
    vt.abi_version = CHUTORO_ABI_VERSION;
    vt.caps = 0;
    vt.state = fp.get();
    vt.len = fp_len;
    vt.name = fp_name;
    vt.distance = fp_distance;
    vt.distance_batch = nullptr;
    vt.destroy = fp_destroy;
    return &fp.release()->vtable;
  } catch (const std::exception& e) {
    chutoro_fail(error, CHUTORO_ERR_INTERNAL, "%s", e.what());
  } catch (...) {
    chutoro_fail(error, CHUTORO_ERR_INTERNAL, "unknown failure");
  }
  return nullptr;
}
