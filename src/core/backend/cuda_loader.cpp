// chutoro — the CUDA module loader (dlopen) and the checked wrapper around
// its chutoro_cuda_v3 v-table. See cuda_loader.hpp.
#include "core/backend/cuda_loader.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string_view>
#include <system_error>

#ifndef CHUTORO_CUDA_MODULE_BUILT
#define CHUTORO_CUDA_MODULE_BUILT 0
#endif
#ifndef CHUTORO_INSTALL_LIBDIR
#define CHUTORO_INSTALL_LIBDIR "lib"
#endif
#ifndef CHUTORO_INSTALL_FULL_LIBDIR
#define CHUTORO_INSTALL_FULL_LIBDIR ""
#endif

namespace chutoro::detail {

static_assert(sizeof(chutoro_cuda_edge) == sizeof(raw_edge) &&
              alignof(chutoro_cuda_edge) == alignof(raw_edge));
static_assert(offsetof(chutoro_cuda_edge, a) == offsetof(raw_edge, a) &&
              offsetof(chutoro_cuda_edge, b) == offsetof(raw_edge, b) &&
              offsetof(chutoro_cuda_edge, d) == offsetof(raw_edge, d));

namespace fs = std::filesystem;

namespace {

/// The message buffer handed to the module: one per thread, emptied before each call.
thread_local char t_error[CHUTORO_CUDA_ERROR_MAX];

char* fresh_error_buffer() noexcept {
  t_error[0] = '\0';
  t_error[CHUTORO_CUDA_ERROR_MAX - 1] = '\0';
  return t_error;
}

std::string message_or(const char* msg, const char* fallback) {
  if (msg == nullptr || msg[0] == '\0') return fallback;
  return std::string(msg, strnlen(msg, CHUTORO_CUDA_ERROR_MAX - 1));
}

error_code code_for(cuda_status s, std::int32_t module_status) noexcept {
  if (module_status == CHUTORO_CUDA_ERR_INVALID_ARGUMENT) return error_code::invalid_argument;
  if (s == cuda_status::failed) return error_code::internal;
  return error_code::unsupported;
}

[[noreturn]] void invalid(const fs::path& file, const std::string& why) {
  throw cuda_error(cuda_status::library_invalid, error_code::unsupported, file.string() + ": " + why);
}

}  // namespace

cuda_status status_of(std::int32_t module_status) noexcept {
  switch (module_status) {
    case CHUTORO_CUDA_OK:
      return cuda_status::ok;
    case CHUTORO_CUDA_ERR_NO_DRIVER:
      return cuda_status::no_driver;
    case CHUTORO_CUDA_ERR_DRIVER_TOO_OLD:
      return cuda_status::driver_too_old;
    case CHUTORO_CUDA_ERR_NO_DEVICE:
      return cuda_status::no_device;
    case CHUTORO_CUDA_ERR_COMPUTE_CAPABILITY:
      return cuda_status::compute_capability_too_low;
    case CHUTORO_CUDA_ERR_OUT_OF_MEMORY:
      return cuda_status::out_of_memory;
    default:
      return cuda_status::failed;
  }
}

cuda_module::cuda_module(const fs::path& file) : file_(file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw cuda_error(cuda_status::library_not_found, error_code::unsupported,
                     "CUDA module " + file.string() + " not found");
  }
  // dlopen searches the library path for a bare name; this is always a file.
  const std::string path = file.has_parent_path() ? file.string() : ("./" + file.string());
  ::dlerror();
  // Never unmapped (RTLD_NODELETE): the static CUDA runtime inside keeps
  // threads and exit handlers that must outlive any dlclose.
  handle_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle_ == nullptr)
    invalid(file_, "cannot load the CUDA module: " + message_or(::dlerror(), "dlopen failed"));
  try {
    ::dlerror();
    void* sym = ::dlsym(handle_, CHUTORO_CUDA_ENTRY_NAME);
    if (sym == nullptr) {
      invalid(file_, std::string("not a chutoro CUDA module: it exports no function \"") +
                         CHUTORO_CUDA_ENTRY_NAME + "\"");
    }
    chutoro_cuda_open_fn open_fn = nullptr;
    static_assert(sizeof(open_fn) == sizeof(sym));
    std::memcpy(&open_fn, &sym, sizeof(sym));
    char* err = fresh_error_buffer();
    const chutoro_cuda_v3* vt = open_fn(CHUTORO_CUDA_ABI_VERSION, err);
    if (vt == nullptr) {
      invalid(file_, std::string(CHUTORO_CUDA_ENTRY_NAME) +
                         " failed: " + message_or(err, "it returned NULL without a message"));
    }
    adopt(vt);
  } catch (...) {
    ::dlclose(handle_);
    handle_ = nullptr;
    throw;
  }
}

