// chutoro — bit_source (hamming, tanimoto over packed bit vectors).
#include <algorithm>
#include <chutoro/error.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/metrics.hpp>
#include <string>

#include "metrics/growth.hpp"
#include "metrics/set_bit_kernels.hpp"

namespace chutoro {

bit_metric parse_bit_metric(std::string_view name) {
  const metric_info* m = find_builtin_metric(name);
  if (m == nullptr || m->kind != source_kind::bits)
    throw error(error_code::invalid_argument, "metric: unknown bit-vector metric '" + std::string(name) +
                                                  "' (expected hamming or tanimoto)");
  return static_cast<bit_metric>(m->value);
}

std::string_view to_string(bit_metric m) noexcept {
  return m == bit_metric::tanimoto ? "tanimoto" : "hamming";
}

bit_source::bit_source(std::size_t n, std::size_t nbits, bit_metric metric)
    : data_source(source_kind::bits, builtin_key{}),
      n_(n),
      nbits_(nbits),
      words_((nbits + 63) / 64),
      metric_(metric) {
  expects(n > 0, error_code::invalid_argument, "bit_source: no rows (empty input)");
  expects(nbits > 0, error_code::invalid_argument, "bit_source: rows have no bits (nbits = 0)");
  bits_.assign(n * words_, 0);
}

bit_source::bit_source(std::span<const std::uint8_t> packed, std::size_t n, std::size_t nbits,
                       bit_metric metric)
    : bit_source(n, nbits, metric) {
  const std::size_t row_bytes = (nbits + 7) / 8;
  expects(packed.size() == n * row_bytes, error_code::invalid_argument,
          "bit_source: " + std::to_string(packed.size()) + " bytes for " + std::to_string(n) + " rows of " +
              std::to_string(nbits) + " bits (" + std::to_string(row_bytes) + " bytes each)");
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t* w = bits_.data() + i * words_;
    for (std::size_t byte = 0; byte < row_bytes; ++byte) {
      std::uint64_t v = packed[i * row_bytes + byte];
      if (byte == row_bytes - 1 && nbits % 8 != 0) v &= (0xFFu << (8 - nbits % 8)) & 0xFFu;  // drop pad bits
      w[byte / 8] |= v << (56 - 8 * (byte % 8));
    }
  }
}

bit_source bit_source::from_dense(std::span<const float> values, std::size_t n, std::size_t dim,
                                  bit_metric metric) {
  bit_source s(n, dim, metric);
  expects(values.size() == n * dim, error_code::invalid_argument,
          "bit_source: " + std::to_string(values.size()) + " values for " + std::to_string(n) + " rows x " +
              std::to_string(dim) + " columns");
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < dim; ++k) {
      const float v = values[i * dim + k];
      if (v == 1.0f) {
        s.bits_[i * s.words_ + k / 64] |= std::uint64_t{1} << (63 - k % 64);
      } else if (v != 0.0f) {
        throw error(error_code::invalid_argument, "bit_source: row " + std::to_string(i) + ", column " +
                                                      std::to_string(k) + " is " + std::to_string(v) + "; " +
                                                      std::string(to_string(metric)) +
                                                      " needs values 0 or 1 (0-based row, column)");
      }
    }
  }
  return s;
}

float bit_source::distance(std::size_t i, std::size_t j) const {
  return metric_ == bit_metric::tanimoto ? detail::tanimoto_kernel(row(i), row(j), words_)
                                         : detail::hamming_kernel(row(i), row(j), words_);
}

void bit_source::check_compatible(const data_source& other) const {
  const auto* o = other.kind() == source_kind::bits ? static_cast<const bit_source*>(&other) : nullptr;
  detail::expect_compatible(*this, other, o != nullptr, o && o->metric_ == metric_, o && o->nbits_ == nbits_);
}

float bit_source::cross_distance(const data_source& other, std::size_t i, std::size_t j) const {
  const auto& o = static_cast<const bit_source&>(other);
  return metric_ == bit_metric::tanimoto ? detail::tanimoto_kernel(o.row(i), row(j), words_)
                                         : detail::hamming_kernel(o.row(i), row(j), words_);
}

void bit_source::append(const data_source& other) {
  check_compatible(other);
  const auto& o = static_cast<const bit_source&>(other);
  const std::size_t m = o.n_, count = m * words_, base = bits_.size();  // before growing: o may be *this
  // Reserving is the only step that can throw, and it changes no element (strong guarantee).
  detail::reserve_geometric(bits_, base + count);
  bits_.resize(base + count);
  std::copy_n(o.bits_.data(), count, bits_.data() + base);  // disjoint even when o is *this
  n_ += m;
}

void bit_source::truncate(std::size_t n) noexcept {
  if (n >= n_) return;
  n_ = n;
  bits_.resize(n * words_);  // shrinking: no allocation
}

}  // namespace chutoro
