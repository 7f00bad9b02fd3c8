// chutoro._core — the nanobind extension behind the Python package `chutoro`.
//
// A thin layer over the C++ library (include/chutoro/): data sources over
// Python-owned inputs, fit() (chutoro::fit) and Model (chutoro::model: fit,
// add, cluster, approximate_predict, save/load, to/from bytes), all with the
// GIL released, and the conversion of their results into NumPy arrays. The
// scikit-learn estimator (python/chutoro/_estimator.py) validates inputs and
// parameters and is the documented entry point; this module is its private engine.
//
// Ownership: a Model keeps its source as a std::shared_ptr; for a source
// created in Python that pointer holds a reference to the Python object
// (nanobind's shared_ptr caster), and its last copy must die with the GIL
// held (the callers below keep theirs in GIL-holding scope). That reference and
// those a CallableSource keeps to its items and metric are visible to Python's
// garbage collector (tp_traverse of Model and CallableSource, tp_clear of
// CallableSource), so cycles through them (a metric whose globals reach the
// estimator that keeps the model) are freed, also at interpreter exit.
//
// Errors: chutoro::error maps by code (invalid_argument, parse -> ValueError;
// type_mismatch -> TypeError; io -> OSError; unsupported -> NotImplementedError;
// internal -> RuntimeError), keeping the library's message.
//
// Arrow input (arrow_source): X is read through the Arrow PyCapsule interface
// (__arrow_c_stream__ / __arrow_c_array__) with the C data interface structs
// alone; pyarrow is never imported here. The producer's buffers are read in
// place by chutoro::arrow_column_builder (no Python-side conversion) and
// released by their capsules.
//
// Interruption (run_released): chutoro::fit, model() and model::add call
// their progress callback from the calling thread between units of work; the
// callback briefly takes the GIL, runs PyErr_CheckSignals() and, when a signal
// handler raised (Ctrl-C -> KeyboardInterrupt), throws that Python error
// through the library, which unwinds and frees everything (model::add leaves
// the model unchanged); the binding then re-raises it.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <chutoro/arrow.hpp>
#include <chutoro/chutoro.hpp>
#include <chutoro/devices.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/model.hpp>
#include <chutoro/plugin_source.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "distributed.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using dense_matrix = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

/// Square matrix of precomputed distances, float32, C order, kept by reference
/// (no copy). d(i, j) reads the upper triangle, so the source is symmetric by
/// construction; the diagonal is never read. The Python layer checks that the
/// matrix is square, finite, non-negative and symmetric.
class precomputed_source final : public chutoro::data_source {
 public:
  explicit precomputed_source(dense_matrix d) : d_(std::move(d)), n_(d_.shape(0)), data_(d_.data()) {
    chutoro::expects(d_.shape(0) == d_.shape(1), chutoro::error_code::invalid_argument,
                     "precomputed distances: the matrix must be square (got " + std::to_string(d_.shape(0)) +
                         " x " + std::to_string(d_.shape(1)) + ")");
    chutoro::expects(n_ > 0, chutoro::error_code::invalid_argument, "precomputed distances: empty matrix");
  }
  [[nodiscard]] std::size_t size() const noexcept override { return n_; }
  [[nodiscard]] std::string name() const override { return "precomputed"; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override {
    return i < j ? data_[i * n_ + j] : data_[j * n_ + i];
  }

 private:
  dense_matrix d_;
  std::size_t n_;
  const float* data_;
};

using index_vector = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using float_vector = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

/// A sparse (n, n) matrix of precomputed distances in CSR form (int64 indptr and
/// column indices, float32 distances), kept by reference: d(i, j) is the stored
/// entry (i, j), +inf where none is stored (no edge, as hdbscan reads sparse
/// precomputed input), 0 on the diagonal. O(log nnz(row)) per distance (binary
/// search). The Python layer makes the matrix canonical (sorted, duplicates
/// summed) and checks that it is square, finite, non-negative and symmetric.
class sparse_precomputed_source final : public chutoro::data_source {
 public:
  sparse_precomputed_source(index_vector indptr, index_vector indices, float_vector values)
      : indptr_(std::move(indptr)), indices_(std::move(indices)), values_(std::move(values)) {
    n_ = indptr_.shape(0) - 1;
    chutoro::expects(indptr_.shape(0) >= 2, chutoro::error_code::invalid_argument,
                     "precomputed distances: empty sparse matrix");
    chutoro::expects(indices_.shape(0) == values_.shape(0) &&
                         static_cast<std::size_t>(indptr_.data()[n_]) == values_.shape(0),
                     chutoro::error_code::invalid_argument,
                     "precomputed distances: indptr, indices and data of the sparse matrix disagree");
  }
  [[nodiscard]] std::size_t size() const noexcept override { return n_; }
  [[nodiscard]] std::string name() const override { return "precomputed"; }
  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override {
    if (i == j) return 0.0f;
    const std::int64_t* b = indices_.data() + indptr_.data()[i];
    const std::int64_t* e = indices_.data() + indptr_.data()[i + 1];
    const std::int64_t* k = std::lower_bound(b, e, static_cast<std::int64_t>(j));
    return k != e && *k == static_cast<std::int64_t>(j) ? values_.data()[k - indices_.data()]
                                                        : std::numeric_limits<float>::infinity();
  }

 private:
  index_vector indptr_, indices_;
  float_vector values_;
  std::size_t n_;
};

/// Items are arbitrary Python objects in a list; d(i, j) = float(metric(items[i],
/// items[j])), called with the GIL held. distance() never throws: the first
/// failure (an exception raised by the metric, a result that is not a number,
/// a negative or NaN distance, or a pending signal) is recorded and every later
/// call returns 0 without calling Python; fit() checks the record at the next
/// progress report and after the library returns, and raises it.
///
/// The list and the metric are references the garbage collector sees
/// (traverse(), bound as tp_traverse): a metric whose globals reach the
/// estimator that keeps the model that keeps this source forms a cycle
/// through C++, which the collector can then free. clear() (tp_clear) drops
/// them; a cleared source (only ever reachable from other garbage) fails
/// every distance with a ReferenceError.
///
/// A vectorised metric (chutoro.vectorized) also gives `batch`, a Python
/// function batch(q, ids, out) that measures item q against the items whose
/// ids (a uint32 memoryview) it is given and writes the distances into `out`
/// (a writable float32 memoryview of len(ids)), raising a clear error for a
/// wrong shape or a negative/NaN value. distance_batch() calls it once per run
/// of pairs that share their first item (the HNSW search asks for one query
/// against many items), so the GIL is taken once per batch, not per pair.
class callable_source final : public chutoro::data_source {
 public:
  callable_source(nb::list items, nb::object metric, nb::object batch = nb::none())
      : items_(std::move(items)), metric_(std::move(metric)), batch_(std::move(batch)) {
    n_ = nb::len(items_);
    chutoro::expects(n_ > 0, chutoro::error_code::invalid_argument,
                     "callable metric: no items (empty input)");
  }
  ~callable_source() override {
    nb::gil_scoped_acquire gil;
    error_.reset();
  }
  [[nodiscard]] std::size_t size() const noexcept override { return n_; }
  [[nodiscard]] std::string name() const override { return "callable"; }