cuda_module::~cuda_module() {
  if (handle_ != nullptr) ::dlclose(handle_);
}

void cuda_module::adopt(const chutoro_cuda_v3* vt) {
  if (vt->abi_version != CHUTORO_CUDA_ABI_VERSION) {
    // Another layout: nothing else in it can be trusted.
    invalid(file_, "CUDA module ABI version " + std::to_string(vt->abi_version) +
                       ", but this chutoro speaks version " + std::to_string(CHUTORO_CUDA_ABI_VERSION) +
                       "; use the libchutoro_cuda.so built with it");
  }
  vt_ = *vt;  // the host keeps its own copy
  auto require = [&](bool present, const char* field) {
    if (!present) invalid(file_, std::string("v-table field ") + field + " is NULL (required)");
  };
  require(vt_.versions != nullptr, "versions");
  require(vt_.device_count != nullptr, "device_count");
  require(vt_.device_info != nullptr, "device_info");
  require(vt_.build_info != nullptr, "build_info");
  if ((vt_.caps & ~CHUTORO_CUDA_CAPS_ALL_V3) != 0) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%x", vt_.caps & ~CHUTORO_CUDA_CAPS_ALL_V3);
    invalid(file_,
            std::string("caps has unknown bits 0x") + buf +
                " (ABI version 3 knows CHUTORO_CUDA_DETERMINISTIC, CHUTORO_CUDA_STAGE_SPANNING_FOREST, "
                "CHUTORO_CUDA_STAGE_EXACT_TREE and CHUTORO_CUDA_STAGE_KNN_TREE)");
  }
  const bool has_forest = (vt_.caps & CHUTORO_CUDA_STAGE_SPANNING_FOREST) != 0;
  if (has_forest != (vt_.spanning_forest != nullptr)) {
    invalid(file_,
            has_forest
                ? "caps has CHUTORO_CUDA_STAGE_SPANNING_FOREST but v-table field spanning_forest is NULL"
                : "v-table field spanning_forest is set but caps lacks CHUTORO_CUDA_STAGE_SPANNING_FOREST");
  }
  const bool has_exact = (vt_.caps & CHUTORO_CUDA_STAGE_EXACT_TREE) != 0;
  if (has_exact != (vt_.exact_tree != nullptr)) {
    invalid(file_, has_exact
                       ? "caps has CHUTORO_CUDA_STAGE_EXACT_TREE but v-table field exact_tree is NULL"
                       : "v-table field exact_tree is set but caps lacks CHUTORO_CUDA_STAGE_EXACT_TREE");
  }
  const bool has_knn = (vt_.caps & CHUTORO_CUDA_STAGE_KNN_TREE) != 0;
  if (has_knn != (vt_.knn_tree != nullptr)) {
    invalid(file_, has_knn ? "caps has CHUTORO_CUDA_STAGE_KNN_TREE but v-table field knn_tree is NULL"
                           : "v-table field knn_tree is set but caps lacks CHUTORO_CUDA_STAGE_KNN_TREE");
  }
  for (std::size_t k = 0; k < sizeof(vt_.reserved) / sizeof(vt_.reserved[0]); ++k) {
    if (vt_.reserved[k] != nullptr)
      invalid(file_, "v-table field reserved[" + std::to_string(k) + "] must be NULL in ABI version 3");
  }
  if (vt_.runtime_version <= 0 || vt_.min_compute_capability <= 0) {
    invalid(file_, "v-table fields runtime_version (" + std::to_string(vt_.runtime_version) +
                       ") and min_compute_capability (" + std::to_string(vt_.min_compute_capability) +
                       ") must be positive");
  }
  build_info_ = std::string(vt_.build_info, strnlen(vt_.build_info, 256));
}

