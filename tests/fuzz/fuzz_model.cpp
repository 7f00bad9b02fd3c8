// libFuzzer target: the model-file reader (model::from_bytes). A file it
// accepts must round-trip (to_bytes, from_bytes again: the same bytes) and
// re-cluster with other selection parameters, none of which may throw; anything
// it rejects must be one chutoro::error. Models with an external source are
// rejected here (no source is given). Each input is also read with its
// checksums recomputed, so that mutations get past them.
#include <omp.h>

#include <chutoro/model.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "fuzz_common.hpp"
#include "model_file_bytes.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  omp_set_num_threads(1);  // one core per fuzzer; results do not depend on it
  return 0;
}

namespace {

void load(std::span<const std::byte> bytes, std::size_t size) {
  using chutoro_fuzz::require;
  std::optional<chutoro::model> loaded;
  try {
    loaded.emplace(chutoro::model::from_bytes(bytes, nullptr, "fuzz.chutoro"));
  } catch (const chutoro::error& e) {
    chutoro_fuzz::check_error(e);
    return;
  }
  // Accepted: nothing below may throw (an exception here is a crash to libFuzzer).
  chutoro::model& m = *loaded;
  require(m.size() >= 2 && m.clusters().labels.size() == m.size(), "a loaded model has the wrong size");
  const std::vector<std::byte> again = m.to_bytes();
  const chutoro::model back = chutoro::model::from_bytes(again, nullptr, "again.chutoro");
  require(back.to_bytes() == again, "to_bytes(from_bytes(to_bytes())) changed the bytes");
  chutoro::selection_params sp = m.parameters().selection;
  sp.min_cluster_size = 2 + size % (m.size() - 1);  // in [2, n]
  sp.method = size % 2 ? chutoro::cluster_selection_method::leaf : chutoro::cluster_selection_method::eom;
  require(m.cluster(sp).labels.size() == m.size(), "re-clustering changed the size");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  load(bytes, size);  // as it is: mostly a checksum error
  // With every checksum the lengths allow made valid, so that mutated fields
  // reach the range checks behind them (model_file_bytes.hpp).
  if (size >= 32) {
    chutoro_test::model_file_bytes sealed(std::vector<std::byte>(bytes.begin(), bytes.end()));
    sealed.reseal();
    if (sealed.bytes() != std::vector<std::byte>(bytes.begin(), bytes.end())) load(sealed.bytes(), size);
  }
  return 0;
}
