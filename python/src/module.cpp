// chutoro._core — the nanobind extension behind the Python package `chutoro`.
//
// A thin layer over the C++ library (include/chutoro/): data sources over
// Python-owned inputs, one fit() that runs chutoro::fit with the GIL released,
// and the conversion of its result into NumPy arrays. The scikit-learn
// estimator (python/chutoro/_estimator.py) validates inputs and parameters
// and is the documented entry point; this module is its private engine.
//
// Errors: chutoro::error maps by code (invalid_argument, parse -> ValueError;
// type_mismatch -> TypeError; io -> OSError; unsupported -> NotImplementedError;
// internal -> RuntimeError), keeping the library's message.
//
// Interruption: chutoro::fit calls its progress callback from the calling
// thread between units of work; the callback briefly takes the GIL, runs
// PyErr_CheckSignals() and, when a signal handler raised (Ctrl-C ->
// KeyboardInterrupt), throws that Python error through the library, which
// unwinds and frees everything; fit() then re-raises it.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <atomic>
#include <chrono>
#include <chutoro/chutoro.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

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

/// Items are arbitrary Python objects in a list; d(i, j) = float(metric(items[i],
/// items[j])), called with the GIL held. distance() never throws: the first
/// failure (an exception raised by the metric, a result that is not a number,
/// a negative or NaN distance, or a pending signal) is recorded and every later
/// call returns 0 without calling Python; fit() checks the record at the next
/// progress report and after the library returns, and raises it.
class callable_source final : public chutoro::data_source {
 public:
  callable_source(nb::list items, nb::object metric) : items_(std::move(items)), metric_(std::move(metric)) {
    chutoro::expects(nb::len(items_) > 0, chutoro::error_code::invalid_argument,
                     "callable metric: no items (empty input)");
    n_ = nb::len(items_);
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

 private:
  void record() const {  // GIL held, Python error indicator set
    error_ = std::make_unique<nb::python_error>();
    failed_.store(true, std::memory_order_release);
  }

  nb::list items_;
  nb::object metric_;
  std::size_t n_ = 0;
  mutable std::unique_ptr<nb::python_error> error_;
  mutable std::atomic<bool> failed_{false};
  mutable std::uint64_t calls_ = 0;
};

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

nb::dict to_dict(chutoro::clustering&& r, chutoro::spanning_tree&& tree, const chutoro::fit_stats& st) {
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

  nb::dict stats;
  stats["n"] = n;
  stats["distance_computations"] = st.distance_computations;
  stats["candidate_edges"] = st.candidate_edges;
  stats["peak_buffered_edges"] = st.peak_buffered_edges;
  stats["compactions"] = st.compactions;
  stats["seconds_graph"] = st.seconds_graph;
  stats["seconds_mst"] = st.seconds_mst;
  stats["seconds_hierarchy"] = st.seconds_hierarchy;
  out["stats"] = stats;
  return out;
}

nb::dict fit(const chutoro::data_source& source, std::size_t min_cluster_size, std::optional<std::size_t> min_samples,
             const std::string& cluster_selection_method, double cluster_selection_epsilon,
             bool allow_single_cluster, const std::string& candidates, std::size_t m, std::size_t ef_construction,
             std::uint64_t seed, int threads, nb::object progress) {
  chutoro::params p;
  p.selection.min_cluster_size = min_cluster_size;
  p.selection.method = chutoro::parse_cluster_selection_method(cluster_selection_method);
  p.selection.cluster_selection_epsilon = cluster_selection_epsilon;
  p.selection.allow_single_cluster = allow_single_cluster;
  p.build.min_samples = min_samples;
  p.build.candidates = chutoro::parse_candidate_mode(candidates);
  p.build.m = m;
  p.build.ef_construction = ef_construction;
  p.build.seed = seed;
  p.build.threads = threads;

  const auto* callable = dynamic_cast<const callable_source*>(&source);
  if (callable) {
    p.build.threads = 1;  // every distance takes the GIL: more threads only contend for it
    callable->reset();
  }
  const bool report = !progress.is_none();
  auto on_progress = [&](std::string_view stage, std::size_t done, std::size_t total) {
    nb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw nb::python_error();
    if (callable && callable->failed()) throw source_failed{};
    if (report) progress(nb::str(stage.data(), stage.size()), done, total);
  };

  chutoro::result r;
  try {
    nb::gil_scoped_release release;
    r = chutoro::fit(source, p, on_progress);
  } catch (const source_failed&) {
    callable->raise();
  } catch (...) {
    if (callable && callable->failed()) callable->raise();
    throw;
  }
  if (callable && callable->failed()) callable->raise();
  const chutoro::fit_stats stats = r.stats;
  chutoro::spanning_tree tree = std::move(r.tree);
  return to_dict(std::move(static_cast<chutoro::clustering&>(r)), std::move(tree), stats);
}

using mst_array = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using core_array = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

/// The selection stage alone, on a spanning tree from an earlier fit.
nb::dict extract_clusters(const mst_array& mst, const core_array& core_distances, std::size_t min_cluster_size,
                          const std::string& cluster_selection_method, double cluster_selection_epsilon,
                          bool allow_single_cluster) {
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
  chutoro::selection_params sp;
  sp.min_cluster_size = min_cluster_size;
  sp.method = chutoro::parse_cluster_selection_method(cluster_selection_method);
  sp.cluster_selection_epsilon = cluster_selection_epsilon;
  sp.allow_single_cluster = allow_single_cluster;
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

  nb::class_<callable_source, chutoro::data_source>(
      m, "CallableSource",
      "Arbitrary Python objects and a Python function metric(a, b) -> float >= 0. Every "
      "distance calls back into Python with the GIL held, so fits over it run on one thread.")
      .def(nb::init<nb::list, nb::object>(), "items"_a, "metric"_a);

  m.def("fit", &fit, "source"_a, "min_cluster_size"_a, "min_samples"_a.none(), "cluster_selection_method"_a,
        "cluster_selection_epsilon"_a, "allow_single_cluster"_a, "candidates"_a, "m"_a, "ef_construction"_a,
        "seed"_a, "threads"_a, "progress"_a.none(),
        "Runs chutoro::fit on `source` with the GIL released and returns a dict of NumPy arrays: "
        "labels (n,) int32, probabilities (n,) float64, outlier_scores (n,) float64, "
        "cluster_persistence (k,) float64, condensed_{parent,child,lambda_val,child_size} (rows,), "
        "single_linkage_tree (n-1, 4) float64, minimum_spanning_tree (n-1, 3) float64, "
        "core_distances (n,) float32, and stats (a dict of counters and stage times). "
        "progress(stage, done, total), when given, is called from this thread a few hundred times "
        "per stage. A pending signal (Ctrl-C) interrupts the fit at the next report. Raises "
        "ValueError/TypeError/OSError from chutoro::error, or what the metric or progress raised.");

  m.def("extract_clusters", &extract_clusters, "minimum_spanning_tree"_a.noconvert(),
        "core_distances"_a.noconvert(), "min_cluster_size"_a, "cluster_selection_method"_a,
        "cluster_selection_epsilon"_a, "allow_single_cluster"_a,
        "The selection stage alone (chutoro::extract_clusters) on the spanning tree of an earlier fit: "
        "minimum_spanning_tree (n-1, 3) float64 C order (from, to, distance), sorted by (distance, "
        "from, to); core_distances (n,) float32. Returns the same dict as fit(). O(n log n).");

  m.def(
      "levenshtein",
      [](const std::string& a, const std::string& b) {
        return chutoro::levenshtein(chutoro::decode_utf8(a, "a"), chutoro::decode_utf8(b, "b"));
      },
      "a"_a, "b"_a, "Levenshtein distance between two strings over Unicode code points (unit costs).");
}
