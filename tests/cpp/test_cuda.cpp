// The CUDA module loader (src/core/backend/cuda_loader.hpp) and, where a GPU
// is at hand, the module itself.
//
// CudaLoader: the host side against stand-ins that need no CUDA
// (tests/c/fake_cuda_module.c, its situation picked by CHUTORO_FAKE_CUDA; a
// library without the entry point; a file that is no library): every way
// loading or a call can fail gives the clear error it should.
// CudaModule: the real libchutoro_cuda.so (where the build has nvcc): it
// loads and describes itself on any machine; without a GPU every query says
// why, never crashes.
// CudaGpu: the module's stages (forest, exact, knn) on a GPU against the CPU; skipped with the
// reason where no GPU can be used (scripts/gpu_check.sh runs them on one).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chutoro/chutoro.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/backend/cuda_loader.hpp"
#include "core/mst/candidate_graph.hpp"
#include "test_data.hpp"

namespace fs = std::filesystem;
using chutoro::error_code;
using chutoro::detail::cuda_error;
using chutoro::detail::cuda_module;
using chutoro::detail::cuda_status;
using chutoro::detail::raw_edge;

namespace {

/// Sets (or unsets, for nullopt) an environment variable for one scope.
class scoped_env {
 public:
  scoped_env(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~scoped_env() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// Runs f, which must throw cuda_error; returns it.
template <class F>
cuda_error expect_cuda_error(F&& f) {
  try {
    f();
  } catch (const cuda_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("device cuda: ", 0), 0u) << e.what();
    EXPECT_EQ(std::string(e.what()), "device cuda: " + e.reason());
    return e;
  }
  ADD_FAILURE() << "no cuda_error thrown";
  return cuda_error(cuda_status::ok, error_code::internal, "");
}

/// A test library's path: the environment variable `name` when set (the GPU
/// bundle of scripts/gpu_bundle.sh runs elsewhere than it was built), else
/// the path the build compiled in.
std::string test_library(const char* name, const char* built) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? std::string(v) : std::string(built);
}

const std::string fake_path = test_library("CHUTORO_TEST_FAKE_CUDA", CHUTORO_TEST_FAKE_CUDA);
const std::string no_entry_path = test_library("CHUTORO_TEST_NO_ENTRY", CHUTORO_TEST_NO_ENTRY);

/// A fresh folder for one test's files.
fs::path scratch(const char* name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("chutoro_cuda_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

// ---- CudaLoader: the loader against stand-ins ----------------------------------

TEST(CudaLoader, MissingFileIsLibraryNotFound) {
  const fs::path p = scratch("missing") / "no_such_dir" / "libchutoro_cuda.so";
  const cuda_error e = expect_cuda_error([&] { cuda_module m(p); });
  EXPECT_EQ(e.status(), cuda_status::library_not_found);
  EXPECT_EQ(e.code(), error_code::unsupported);
  EXPECT_TRUE(contains(e.reason(), p.string())) << e.reason();
  EXPECT_TRUE(chutoro::detail::gpu_unavailable(e.status()));
}

TEST(CudaLoader, LibraryWithoutEntryPoint) {
  const cuda_error e = expect_cuda_error([] { cuda_module m(no_entry_path); });
  EXPECT_EQ(e.status(), cuda_status::library_invalid);
  EXPECT_TRUE(contains(e.reason(), no_entry_path)) << e.reason();
  EXPECT_TRUE(contains(e.reason(), "exports no function \"chutoro_cuda_open\"")) << e.reason();
}

TEST(CudaLoader, FileThatIsNoLibrary) {
  const fs::path p = scratch("not_a_library") / "libchutoro_cuda.so";
  std::ofstream(p) << "not an ELF file\n";
  const cuda_error e = expect_cuda_error([&] { cuda_module m(p); });
  EXPECT_EQ(e.status(), cuda_status::library_invalid);
  EXPECT_TRUE(contains(e.reason(), "cannot load the CUDA module")) << e.reason();
}

TEST(CudaLoader, WrongAbiVersion) {
  scoped_env mode("CHUTORO_FAKE_CUDA", "wrong_abi");
  const cuda_error e = expect_cuda_error([] { cuda_module m(fake_path); });
  EXPECT_EQ(e.status(), cuda_status::library_invalid);
  EXPECT_TRUE(contains(e.reason(), "CUDA module ABI version 99, but this chutoro speaks version 3"))
      << e.reason();
  EXPECT_TRUE(contains(e.reason(), fake_path)) << e.reason();
}

TEST(CudaLoader, EntryPointRefuses) {
  scoped_env mode("CHUTORO_FAKE_CUDA", "refuse");
  const cuda_error e = expect_cuda_error([] { cuda_module m(fake_path); });
  EXPECT_EQ(e.status(), cuda_status::library_invalid);
  EXPECT_TRUE(contains(e.reason(), "chutoro_cuda_open failed: the fake module refuses to open"))
      << e.reason();
}

TEST(CudaLoader, CapsWithoutTheStage) {
  scoped_env mode("CHUTORO_FAKE_CUDA", "bad_caps");
  const cuda_error e = expect_cuda_error([] { cuda_module m(fake_path); });
  EXPECT_EQ(e.status(), cuda_status::library_invalid);
  EXPECT_TRUE(
      contains(e.reason(), "CHUTORO_CUDA_STAGE_SPANNING_FOREST but v-table field spanning_forest is NULL"))
      << e.reason();
}

TEST(CudaLoader, ExactCapsWithoutTheStage) {
  scoped_env mode("CHUTORO_FAKE_CUDA", "bad_exact_caps");
  const cuda_error e = expect_cuda_error([] { cuda_module m(fake_path); });
  EXPECT_EQ(e.status(), cuda_status::library_invalid);
  EXPECT_TRUE(contains(e.reason(), "CHUTORO_CUDA_STAGE_EXACT_TREE but v-table field exact_tree is NULL"))
      << e.reason();
}

// The exact stage's plumbing: results, progress, cancellation by a throwing
// callback (rethrown as itself), module failures and a broken tree.
TEST(CudaLoader, ExactTreePlumbing) {
  const std::vector<float> rows(5 * 16, 1.0f);
  {
    scoped_env mode("CHUTORO_FAKE_CUDA", "two_gpus");
    cuda_module m(fake_path);
    ASSERT_TRUE(m.has_exact_tree());
    std::size_t calls = 0;
    const chutoro::spanning_tree t =
        m.exact_tree(0, rows, 5, 3, 16, CHUTORO_CUDA_METRIC_EUCLIDEAN, 2,
                     [&](std::string_view stage, std::size_t done, std::size_t total) {
                       ++calls;
                       EXPECT_EQ(stage, "core distances");
                       EXPECT_EQ(done, 0u);
                       EXPECT_EQ(total, 5u);
                     });
    EXPECT_EQ(calls, 1u);
    EXPECT_EQ(t.n, 5u);
    EXPECT_EQ(t.core_distances, std::vector<float>(5, 0.5f));
    ASSERT_EQ(t.edges.size(), 4u);
    EXPECT_EQ(t.edges[3].a, 3);
    EXPECT_EQ(t.edges[3].b, 4);
    EXPECT_EQ(t.edges[3].distance, 1.0);
    struct stop {};
    EXPECT_THROW((void)m.exact_tree(0, rows, 5, 3, 16, CHUTORO_CUDA_METRIC_EUCLIDEAN, 2,
                                    [](std::string_view, std::size_t, std::size_t) { throw stop{}; }),
                 stop);
    const cuda_error e = expect_cuda_error([&] { (void)m.exact_tree(0, rows, 4, 3, 16, 0, 2, {}); });
    EXPECT_EQ(e.code(), error_code::invalid_argument);
    EXPECT_TRUE(contains(e.reason(), "80 values for 4 rows of stride 16")) << e.reason();
  }
  {
    scoped_env mode("CHUTORO_FAKE_CUDA", "oom");
    cuda_module m(fake_path);
    const cuda_error e = expect_cuda_error([&] { (void)m.exact_tree(0, rows, 5, 3, 16, 0, 2, {}); });
    EXPECT_EQ(e.status(), cuda_status::out_of_memory);
    EXPECT_TRUE(contains(e.reason(), "out of device memory: exact HDBSCAN*")) << e.reason();
  }
  {
    scoped_env mode("CHUTORO_FAKE_CUDA", "bad_exact");
    cuda_module m(fake_path);
    const cuda_error e = expect_cuda_error([&] { (void)m.exact_tree(0, rows, 5, 3, 16, 0, 2, {}); });
    EXPECT_EQ(e.code(), error_code::internal);
    EXPECT_TRUE(contains(e.reason(), "exact_tree returned edge 1 (0-based) = (2, 1")) << e.reason();
  }
  {
    scoped_env mode("CHUTORO_FAKE_CUDA", "no_exact");
    cuda_module m(fake_path);
    EXPECT_FALSE(m.has_exact_tree());
    const cuda_error e = expect_cuda_error([&] { (void)m.exact_tree(0, rows, 5, 3, 16, 0, 2, {}); });
    EXPECT_TRUE(contains(e.reason(), "offers no exact stage")) << e.reason();
  }
}

// candidates = knn: a module without the stage says so; the CPU backend
// (device cpu, and auto, which never picks it) refuses it naming the fix.
TEST(CudaLoader, KnnCandidatesWithoutTheStageOrOnTheCpu) {
  EXPECT_EQ(chutoro::parse_candidate_mode("knn"), chutoro::candidate_mode::knn);
  EXPECT_EQ(chutoro::to_string(chutoro::candidate_mode::knn), "knn");
  {
    scoped_env mode("CHUTORO_FAKE_CUDA", "two_gpus");
    cuda_module m(fake_path);
    EXPECT_FALSE(m.has_knn_tree());
    const std::vector<float> rows(5 * 16, 1.0f);
    const cuda_error e =
        expect_cuda_error([&] { (void)m.knn_tree(0, rows, 5, 3, 16, 0, 2, 0, nullptr, {}); });
    EXPECT_EQ(e.code(), error_code::unsupported);
    EXPECT_TRUE(contains(e.reason(), "offers no kNN-candidates stage")) << e.reason();
  }
  const auto d = chutoro_test::make_blobs(200, 4, 2, 0.1, 3);
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  for (const auto device : {chutoro::device_kind::cpu, chutoro::device_kind::auto_select}) {
    scoped_env no_env("CHUTORO_DEVICE", std::nullopt);
    chutoro::params p;
    p.build.candidates = chutoro::candidate_mode::knn;
    p.build.device = device;
    try {
      (void)chutoro::fit(src, p);
      FAIL() << "candidates = knn ran on the CPU";
    } catch (const chutoro::error& e) {
      EXPECT_EQ(e.code(), error_code::unsupported);
      EXPECT_TRUE(contains(e.what(), "candidates = knn (GPU kNN candidates) runs on a CUDA GPU only"))
          << e.what();
      EXPECT_TRUE(contains(e.what(), "use device=cuda")) << e.what();
    }
  }
}

TEST(CudaLoader, TwoDevicesOneTooOld) {
  scoped_env mode("CHUTORO_FAKE_CUDA", "two_gpus");
  cuda_module m(fake_path);
  EXPECT_TRUE(m.deterministic());
  EXPECT_TRUE(m.has_spanning_forest());
  EXPECT_EQ(m.runtime_version(), 13000);
  EXPECT_EQ(m.min_compute_capability(), 75);
  EXPECT_EQ(m.build_info(), "fake CUDA module (tests/c/fake_cuda_module.c)");
  EXPECT_EQ(m.versions(), (std::pair<int, int>{13000, 13000}));
  ASSERT_EQ(m.device_count(), 2);
  const chutoro::device_info d = m.device(0);
  EXPECT_EQ(d.index, 0);
  EXPECT_EQ(d.name, "Fake GPU 0");
  EXPECT_EQ(d.compute_capability_major, 9);
  EXPECT_EQ(d.compute_capability_minor, 0);
  EXPECT_EQ(d.multiprocessors, 132);
  EXPECT_EQ(d.total_memory_bytes, std::uint64_t{141} << 30);
  EXPECT_EQ(d.free_memory_bytes, std::uint64_t{140} << 30);
  EXPECT_EQ(d.driver_version, 13000);
  EXPECT_EQ(d.runtime_version, 13000);
  EXPECT_EQ(d.pci_bus_id, "0000:19:00.0");
  EXPECT_TRUE(d.supported);
  EXPECT_FALSE(m.device(1).supported);
  EXPECT_EQ(m.pick_device(), 0);
  EXPECT_EQ(m.pick_device(0), 0);
  cuda_error e = expect_cuda_error([&] { (void)m.pick_device(1); });
  EXPECT_EQ(e.status(), cuda_status::compute_capability_too_low);
  EXPECT_TRUE(contains(e.reason(), "compute capability too low: CUDA device 1 (Fake GPU 1) has 7.0"))
      << e.reason();
  EXPECT_TRUE(contains(e.reason(), ">= 7.5")) << e.reason();
  e = expect_cuda_error([&] { (void)m.pick_device(2); });
  EXPECT_EQ(e.code(), error_code::invalid_argument);
  EXPECT_TRUE(contains(e.reason(), "CUDA device 2 does not exist (2 devices: 0..1)")) << e.reason();

  const chutoro::device_list list = chutoro::detail::describe_devices(m);
  ASSERT_EQ(list.devices.size(), 2u);
  EXPECT_EQ(list.devices[1].name, "Fake GPU 1");
  EXPECT_EQ(list.reason, "");
  EXPECT_EQ(list.module, fake_path);
  EXPECT_EQ(list.driver_version, 13000);
}

TEST(CudaLoader, OnlyDeviceTooOld) {
  scoped_env mode("CHUTORO_FAKE_CUDA", "old_gpu");
  cuda_module m(fake_path);
  const cuda_error e = expect_cuda_error([&] { (void)m.pick_device(); });
  EXPECT_EQ(e.status(), cuda_status::compute_capability_too_low);
  EXPECT_TRUE(chutoro::detail::gpu_unavailable(e.status()));
  EXPECT_TRUE(contains(e.reason(), "no CUDA device of compute capability >= 7.5 (devices: 0 Fake GPU 0 6.1)"))
      << e.reason();
}

TEST(CudaLoader, NoDriverTooOldNoDevice) {
  struct situation {
    const char* mode;
    cuda_status status;
    const char* words;
  };
  for (const situation s :
       {situation{"no_driver", cuda_status::no_driver, "no NVIDIA driver (libcuda.so.1 not found"},
        situation{"too_old", cuda_status::driver_too_old, "NVIDIA driver too old (driver 12.2"},
        situation{"no_device", cuda_status::no_device, "no CUDA device"}}) {
    SCOPED_TRACE(s.mode);
    scoped_env mode("CHUTORO_FAKE_CUDA", s.mode);
    cuda_module m(fake_path);  // opening needs no driver
    const cuda_error e = expect_cuda_error([&] { (void)m.device_count(); });
    EXPECT_EQ(e.status(), s.status);
    EXPECT_EQ(e.code(), error_code::unsupported);
    EXPECT_TRUE(chutoro::detail::gpu_unavailable(e.status()));
    EXPECT_EQ(e.reason().rfind(s.words, 0), 0u) << e.reason();
    EXPECT_EQ(expect_cuda_error([&] { (void)m.pick_device(); }).status(), s.status);
    // list_devices' view: no device, the same reason, no exception.
    const chutoro::device_list list = chutoro::detail::describe_devices(m);
    EXPECT_TRUE(list.devices.empty());
    EXPECT_EQ(list.reason, e.reason());
  }
  scoped_env mode("CHUTORO_FAKE_CUDA", "no_driver");
  cuda_module m(fake_path);
  EXPECT_EQ(m.versions(), (std::pair<int, int>{0, 13000}));  // no driver is not an error here
}

TEST(CudaLoader, ForestFailuresAndChecks) {
  const std::vector<raw_edge> edges = {{0, 1, 1.0f}, {2, 1, 2.0f}, {2, 3, 3.0f}},
                              more = {{4, 3, 4.0f}, {5, 4, 5.0f}};
  {
    scoped_env mode("CHUTORO_FAKE_CUDA", "oom");
    cuda_module m(fake_path);
    const cuda_error e = expect_cuda_error([&] { (void)m.spanning_forest(0, 6, edges, more, {}); });
    EXPECT_EQ(e.status(), cuda_status::out_of_memory);
    EXPECT_FALSE(chutoro::detail::gpu_unavailable(e.status()));
    EXPECT_EQ(e.reason().rfind("out of device memory", 0), 0u) << e.reason();
  }
  {
    scoped_env mode("CHUTORO_FAKE_CUDA", "bad_forest");
    cuda_module m(fake_path);
    const cuda_error e = expect_cuda_error([&] { (void)m.spanning_forest(0, 6, edges, more, {}); });
    EXPECT_EQ(e.code(), error_code::internal);
    EXPECT_TRUE(contains(e.reason(), "returned edge 0 (0-based) = (5, 2) for 6 items (needs a < b < n)"))
        << e.reason();
  }
  scoped_env mode("CHUTORO_FAKE_CUDA", "two_gpus");
  cuda_module m(fake_path);
  const std::vector<float> core(5, 0.0f);
  cuda_error e = expect_cuda_error([&] { (void)m.spanning_forest(0, 6, edges, more, core); });
  EXPECT_EQ(e.code(), error_code::invalid_argument);
  EXPECT_TRUE(contains(e.reason(), "core distances have 5 values for 6 items")) << e.reason();
  // The stand-in echoes the first n - 1 edges, normalised: both lists arrive, in order.
  const std::vector<raw_edge> out = m.spanning_forest(0, 5, edges, more, {});
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1].a, 1u);
  EXPECT_EQ(out[1].b, 2u);
  EXPECT_EQ(out[3].a, 3u);
  EXPECT_EQ(out[3].b, 4u);
  EXPECT_EQ(out[3].d, 4.0f);
}

TEST(CudaLoader, CandidatesFollowTheEnvironment) {
  {
    scoped_env env("CHUTORO_CUDA_LIBRARY", "/somewhere/else/libmine.so");
    EXPECT_EQ(chutoro::detail::cuda_module_candidates(), std::vector<fs::path>{"/somewhere/else/libmine.so"});
  }
  scoped_env env("CHUTORO_CUDA_LIBRARY", std::nullopt);
  const std::vector<fs::path> c = chutoro::detail::cuda_module_candidates();
  ASSERT_GE(c.size(), 2u);
  // First: next to this test executable (the object that holds the loader).
  EXPECT_EQ(c[0], fs::read_symlink("/proc/self/exe").parent_path() / "libchutoro_cuda.so");
  for (const fs::path& p : c) EXPECT_EQ(p.filename(), "libchutoro_cuda.so");
}

// ---- CudaModule: the real module, on any machine ---------------------------------

#ifdef CHUTORO_TEST_CUDA_MODULE
namespace {
const std::string real_module = test_library("CHUTORO_TEST_CUDA_MODULE", CHUTORO_TEST_CUDA_MODULE);

/// The real module's device, or the reason there is none.
std::optional<int> real_device(const cuda_module& m, std::string* reason) {
  try {
    return m.pick_device();
  } catch (const cuda_error& e) {
    *reason = e.reason();
    EXPECT_TRUE(chutoro::detail::gpu_unavailable(e.status())) << e.reason();
    return std::nullopt;
  }
}
}  // namespace

TEST(CudaModule, LoadsAndDescribesItself) {
  cuda_module m(real_module);
  EXPECT_TRUE(m.deterministic());
  EXPECT_TRUE(m.has_spanning_forest());
  EXPECT_GE(m.runtime_version(), 12000);
  EXPECT_GE(m.min_compute_capability(), 75);
  EXPECT_TRUE(contains(m.build_info(), "runtime (static)")) << m.build_info();
  EXPECT_TRUE(contains(m.build_info(), "sm_")) << m.build_info();
}

TEST(CudaModule, DevicesOrAReasonNeverACrash) {
  cuda_module m(real_module);
  const chutoro::device_list list = chutoro::detail::describe_devices(m);
  EXPECT_EQ(list.module, real_module);
  EXPECT_EQ(list.runtime_version, m.runtime_version());
  if (list.devices.empty()) {
    EXPECT_FALSE(list.reason.empty());
    // The reason is one of the plain ones, and device_count says the same.
    const cuda_error e = expect_cuda_error([&] { (void)m.device_count(); });
    EXPECT_TRUE(chutoro::detail::gpu_unavailable(e.status())) << e.reason();
    EXPECT_EQ(list.reason, e.reason());
    // A stage asked for anyway fails with the same kind of reason.
    const std::vector<raw_edge> edges = {{0, 1, 1.0f}};
    const cuda_error f = expect_cuda_error([&] { (void)m.spanning_forest(0, 2, edges, {}, {}); });
    EXPECT_TRUE(chutoro::detail::gpu_unavailable(f.status())) << f.reason();
    return;
  }
  for (const chutoro::device_info& d : list.devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.multiprocessors, 0);
    EXPECT_GT(d.total_memory_bytes, 0u);
    EXPECT_LE(d.free_memory_bytes, d.total_memory_bytes);
    EXPECT_GE(d.driver_version, 12000);
    EXPECT_EQ(d.runtime_version, m.runtime_version());
    EXPECT_EQ(d.pci_bus_id.size(), 12u) << d.pci_bus_id;  // dddd:bb:dd.f
  }
}