  [[nodiscard]] float distance(std::size_t i, std::size_t j) const override {
    if (failed_.load(std::memory_order_acquire)) return 0.0f;
    nb::gil_scoped_acquire gil;
    if (failed_.load(std::memory_order_relaxed)) return 0.0f;
    if ((++calls_ & 1023u) == 0 && PyErr_CheckSignals() != 0) return record(), 0.0f;
    if (!items_.is_valid() || !metric_.is_valid()) {
      PyErr_SetString(PyExc_ReferenceError,
                      "callable metric: the source was cleared by the garbage collector");
      return record(), 0.0f;
    }
    PyObject* args[3] = {nullptr, PyList_GET_ITEM(items_.ptr(), i), PyList_GET_ITEM(items_.ptr(), j)};
    PyObject* r = PyObject_Vectorcall(metric_.ptr(), args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
    if (r == nullptr) return record(), 0.0f;
    const double d = PyFloat_AsDouble(r);
    if (d == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      PyErr_Format(PyExc_TypeError, "metric(X[%zu], X[%zu]) returned %s, not a number", i, j,
                   Py_TYPE(r)->tp_name);
      Py_DECREF(r);
      return record(), 0.0f;
    }
    Py_DECREF(r);
    if (!(d >= 0.0)) {
      const std::string v = std::isnan(d) ? "nan" : std::to_string(d);
      PyErr_Format(PyExc_ValueError, "metric(X[%zu], X[%zu]) = %s is not a non-negative number", i, j,
                   v.c_str());
      return record(), 0.0f;
    }
    return static_cast<float>(d);
  }

  void distance_batch(std::span<const chutoro::index_pair> pairs, std::span<float> out) const override {
    if (batch_.is_none()) return data_source::distance_batch(pairs, out);
    chutoro::expects(out.size() == pairs.size(), chutoro::error_code::invalid_argument,
                     "callable metric: distance_batch: out has " + std::to_string(out.size()) +
                         " slots for " + std::to_string(pairs.size()) + " pairs");
    std::fill(out.begin(), out.end(), 0.0f);
    if (failed_.load(std::memory_order_acquire) || pairs.empty()) return;
    thread_local std::vector<std::uint32_t> ids;
    nb::gil_scoped_acquire gil;
    for (std::size_t r = 0; r < pairs.size();) {
      std::size_t e = r + 1;
      while (e < pairs.size() && pairs[e].a == pairs[r].a) ++e;
      if (failed_.load(std::memory_order_relaxed)) return;
      calls_ += e - r;
      if (PyErr_CheckSignals() != 0) return record();
      if (!items_.is_valid() || !batch_.is_valid()) {
        PyErr_SetString(PyExc_ReferenceError,
                        "callable metric: the source was cleared by the garbage collector");
        return record();
      }
      ids.resize(e - r);
      for (std::size_t k = r; k < e; ++k) ids[k - r] = pairs[k].b;
      PyObject* id_view =
          PyMemoryView_FromMemory(reinterpret_cast<char*>(ids.data()),
                                  static_cast<Py_ssize_t>(ids.size() * sizeof(std::uint32_t)), PyBUF_READ);
      PyObject* out_view =
          PyMemoryView_FromMemory(reinterpret_cast<char*>(out.data() + r),
                                  static_cast<Py_ssize_t>((e - r) * sizeof(float)), PyBUF_WRITE);
      PyObject* q = PyLong_FromSize_t(pairs[r].a);
      PyObject* res = nullptr;
      if (id_view && out_view && q) {
        PyObject* args[4] = {nullptr, q, id_view, out_view};
        res = PyObject_Vectorcall(batch_.ptr(), args + 1, 3 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
      }
      Py_XDECREF(q);
      Py_XDECREF(id_view);
      Py_XDECREF(out_view);
      if (res == nullptr) {
        std::fill(out.begin(), out.end(), 0.0f);
        return record();
      }
      Py_DECREF(res);
      r = e;
    }
  }

  [[nodiscard]] bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }

  /// Raises the recorded Python error (GIL held) and clears the record.
  [[noreturn]] void raise() const {
    std::unique_ptr<nb::python_error> e = std::move(error_);
    failed_.store(false, std::memory_order_release);
    if (!e) throw std::runtime_error("callable metric failed");
    throw nb::python_error(*e);
  }

  void reset() const {
    error_.reset();
    calls_ = 0;
    failed_.store(false, std::memory_order_release);
  }

  /// Visits the Python objects this source owns (GIL held, tp_traverse).
  int traverse(visitproc visit, void* arg) const {
    Py_VISIT(items_.ptr());
    Py_VISIT(metric_.ptr());
    Py_VISIT(batch_.ptr());
    return 0;
  }

  /// Drops the Python objects this source owns (GIL held, tp_clear); the
  /// members are null before the references go (their destructors may run
  /// arbitrary code).
  void clear() noexcept {
    nb::object items = std::move(items_), metric = std::move(metric_), batch = std::move(batch_);
  }

 private:
  void record() const {  // GIL held, Python error indicator set
    error_ = std::make_unique<nb::python_error>();
    failed_.store(true, std::memory_order_release);
  }

  nb::object items_;  // a list (checked by the binding's signature)
  nb::object metric_;
  nb::object batch_;  // None, or a vectorised metric's batch(q, ids, out)
  std::size_t n_ = 0;
  mutable std::unique_ptr<nb::python_error> error_;
  mutable std::atomic<bool> failed_{false};
  mutable std::uint64_t calls_ = 0;
};

int callable_source_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));  // instances of heap types own a reference to their type
  if (!nb::inst_ready(self)) return 0;
  return nb::inst_ptr<callable_source>(self)->traverse(visit, arg);
}

int callable_source_clear(PyObject* self) {
  if (nb::inst_ready(self)) nb::inst_ptr<callable_source>(self)->clear();
  return 0;
}

PyType_Slot callable_source_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(&callable_source_traverse)},
                                       {Py_tp_clear, reinterpret_cast<void*>(&callable_source_clear)},
                                       {0, nullptr}};

/// tp_traverse of Model: a model owns a reference to the Python object of its
/// data source when that source was made in Python (nanobind's shared_ptr
/// caster keeps one in the pointer's deleter), and that object is the one
/// nb::find gives for the model's data() — this module never hands a model's
/// data to Python otherwise, so a data source with a Python object is always
/// one the model owns a reference to. There is no tp_clear: a model cannot
/// drop its data; the collector breaks such cycles at the source's tp_clear
/// (callable_source) or at the plain Python objects of the cycle.
int model_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  const nb::object source = nb::find(&nb::inst_ptr<chutoro::model>(self)->data());
  Py_VISIT(source.ptr());
  return 0;
}

PyType_Slot model_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(&model_traverse)}, {0, nullptr}};

/// Thrown by the progress callback when the callable source has failed.
struct source_failed {};

template <class T>
nb::ndarray<nb::numpy, T> to_numpy(std::vector<T>&& v, std::initializer_list<std::size_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owned->data(), shape, owner);
}

template <class T>
nb::ndarray<nb::numpy, T> to_numpy(std::vector<T>&& v) {
  const std::size_t n = v.size();
  return to_numpy(std::move(v), {n});
}

nb::dict stats_dict(const chutoro::fit_stats& st, std::size_t n) {
  nb::dict stats;
  stats["n"] = n;
  stats["distance_computations"] = st.distance_computations;
  stats["candidate_edges"] = st.candidate_edges;
  stats["peak_buffered_edges"] = st.peak_buffered_edges;
  stats["compactions"] = st.compactions;
  stats["seconds_graph"] = st.seconds_graph;
  stats["seconds_mst"] = st.seconds_mst;
  stats["seconds_hierarchy"] = st.seconds_hierarchy;
  stats["candidates"] = std::string(chutoro::to_string(st.candidates));
  stats["device"] = std::string(chutoro::to_string(st.device));
  stats["device_fallback_reason"] = st.device_fallback_reason;
  return stats;
}

/// The NumPy arrays of a clustering and its spanning tree (the dict fit() and
/// Model.result() return). Takes its arguments by value: callers that own a
/// result move it in, a model's state is copied.
nb::dict to_dict(chutoro::clustering r, chutoro::spanning_tree tree, const chutoro::fit_stats& st) {
  const std::size_t n = tree.n;
  nb::dict out;
  out["labels"] = to_numpy(std::move(r.labels));
  out["probabilities"] = to_numpy(std::move(r.probabilities));
  out["outlier_scores"] = to_numpy(std::move(r.outlier_scores));
  out["cluster_persistence"] = to_numpy(std::move(r.cluster_persistence));

  const std::size_t rows = r.condensed_tree.size();
  std::vector<std::int64_t> parent(rows), child(rows), child_size(rows);
  std::vector<double> lambda_val(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    const auto& c = r.condensed_tree[i];
    parent[i] = c.parent, child[i] = c.child, lambda_val[i] = c.lambda_val, child_size[i] = c.child_size;
  }
  out["condensed_parent"] = to_numpy(std::move(parent));
  out["condensed_child"] = to_numpy(std::move(child));
  out["condensed_lambda_val"] = to_numpy(std::move(lambda_val));
  out["condensed_child_size"] = to_numpy(std::move(child_size));

  std::vector<double> slt;
  slt.reserve(4 * r.single_linkage_tree.size());
  for (const auto& l : r.single_linkage_tree) {
    slt.insert(slt.end(), {static_cast<double>(l.left), static_cast<double>(l.right), l.distance,
                           static_cast<double>(l.size)});
  }
  out["single_linkage_tree"] = to_numpy(std::move(slt), {r.single_linkage_tree.size(), 4});

  std::vector<double> mst;
  mst.reserve(3 * tree.edges.size());
  for (const auto& e : tree.edges) {
    mst.insert(mst.end(), {static_cast<double>(e.a), static_cast<double>(e.b), e.distance});
  }
  out["minimum_spanning_tree"] = to_numpy(std::move(mst), {tree.edges.size(), 3});
  out["core_distances"] = to_numpy(std::move(tree.core_distances));
  out["stats"] = stats_dict(st, n);
  return out;
}

