// test_data.hpp — data helpers for the oracle and property tests, independent
// of the library's io and eval code: seeded Gaussian blobs, a tiny CSV and NPY
// (v1, float64, C order) loader for ../shared/data, jitter / subsampling, and
// the adjusted Rand index (scikit-learn's adjusted_rand_score) computed here.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#ifndef CHUTORO_DATA_DIR
#define CHUTORO_DATA_DIR "../shared/data"
#endif

namespace chutoro_test {

/// Row-major n x dim float32 table.
struct dense_data {
  std::vector<float> values;
  std::size_t n = 0;
  std::size_t dim = 0;
  std::vector<std::int32_t> truth;  // generating blob (-1: background noise), when known
  float at(std::size_t i, std::size_t k) const { return values[i * dim + k]; }
};

inline std::string data_path(const std::string& name) { return std::string(CHUTORO_DATA_DIR) + "/" + name; }

/// `n` points in `dim` dimensions: `centers` isotropic Gaussian blobs with
/// centres uniform in [-10, 10]^dim and standard deviations drawn in [0.4, 1.5]
/// (varying density), plus a fraction `noise` of uniform background points in
/// [-12, 12]^dim. Continuous coordinates: exact distance ties have probability ~0.
inline dense_data make_blobs(std::size_t n, std::size_t dim, std::size_t centers, double noise,
                             std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> centre(-10.0, 10.0), spread(0.4, 1.5), background(-12.0, 12.0);
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::vector<std::vector<double>> c(centers, std::vector<double>(dim));
  std::vector<double> sd(centers);
  for (std::size_t k = 0; k < centers; ++k) {
    for (double& x : c[k]) x = centre(rng);
    sd[k] = spread(rng);
  }
  dense_data d;
  d.n = n;
  d.dim = dim;
  d.values.resize(n * dim);
  d.truth.resize(n);
  const auto n_noise = static_cast<std::size_t>(noise * static_cast<double>(n));
  for (std::size_t i = 0; i < n; ++i) {
    if (i < n_noise) {
      d.truth[i] = -1;
      for (std::size_t k = 0; k < dim; ++k) d.values[i * dim + k] = static_cast<float>(background(rng));
    } else {
      const std::size_t b = (i - n_noise) % centers;
      d.truth[i] = static_cast<std::int32_t>(b);
      for (std::size_t k = 0; k < dim; ++k)
        d.values[i * dim + k] = static_cast<float>(c[b][k] + sd[b] * gauss(rng));
    }
  }
  return d;
}

/// Uniform random points in [0, 1]^dim.
inline dense_data make_uniform(std::size_t n, std::size_t dim, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  dense_data d;
  d.n = n;
  d.dim = dim;
  d.values.resize(n * dim);
  for (float& x : d.values) x = static_cast<float>(u(rng));
  return d;
}

/// CSV with a header row and numeric cells; drops the last column when `drop_last` (a label).
inline dense_data load_csv(const std::string& path, bool drop_last) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("test_data: cannot open " + path);
  std::string line;
  std::getline(in, line);  // header
  dense_data d;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<float> row;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) row.push_back(std::stof(cell));
    if (drop_last) row.pop_back();
    if (d.dim == 0) d.dim = row.size();
    if (row.size() != d.dim) throw std::runtime_error("test_data: ragged row in " + path);
    d.values.insert(d.values.end(), row.begin(), row.end());
    ++d.n;
  }
  return d;
}

/// Writes `v` as an n x dim float32 .npy (version 1.0, '<f4', C order) at `path`.
inline void save_npy_f4(const std::string& path, const std::vector<float>& v, std::size_t n,
                        std::size_t dim) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " +
                       std::to_string(dim) + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<std::uint16_t>(header.size());
  out.put(static_cast<char>(len & 0xFF)).put(static_cast<char>(len >> 8));
  out << header;
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
}