void cuda_module::fail(const std::string& what, std::int32_t status, const char* message) const {
  const cuda_status s = status_of(status);
  std::string reason = message_or(message, "");
  if (reason.empty()) reason = what + " failed (status " + std::to_string(status) + ") without a message";
  throw cuda_error(s == cuda_status::ok ? cuda_status::failed : s, code_for(s, status), reason);
}

std::pair<int, int> cuda_module::versions() const {
  std::int32_t driver = 0, runtime = 0;
  char* err = fresh_error_buffer();
  const std::int32_t status = vt_.versions(&driver, &runtime, err);
  if (status != CHUTORO_CUDA_OK && status != CHUTORO_CUDA_ERR_NO_DRIVER) fail("versions", status, err);
  return {status == CHUTORO_CUDA_OK ? driver : 0, runtime > 0 ? runtime : vt_.runtime_version};
}

int cuda_module::device_count() const {
  std::int32_t count = 0;
  char* err = fresh_error_buffer();
  const std::int32_t status = vt_.device_count(&count, err);
  if (status != CHUTORO_CUDA_OK) fail("device_count", status, err);
  if (count <= 0) {
    throw cuda_error(
        cuda_status::failed, error_code::internal,
        file_.string() + ": device_count reported success with " + std::to_string(count) + " devices");
  }
  return count;
}

device_info cuda_module::device(int index) const {
  chutoro_cuda_device_info raw{};
  char* err = fresh_error_buffer();
  const std::int32_t status = vt_.device_info(index, &raw, err);
  if (status != CHUTORO_CUDA_OK) fail("device_info(" + std::to_string(index) + ")", status, err);
  device_info d;
  d.index = index;
  d.name = std::string(raw.name, strnlen(raw.name, sizeof raw.name));
  d.compute_capability_major = raw.compute_major;
  d.compute_capability_minor = raw.compute_minor;
  d.multiprocessors = raw.multiprocessors;
  d.total_memory_bytes = raw.total_memory_bytes;
  d.free_memory_bytes = raw.free_memory_bytes;
  d.pci_bus_id = std::string(raw.pci_bus_id, strnlen(raw.pci_bus_id, sizeof raw.pci_bus_id));
  d.supported = raw.supported != 0;
  const auto [driver, runtime] = versions();
  d.driver_version = driver;
  d.runtime_version = runtime;
  return d;
}

int cuda_module::pick_device(int requested) const {
  const int count = device_count();
  if (requested >= 0) {
    if (requested >= count) {
      throw cuda_error(cuda_status::failed, error_code::invalid_argument,
                       "CUDA device " + std::to_string(requested) + " does not exist (" +
                           std::to_string(count) +
                           (count == 1 ? " device: 0)" : " devices: 0.." + std::to_string(count - 1) + ")"));
    }
    const device_info d = device(requested);
    if (!d.supported) {
      throw cuda_error(cuda_status::compute_capability_too_low, error_code::unsupported,
                       "compute capability too low: CUDA device " + std::to_string(requested) + " (" +
                           d.name + ") has " + std::to_string(d.compute_capability_major) + "." +
                           std::to_string(d.compute_capability_minor) +
                           "; the CUDA module runs on >= " + std::to_string(vt_.min_compute_capability / 10) +
                           "." + std::to_string(vt_.min_compute_capability % 10) + " (" + build_info_ + ")");
    }
    return requested;
  }
  std::string seen;
  for (int i = 0; i < count; ++i) {
    const device_info d = device(i);
    if (d.supported) return i;
    seen += (seen.empty() ? "" : ", ") + std::to_string(i) + " " + d.name + " " +
            std::to_string(d.compute_capability_major) + "." + std::to_string(d.compute_capability_minor);
  }
  throw cuda_error(cuda_status::compute_capability_too_low, error_code::unsupported,
                   "compute capability too low: no CUDA device of compute capability >= " +
                       std::to_string(vt_.min_compute_capability / 10) + "." +
                       std::to_string(vt_.min_compute_capability % 10) + " (devices: " + seen + ")");
}