chutoro::selection_params make_selection(std::size_t min_cluster_size,
                                         const std::string& cluster_selection_method,
                                         double cluster_selection_epsilon, bool allow_single_cluster) {
  chutoro::selection_params sp;
  sp.min_cluster_size = min_cluster_size;
  sp.method = chutoro::parse_cluster_selection_method(cluster_selection_method);
  sp.cluster_selection_epsilon = cluster_selection_epsilon;
  sp.allow_single_cluster = allow_single_cluster;
  return sp;
}

/// hdbscan 0.8.40's selection options on top of make_selection's.
void set_selection_limits(chutoro::selection_params& sp, std::size_t max_cluster_size,
                          double cluster_selection_persistence, double cluster_selection_epsilon_max) {
  sp.max_cluster_size = max_cluster_size;
  sp.cluster_selection_persistence = cluster_selection_persistence;
  sp.cluster_selection_epsilon_max = cluster_selection_epsilon_max;
}

/// The parameters of fit() and Model(): callable sources run on one thread
/// (every distance takes the GIL: more threads only contend for it).
chutoro::params make_params(const chutoro::data_source& source, std::size_t min_cluster_size,
                            std::optional<std::size_t> min_samples,
                            const std::string& cluster_selection_method, double cluster_selection_epsilon,
                            bool allow_single_cluster, const std::string& candidates, std::size_t m,
                            std::size_t ef_construction, std::uint64_t seed, int threads,
                            const std::string& device) {
  chutoro::params p;
  p.selection = make_selection(min_cluster_size, cluster_selection_method, cluster_selection_epsilon,
                               allow_single_cluster);
  p.build.min_samples = min_samples;
  p.build.candidates = chutoro::parse_candidate_mode(candidates);
  p.build.m = m;
  p.build.ef_construction = ef_construction;
  p.build.seed = seed;
  p.build.threads = threads;
  p.build.device = chutoro::parse_device_kind(device);
  if (dynamic_cast<const callable_source*>(&source) != nullptr) p.build.threads = 1;
  return p;
}

nb::dict params_dict(const chutoro::params& p) {
  nb::dict d;
  d["min_cluster_size"] = p.selection.min_cluster_size;
  d["cluster_selection_method"] = std::string(chutoro::to_string(p.selection.method));
  d["cluster_selection_epsilon"] = p.selection.cluster_selection_epsilon;
  d["allow_single_cluster"] = p.selection.allow_single_cluster;
  d["max_cluster_size"] = p.selection.max_cluster_size;
  d["cluster_selection_persistence"] = p.selection.cluster_selection_persistence;
  d["cluster_selection_epsilon_max"] = p.selection.cluster_selection_epsilon_max;
  d["min_samples"] = p.build.min_samples ? nb::cast(*p.build.min_samples) : nb::none();
  d["candidates"] = std::string(chutoro::to_string(p.build.candidates));
  d["m"] = p.build.m;
  d["ef_construction"] = p.build.ef_construction;
  d["seed"] = p.build.seed;
  d["threads"] = p.build.threads;
  d["batch_size"] = p.build.batch_size;
  d["device"] = std::string(chutoro::to_string(p.build.device));
  return d;
}

/// Runs `work` with the GIL released and a progress callback that reports to
/// `progress` (unless None) and turns a pending signal (Ctrl-C) into the
/// Python exception, thrown through the library. `source` is the data the
/// work measures distances on: when it is a callable source, its first
/// failure stops the work and is raised here.
template <class Work>
void run_released(const chutoro::data_source* source, const nb::object& progress, Work&& work) {
  const auto* callable = dynamic_cast<const callable_source*>(source);
  if (callable) callable->reset();
  const bool report = !progress.is_none();
  const chutoro::progress_fn on_progress = [&](std::string_view stage, std::size_t done, std::size_t total) {
    nb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw nb::python_error();
    if (callable && callable->failed()) throw source_failed{};
    if (report) progress(nb::str(stage.data(), stage.size()), done, total);
  };
  try {
    nb::gil_scoped_release release;
    work(on_progress);
  } catch (const source_failed&) {
    callable->raise();
  } catch (...) {
    if (callable && callable->failed()) callable->raise();
    throw;
  }
  if (callable && callable->failed()) callable->raise();
}

nb::dict fit(const chutoro::data_source& source, std::size_t min_cluster_size,
             std::optional<std::size_t> min_samples, const std::string& cluster_selection_method,
             double cluster_selection_epsilon, bool allow_single_cluster, const std::string& candidates,
             std::size_t m, std::size_t ef_construction, std::uint64_t seed, int threads, nb::object progress,
             const std::string& device) {
  const chutoro::params p =
      make_params(source, min_cluster_size, min_samples, cluster_selection_method, cluster_selection_epsilon,
                  allow_single_cluster, candidates, m, ef_construction, seed, threads, device);
  chutoro::result r;
  run_released(&source, progress,
               [&](const chutoro::progress_fn& on_progress) { r = chutoro::fit(source, p, on_progress); });
  const chutoro::fit_stats stats = r.stats;
  chutoro::spanning_tree tree = std::move(r.tree);
  return to_dict(std::move(static_cast<chutoro::clustering&>(r)), std::move(tree), stats);
}