// ---- CudaGpu: the stages on a GPU against the CPU ----------------------------------

namespace {

struct random_graph {
  std::size_t n;
  std::vector<raw_edge> edges, more;
  std::vector<float> core;
};

/// m + m2 random edges on n items (some self-loops and parallel edges), distances
/// from `levels` distinct values so that ties are frequent; core distances too.
random_graph make_graph(std::size_t n, std::size_t m, std::size_t m2, int levels, bool with_core,
                        unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint32_t> item(0, static_cast<std::uint32_t>(n - 1));
  std::uniform_int_distribution<int> level(0, levels - 1);
  random_graph g{n, {}, {}, {}};
  auto fill = [&](std::vector<raw_edge>& v, std::size_t count) {
    v.resize(count);
    for (raw_edge& e : v) e = {item(rng), item(rng), 0.25f * static_cast<float>(level(rng))};
  };
  fill(g.edges, m);
  fill(g.more, m2);
  if (with_core) {
    g.core.resize(n);
    for (float& c : g.core) c = 0.25f * static_cast<float>(level(rng));
  }
  return g;
}

/// Drops all but the first of each pair {a, b}: a graph where the forest's raw
/// distances are unique too (of parallel edges of equal weight and different
/// distance, the CPU keeps either one).
void unique_pairs(random_graph& g) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> seen;
  auto key = [](const raw_edge& e) {
    return std::pair<std::uint32_t, std::uint32_t>(std::min(e.a, e.b), std::max(e.a, e.b));
  };
  for (auto* v : {&g.edges, &g.more})
    for (const raw_edge& e : *v) seen.push_back(key(e));
  std::sort(seen.begin(), seen.end());
  std::vector<std::pair<std::uint32_t, std::uint32_t>> twice;
  for (std::size_t k = 1; k < seen.size(); ++k)
    if (seen[k] == seen[k - 1]) twice.push_back(seen[k]);
  for (auto* v : {&g.edges, &g.more}) {
    std::erase_if(*v,
                  [&](const raw_edge& e) { return std::binary_search(twice.begin(), twice.end(), key(e)); });
  }
}