std::vector<raw_edge> cuda_module::spanning_forest(int device, std::size_t n, std::span<const raw_edge> edges,
                                                   std::span<const raw_edge> more,
                                                   std::span<const float> core) const {
  if (!has_spanning_forest()) {
    throw cuda_error(
        cuda_status::failed, error_code::unsupported,
        file_.string() + " offers no spanning-forest stage (caps lacks CHUTORO_CUDA_STAGE_SPANNING_FOREST)");
  }
  if (!core.empty() && core.size() != n) {
    throw cuda_error(cuda_status::failed, error_code::invalid_argument,
                     "spanning forest: core distances have " + std::to_string(core.size()) + " values for " +
                         std::to_string(n) + " items (expected " + std::to_string(n) + " or none)");
  }
  std::vector<raw_edge> out(n > 0 ? n - 1 : 0);
  std::uint64_t count = 0;
  char* err = fresh_error_buffer();
  const std::int32_t status = vt_.spanning_forest(
      device, n, reinterpret_cast<const chutoro_cuda_edge*>(edges.data()), edges.size(),
      reinterpret_cast<const chutoro_cuda_edge*>(more.data()), more.size(),
      core.empty() ? nullptr : core.data(), reinterpret_cast<chutoro_cuda_edge*>(out.data()), &count, err);
  if (status != CHUTORO_CUDA_OK) fail("spanning_forest", status, err);
  if (count > out.size()) {
    throw cuda_error(cuda_status::failed, error_code::internal,
                     file_.string() + ": spanning_forest returned " + std::to_string(count) + " edges for " +
                         std::to_string(n) + " items (at most n - 1)");
  }
  out.resize(static_cast<std::size_t>(count));
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (out[k].a >= out[k].b || out[k].b >= n) {
      throw cuda_error(cuda_status::failed, error_code::internal,
                       file_.string() + ": spanning_forest returned edge " + std::to_string(k) +
                           " (0-based) = (" + std::to_string(out[k].a) + ", " + std::to_string(out[k].b) +
                           ") for " + std::to_string(n) + " items (needs a < b < n)");
    }
  }
  return out;
}

namespace {

/// What the module's progress callback reaches: the host's progress_fn and
/// the first exception it threw (rethrown after the call).
struct progress_bridge {
  const std::function<void(std::string_view, std::size_t, std::size_t)>* fn;
  std::exception_ptr thrown;
};

std::int32_t bridge_progress(void* context, const char* stage, std::uint64_t done, std::uint64_t total) {
  auto* b = static_cast<progress_bridge*>(context);
  try {
    (*b->fn)(stage, static_cast<std::size_t>(done), static_cast<std::size_t>(total));
    return 0;
  } catch (...) {
    b->thrown = std::current_exception();
    return 1;
  }
}

}  // namespace

/// The tree a stage returned, checked (a < b < n, d >= 0, (d, a, b) order) and converted.
spanning_tree cuda_module::checked_tree(const char* call, std::size_t n, std::vector<float>&& core,
                                        const std::vector<raw_edge>& edges) const {
  spanning_tree tree;
  tree.n = n;
  tree.core_distances = std::move(core);
  tree.edges.reserve(edges.size());
  for (std::size_t k = 0; k < edges.size(); ++k) {
    const raw_edge& e = edges[k];
    if (e.a >= e.b || e.b >= n || !(e.d >= 0.0f) ||
        (k > 0 && (e.d < edges[k - 1].d || (e.d == edges[k - 1].d && e.a < edges[k - 1].a)))) {
      throw cuda_error(cuda_status::failed, error_code::internal,
                       file_.string() + ": " + call + " returned edge " + std::to_string(k) +
                           " (0-based) = (" + std::to_string(e.a) + ", " + std::to_string(e.b) + ", " +
                           std::to_string(e.d) + ") for " + std::to_string(n) +
                           " items (needs a < b < n, d >= 0, (d, a, b) order)");
    }
    tree.edges.push_back({e.a, e.b, static_cast<double>(e.d)});
  }
  return tree;
}

