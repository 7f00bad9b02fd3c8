// chutoro — adjusted Rand index and adjusted mutual information, following
// scikit-learn's sklearn/metrics/cluster/_supervised.py and
// _expected_mutual_info_fast.pyx term by term.
#include <algorithm>
#include <cfloat>
#include <chutoro/error.hpp>
#include <chutoro/scores.hpp>
#include <cmath>
#include <cstddef>
#include <unordered_map>

namespace chutoro {
namespace {

/// Sparse contingency table of two labellings.
struct contingency {
  std::size_t n = 0;
  std::vector<std::int64_t> row_sums;  ///< per label of a (ordered by label value)
  std::vector<std::int64_t> col_sums;  ///< per label of b
  struct cell {
    std::uint32_t row, col;
    std::int64_t count;
  };
  std::vector<cell> cells;  ///< non-zero cells
};

std::vector<std::uint32_t> dense_ids(std::span<const std::int32_t> x, std::size_t& k) {
  std::vector<std::int32_t> uniq(x.begin(), x.end());
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  k = uniq.size();
  std::vector<std::uint32_t> ids(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    ids[i] = static_cast<std::uint32_t>(std::lower_bound(uniq.begin(), uniq.end(), x[i]) - uniq.begin());
  }
  return ids;
}

contingency make_contingency(std::span<const std::int32_t> a, std::span<const std::int32_t> b,
                             const char* who) {
  if (a.size() != b.size()) {
    throw error(error_code::invalid_argument, std::string(who) + ": the two labellings differ in length (" +
                                                  std::to_string(a.size()) + " and " +
                                                  std::to_string(b.size()) + ")");
  }
  contingency c;
  c.n = a.size();
  std::size_t ka = 0, kb = 0;
  const auto ia = dense_ids(a, ka);
  const auto ib = dense_ids(b, kb);
  c.row_sums.assign(ka, 0);
  c.col_sums.assign(kb, 0);
  std::vector<std::uint64_t> keys(c.n);
  for (std::size_t i = 0; i < c.n; ++i) {
    ++c.row_sums[ia[i]];
    ++c.col_sums[ib[i]];
    keys[i] = (static_cast<std::uint64_t>(ia[i]) << 32) | ib[i];
  }
  std::sort(keys.begin(), keys.end());
  for (std::size_t i = 0; i < keys.size();) {
    std::size_t j = i;
    while (j < keys.size() && keys[j] == keys[i]) ++j;
    c.cells.push_back({static_cast<std::uint32_t>(keys[i] >> 32), static_cast<std::uint32_t>(keys[i]),
                       static_cast<std::int64_t>(j - i)});
    i = j;
  }
  return c;
}

/// sklearn.metrics.cluster.entropy from label counts.
double entropy(const std::vector<std::int64_t>& counts, std::size_t n) {
  if (n == 0) return 1.0;
  if (counts.size() == 1) return 0.0;
  const double total = static_cast<double>(n);
  const double log_total = std::log(total);
  double h = 0;
  for (const auto c : counts) {
    const auto p = static_cast<double>(c);
    h -= (p / total) * (std::log(p) - log_total);
  }
  return h;
}

/// sklearn.metrics.mutual_info_score on a contingency table.
double mutual_info(const contingency& c) {
  if (c.row_sums.size() == 1 || c.col_sums.size() == 1) return 0.0;
  const double total = static_cast<double>(c.n);
  const double log_total = std::log(total);
  double mi = 0;
  for (const auto& e : c.cells) {
    const auto nij = static_cast<double>(e.count);
    const double nm = nij / total;
    const double outer = static_cast<double>(c.row_sums[e.row]) * static_cast<double>(c.col_sums[e.col]);
    const double log_outer = -std::log(outer) + log_total + log_total;
    double term = nm * (std::log(nij) - log_total) + nm * log_outer;
    if (std::abs(term) < DBL_EPSILON) term = 0.0;
    mi += term;
  }
  return std::max(mi, 0.0);
}

/// scikit-learn's expected_mutual_information (exact, hypergeometric model).
double expected_mutual_info(const contingency& c) {
  const auto& a = c.row_sums;
  const auto& b = c.col_sums;
  if (a.size() == 1 || b.size() == 1) return 0.0;
  const auto N = static_cast<std::int64_t>(c.n);
  // lf[k] = lgamma(k + 1) = log(k!) for k = 0..N: every gammaln argument below is one of these.
  std::vector<double> lf(static_cast<std::size_t>(N) + 1);
  for (std::int64_t k = 0; k <= N; ++k)
    lf[static_cast<std::size_t>(k)] = std::lgamma(static_cast<double>(k) + 1.0);
  const double log_n = std::log(static_cast<double>(N));
  const double n_d = static_cast<double>(N);

  std::vector<double> partial(a.size(), 0.0);
  const auto rows = static_cast<std::ptrdiff_t>(a.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (std::ptrdiff_t i = 0; i < rows; ++i) {
    const std::int64_t ai = a[static_cast<std::size_t>(i)];
    const double log_a = std::log(static_cast<double>(ai));
    const double gln_a = lf[static_cast<std::size_t>(ai)];
    const double gln_na = lf[static_cast<std::size_t>(N - ai)];
    double sum = 0;
    for (const std::int64_t bj : b) {
      const double log_b = std::log(static_cast<double>(bj));
      const double gln_b = lf[static_cast<std::size_t>(bj)];
      const double gln_nb = lf[static_cast<std::size_t>(N - bj)];
      const std::int64_t start = std::max<std::int64_t>(1, ai - N + bj);
      const std::int64_t end = std::min(ai, bj) + 1;
      for (std::int64_t nij = start; nij < end; ++nij) {
        const auto nij_d = static_cast<double>(nij);
        const double term1 = nij_d / n_d;
        const double term2 = (log_n + std::log(nij_d)) - log_a - log_b;
        const double gln = gln_a + gln_b + gln_na + gln_nb - (lf[static_cast<std::size_t>(nij)] + lf[c.n]) -
                           lf[static_cast<std::size_t>(ai - nij)] - lf[static_cast<std::size_t>(bj - nij)] -
                           lf[static_cast<std::size_t>(N - ai - bj + nij)];
        sum += term1 * term2 * std::exp(gln);
      }
    }
    partial[static_cast<std::size_t>(i)] = sum;
  }
  double emi = 0;
  for (const double p : partial) emi += p;  // fixed order: deterministic for any thread count
  return emi;
}

}  // namespace

double adjusted_rand_index(std::span<const std::int32_t> a, std::span<const std::int32_t> b) {
  const contingency c = make_contingency(a, b, "adjusted_rand_index");
  // Pair confusion matrix over ordered pairs (sklearn.metrics.cluster.pair_confusion_matrix).
  const auto n = static_cast<long double>(c.n);
  long double sum_squares = 0;
  for (const auto& e : c.cells) sum_squares += static_cast<long double>(e.count) * e.count;
  long double dot_cols = 0;  // sum_ij n_ij * b_j
  long double dot_rows = 0;  // sum_ij n_ij * a_i
  for (const auto& e : c.cells) {
    dot_cols += static_cast<long double>(e.count) * c.col_sums[e.col];
    dot_rows += static_cast<long double>(e.count) * c.row_sums[e.row];
  }
  const long double tp = sum_squares - n;
  const long double fp = dot_cols - sum_squares;
  const long double fn = dot_rows - sum_squares;
  const long double tn = n * n - fp - fn - sum_squares;
  if (fn == 0 && fp == 0) return 1.0;
  return static_cast<double>(2.0L * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)));
}

