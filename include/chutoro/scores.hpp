// chutoro — external clustering scores: adjusted Rand index and adjusted
// mutual information, with scikit-learn's definitions
// (sklearn.metrics.adjusted_rand_score / adjusted_mutual_info_score).
//
// Labels are arbitrary int32 ids; only equality matters. Noise (-1) is an
// ordinary label, as in scikit-learn. Thread safety: reentrant.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace chutoro {

/// Adjusted Rand index (Hubert & Arabie 1985), from the pair confusion matrix
/// as scikit-learn computes it: 2 (tp tn - fn fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp + tn)),
/// 1.0 when fn = fp = 0 (identical partitions, also for n <= 1).
/// Range [-0.5, 1]; 0 in expectation for random labellings. a.size() == b.size()
/// else throws error(invalid_argument). O(n log n) time, O(n) memory.
double adjusted_rand_index(std::span<const std::int32_t> a, std::span<const std::int32_t> b);

/// Adjusted mutual information (Vinh, Epps & Bailey 2010) with the arithmetic
/// mean normalisation (scikit-learn's default average_method="arithmetic"):
/// (MI - E[MI]) / ((H(a) + H(b)) / 2 - E[MI]), natural logarithms, the exact
/// expected mutual information under the hypergeometric model (log-factorials
/// from std::lgamma). 1.0 when both labellings have a single label (or n = 0);
/// 0 when only one of them has. The denominator is clamped away from 0 by
/// DBL_EPSILON, as in scikit-learn. a.size() == b.size() else throws
/// error(invalid_argument). O(n log n + min(Ra, Rb) * n) time for Ra, Rb labels;
/// O(n) memory. The E[MI] sum runs on OpenMP threads, the result is
/// deterministic.
double adjusted_mutual_info(std::span<const std::int32_t> a, std::span<const std::int32_t> b);

/// Maps string labels to ids 0, 1, ... in order of first appearance.
std::vector<std::int32_t> encode_labels(std::span<const std::string> labels);

}  // namespace chutoro