/// Same pairs, in the same order, of the same mutual-reachability weight.
bool same_forest(const std::vector<raw_edge>& x, const std::vector<raw_edge>& y,
                 const std::vector<float>& core) {
  auto w = [&](const raw_edge& e) { return core.empty() ? e.d : std::max({core[e.a], core[e.b], e.d}); };
  return x.size() == y.size() &&
         std::equal(x.begin(), x.end(), y.begin(), [&](const raw_edge& p, const raw_edge& q) {
           return p.a == q.a && p.b == q.b && w(p) == w(q);
         });
}

bool same_bytes(const std::vector<raw_edge>& x, const std::vector<raw_edge>& y) {
  return x.size() == y.size() &&
         std::equal(x.begin(), x.end(), y.begin(), [](const raw_edge& p, const raw_edge& q) {
           return p.a == q.a && p.b == q.b && p.d == q.d;
         });
}

class CudaGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    module_.emplace(real_module);
    std::string reason;
    device_ = real_device(*module_, &reason);
    if (!device_) GTEST_SKIP() << "no CUDA device: " << reason;
  }
  std::optional<cuda_module> module_;
  std::optional<int> device_;
};

}  // namespace

TEST_F(CudaGpu, ForestEqualsTheCpuForest) {
  struct shape {
    std::size_t n, m, m2;
    int levels;
    bool core;
  };
  for (const shape s :
       {shape{2, 1, 0, 4, true}, shape{50, 200, 30, 3, true}, shape{1000, 3000, 0, 1000000, false},
        shape{20000, 60000, 20000, 16, true}, shape{100000, 400000, 100000, 1000000, true},
        shape{5000, 2000, 0, 8, true} /* disconnected */}) {
    SCOPED_TRACE("n=" + std::to_string(s.n) + " m=" + std::to_string(s.m) + "+" + std::to_string(s.m2));
    random_graph g = make_graph(s.n, s.m, s.m2, s.levels, s.core, 7 + static_cast<unsigned>(s.n));
    std::vector<raw_edge> cpu = chutoro::detail::minimum_spanning_forest(g.n, g.edges, g.more, g.core);
    std::vector<raw_edge> gpu = module_->spanning_forest(*device_, g.n, g.edges, g.more, g.core);
    EXPECT_EQ(gpu.size(), cpu.size());
    EXPECT_TRUE(same_forest(gpu, cpu, g.core));
    unique_pairs(g);  // now the raw distances must agree too
    cpu = chutoro::detail::minimum_spanning_forest(g.n, g.edges, g.more, g.core);
    gpu = module_->spanning_forest(*device_, g.n, g.edges, g.more, g.core);
    EXPECT_TRUE(same_bytes(gpu, cpu));
  }
}