/// A token vocabulary shared by the token-set sources of one model: the same
/// token gets the same id in the fitted items, in items added later and in
/// items to predict (set_source compares ids, and two from_token_lines()
/// sources number their tokens independently). Tokens are split at ASCII
/// whitespace, as set_source::from_token_lines does.
class token_vocabulary {
 public:
  token_vocabulary() = default;
  explicit token_vocabulary(const std::vector<std::string>& tokens) {
    for (const auto& t : tokens) {
      const auto [it, fresh] = id_of_.try_emplace(t, static_cast<std::uint32_t>(tokens_.size()));
      chutoro::expects(fresh, chutoro::error_code::invalid_argument,
                       "token vocabulary: duplicate token '" + t + "'");
      tokens_.push_back(t);
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return tokens_.size(); }
  [[nodiscard]] const std::vector<std::string>& tokens() const noexcept { return tokens_; }

  /// The token sets of `lines`. extend: unknown tokens join the vocabulary
  /// (items that become part of the model); otherwise they get ids beyond it
  /// that no model item holds (items to predict), and the vocabulary is unchanged.
  [[nodiscard]] chutoro::set_source encode(const std::vector<std::string>& lines, bool extend) {
    chutoro::expects(!lines.empty(), chutoro::error_code::invalid_argument, "set_source: no lines");
    auto blank = [](char c) {
      return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    };
    std::unordered_map<std::string, std::uint32_t> unknown;
    std::vector<std::uint32_t> ids;
    std::vector<std::size_t> offsets{0};
    offsets.reserve(lines.size() + 1);
    for (const std::string& line : lines) {
      const std::size_t begin = ids.size();
      std::size_t t = 0;
      while (t < line.size()) {
        while (t < line.size() && blank(line[t])) ++t;
        const std::size_t start = t;
        while (t < line.size() && !blank(line[t])) ++t;
        if (t == start) break;
        std::string token(line, start, t - start);
        std::uint32_t id;
        if (auto it = id_of_.find(token); it != id_of_.end()) {
          id = it->second;
        } else if (extend) {
          chutoro::expects(tokens_.size() < 0xFFFFFFFEu, chutoro::error_code::invalid_argument,
                           "set_source: more than 2^32 - 2 tokens");
          id = static_cast<std::uint32_t>(tokens_.size());
          id_of_.emplace(token, id);
          tokens_.push_back(std::move(token));
        } else {
          const auto next = static_cast<std::uint32_t>(tokens_.size() + unknown.size());
          id = unknown.try_emplace(std::move(token), next).first->second;
        }
        ids.push_back(id);
      }
      std::sort(ids.begin() + static_cast<std::ptrdiff_t>(begin), ids.end());
      ids.erase(std::unique(ids.begin() + static_cast<std::ptrdiff_t>(begin), ids.end()), ids.end());
      offsets.push_back(ids.size());
    }
    // Items that join the model carry the vocabulary, so that a saved model keeps it
    // (model format 4) and the CLI can add to / predict with it.
    return extend ? chutoro::set_source(ids, offsets, tokens_) : chutoro::set_source(ids, offsets);
  }

 private:
  std::unordered_map<std::string, std::uint32_t> id_of_;
  std::vector<std::string> tokens_;
};

using mst_array = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using core_array = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

/// The selection stage alone, on a spanning tree from an earlier fit.
nb::dict extract_clusters(const mst_array& mst, const core_array& core_distances,
                          std::size_t min_cluster_size, const std::string& cluster_selection_method,
                          double cluster_selection_epsilon, bool allow_single_cluster) {
  chutoro::expects(mst.shape(1) == 3, chutoro::error_code::invalid_argument,
                   "minimum_spanning_tree must have 3 columns (from, to, distance)");
  const std::size_t n = core_distances.shape(0);
  chutoro::spanning_tree tree;
  tree.n = n;
  tree.core_distances.assign(core_distances.data(), core_distances.data() + n);
  tree.edges.reserve(mst.shape(0));
  for (std::size_t i = 0; i < mst.shape(0); ++i) {
    const double* row = mst.data() + 3 * i;
    const auto a = static_cast<std::int64_t>(row[0]), b = static_cast<std::int64_t>(row[1]);
    chutoro::expects(a >= 0 && b >= 0 && static_cast<std::size_t>(a) < n && static_cast<std::size_t>(b) < n,
                     chutoro::error_code::invalid_argument,
                     "minimum_spanning_tree row " + std::to_string(i) + ": item ids must be in [0, n)");
    tree.edges.push_back({a, b, row[2]});
  }
  const chutoro::selection_params sp = make_selection(min_cluster_size, cluster_selection_method,
                                                      cluster_selection_epsilon, allow_single_cluster);
  chutoro::clustering c;
  chutoro::fit_stats st;
  {
    nb::gil_scoped_release release;
    const auto t0 = std::chrono::steady_clock::now();
    c = chutoro::extract_clusters(tree, sp);
    st.seconds_hierarchy = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return to_dict(std::move(c), std::move(tree), st);
}

void translate_chutoro_error(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const chutoro::error& e) {
    PyObject* type = PyExc_ValueError;
    switch (e.code()) {
      case chutoro::error_code::type_mismatch:
        type = PyExc_TypeError;
        break;
      case chutoro::error_code::io:
        type = PyExc_OSError;
        break;
      case chutoro::error_code::unsupported:
        type = PyExc_NotImplementedError;
        break;
      case chutoro::error_code::internal:
        type = PyExc_RuntimeError;
        break;
      default:  // invalid_argument, parse
        break;
    }
    PyErr_SetString(type, e.what());
  }
}

}  // namespace

// The Arrow C stream interface (arrow.apache.org/docs/format/CStreamInterface.html).
#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE
extern "C" {
struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);
  void (*release)(struct ArrowArrayStream*);
  void* private_data;
};
}
#endif

namespace {

/// Releases a C data interface struct we own (one obtained from a stream).
template <class T>
struct released {
  T value{};
  released() = default;
  released(const released&) = delete;
  released& operator=(const released&) = delete;
  ~released() {
    if (value.release != nullptr) value.release(&value);
  }
};

void* capsule_pointer(const nb::handle capsule, const char* name, const char* method) {
  if (!PyCapsule_CheckExact(capsule.ptr()) || !PyCapsule_IsValid(capsule.ptr(), name)) {
    throw nb::type_error(
        ("X." + std::string(method) + "() did not return a PyCapsule named '" + name + "'").c_str());
  }
  void* p = PyCapsule_GetPointer(capsule.ptr(), name);
  if (p == nullptr) throw nb::python_error();
  return p;
}

/// The one column of a record batch / table (Arrow struct "+s"), or the array itself.
const ArrowSchema& column_schema(const ArrowSchema& schema) {
  if (schema.format == nullptr || std::strcmp(schema.format, "+s") != 0) return schema;
  if (schema.n_children != 1 || schema.children == nullptr || schema.children[0] == nullptr) {
    std::string names;
    for (std::int64_t k = 0; k < schema.n_children && schema.children != nullptr; ++k) {
      const ArrowSchema* c = schema.children[k];
      names += std::string(k ? ", " : "") + "'" + (c && c->name ? c->name : "") + "'";
    }
    throw chutoro::error(chutoro::error_code::type_mismatch,
                         "X: an Arrow table or record batch must have exactly one column (got " +
                             std::to_string(schema.n_children) + (names.empty() ? "" : ": " + names) +
                             "); select the column of vectors or strings, e.g. table.select(['name'])");
  }
  return *schema.children[0];
}

/// Appends one chunk, unwrapping the single column of a struct (record batch) chunk.
void append_chunk(chutoro::arrow_column_builder& builder, const ArrowSchema& schema,
                  const ArrowArray& array) {
  const ArrowSchema& col = column_schema(schema);
  if (&col == &schema) {
    nb::gil_scoped_release release;
    builder.append(col, array);
    return;
  }
  chutoro::expects(array.n_children == 1 && array.children != nullptr && array.children[0] != nullptr,
                   chutoro::error_code::parse, "X: malformed Arrow record batch (no child array)");
  chutoro::expects(
      array.null_count == 0 || array.n_buffers < 1 || array.buffers == nullptr || array.buffers[0] == nullptr,
      chutoro::error_code::parse, "X: Arrow struct rows with nulls are not supported");
  // A struct's children are read at the parent's offset: a shallow view with that
  // offset and the parent's length (never released: the producer owns it).
  ArrowArray child = *array.children[0];
  child.offset += array.offset;
  child.length = array.length;
  nb::gil_scoped_release release;
  builder.append(col, child);
}

/// One column from an object with __arrow_c_stream__ or __arrow_c_array__.
chutoro::column_data read_arrow(nb::handle x) {
  chutoro::arrow_column_builder builder("X");
  std::string name;
  if (nb::hasattr(x, "__arrow_c_stream__")) {
    nb::object capsule = x.attr("__arrow_c_stream__")();
    auto* stream =
        static_cast<ArrowArrayStream*>(capsule_pointer(capsule, "arrow_array_stream", "__arrow_c_stream__"));
    chutoro::expects(stream->release != nullptr, chutoro::error_code::invalid_argument,
                     "X: the Arrow stream was already consumed");
    auto failed = [&](const char* what, int rc) {
      const char* msg = stream->get_last_error ? stream->get_last_error(stream) : nullptr;
      return chutoro::error(chutoro::error_code::io, std::string("X: Arrow stream ") + what + " failed (" +
                                                         std::strerror(rc) + ")" +
                                                         (msg ? std::string(": ") + msg : std::string()));
    };
    released<ArrowSchema> schema;
    if (const int rc = stream->get_schema(stream, &schema.value); rc != 0) throw failed("get_schema", rc);
    const ArrowSchema& col = column_schema(schema.value);
    if (col.name) name = col.name;
    for (;;) {
      released<ArrowArray> chunk;
      if (const int rc = stream->get_next(stream, &chunk.value); rc != 0) throw failed("get_next", rc);
      if (chunk.value.release == nullptr) break;  // end of stream
      append_chunk(builder, schema.value, chunk.value);
    }
  } else {
    nb::object pair = x.attr("__arrow_c_array__")();
    if (!nb::isinstance<nb::tuple>(pair) || nb::len(pair) != 2)
      throw nb::type_error("X.__arrow_c_array__() did not return a (schema, array) tuple of PyCapsules");
    const auto* schema = static_cast<const ArrowSchema*>(
        capsule_pointer(nb::handle(PyTuple_GET_ITEM(pair.ptr(), 0)), "arrow_schema", "__arrow_c_array__"));
    const auto* array = static_cast<const ArrowArray*>(
        capsule_pointer(nb::handle(PyTuple_GET_ITEM(pair.ptr(), 1)), "arrow_array", "__arrow_c_array__"));
    chutoro::expects(schema->release != nullptr && array->release != nullptr,
                     chutoro::error_code::invalid_argument, "X: the Arrow array was already released");
    const ArrowSchema& col = column_schema(*schema);
    if (col.name) name = col.name;
    append_chunk(builder, *schema, *array);
  }
  chutoro::expects(builder.rows() > 0, chutoro::error_code::invalid_argument,
                   "X: the Arrow column has no rows");
  return std::move(builder).finish(name);
}

/// A data source over an Arrow column: dense vectors under a dense metric, or
/// strings under levenshtein / jaccard (token sets, numbered by `vocabulary`
/// when given, which then takes their new tokens).
std::unique_ptr<chutoro::data_source> arrow_source(nb::handle x, const std::string& metric,
                                                   token_vocabulary* vocabulary, bool extend) {
  chutoro::column_data col = read_arrow(x);
  nb::gil_scoped_release release;
  if (col.type == chutoro::column_data::kind::dense) {
    chutoro::expects(metric != "levenshtein" && metric != "jaccard", chutoro::error_code::type_mismatch,
                     "X: an Arrow column of vectors needs a vector metric (" +
                         chutoro::builtin_metric_names(chutoro::metric_items::vectors) + "), not '" + metric +
                         "'");
    const chutoro::dense_table& t = col.dense;
    return chutoro::make_vector_source(std::span<const float>(t.values), t.n, t.dim, metric);
  }
  if (metric == "levenshtein") return std::make_unique<chutoro::string_source>(col.strings);
  chutoro::expects(
      metric == "jaccard", chutoro::error_code::type_mismatch,
      "X: an Arrow string column needs metric='levenshtein' or metric='jaccard' (got '" + metric + "')");
  if (vocabulary != nullptr)
    return std::make_unique<chutoro::set_source>(vocabulary->encode(col.strings, extend));
  return std::make_unique<chutoro::set_source>(chutoro::set_source::from_token_lines(col.strings));
}

/// The kind of a model's data, for the Python layer: the library's kind
/// (data_source::kind(), one list for every layer) with sets named
/// "token_sets" (the only sets Python makes), and the external sources this
/// module or the plugin loader makes.
std::string source_kind(const chutoro::data_source& s) {
  switch (s.kind()) {
    case chutoro::source_kind::sets:
      return "token_sets";
    case chutoro::source_kind::external:
      break;
    default:
      return std::string(chutoro::to_string(s.kind()));  // dense, strings, bits, products
  }
  if (dynamic_cast<const precomputed_source*>(&s)) return "precomputed";
  if (dynamic_cast<const sparse_precomputed_source*>(&s)) return "sparse_precomputed";
  if (dynamic_cast<const callable_source*>(&s)) return "callable";
  if (dynamic_cast<const chutoro::plugin_source*>(&s)) return "plugin";
  return "other";
}

/// A float32 (n, dim) copy of a model's vectors (dense and product sources,
/// through their matrix view), or None.
nb::object dense_data(const chutoro::model& self) {
  const std::optional<chutoro::matrix_view> v = self.data().matrix();
  if (!v || v->dtype != chutoro::element_type::float32) return nb::none();
  const std::size_t n = v->rows, dim = v->cols;
  std::vector<float> out(n * dim);
  for (std::size_t i = 0; i < n; ++i)
    std::memcpy(out.data() + i * dim, v->row<float>(i), dim * sizeof(float));
  return nb::cast(to_numpy(std::move(out), {n, dim}));
}

}  // namespace