double adjusted_mutual_info(std::span<const std::int32_t> a, std::span<const std::int32_t> b) {
  const contingency c = make_contingency(a, b, "adjusted_mutual_info");
  const std::size_t ka = c.row_sums.size(), kb = c.col_sums.size();
  if ((ka == 1 && kb == 1) || (ka == 0 && kb == 0)) return 1.0;
  const double mi = mutual_info(c);
  const double emi = expected_mutual_info(c);
  const double h_a = entropy(c.row_sums, c.n);
  const double h_b = entropy(c.col_sums, c.n);
  const double normalizer = (h_a + h_b) / 2.0;
  double denominator = normalizer - emi;
  if (denominator < 0) {
    denominator = std::min(denominator, -DBL_EPSILON);
  } else {
    denominator = std::max(denominator, DBL_EPSILON);
  }
  return (mi - emi) / denominator;
}

std::vector<std::int32_t> encode_labels(std::span<const std::string> labels) {
  std::unordered_map<std::string, std::int32_t> ids;
  ids.reserve(labels.size() / 4 + 16);
  std::vector<std::int32_t> out;
  out.reserve(labels.size());
  for (const auto& s : labels) {
    const auto [it, inserted] = ids.try_emplace(s, static_cast<std::int32_t>(ids.size()));
    out.push_back(it->second);
  }
  return out;
}

}  // namespace chutoro
