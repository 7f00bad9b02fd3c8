// chutoro — chutoro::model: the pipeline (fit; chutoro::fit and
// build_spanning_tree run it too), add (FISHDBC's incremental update,
// Dell'Amico 2019, section 3.3), re-clustering and approximate prediction
// (hdbscan's prediction.approximate_predict). Every stage that builds runs
// on the model's backend (src/core/backend/backend.hpp).
#include <algorithm>
#include <chrono>
#include <chutoro/error.hpp>
#include <chutoro/model.hpp>
#include <cmath>
#include <exception>
#include <limits>
#include <string>

#include "core/hierarchy/hierarchy.hpp"
#include "core/model/model_impl.hpp"
#include "core/mst/exact_tree.hpp"

namespace chutoro {

namespace detail {

namespace {

/// The soft-clustering part of the prediction index (hdbscan's
/// PredictionData: leaf_max_lambdas, exemplars; and the subtree maxima of
/// approximate_predict_scores).
void add_soft_index(std::size_t n, const clustering& c, const cluster_selection& sel,
                    const std::vector<double>& own_max, prediction_index& x) {
  const std::size_t clusters = own_max.size();
  // hdbscan's CondensedTree._select_clusters, which PredictionData and the
  // soft-clustering functions use: per label, the smallest cluster its items
  // leave (the selected cluster itself unless all its items leave from below it).
  x.selected = sel.clusters;
  std::vector<char> seen(sel.clusters.size(), 0);
  for (std::size_t i = 0; i < c.labels.size() && i < n; ++i) {
    const std::int32_t label = c.labels[i];
    if (label < 0 || static_cast<std::size_t>(label) >= sel.clusters.size()) continue;
    std::int64_t& seg = x.selected[static_cast<std::size_t>(label)];
    if (!seen[static_cast<std::size_t>(label)] || x.item_parent[i] < seg) seg = x.item_parent[i];
    seen[static_cast<std::size_t>(label)] = 1;
  }
  x.own_max_lambda = own_max;
  x.subtree_max_lambda = own_max;
  for (std::size_t id = clusters; id-- > 1;) {
    const std::int64_t parent = x.cluster_parent[id];
    if (parent < 0) continue;
    double& up = x.subtree_max_lambda[static_cast<std::size_t>(parent) - n];
    up = std::max(up, x.subtree_max_lambda[id]);
  }
  std::vector<std::vector<std::size_t>> children(clusters);
  std::vector<std::vector<std::uint32_t>> densest(clusters);  // per cluster: items leaving at own_max
  for (const condensed_row& r : c.condensed_tree) {
    const auto p = static_cast<std::size_t>(r.parent) - n;
    if (r.child >= static_cast<std::int64_t>(n)) {
      children[p].push_back(static_cast<std::size_t>(r.child) - n);
      x.has_child_clusters = true;
    } else if (r.lambda_val == own_max[p]) {
      densest[p].push_back(static_cast<std::uint32_t>(r.child));
    }
  }
  x.exemplars.assign(sel.clusters.size(), {});
  std::vector<std::size_t> stack;
  for (std::size_t label = 0; label < sel.clusters.size(); ++label) {
    stack.assign(1, static_cast<std::size_t>(x.selected[label]) - n);
    while (!stack.empty()) {  // leaves depth first, children in row order
      const std::size_t at = stack.back();
      stack.pop_back();
      if (children[at].empty()) {
        x.exemplars[label].insert(x.exemplars[label].end(), densest[at].begin(), densest[at].end());
      } else {
        stack.insert(stack.end(), children[at].rbegin(), children[at].rend());
      }
    }
  }
}

}  // namespace

prediction_index make_prediction_index(std::size_t n, const clustering& c, const selection_params& sp) {
  prediction_index x;
  x.item_parent.assign(n, static_cast<std::int64_t>(n));
  x.item_lambda.assign(n, 0.0);
  std::size_t clusters = 1;
  for (const condensed_row& r : c.condensed_tree)
    clusters = std::max(clusters,
                        static_cast<std::size_t>(std::max(r.parent, r.child_size > 1 ? r.child : 0)) + 1 - n);
  x.cluster_parent.assign(clusters, -1);
  x.cluster_lambda.assign(clusters, 0.0);
  x.cluster_label.assign(clusters, -1);
  x.cluster_max_lambda.assign(clusters, 0.0);
  std::vector<double> own_max(clusters, 0.0);
  for (const condensed_row& r : c.condensed_tree) {
    const auto p = static_cast<std::size_t>(r.parent) - n;
    own_max[p] = std::max(own_max[p], r.lambda_val);
    if (r.child < static_cast<std::int64_t>(n)) {
      x.item_parent[static_cast<std::size_t>(r.child)] = r.parent;
      x.item_lambda[static_cast<std::size_t>(r.child)] = r.lambda_val;
    } else {
      const auto ch = static_cast<std::size_t>(r.child) - n;
      x.cluster_parent[ch] = r.parent;
      x.cluster_lambda[ch] = r.lambda_val;
    }
  }
  if (c.condensed_tree.empty()) return x;
  const std::vector<double> stability = cluster_stability(c.condensed_tree, n);
  const cluster_selection sel = select_clusters(c.condensed_tree, n, stability, sp);
  for (std::size_t label = 0; label < sel.clusters.size(); ++label) {
    const auto id = static_cast<std::size_t>(sel.clusters[label]) - n;
    x.cluster_label[id] = static_cast<std::int32_t>(label);
    x.cluster_max_lambda[id] = own_max[id];
  }
  // Sub-clusters of a selected cluster predict as that cluster (hdbscan's
  // cluster_map / max_lambdas); parents have smaller ids than children.
  for (std::size_t id = 1; id < clusters; ++id) {
    const std::int64_t parent = x.cluster_parent[id];
    if (parent < 0) continue;
    const auto p = static_cast<std::size_t>(parent) - n;
    if (x.cluster_label[id] < 0 && x.cluster_label[p] >= 0) {
      x.cluster_label[id] = x.cluster_label[p];
      x.cluster_max_lambda[id] = x.cluster_max_lambda[p];
    }
  }
  add_soft_index(n, c, sel, own_max, x);
  return x;
}

namespace {

/// hdbscan's _find_neighbor_and_lambda: the neighbour with the smallest
/// mutual reachability distance d and lambda = 1/d (DBL_MAX for d = 0). The
/// item's own core distance is its distance to its k-th nearest model item
/// (hdbscan's neighbor_distances[min_samples], its k being ours - 1). `nb`
/// is not empty.
std::pair<std::uint32_t, double> neighbour_and_lambda(std::span<const float> core,
                                                      std::span<const std::pair<float, std::uint32_t>> nb,
                                                      std::size_t k) {
  const float own_core = nb[std::min(k, nb.size()) - 1].first;
  std::size_t best = 0;
  float best_mr = std::numeric_limits<float>::infinity();
  for (std::size_t j = 0; j < nb.size(); ++j) {
    const float mr = std::max({core[nb[j].second], own_core, nb[j].first});
    if (mr < best_mr) best_mr = mr, best = j;
  }
  const double lambda = best_mr > 0 ? 1.0 / static_cast<double>(best_mr) : std::numeric_limits<double>::max();
  return {nb[best].second, lambda};
}

/// hdbscan's _find_cluster_and_probability for one item whose nearest model
/// items are `nb` (ascending raw distance), with k = min_samples.
std::pair<std::int32_t, double> predict_one(const prediction_index& x, std::span<const float> core,
                                            std::span<const std::pair<float, std::uint32_t>> nb,
                                            std::size_t k, std::size_t n) {
  if (nb.empty()) return {-1, 0.0};
  const auto [neighbour, lambda] = neighbour_and_lambda(core, nb, k);
  std::int64_t cluster = x.item_parent[neighbour];
  const auto root = static_cast<std::int64_t>(n);
  if (x.item_lambda[neighbour] > lambda) {
    // Walk up to the cluster that still exists at the item's lambda.
    while (cluster > root) {
      const auto c = static_cast<std::size_t>(cluster) - n;
      if (!(x.cluster_lambda[c] >= lambda)) break;
      cluster = x.cluster_parent[c];
    }
  }
  const auto c = static_cast<std::size_t>(cluster) - n;
  const std::int32_t label = x.cluster_label[c];
  if (label < 0) return {-1, 0.0};
  const double max_lambda = x.cluster_max_lambda[c];
  if (!(max_lambda > 0.0)) return {label, 1.0};
  return {label, std::min(max_lambda, lambda) / max_lambda};
}

/// hdbscan's merge_height: for each soft-clustering cluster c (x.selected),
/// walking up from `point_cluster` and c (the larger id first) to their
/// common ancestor, the birth lambda of the last cluster left behind when
/// both sides moved, else `point_lambda`.
void merge_heights(const prediction_index& x, std::size_t n, std::int64_t point_cluster, double point_lambda,
                   std::span<double> out) {
  const auto at = [n](std::int64_t id) { return static_cast<std::size_t>(id) - n; };
  for (std::size_t j = 0; j < x.selected.size(); ++j) {
    std::int64_t left = point_cluster, right = x.selected[j], last = left;
    bool took_left = false, took_right = false;
    while (left != right) {
      if (left > right) {
        took_left = true, last = left, left = x.cluster_parent[at(left)];
      } else {
        took_right = true, last = right, right = x.cluster_parent[at(right)];
      }
    }
    out[j] = took_left && took_right ? x.cluster_lambda[at(last)] : point_lambda;
  }
}

/// hdbscan's dist_membership_vector from the smallest distance to each
/// cluster's exemplars (in place): 1/d (DBL_MAX / k for d = 0), normalised.
void distance_membership(std::span<double> v) {
  double sum = 0.0;
  for (double& d : v) {
    d = d != 0.0 ? 1.0 / d : std::numeric_limits<double>::max() / static_cast<double>(v.size());
    sum += d;
  }
  for (double& d : v) d /= sum;
}

/// The largest non-NaN value (numpy's nanmax; NaN when there is none).
double nan_max(std::span<const double> v) {
  double m = std::numeric_limits<double>::quiet_NaN();
  for (const double d : v)
    if (!std::isnan(d) && (std::isnan(m) || d > m)) m = d;
  return m;
}

/// Smallest distance from item `i` to each cluster's exemplars, via `dist(i, exemplar)`.
template <class Dist>
void exemplar_distances(const prediction_index& x, Dist&& dist, std::span<double> out) {
  for (std::size_t j = 0; j < x.exemplars.size(); ++j) {
    double best = std::numeric_limits<double>::max();
    for (const std::uint32_t e : x.exemplars[j]) best = std::min(best, static_cast<double>(dist(e)));
    out[j] = best;
  }
}

/// hdbscan.prediction.membership_vector for one new item whose nearest
/// mutual-reachability model neighbour is `nn` at `lambda`; `dist_to(e)` is its
/// distance to model item e. Writes k values.
template <class Dist>
void membership_one(const prediction_index& x, std::size_t n, std::uint32_t nn, double lambda, Dist&& dist_to,
                    std::span<double> out) {
  const std::size_t k = x.selected.size();
  if (k == 0) return;
  if (x.item_lambda[nn] <= lambda) lambda = x.item_lambda[nn];
  const std::int64_t point_cluster = x.item_parent[nn];
  std::vector<double> dist(k), outlier(k), heights(k);
  exemplar_distances(x, dist_to, dist);
  distance_membership(dist);
  // per_cluster_scores takes lambda as float32.
  const double lambda32 = lambda > std::numeric_limits<float>::max()
                              ? std::numeric_limits<double>::infinity()
                              : static_cast<double>(static_cast<float>(lambda));
  merge_heights(x, n, point_cluster, lambda32, heights);
  const double max_lambda = x.own_max_lambda[static_cast<std::size_t>(point_cluster) - n];
  for (std::size_t j = 0; j < k; ++j) {
    double denominator = max_lambda - heights[j];
    if (denominator <= 0) denominator = 1e-8;
    outlier[j] = max_lambda / denominator;
  }
  const double top = nan_max(outlier);
  double sum = 0.0;
  for (double& v : outlier) sum += (v = std::exp(v - top));
  for (double& v : outlier) v /= sum;
  sum = 0.0;
  for (std::size_t j = 0; j < k; ++j) sum += (out[j] = std::sqrt(dist[j]) * outlier[j] * outlier[j]);
  // prob_in_some_cluster, with lambda in double.
  merge_heights(x, n, point_cluster, lambda, heights);
  const std::size_t nearest =
      static_cast<std::size_t>(std::max_element(heights.begin(), heights.end()) - heights.begin());
  const double cap =
      std::max(lambda, x.own_max_lambda[static_cast<std::size_t>(x.selected[nearest]) - n]) + 1e-8;
  const double prob = heights[nearest] / cap;
  for (std::size_t j = 0; j < k; ++j) out[j] = out[j] / sum * prob;
}

/// hdbscan.prediction.approximate_predict_scores for one new item.
double outlier_score_one(const prediction_index& x, std::size_t n, std::uint32_t nn, double lambda,
                         float nearest_distance) {
  if (!x.has_child_clusters) return 1.0;
  const std::int64_t cluster = x.item_parent[nn];
  if (nearest_distance == 0.0f) lambda = x.item_lambda[nn];  // a duplicate of a model item
  const double max_lambda = x.subtree_max_lambda[static_cast<std::size_t>(cluster) - n];
  return max_lambda > 0.0 ? (max_lambda - lambda) / max_lambda : 0.0;
}

/// Distances between model items (ids < n) and query items (ids >= n).
struct predict_distance {
  const data_source* base;
  const data_source* queries;
  std::size_t n;
  float operator()(std::uint32_t a, std::uint32_t b) const {
    if (a >= n) return base->cross_distance(*queries, a - n, b);
    if (b >= n) return base->cross_distance(*queries, b - n, a);
    return base->distance(a, b);
  }
};

void check_finite_distance(float d, const data_source& data, std::size_t i) {
  expects(d >= 0.0f, error_code::invalid_argument,
          "data source '" + data.name() + "': distance from query item " + std::to_string(i) + " (0-based)" +
              " is not a non-negative number");
}

/// Checks n and k = min_samples for a build over `data` (error(invalid_argument)).
void check_build_size(const data_source& data, std::size_t min_samples) {
  const std::size_t n = data.size();
  expects(
      n >= 2, error_code::invalid_argument,
      "data source '" + data.name() + "' has " + std::to_string(n) + " items; clustering needs at least 2");
  expects(n <= std::size_t{0xFFFFFFFE}, error_code::invalid_argument,
          "data source '" + data.name() + "' has more than 2^32 - 2 items");
  expects(min_samples <= n, error_code::invalid_argument,
          "min_samples (" + std::to_string(min_samples) + ") exceeds the number of items (" +
              std::to_string(n) + ")");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace
}  // namespace detail

void model::impl::extract() {
  clusters = extract_clusters(tree, p.selection);
  predict_index = detail::make_prediction_index(tree.n, clusters, p.selection);
}

void model::impl::use_backend(detail::backend_choice c) {
  backend = std::move(c);
  if (hnsw) hnsw->candidates.set_solver(backend.ptr);
}

std::unique_ptr<detail::execution_scope> model::impl::enter() const {
  return backend.ptr->enter(p.build.threads);
}

spanning_tree model::impl::graph_stage(std::optional<detail::hnsw_state>& state, fit_stats& st,
                                       const progress_fn& progress) const {
  st.device = backend.device;
  st.device_fallback_reason = backend.fallback_reason;
  const bool knn = !state && p.build.candidates == candidate_mode::knn;
  st.candidates = state ? candidate_mode::hnsw : knn ? candidate_mode::knn : candidate_mode::exact;
  if (state) return backend.ptr->extend_hnsw(*state, *data, p.build, st, progress);
  if (knn) return backend.ptr->build_knn(*data, p.build, st, progress);
  return backend.ptr->build_exact(*data, p.build, st, progress);
}

std::unique_ptr<model::impl> model::impl::run(std::shared_ptr<data_source> data, const params& p,
                                              const progress_fn& progress, goal what) {
  expects(data != nullptr, error_code::invalid_argument, "model: data source is null");
  validate(p);
  const std::size_t n = data->size();
  if (what != goal::tree)
    expects(n >= p.selection.min_cluster_size, error_code::invalid_argument,
            "data source '" + data->name() + "' has " + std::to_string(n) +
                " items, fewer than min_cluster_size (" + std::to_string(p.selection.min_cluster_size) + ")");
  auto m = std::make_unique<impl>();
  m->data = std::move(data);
  m->p = p;
  m->p.build.min_samples = p.min_samples();  // the one channel from here on
  detail::check_build_size(*m->data, *m->p.build.min_samples);
  m->use_backend(detail::select_backend(p.build.device));
  const auto scope = m->enter();
  // p.build.candidates stays as asked (auto too); the graph state says what it resolved to.
  if (detail::resolve_candidates(m->p.build.candidates, *m->data) == candidate_mode::hnsw)
    m->hnsw.emplace(m->p.build, m->backend.ptr);
  m->tree = m->graph_stage(m->hnsw, m->stats, progress);
  if (what != goal::model) m->hnsw.reset();  // what chutoro::fit frees before extracting
  if (what == goal::tree) return m;
  const auto t0 = std::chrono::steady_clock::now();
  if (what == goal::model) {
    m->extract();
  } else {
    m->clusters = extract_clusters(m->tree, m->p.selection);
  }
  m->stats.seconds_hierarchy = detail::seconds_since(t0);
  return m;
}

model::model(std::unique_ptr<impl> p) : p_(std::move(p)) {}
model::model(model&&) noexcept = default;
model& model::operator=(model&&) noexcept = default;
model::~model() = default;

model::model(std::shared_ptr<data_source> data, const params& p, const progress_fn& progress)
    : p_(impl::run(std::move(data), p, progress, impl::goal::model)) {}

void model::add(const data_source& items, const progress_fn& progress) {
  impl& m = *p_;
  expects(m.data->can_grow(), error_code::unsupported,
          "model: data source '" + m.data->name() +
              "' cannot grow (add() needs a built-in source: dense, strings, sets, bits, products)");
  m.data->check_compatible(items);
  if (items.size() == 0) return;
  const std::size_t old_n = m.data->size();
  expects(old_n + items.size() <= std::size_t{0xFFFFFFFE}, error_code::invalid_argument,
          "model: adding " + std::to_string(items.size()) + " items to " + std::to_string(old_n) +
              " would exceed 2^32 - 2 items");
  // The graph stage can fail half way (a plugin or callable distance that
  // throws); work on copies so that the model is unchanged on error.
  std::optional<detail::hnsw_state> hnsw = m.hnsw;
  m.data->append(items);
  try {
    // auto chooses again at the new size: an exact model that outgrows
    // all-pairs gets an HNSW graph over all its items (once; hnsw stays hnsw).
    if (!hnsw && detail::resolve_candidates(m.p.build.candidates, *m.data) == candidate_mode::hnsw)
      hnsw.emplace(m.p.build, m.backend.ptr);
    fit_stats stats;
    const auto scope = m.enter();
    spanning_tree tree = m.graph_stage(hnsw, stats, progress);
    const auto t0 = std::chrono::steady_clock::now();
    clustering clusters = extract_clusters(tree, m.p.selection);
    prediction_index index = detail::make_prediction_index(tree.n, clusters, m.p.selection);
    stats.seconds_hierarchy = detail::seconds_since(t0);
    m.hnsw = std::move(hnsw);
    m.tree = std::move(tree);
    m.clusters = std::move(clusters);
    m.predict_index = std::move(index);
    m.stats = stats;
  } catch (...) {
    m.data->truncate(old_n);
    throw;
  }
}

const clustering& model::cluster(const selection_params& sp) {
  impl& m = *p_;
  params p = m.p;
  p.selection = sp;
  validate(p);
  expects(m.tree.n >= sp.min_cluster_size, error_code::invalid_argument,
          "model has " + std::to_string(m.tree.n) + " items, fewer than min_cluster_size (" +
              std::to_string(sp.min_cluster_size) + ")");
  clustering c = extract_clusters(m.tree, sp);
  prediction_index index = detail::make_prediction_index(m.tree.n, c, sp);
  m.p.selection = sp;
  m.clusters = std::move(c);
  m.predict_index = std::move(index);
  return m.clusters;
}

prediction model::approximate_predict(const data_source& items, bool soft) const {
  const impl& m = *p_;
  m.data->check_compatible(items);
  const std::size_t n = m.tree.n;
  const std::size_t q = items.size();
  expects(n + q <= std::size_t{0xFFFFFFFF}, error_code::invalid_argument,
          "approximate_predict: too many items (" + std::to_string(q) + ")");
  const std::size_t k = *m.p.build.min_samples;
  // hdbscan queries 2 * min_samples neighbours with its min_samples = k - 1.
  const std::size_t n_nb = std::min(n, std::max<std::size_t>(2 * (k > 1 ? k - 1 : 1), k));
  prediction out;
  out.labels.assign(q, -1);
  out.probabilities.assign(q, 0.0);
  out.outlier_scores.assign(q, 0.0);
  const std::size_t k_clusters = m.predict_index.selected.size();
  out.n_clusters = m.clusters.n_clusters();
  if (soft) out.membership.assign(q * k_clusters, 0.0);
  const detail::predict_distance dist{m.data.get(), &items, n};
  using index_t = detail::hnsw_index<detail::predict_distance>;
  // Searches only read the graph; the index type wants a mutable one.
  auto* graph = m.hnsw ? const_cast<detail::hnsw_graph*>(&m.hnsw->graph) : nullptr;
  std::exception_ptr failure;
  const auto scope = m.enter();
#pragma omp parallel if (q > 1)
  {
    std::optional<index_t> index;
    std::optional<index_t::worker> w;
    if (graph) index.emplace(*graph, dist), w.emplace(n);
    std::vector<std::pair<float, std::uint32_t>> nb;
#pragma omp for schedule(dynamic, 16)
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(q); ++i) {
      try {
        const auto qid = static_cast<std::uint32_t>(n + static_cast<std::size_t>(i));
        nb.clear();
        if (index) {
          w->edges.clear(), w->offers.clear();  // a search harvests; predictions keep nothing
          for (const auto& s : index->search(qid, n_nb, std::max(m.p.build.ef_construction, n_nb), *w))
            nb.emplace_back(s.d, s.id);
        } else {
          for (std::uint32_t j = 0; j < n; ++j) nb.emplace_back(dist(qid, j), j);
          std::partial_sort(nb.begin(), nb.begin() + static_cast<std::ptrdiff_t>(n_nb), nb.end());
          nb.resize(n_nb);
        }
        for (const auto& [d, j] : nb) detail::check_finite_distance(d, items, static_cast<std::size_t>(i));
        const auto [label, prob] = detail::predict_one(m.predict_index, m.tree.core_distances, nb, k, n);
        out.labels[static_cast<std::size_t>(i)] = label;
        out.probabilities[static_cast<std::size_t>(i)] = prob;
        if (!nb.empty()) {
          const auto [nn, lambda] = detail::neighbour_and_lambda(m.tree.core_distances, nb, k);
          out.outlier_scores[static_cast<std::size_t>(i)] =
              detail::outlier_score_one(m.predict_index, n, nn, lambda, nb.front().first);
          if (soft)
            detail::membership_one(
                m.predict_index, n, nn, lambda, [&](std::uint32_t e) { return dist(qid, e); },
                std::span(out.membership).subspan(static_cast<std::size_t>(i) * k_clusters, k_clusters));
        }
      } catch (...) {
#pragma omp critical(chutoro_predict_failure)
        if (!failure) failure = std::current_exception();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
  return out;
}

std::vector<double> model::all_points_membership_vectors() const {
  const impl& m = *p_;
  const prediction_index& x = m.predict_index;
  const std::size_t n = m.tree.n;
  const std::size_t k = x.selected.size();
  if (k == 0) return {};
  std::vector<double> outlier(n * k), dist(n * k), out(n * k);
  std::vector<double> prob(n);
  std::exception_ptr failure;
  const auto scope = m.enter();
#pragma omp parallel
  {
    std::vector<double> heights(k);
#pragma omp for schedule(dynamic, 64)
    for (std::int64_t ii = 0; ii < static_cast<std::int64_t>(n); ++ii) {
      const auto i = static_cast<std::size_t>(ii);
      try {
        const std::int64_t cluster = x.item_parent[i];
        const double lambda = x.item_lambda[i];
        detail::merge_heights(x, n, cluster, lambda, heights);
        const double max_lambda = x.own_max_lambda[static_cast<std::size_t>(cluster) - n] + 1e-8;
        for (std::size_t j = 0; j < k; ++j) outlier[i * k + j] = std::exp(-(max_lambda / heights[j]));
        const std::size_t nearest =
            static_cast<std::size_t>(std::max_element(heights.begin(), heights.end()) - heights.begin());
        prob[i] = heights[nearest] /
                  std::max(x.own_max_lambda[static_cast<std::size_t>(x.selected[nearest]) - n], lambda);
        const auto row = std::span(dist).subspan(i * k, k);
        detail::exemplar_distances(
            x, [&](std::uint32_t e) { return m.data->distance(static_cast<std::uint32_t>(i), e); }, row);
        detail::distance_membership(row);
      } catch (...) {
#pragma omp critical(chutoro_membership_failure)
        if (!failure) failure = std::current_exception();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
  // The softmax subtracts the largest score of all items (as hdbscan's).
  const double top = detail::nan_max(outlier);
  for (std::size_t i = 0; i < n; ++i) {
    double sum = 0.0;
    for (std::size_t j = 0; j < k; ++j) sum += (outlier[i * k + j] = std::exp(outlier[i * k + j] - top));
    double total = 0.0;
    for (std::size_t j = 0; j < k; ++j)
      total += (out[i * k + j] = dist[i * k + j] * (outlier[i * k + j] / sum));
    for (std::size_t j = 0; j < k; ++j) out[i * k + j] = out[i * k + j] / total * prob[i];
  }
  return out;
}

const std::vector<std::vector<std::uint32_t>>& model::exemplars() const noexcept {
  return p_->predict_index.exemplars;
}

void model::set_threads(int threads) noexcept { p_->p.build.threads = std::max(threads, 0); }
void model::set_device(device_kind device) {
  detail::backend_choice c = detail::select_backend(device);  // may throw: the model is then unchanged
  p_->p.build.device = device;
  p_->use_backend(std::move(c));
}
device_kind model::device() const noexcept { return p_->backend.device; }
std::size_t model::size() const noexcept { return p_->tree.n; }
const params& model::parameters() const noexcept { return p_->p; }
const data_source& model::data() const noexcept { return *p_->data; }
const spanning_tree& model::tree() const noexcept { return p_->tree; }
const clustering& model::clusters() const noexcept { return p_->clusters; }
const fit_stats& model::stats() const noexcept { return p_->stats; }

}  // namespace chutoro