NB_MODULE(_core, m) {
  m.doc() =
      "chutoro._core: the C++ engine of the chutoro package (FISHDBC, Dell'Amico 2019, "
      "arXiv:1910.07283, approximating HDBSCAN*). Private: use chutoro.FISHDBC.";
  m.attr("__version__") = CHUTORO_VERSION_STRING;
  nb::register_exception_translator(translate_chutoro_error);

  nb::class_<chutoro::data_source>(m, "Source",
                                   "A set of n items and a dissimilarity d(i, j) >= 0 between them "
                                   "(chutoro::data_source). Immutable; safe to share between threads.")
      .def("__len__", &chutoro::data_source::size)
      .def_prop_ro("name", &chutoro::data_source::name, "Name of the distance, e.g. 'euclidean'.")
      .def_prop_ro("dim", &chutoro::data_source::dim, "Dimension of dense items, 0 for other items.")
      .def_prop_ro("can_grow", &chutoro::data_source::can_grow,
                   "Whether a model over this source can take new items and predict (built-in sources).")
      .def(
          "distance",
          [](const chutoro::data_source& s, std::size_t i, std::size_t j) {
            if (i >= s.size() || j >= s.size())
              throw nb::index_error(("item ids must be < " + std::to_string(s.size())).c_str());
            const float d = s.distance(i, j);
            if (const auto* c = dynamic_cast<const callable_source*>(&s); c && c->failed()) c->raise();
            return d;
          },
          "i"_a, "j"_a, "d(i, j) as float32 (the value the clustering uses).");

  nb::class_<chutoro::dense_source, chutoro::data_source>(
      m, "DenseSource",
      "Dense float32 vectors, shape (n, dim), C order, under 'euclidean', 'cosine' or 'manhattan'. "
      "The rows are copied once into 64-byte aligned rows padded to 16 floats. Raises ValueError "
      "for an empty matrix, a NaN or infinite value (naming row and column), a zero row under cosine, "
      "or an unknown metric.")
      .def(
          "__init__",
          [](chutoro::dense_source* self, dense_matrix x, const std::string& metric) {
            const auto kind = chutoro::parse_dense_metric(metric);
            const std::size_t n = x.shape(0), dim = x.shape(1);
            nb::gil_scoped_release release;
            new (self) chutoro::dense_source(std::span<const float>(x.data(), n * dim), n, dim, kind);
          },
          "X"_a.noconvert(), "metric"_a = "euclidean");

  nb::class_<chutoro::string_source, chutoro::data_source>(
      m, "StringSource",
      "Strings under the Levenshtein distance over Unicode code points (unit costs). Raises "
      "ValueError for an empty list.")
      .def(
          "__init__",
          [](chutoro::string_source* self, const std::vector<std::string>& items) {
            nb::gil_scoped_release release;
            new (self) chutoro::string_source(items);
          },
          "items"_a);

  nb::class_<precomputed_source, chutoro::data_source>(
      m, "PrecomputedSource",
      "A square float32 distance matrix, C order, held by reference (no copy); d(i, j) reads "
      "the upper triangle.")
      .def(nb::init<dense_matrix>(), "D"_a.noconvert());

  nb::class_<sparse_precomputed_source, chutoro::data_source>(
      m, "SparsePrecomputedSource",
      "A sparse (n, n) distance matrix in CSR form (int64 indptr, int64 indices, float32 data; "
      "sorted, duplicate-free rows), held by reference; missing entries are infinite distances.")
      .def(nb::init<index_vector, index_vector, float_vector>(), "indptr"_a.noconvert(),
           "indices"_a.noconvert(), "data"_a.noconvert());

  nb::class_<callable_source, chutoro::data_source>(
      m, "CallableSource", nb::type_slots(callable_source_slots),
      "Arbitrary Python objects and a Python function metric(a, b) -> float >= 0. Every "
      "distance calls back into Python with the GIL held, so fits over it run on one thread. "
      "batch (optional, chutoro.vectorized): batch(q, ids, out) writes d(items[q], items[ids[k]]) "
      "into out[k] (ids: uint32 memoryview, out: writable float32 memoryview of the same length); "
      "the graph build then measures one query against many items per call.")
      .def(nb::init<nb::list, nb::object, nb::object>(), "items"_a, "metric"_a, "batch"_a = nb::none());

  nb::class_<chutoro::set_source, chutoro::data_source>(
      m, "TokenSetSource",
      "Strings as sets of whitespace-separated tokens under the Jaccard distance "
      "1 - |A n B| / |A u B| (chutoro::set_source::from_token_lines). Raises ValueError for an empty list.")
      .def(
          "__init__",
          [](chutoro::set_source* self, const std::vector<std::string>& items) {
            nb::gil_scoped_release release;
            new (self) chutoro::set_source(chutoro::set_source::from_token_lines(items));
          },
          "items"_a);

  nb::class_<chutoro::plugin_source, chutoro::data_source>(
      m, "PluginSource",
      "Items and distance supplied by a C plugin (include/chutoro/plugin.h), loaded with dlopen. "
      "Every plugin failure raises an error whose message starts with 'plugin <file>: ': OSError "
      "(file missing or not loadable), NotImplementedError (no entry point, ABI version mismatch), "
      "ValueError (invalid v-table, the plugin's own argument errors, NaN/negative distances).")
      .def(
          "__init__",
          [](chutoro::plugin_source* self, const std::string& path, const std::string& arg) {
            nb::gil_scoped_release release;
            new (self) chutoro::plugin_source(std::filesystem::path(path), arg);
          },
          "path"_a, "arg"_a = "")
      .def_prop_ro(
          "path", [](const chutoro::plugin_source& s) { return s.path().string(); }, "The plugin file.")
      .def_prop_ro("caps", &chutoro::plugin_source::caps, "The CHUTORO_HAS_* bits the plugin declared.")
      .def("__repr__", [](const chutoro::plugin_source& s) {
        return "<chutoro plugin " + s.path().string() + ": " + std::to_string(s.size()) +
               " items, distance '" + s.name() + "'>";
      });

  m.def(
      "builtin_metrics",
      [] {
        nb::list out;
        for (const chutoro::metric_info& i : chutoro::builtin_metrics) {
          nb::dict d;
          d["name"] = std::string(i.name);
          d["items"] = i.items == chutoro::metric_items::vectors ? "vectors" : "strings";
          d["params"] = std::string(i.params);
          d["summary"] = std::string(i.summary);
          d["sparse"] = i.sparse >= 0;
          out.append(d);
        }
        return out;
      },
      "The library's one table of built-in metrics (include/chutoro/metric_table.hpp), in help order: "
      "a list of dicts with name, items ('vectors' or 'strings'), params ('', 'p', 'V' or 'VI'), "
      "summary (the formula) and sparse (whether sparse CSR rows offer it).");
  m.def(
      "builtin_metric_aliases",
      [] {
        nb::dict out;
        for (const chutoro::metric_alias& a : chutoro::builtin_metric_aliases)
          out[std::string(a.alias).c_str()] = std::string(a.name);
        return out;
      },
      "Aliases of the built-in metrics: {alias: canonical name}.");
  m.def(
      "vector_source",
      [](dense_matrix x, const std::string& metric, std::optional<double> p,
         std::optional<std::vector<double>> V, std::optional<std::vector<double>> VI) {
        chutoro::metric_params params;
        params.p = p;
        if (V) params.V = std::move(*V);
        if (VI) params.VI = std::move(*VI);
        const std::size_t n = x.shape(0), dim = x.shape(1);
        nb::gil_scoped_release release;
        return chutoro::make_vector_source(std::span<const float>(x.data(), n * dim), n, dim, metric, params);
      },
      "X"_a.noconvert(), "metric"_a, "p"_a.none() = nb::none(), "V"_a.none() = nb::none(),
      "VI"_a.none() = nb::none(),
      "The built-in source for float32 (n, dim) C-order X under any vector metric of builtin_metrics() "
      "(or an alias), with its parameter (p: minkowski; V: seuclidean, dim values; VI: mahalanobis, "
      "dim*dim values row-major). Raises ValueError for an unknown metric, a parameter the metric does "
      "not take or a bad value, and what the source raises (NaN/inf, naming row and column).");

  m.def(
      "sparse_source",
      [](index_vector indptr, index_vector indices, float_vector values, std::size_t n_features,
         const std::string& metric) {
        nb::gil_scoped_release release;
        return chutoro::make_sparse_source<std::int64_t>(
            std::span<const std::int64_t>(indptr.data(), indptr.shape(0)),
            std::span<const std::int64_t>(indices.data(), indices.shape(0)),
            std::span<const float>(values.data(), values.shape(0)), n_features, metric);
      },
      "indptr"_a.noconvert(), "indices"_a.noconvert(), "data"_a.noconvert(), "n_features"_a, "metric"_a,
      "The built-in sparse source (chutoro::sparse_source, a copy) for CSR rows: int64 indptr (n + 1) and "
      "column indices, float32 data, under a metric of builtin_metrics() with sparse=True (or an alias). "
      "Raises ValueError naming the row and the problem (bad indptr, column out of range, duplicate "
      "column, NaN/inf, a zero row under cosine) or the metric.");

  m.def(
      "arrow_source",
      [](nb::handle x, const std::string& metric, token_vocabulary* vocabulary, bool extend) {
        return arrow_source(x, metric, vocabulary, extend);
      },
      "X"_a, "metric"_a, "vocabulary"_a.none() = nb::none(), "extend"_a = true,
      "A source over one Arrow column read through the PyCapsule interface (__arrow_c_stream__, else "
      "__arrow_c_array__): FixedSizeList/List<float32|float64> -> dense vectors under metric "
      "(euclidean, cosine, manhattan); utf8/large_utf8 -> strings under 'levenshtein' or 'jaccard' "
      "(token sets; numbered by `vocabulary`, a TokenVocabulary, when given: see TokenVocabulary.source "
      "for `extend`). A table or record batch "
      "must have exactly one column. Nulls raise ValueError "
      "naming the row; other column types raise TypeError.");

  m.def("fit", &fit, "source"_a, "min_cluster_size"_a, "min_samples"_a.none(), "cluster_selection_method"_a,
        "cluster_selection_epsilon"_a, "allow_single_cluster"_a, "candidates"_a, "m"_a, "ef_construction"_a,
        "seed"_a, "threads"_a, "progress"_a.none(), "device"_a = "auto",
        "Runs chutoro::fit on `source` with the GIL released and returns a dict of NumPy arrays: "
        "labels (n,) int32, probabilities (n,) float64, outlier_scores (n,) float64, "
        "cluster_persistence (k,) float64, condensed_{parent,child,lambda_val,child_size} (rows,), "
        "single_linkage_tree (n-1, 4) float64, minimum_spanning_tree (n-1, 3) float64, "
        "core_distances (n,) float32, and stats (a dict of counters, stage times, the device used and, "
        "for an automatic choice that stayed on the CPU, device_fallback_reason). device: 'auto', 'cpu' or "
        "'cuda' (chutoro::device_kind; CHUTORO_DEVICE applies to 'auto'). "
        "progress(stage, done, total), when given, is called from this thread a few hundred times "
        "per stage. A pending signal (Ctrl-C) interrupts the fit at the next report. Raises "
        "ValueError/TypeError/OSError from chutoro::error, or what the metric or progress raised.");

  // Distributed FISHDBC over a Python transport (distributed.cpp; chutoro/_distributed.py).
  m.def(
      "distributed_fit",
      [](const chutoro::data_source& local, nb::object transport, std::size_t min_cluster_size,
         std::optional<std::size_t> min_samples, const std::string& cluster_selection_method,
         double cluster_selection_epsilon, bool allow_single_cluster, std::size_t m,
         std::size_t ef_construction, std::uint64_t seed, int threads, std::size_t max_cluster_size,
         double cluster_selection_persistence, double cluster_selection_epsilon_max, std::size_t overlap,
         double replication_margin, const std::string& identity) {
        chutoro::params p = make_params(local, min_cluster_size, min_samples, cluster_selection_method,
                                        cluster_selection_epsilon, allow_single_cluster, "hnsw", m,
                                        ef_construction, seed, threads, "cpu");
        set_selection_limits(p.selection, max_cluster_size, cluster_selection_persistence,
                             cluster_selection_epsilon_max);
        return chutoro_python::distributed_fit(local, std::move(transport), p, overlap, replication_margin,
                                               identity);
      },
      "local"_a, "transport"_a, "min_cluster_size"_a, "min_samples"_a.none(), "cluster_selection_method"_a,
      "cluster_selection_epsilon"_a, "allow_single_cluster"_a, "m"_a, "ef_construction"_a, "seed"_a,
      "threads"_a, "max_cluster_size"_a, "cluster_selection_persistence"_a, "cluster_selection_epsilon_max"_a,
      "overlap"_a, "replication_margin"_a, "identity"_a,
      "chutoro::distributed::distributed_fit of this rank's slice `local` over `transport` (the "
      "collectives of chutoro/_distributed.py). Collective. Returns a dict: labels (int32), "
      "probabilities, outlier_scores of this rank's rows; cluster_persistence; n, first, ranks; stats; "
      "all_ranks (rank 0). Every rank raises the same error when any rank failed.");

  m.def("extract_clusters", &extract_clusters, "minimum_spanning_tree"_a.noconvert(),
        "core_distances"_a.noconvert(), "min_cluster_size"_a, "cluster_selection_method"_a,
        "cluster_selection_epsilon"_a, "allow_single_cluster"_a,
        "The selection stage alone (chutoro::extract_clusters) on the spanning tree of an earlier fit: "
        "minimum_spanning_tree (n-1, 3) float64 C order (from, to, distance), sorted by (distance, "
        "from, to); core_distances (n,) float32. Returns the same dict as fit(). O(n log n).");

  nb::class_<token_vocabulary>(
      m, "TokenVocabulary",
      "Token ids shared by the token-set (jaccard) sources of one model: the same token gets the same id "
      "in fitted, added and predicted items. Tokens are split at ASCII whitespace.")
      .def(nb::init<>())
      .def(nb::init<const std::vector<std::string>&>(), "tokens"_a, "The tokens in id order (from tokens()).")
      .def("__len__", &token_vocabulary::size)
      .def("tokens", &token_vocabulary::tokens, "The tokens in id order.")
      .def(
          "source",
          [](token_vocabulary& v, const std::vector<std::string>& items, bool extend) {
            nb::gil_scoped_release release;
            return v.encode(items, extend);
          },
          "items"_a, "extend"_a = true,
          "A TokenSetSource of `items`. extend: unknown tokens join the vocabulary (items that will be "
          "part of the model); otherwise they get ids no model item holds (items to predict).");

  nb::class_<chutoro::model>(
      m, "Model", nb::type_slots(model_slots),
      "A fitted FISHDBC model (chutoro::model): it keeps the data, the HNSW graph, the core-distance "
      "estimates and the spanning tree, so that items can be added (add), clusters re-selected "
      "(cluster), new items predicted (approximate_predict), and the whole saved and loaded. "
      "Not thread safe for add/cluster; every operation releases the GIL.")
      .def(
          "__init__",
          [](chutoro::model* self, std::shared_ptr<chutoro::data_source> source, std::size_t min_cluster_size,
             std::optional<std::size_t> min_samples, const std::string& cluster_selection_method,
             double cluster_selection_epsilon, bool allow_single_cluster, const std::string& candidates,
             std::size_t m, std::size_t ef_construction, std::uint64_t seed, int threads, nb::object progress,
             const std::string& device, std::size_t max_cluster_size, double cluster_selection_persistence,
             double cluster_selection_epsilon_max) {
            chutoro::params p = make_params(*source, min_cluster_size, min_samples, cluster_selection_method,
                                            cluster_selection_epsilon, allow_single_cluster, candidates, m,
                                            ef_construction, seed, threads, device);
            set_selection_limits(p.selection, max_cluster_size, cluster_selection_persistence,
                                 cluster_selection_epsilon_max);
            run_released(source.get(), progress, [&](const chutoro::progress_fn& on_progress) {
              new (self) chutoro::model(source, p, on_progress);
            });
          },
          "source"_a, "min_cluster_size"_a, "min_samples"_a.none(), "cluster_selection_method"_a,
          "cluster_selection_epsilon"_a, "allow_single_cluster"_a, "candidates"_a, "m"_a, "ef_construction"_a,
          "seed"_a, "threads"_a, "progress"_a.none() = nb::none(), "device"_a = "auto",
          "max_cluster_size"_a = 0, "cluster_selection_persistence"_a = 0.0,
          "cluster_selection_epsilon_max"_a = std::numeric_limits<double>::infinity(),
          "Fits on `source` (kept by the model, which appends to it in add()) with the parameters of fit(); "
          "progress and Ctrl-C as fit().")
      .def(
          "add",
          [](chutoro::model& self, const chutoro::data_source& items, nb::object progress) {
            run_released(&self.data(), progress,
                         [&](const chutoro::progress_fn& on_progress) { self.add(items, on_progress); });
          },
          "source"_a, "progress"_a.none() = nb::none(),
          "Adds the items of `source` (ids len(self)..) and re-selects the clusters. TypeError when the "
          "items are not of the model's kind, metric or dimension; NotImplementedError when the model's "
          "data cannot grow (precomputed, callable, plugin).")
      .def(
          "set_threads",
          [](chutoro::model& self, int threads) {
            // A Python callable takes the GIL for every distance: more threads only contend.
            self.set_threads(dynamic_cast<const callable_source*>(&self.data()) != nullptr ? 1 : threads);
          },
          "threads"_a,
          "Threads for later add / cluster / approximate_predict calls (0: all cores); results do not "
          "depend on it. Not stored in model files.")
      .def(
          "set_device",
          [](chutoro::model& self, const std::string& device) {
            const chutoro::device_kind d = chutoro::parse_device_kind(device);
            nb::gil_scoped_release release;
            self.set_device(d);
          },
          "device"_a,
          "Device ('auto', 'cpu', 'cuda') for later add calls, selected now (NotImplementedError naming why "
          "for 'cuda' without a usable GPU); results do not depend on it. Not stored in model files.")
      .def_prop_ro(
          "device", [](const chutoro::model& self) { return std::string(chutoro::to_string(self.device())); },
          "The device the model's graph stages run on: 'cpu' or 'cuda'.")
      .def_prop_ro(
          "candidates",
          [](const chutoro::model& self) { return std::string(chutoro::to_string(self.stats().candidates)); },
          "The candidate mode of the model's tree: 'hnsw' or 'exact' (candidates='auto' resolved).")
      .def(
          "cluster",
          [](chutoro::model& self, std::size_t min_cluster_size, const std::string& cluster_selection_method,
             double cluster_selection_epsilon, bool allow_single_cluster, std::size_t max_cluster_size,
             double cluster_selection_persistence, double cluster_selection_epsilon_max) {
            chutoro::selection_params sp = make_selection(min_cluster_size, cluster_selection_method,
                                                          cluster_selection_epsilon, allow_single_cluster);
            set_selection_limits(sp, max_cluster_size, cluster_selection_persistence,
                                 cluster_selection_epsilon_max);
            nb::gil_scoped_release release;
            self.cluster(sp);
          },
          "min_cluster_size"_a, "cluster_selection_method"_a, "cluster_selection_epsilon"_a,
          "allow_single_cluster"_a, "max_cluster_size"_a = 0, "cluster_selection_persistence"_a = 0.0,
          "cluster_selection_epsilon_max"_a = std::numeric_limits<double>::infinity(),
          "Re-selects the clusters from the same spanning tree with new selection parameters. O(n log n).")
      .def(
          "approximate_predict",
          [](const chutoro::model& self, const chutoro::data_source& items) {
            chutoro::prediction q;
            run_released(&self.data(), nb::none(),
                         [&](const chutoro::progress_fn&) { q = self.approximate_predict(items); });
            return std::make_pair(to_numpy(std::move(q.labels)), to_numpy(std::move(q.probabilities)));
          },
          "source"_a,
          "(labels int32, probabilities float64) of items that are not in the model, as "
          "hdbscan.prediction.approximate_predict.")
      .def(
          "predict_soft",
          [](const chutoro::model& self, const chutoro::data_source& items, bool soft) {
            chutoro::prediction q;
            run_released(&self.data(), nb::none(),
                         [&](const chutoro::progress_fn&) { q = self.approximate_predict(items, soft); });
            const std::size_t rows = q.labels.size();
            nb::dict out;
            out["labels"] = to_numpy(std::move(q.labels));
            out["probabilities"] = to_numpy(std::move(q.probabilities));
            out["outlier_scores"] = to_numpy(std::move(q.outlier_scores));
            if (soft) out["membership"] = to_numpy(std::move(q.membership), {rows, q.n_clusters});
            return out;
          },
          "source"_a, "soft"_a = true,
          "chutoro::model::approximate_predict with its scores: a dict of labels (q,) int32, probabilities "
          "(q,) float64, outlier_scores (q,) float64 (hdbscan's approximate_predict_scores) and, with "
          "soft, membership (q, n_clusters) float64 (hdbscan's membership_vector).")
      .def(
          "all_points_membership_vectors",
          [](const chutoro::model& self) {
            std::vector<double> v;
            run_released(&self.data(), nb::none(),
                         [&](const chutoro::progress_fn&) { v = self.all_points_membership_vectors(); });
            const std::size_t k = v.empty() ? 0 : self.clusters().n_clusters();
            return to_numpy(std::move(v), {self.size(), k});
          },
          "Soft-clustering membership of the model's items (n, n_clusters) float64, as "
          "hdbscan.prediction.all_points_membership_vectors (chutoro::model::all_points_membership_vectors).")
      .def(
          "exemplars",
          [](const chutoro::model& self) {
            nb::list out;
            for (const auto& ids : self.exemplars()) out.append(to_numpy(std::vector<std::uint32_t>(ids)));
            return out;
          },
          "hdbscan's exemplars as item ids: one uint32 array per cluster label (chutoro::model::exemplars).")
      .def(
          "save",
          [](const chutoro::model& self, const std::filesystem::path& path) {
            run_released(&self.data(), nb::none(), [&](const chutoro::progress_fn&) { self.save(path); });
          },
          "path"_a, "Writes the model file atomically (OSError naming the path and the failing step).")
      .def(
          "to_bytes",
          [](const chutoro::model& self) {
            std::vector<std::byte> b;
            run_released(&self.data(), nb::none(), [&](const chutoro::progress_fn&) { b = self.to_bytes(); });
            return nb::bytes(reinterpret_cast<const char*>(b.data()), b.size());
          },
          "The model file's bytes (what save() writes).")
      .def_static(
          "load",
          [](const std::filesystem::path& path, std::shared_ptr<chutoro::data_source> source,
             const std::string& device) {
            const chutoro::device_kind d = chutoro::parse_device_kind(device);
            std::unique_ptr<chutoro::model> out;
            run_released(source.get(), nb::none(), [&](const chutoro::progress_fn&) {
              out = std::make_unique<chutoro::model>(chutoro::model::load(path, source, d));
            });
            return out;
          },
          "path"_a, "source"_a.none() = nb::none(), "device"_a = "auto",
          "Reads a model file. `source`: the data of a model whose data the file does not store "
          "(precomputed, callable, plugin), else None. OSError: unreadable file; ValueError: truncated, "
          "corrupted, wrong version, or a missing/mismatching source.")
      .def_static(
          "from_bytes",
          [](nb::bytes data, std::shared_ptr<chutoro::data_source> source, const std::string& what,
             const std::string& device) {
            const chutoro::device_kind d = chutoro::parse_device_kind(device);
            const std::span<const std::byte> bytes(static_cast<const std::byte*>(data.data()), data.size());
            std::unique_ptr<chutoro::model> out;
            run_released(source.get(), nb::none(), [&](const chutoro::progress_fn&) {
              out = std::make_unique<chutoro::model>(chutoro::model::from_bytes(bytes, source, what, d));
            });
            return out;
          },
          "data"_a, "source"_a.none() = nb::none(), "what"_a = "model bytes", "device"_a = "auto",
          "As load(), from to_bytes()'s bytes.")
      .def("__len__", &chutoro::model::size)
      .def(
          "result",
          [](const chutoro::model& self) { return to_dict(self.clusters(), self.tree(), self.stats()); },
          "The current clustering and spanning tree: the dict fit() returns (stats: of the last fit or add).")
      .def_prop_ro(
          "parameters", [](const chutoro::model& self) { return params_dict(self.parameters()); },
          "The model's parameters as a dict (selection: the current ones).")
      .def_prop_ro(
          "stats", [](const chutoro::model& self) { return stats_dict(self.stats(), self.size()); },
          "Counters and stage times of the last fit or add (zero after load).")
      .def_prop_ro(
          "metric", [](const chutoro::model& self) { return self.data().name(); },
          "The name of the data's distance ('euclidean', 'levenshtein', 'precomputed', 'callable', ...).")
      .def_prop_ro(
          "dim", [](const chutoro::model& self) { return self.data().dim(); },
          "Dimension of dense items, else 0.")
      .def_prop_ro(
          "source_kind", [](const chutoro::model& self) { return source_kind(self.data()); },
          "The library's kind of the data ('dense', 'strings', 'token_sets' (sets), 'bits', 'products'), or "
          "for other sources 'precomputed', 'callable', 'plugin' or 'other'.")
      .def_prop_ro(
          "can_grow", [](const chutoro::model& self) { return self.data().can_grow(); },
          "Whether add() and approximate_predict() work (built-in sources).")
      .def_prop_ro(
          "token_vocabulary",
          [](const chutoro::model& self) {
            std::vector<std::string> tokens;
            if (self.data().kind() == chutoro::source_kind::sets) {
              const auto v = static_cast<const chutoro::set_source&>(self.data()).vocabulary();
              tokens.assign(v.begin(), v.end());
            }
            return tokens;
          },
          "A token-set (jaccard) model's tokens, id order (id t is token t); empty for other models and "
          "for token sets without one (model files before format version 4).")
      .def(
          "vector_source_like",
          [](const chutoro::model& self, dense_matrix x) {
            const std::size_t n = x.shape(0), dim = x.shape(1);
            nb::gil_scoped_release release;
            return chutoro::make_vector_source_like(self.data(), std::span<const float>(x.data(), n * dim), n,
                                                    dim);
          },
          "X"_a.noconvert(),
          "A source over float32 (n, dim) X with the model's vector metric and its parameters (seuclidean's "
          "V, mahalanobis' VI, minkowski's p), to add or predict. TypeError when the model holds no vectors.")
      .def_prop_ro(
          "metric_params",
          [](const chutoro::model& self) {
            nb::dict out;
            if (self.data().kind() != chutoro::source_kind::dense) return out;
            const auto& d = static_cast<const chutoro::dense_source&>(self.data());
            const std::vector<double> v(d.params().begin(), d.params().end());
            if (d.metric() == chutoro::dense_metric::minkowski) out["p"] = v.at(0);
            if (d.metric() == chutoro::dense_metric::seuclidean) out["V"] = v;
            if (d.metric() == chutoro::dense_metric::mahalanobis) out["VI"] = v;
            return out;
          },
          "The metric's parameters the model uses ({'p': ...}, {'V': [...]}, {'VI': [...]} row-major), "
          "computed defaults included; {} for other metrics.")
      .def("dense_data", &dense_data,
           "A float32 copy (n, dim) of the model's vectors (dense and product sources; cosine and angular "
           "rows normalised, as the library keeps them), or None for other data.");

  m.def(
      "list_devices",
      [] {
        chutoro::device_list list;
        {
          nb::gil_scoped_release release;  // the first call loads the module and makes device contexts
          list = chutoro::list_devices();
        }
        auto version = [](int v) -> nb::object {
          return v > 0 ? nb::object(nb::str(chutoro::cuda_version_string(v).c_str())) : nb::none();
        };
        auto text = [](const std::string& t) -> nb::object {
          return t.empty() ? nb::none() : nb::object(nb::str(t.c_str()));
        };
        nb::list devices;
        for (const chutoro::device_info& d : list.devices) {
          nb::dict o;
          o["index"] = d.index;
          o["name"] = d.name;
          o["compute_capability"] = nb::make_tuple(d.compute_capability_major, d.compute_capability_minor);
          o["multiprocessors"] = d.multiprocessors;
          o["total_memory_bytes"] = d.total_memory_bytes;
          o["free_memory_bytes"] = d.free_memory_bytes;
          o["driver_version"] = version(d.driver_version);
          o["runtime_version"] = version(d.runtime_version);
          o["pci_bus_id"] = d.pci_bus_id;
          o["supported"] = d.supported;
          devices.append(o);
        }
        nb::dict out;
        out["devices"] = devices;
        out["reason"] = text(list.reason);
        out["module"] = text(list.module);
        out["module_build"] = text(list.module_build);
        out["driver_version"] = version(list.driver_version);
        out["runtime_version"] = version(list.runtime_version);
        return out;
      },
      "The CUDA devices (chutoro::list_devices): a dict with 'devices' (a list of dicts), 'reason' (why "
      "none, or None), 'module', 'module_build', 'driver_version', 'runtime_version'. Never raises for a "
      "machine without a GPU.");

  m.def(
      "levenshtein",
      [](const std::string& a, const std::string& b) {
        return chutoro::levenshtein(chutoro::decode_utf8(a, "a"), chutoro::decode_utf8(b, "b"));
      },
      "a"_a, "b"_a, "Levenshtein distance between two strings over Unicode code points (unit costs).");
}