/// NPY version 1.0, '<f8', C order, 2-D.
inline dense_data load_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("test_data: cannot open " + path);
  char magic[8];
  in.read(magic, 8);
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0 || magic[6] != 1)
    throw std::runtime_error("test_data: not an NPY v1 file: " + path);
  unsigned char len[2];
  in.read(reinterpret_cast<char*>(len), 2);
  std::string header(static_cast<std::size_t>(len[0] | (len[1] << 8)), '\0');
  in.read(header.data(), static_cast<std::streamsize>(header.size()));
  if (header.find("'<f8'") == std::string::npos || header.find("'fortran_order': False") == std::string::npos)
    throw std::runtime_error("test_data: expected <f8 C-order in " + path);
  const auto open = header.find('(', header.find("'shape'"));
  dense_data d;
  std::sscanf(header.c_str() + open, "(%zu, %zu)", &d.n, &d.dim);
  std::vector<double> buf(d.n * d.dim);
  in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size() * sizeof(double)));
  if (!in) throw std::runtime_error("test_data: truncated " + path);
  d.values.assign(buf.begin(), buf.end());
  return d;
}

/// `count` distinct rows chosen with a fixed seed (order kept), each coordinate
/// moved by uniform noise of relative size `jitter` (times the column's range)
/// so that no two distances tie.
inline dense_data subsample_jitter(const dense_data& src, std::size_t count, double jitter,
                                   std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::size_t> idx(src.n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(std::min(count, src.n));
  std::sort(idx.begin(), idx.end());
  std::vector<double> range(src.dim);
  for (std::size_t k = 0; k < src.dim; ++k) {
    float lo = src.at(0, k), hi = lo;
    for (std::size_t i = 0; i < src.n; ++i) lo = std::min(lo, src.at(i, k)), hi = std::max(hi, src.at(i, k));
    range[k] = hi - lo;
  }
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  dense_data d;
  d.n = idx.size();
  d.dim = src.dim;
  for (std::size_t i : idx)
    for (std::size_t k = 0; k < src.dim; ++k)
      d.values.push_back(static_cast<float>(src.at(i, k) + jitter * range[k] * u(rng)));
  return d;
}

/// Rows reordered: out row i = in row perm[i].
inline dense_data permute_rows(const dense_data& src, const std::vector<std::size_t>& perm) {
  dense_data d;
  d.n = src.n;
  d.dim = src.dim;
  d.values.resize(src.values.size());
  for (std::size_t i = 0; i < src.n; ++i)
    std::copy_n(src.values.begin() + static_cast<std::ptrdiff_t>(perm[i] * src.dim), src.dim,
                d.values.begin() + static_cast<std::ptrdiff_t>(i * src.dim));
  return d;
}

/// Adjusted Rand index with scikit-learn's definition (noise -1 is an ordinary label):
/// (sum_ij C(n_ij,2) - E) / ((sum_i C(a_i,2) + sum_j C(b_j,2)) / 2 - E),
/// E = sum_i C(a_i,2) sum_j C(b_j,2) / C(n,2); 1.0 when the denominator is 0.
inline double adjusted_rand(std::span<const std::int32_t> a, std::span<const std::int32_t> b) {
  if (a.size() != b.size()) throw std::invalid_argument("adjusted_rand: size mismatch");
  auto c2 = [](double x) { return x * (x - 1.0) / 2.0; };
  std::map<std::pair<std::int32_t, std::int32_t>, double> joint;
  std::map<std::int32_t, double> ca, cb;
  for (std::size_t i = 0; i < a.size(); ++i) {
    joint[{a[i], b[i]}] += 1;
    ca[a[i]] += 1;
    cb[b[i]] += 1;
  }
  double sij = 0, sa = 0, sb = 0;
  for (const auto& [k, v] : joint) sij += c2(v);
  for (const auto& [k, v] : ca) sa += c2(v);
  for (const auto& [k, v] : cb) sb += c2(v);
  const double expected = sa * sb / c2(static_cast<double>(a.size()));
  const double denom = 0.5 * (sa + sb) - expected;
  if (denom == 0.0) return 1.0;
  return (sij - expected) / denom;
}

/// True when two labellings are the same partition (cluster ids may be renamed; -1 must map to -1).
inline bool same_partition(std::span<const std::int32_t> a, std::span<const std::int32_t> b) {
  if (a.size() != b.size()) return false;
  std::map<std::int32_t, std::int32_t> ab, ba;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((a[i] == -1) != (b[i] == -1)) return false;
    const auto x = ab.emplace(a[i], b[i]).first;
    const auto y = ba.emplace(b[i], a[i]).first;
    if (x->second != b[i] || y->second != a[i]) return false;
  }
  return true;
}

}  // namespace chutoro_test