TEST_F(CudaGpu, ForestIsRepeatable) {
  const random_graph g = make_graph(50000, 300000, 0, 4, true, 11);
  const std::vector<raw_edge> first = module_->spanning_forest(*device_, g.n, g.edges, g.more, g.core);
  for (int run = 0; run < 3; ++run)
    EXPECT_TRUE(same_bytes(module_->spanning_forest(*device_, g.n, g.edges, g.more, g.core), first));
}

TEST_F(CudaGpu, ForestEdgeCases) {
  EXPECT_TRUE(module_->spanning_forest(*device_, 0, {}, {}, {}).empty());
  EXPECT_TRUE(module_->spanning_forest(*device_, 1, {}, {}, {}).empty());
  const std::vector<raw_edge> loops = {{3, 3, 1.0f}, {0, 0, 0.5f}};
  EXPECT_TRUE(module_->spanning_forest(*device_, 4, loops, {}, {}).empty());
  const std::vector<raw_edge> bad = {{0, 1, 1.0f}, {1, 2, 1.0f}, {2, 3, 1.0f}, {3, 9, 1.0f}};
  const cuda_error e = expect_cuda_error([&] { (void)module_->spanning_forest(*device_, 5, bad, {}, {}); });
  EXPECT_EQ(e.code(), error_code::invalid_argument);
  EXPECT_TRUE(contains(e.reason(), "edges[3] (0-based) joins items 3 and 9")) << e.reason();
}