spanning_tree cuda_module::exact_tree(
    int device, std::span<const float> rows, std::size_t n, std::size_t dim, std::size_t stride,
    std::int32_t metric, std::size_t min_samples,
    const std::function<void(std::string_view, std::size_t, std::size_t)>& progress) const {
  if (!has_exact_tree()) {
    throw cuda_error(cuda_status::failed, error_code::unsupported,
                     file_.string() + " offers no exact stage (caps lacks CHUTORO_CUDA_STAGE_EXACT_TREE)");
  }
  if (rows.size() != n * stride) {
    throw cuda_error(cuda_status::failed, error_code::invalid_argument,
                     "exact tree: " + std::to_string(rows.size()) + " values for " + std::to_string(n) +
                         " rows of stride " + std::to_string(stride));
  }
  std::vector<float> core(n, 0.0f);
  std::vector<raw_edge> edges(n > 0 ? n - 1 : 0);
  progress_bridge bridge{&progress, nullptr};
  char* err = fresh_error_buffer();
  const std::int32_t status = vt_.exact_tree(device, rows.data(), n, dim, stride, metric, min_samples,
                                             core.data(), reinterpret_cast<chutoro_cuda_edge*>(edges.data()),
                                             progress ? &bridge_progress : nullptr, &bridge, err);
  if (bridge.thrown) std::rethrow_exception(bridge.thrown);  // the host's own cancellation
  if (status != CHUTORO_CUDA_OK) fail("exact_tree", status, err);
  return checked_tree("exact_tree", n, std::move(core), edges);
}

spanning_tree cuda_module::knn_tree(
    int device, std::span<const float> rows, std::size_t n, std::size_t dim, std::size_t stride,
    std::int32_t metric, std::size_t min_samples, std::size_t k_graph, std::size_t* knn_components,
    const std::function<void(std::string_view, std::size_t, std::size_t)>& progress) const {
  if (!has_knn_tree()) {
    throw cuda_error(
        cuda_status::failed, error_code::unsupported,
        file_.string() + " offers no kNN-candidates stage (caps lacks CHUTORO_CUDA_STAGE_KNN_TREE)");
  }
  if (rows.size() != n * stride) {
    throw cuda_error(cuda_status::failed, error_code::invalid_argument,
                     "knn tree: " + std::to_string(rows.size()) + " values for " + std::to_string(n) +
                         " rows of stride " + std::to_string(stride));
  }
  std::vector<float> core(n, 0.0f);
  std::vector<raw_edge> edges(n > 0 ? n - 1 : 0);
  std::uint64_t components = 0;
  progress_bridge bridge{&progress, nullptr};
  char* err = fresh_error_buffer();
  const std::int32_t status = vt_.knn_tree(device, rows.data(), n, dim, stride, metric, min_samples, k_graph,
                                           core.data(), reinterpret_cast<chutoro_cuda_edge*>(edges.data()),
                                           &components, progress ? &bridge_progress : nullptr, &bridge, err);
  if (bridge.thrown) std::rethrow_exception(bridge.thrown);
  if (status != CHUTORO_CUDA_OK) fail("knn_tree", status, err);
  if (knn_components != nullptr) *knn_components = static_cast<std::size_t>(components);
  return checked_tree("knn_tree", n, std::move(core), edges);
}

// ---- finding the module ------------------------------------------------------