TEST_F(CudaGpu, OutOfDeviceMemoryIsAClearError) {
  const random_graph g = make_graph(100000, 1000000, 0, 16, true, 3);
  scoped_env limit("CHUTORO_CUDA_MEMORY_LIMIT", "1M");
  const cuda_error e =
      expect_cuda_error([&] { (void)module_->spanning_forest(*device_, g.n, g.edges, {}, g.core); });
  EXPECT_EQ(e.status(), cuda_status::out_of_memory);
  EXPECT_EQ(e.code(), error_code::unsupported);
  EXPECT_TRUE(
      contains(e.reason(), "out of device memory: the spanning forest of 1000000 edges on 100000 items"))
      << e.reason();
  EXPECT_TRUE(contains(e.reason(), "CHUTORO_CUDA_MEMORY_LIMIT=1M")) << e.reason();
  // The device is still usable after the refusal.
  scoped_env no_limit("CHUTORO_CUDA_MEMORY_LIMIT", std::nullopt);
  EXPECT_EQ(module_->spanning_forest(*device_, g.n, g.edges, {}, g.core).size(),
            chutoro::detail::minimum_spanning_forest(g.n, g.edges, {}, g.core).size());
}

// The exact stage on a GPU against the CPU exact mode: core distances and
// weights within float32 rounding (1e-5 relative; cosine 1e-6 absolute), the
// same tree edges, the same labels through the whole pipeline (fit with
// device cuda); out of device memory is a clear error.
TEST_F(CudaGpu, ExactEqualsTheCpuExactMode) {
  const auto d = chutoro_test::make_blobs(3000, 24, 6, 0.1, 21);
  struct metric_case {
    const char* name;
    std::shared_ptr<chutoro::data_source> src;
  };
  const std::vector<metric_case> cases = {
      {"euclidean",
       std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::euclidean)},
      {"cosine",
       std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::cosine)},
      {"manhattan",
       std::make_shared<chutoro::dense_source>(d.values, d.n, d.dim, chutoro::dense_metric::manhattan)},
      {"angular",
       std::make_shared<chutoro::product_source>(d.values, d.n, d.dim, chutoro::product_metric::angular)}};
  for (const auto& c : cases) {
    for (const std::size_t ms : {std::size_t{5}, std::size_t{64}}) {
      SCOPED_TRACE(std::string(c.name) + ", min_samples " + std::to_string(ms));
      chutoro::params p;
      p.build.candidates = chutoro::candidate_mode::exact;
      p.build.min_samples = ms;
      p.selection.min_cluster_size = 20;
      p.build.device = chutoro::device_kind::cpu;
      const chutoro::result cpu = chutoro::fit(*c.src, p);
      p.build.device = chutoro::device_kind::cuda;
      const chutoro::result gpu = chutoro::fit(*c.src, p);
      EXPECT_EQ(gpu.stats.device, chutoro::device_kind::cuda);
      const double abs_tol = std::string(c.name) == "cosine" ? 1e-6 : 0.0;
      auto near = [&](double a, double b) {
        return std::fabs(a - b) <= std::max(abs_tol, 1e-5 * std::max(std::fabs(a), std::fabs(b)));
      };
      ASSERT_EQ(gpu.tree.core_distances.size(), cpu.tree.core_distances.size());
      for (std::size_t i = 0; i < cpu.tree.n; ++i)
        ASSERT_TRUE(near(gpu.tree.core_distances[i], cpu.tree.core_distances[i])) << "core " << i;
      std::map<std::pair<std::int64_t, std::int64_t>, double> want;
      for (const auto& e : cpu.tree.edges) want[{e.a, e.b}] = e.distance;
      ASSERT_EQ(gpu.tree.edges.size(), cpu.tree.edges.size());
      for (const auto& e : gpu.tree.edges) {
        const auto it = want.find({e.a, e.b});
        ASSERT_NE(it, want.end()) << "(" << e.a << ", " << e.b << ") is not in the CPU's tree";
        ASSERT_TRUE(near(e.distance, it->second)) << e.distance << " vs " << it->second;
      }
      EXPECT_EQ(gpu.labels, cpu.labels);
    }
  }
  // Out of device memory: a clear error, and the device is still usable.
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  const chutoro::matrix_view v = *src.matrix();
  const std::span<const float> rows(static_cast<const float*>(v.data), v.rows * v.stride);
  {
    scoped_env limit("CHUTORO_CUDA_MEMORY_LIMIT", "1M");
    const cuda_error e = expect_cuda_error(
        [&] { (void)module_->exact_tree(*device_, rows, v.rows, v.cols, v.stride, 0, 5, {}); });
    EXPECT_EQ(e.status(), cuda_status::out_of_memory);
    EXPECT_TRUE(contains(e.reason(), "out of device memory: exact HDBSCAN* of 3000 x 24 rows")) << e.reason();
    EXPECT_TRUE(contains(e.reason(), "CHUTORO_CUDA_MEMORY_LIMIT=1M")) << e.reason();
  }
  EXPECT_EQ(module_->exact_tree(*device_, rows, v.rows, v.cols, v.stride, 0, 5, {}).edges.size(), 2999u);
}