namespace {

/// The file of the executable or shared object this function is linked into.
fs::path own_object() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&own_object), &info) != 0 && info.dli_fname != nullptr &&
      info.dli_fname[0] != '\0' && std::strchr(info.dli_fname, '/') != nullptr &&
      std::strcmp(info.dli_fname, program_invocation_name) != 0) {
    std::error_code ec;
    fs::path p = fs::canonical(info.dli_fname, ec);
    if (!ec) return p;
  }
  // The main executable (dladdr gives argv[0] for it, which may be relative or bare).
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p;
}

}  // namespace

std::vector<fs::path> cuda_module_candidates() {
  const char* env = std::getenv("CHUTORO_CUDA_LIBRARY");
  if (env != nullptr && env[0] != '\0') return {fs::path(env)};
  std::vector<fs::path> out;
  const fs::path self = own_object();
  if (!self.empty()) {
    const fs::path dir = self.parent_path();
    out.push_back(dir / CHUTORO_CUDA_MODULE_FILE);
    out.push_back((dir.parent_path() / CHUTORO_INSTALL_LIBDIR / CHUTORO_CUDA_MODULE_FILE).lexically_normal());
  }
  const fs::path installed = fs::path(CHUTORO_INSTALL_FULL_LIBDIR) / CHUTORO_CUDA_MODULE_FILE;
  if (!std::string_view(CHUTORO_INSTALL_FULL_LIBDIR).empty() &&
      std::find(out.begin(), out.end(), installed) == out.end())
    out.push_back(installed);
  return out;
}

namespace {

struct loaded {
  std::unique_ptr<cuda_module> module;
  std::string reason;
  cuda_status status = cuda_status::ok;
};

loaded load_once() {
  loaded r;
  try {
    const char* env = std::getenv("CHUTORO_CUDA_LIBRARY");
    const std::vector<fs::path> candidates = cuda_module_candidates();
    for (const fs::path& p : candidates) {
      std::error_code ec;
      if (!fs::exists(p, ec) && (env == nullptr || env[0] == '\0')) continue;
      try {
        r.module = std::make_unique<cuda_module>(p);
      } catch (const cuda_error& e) {
        r.status = e.status();
        r.reason = e.reason();  // starts with the file's path
        if (env != nullptr && env[0] != '\0') {
          r.reason =
              "CHUTORO_CUDA_LIBRARY=" +
              (e.status() == cuda_status::library_not_found ? std::string(env) + ": no such file" : r.reason);
        }
      }
      return r;
    }
    r.status = cuda_status::library_not_found;
    r.reason = std::string("CUDA module not found: no ") + CHUTORO_CUDA_MODULE_FILE + " in ";
    for (std::size_t k = 0; k < candidates.size(); ++k)
      r.reason += (k == 0 ? "" : ", ") + candidates[k].parent_path().string();
    r.reason += CHUTORO_CUDA_MODULE_BUILT
                    ? " (set CHUTORO_CUDA_LIBRARY to its path)"
                    : " (this chutoro was built without CUDA: CHUTORO_WITH_CUDA=OFF or no nvcc)";
  } catch (const std::exception& e) {
    r.module.reset();
    r.status = cuda_status::library_invalid;
    r.reason = std::string("cannot look for the CUDA module: ") + e.what();
  }
  return r;
}

}  // namespace

const cuda_module* load_cuda_module(std::string* reason, cuda_status* status) {
  // Kept for the life of the process (never destroyed: the module stays mapped).
  static std::once_flag once;
  static loaded* state = nullptr;
  std::call_once(once, [] { state = new loaded(load_once()); });
  if (reason != nullptr) *reason = state->reason;
  if (status != nullptr) *status = state->module ? cuda_status::ok : state->status;
  return state->module.get();
}

const cuda_module& require_cuda_module() {
  std::string reason;
  cuda_status status = cuda_status::ok;
  const cuda_module* m = load_cuda_module(&reason, &status);
  if (m == nullptr) throw cuda_error(status, error_code::unsupported, reason);
  return *m;
}

}  // namespace chutoro::detail