// GPU kNN candidates through the whole pipeline (fit with device cuda,
// candidates knn) against the CPU exact mode: exact core distances (float32
// rounding), ARI >= 0.99; out of device memory is a clear error.
TEST_F(CudaGpu, KnnCandidatesAgreeWithTheCpuExactMode) {
  const auto d = chutoro_test::make_blobs(3000, 24, 6, 0.1, 22);
  chutoro::dense_source src(d.values, d.n, d.dim, chutoro::dense_metric::euclidean);
  chutoro::params p;
  p.build.min_samples = 5;
  p.selection.min_cluster_size = 20;
  p.build.candidates = chutoro::candidate_mode::exact;
  p.build.device = chutoro::device_kind::cpu;
  const chutoro::result cpu = chutoro::fit(src, p);
  p.build.candidates = chutoro::candidate_mode::knn;
  p.build.device = chutoro::device_kind::cuda;
  const chutoro::result gpu = chutoro::fit(src, p);
  EXPECT_EQ(gpu.stats.device, chutoro::device_kind::cuda);
  EXPECT_EQ(gpu.stats.candidates, chutoro::candidate_mode::knn);
  for (std::size_t i = 0; i < cpu.tree.n; ++i)
    ASSERT_NEAR(gpu.tree.core_distances[i], cpu.tree.core_distances[i], 1e-5 * cpu.tree.core_distances[i])
        << i;
  EXPECT_GE(chutoro_test::adjusted_rand(gpu.labels, cpu.labels), 0.99);
  const chutoro::matrix_view v = *src.matrix();
  const std::span<const float> rows(static_cast<const float*>(v.data), v.rows * v.stride);
  // The stage plans about 0.95 MiB here (knn_plan.hpp: 3000 x 32 floats,
  // k = 10); 100K is well below.
  scoped_env limit("CHUTORO_CUDA_MEMORY_LIMIT", "100K");
  const cuda_error e = expect_cuda_error(
      [&] { (void)module_->knn_tree(*device_, rows, v.rows, v.cols, v.stride, 0, 5, 0, nullptr, {}); });
  EXPECT_EQ(e.status(), cuda_status::out_of_memory);
  EXPECT_TRUE(contains(e.reason(), "kNN candidates of 3000 x 24 rows")) << e.reason();
}

TEST_F(CudaGpu, DeviceList) {
  const chutoro::device_list list = chutoro::detail::describe_devices(*module_);
  ASSERT_FALSE(list.devices.empty()) << list.reason;
  const chutoro::device_info& d = list.devices.at(static_cast<std::size_t>(*device_));
  EXPECT_TRUE(d.supported);
  EXPECT_GE(d.compute_capability_major * 10 + d.compute_capability_minor, module_->min_compute_capability());
  EXPECT_GT(d.free_memory_bytes, 0u);
  EXPECT_GE(d.driver_version / 1000, d.runtime_version / 1000);  // else the driver would be too old
}
#endif  // CHUTORO_TEST_CUDA_MODULE
