// chutoro — atomic writer of clustering results (temporary file, fsync, rename).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <memory>
#include <string>

#include "io/io_common.hpp"

namespace chutoro {
namespace {

template <class T>
void append_number(std::string& out, T v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Writes `header` then one row per label: label, probability[, outlier score].
void write_rows(io_detail::output_file& out, const char* header, std::span<const std::int32_t> labels,
                std::span<const double> probabilities, std::span<const double> outlier_scores) {
  std::string buf = header;
  constexpr std::size_t flush_at = std::size_t{1} << 20;
  buf.reserve(flush_at + 128);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    append_number(buf, labels[i]);
    buf += ',';
    append_number(buf, probabilities[i]);
    if (!outlier_scores.empty()) {
      buf += ',';
      append_number(buf, outlier_scores[i]);
    }
    buf += '\n';
    if (buf.size() >= flush_at) {
      out.write(buf);
      buf.clear();
    }
  }
  out.write(buf);
}

}  // namespace

namespace io_detail {
std::unique_ptr<output_file> stage_clustering_csv(const std::filesystem::path& path,
                                                  std::span<const std::int32_t> labels,
                                                  std::span<const double> probabilities,
                                                  std::span<const double> outlier_scores) {
  if (labels.size() != probabilities.size() || labels.size() != outlier_scores.size()) {
    throw error(error_code::invalid_argument,
                path.string() + ": labels, probabilities and outlier_scores differ in length (" +
                    std::to_string(labels.size()) + ", " + std::to_string(probabilities.size()) + ", " +
                    std::to_string(outlier_scores.size()) + ")");
  }
  auto out = std::make_unique<output_file>(path);
  write_rows(*out, "label,probability,outlier_score\n", labels, probabilities, outlier_scores);
  return out;
}
}  // namespace io_detail

void write_clustering_csv(const std::filesystem::path& path, std::span<const std::int32_t> labels,
                          std::span<const double> probabilities, std::span<const double> outlier_scores) {
  io_detail::stage_clustering_csv(path, labels, probabilities, outlier_scores)->commit();
}

void write_prediction_csv(const std::filesystem::path& path, std::span<const std::int32_t> labels,
                          std::span<const double> probabilities) {
  if (labels.size() != probabilities.size()) {
    throw error(error_code::invalid_argument,
                path.string() + ": labels and probabilities differ in length (" +
                    std::to_string(labels.size()) + ", " + std::to_string(probabilities.size()) + ")");
  }
  io_detail::output_file out(path);
  write_rows(out, "label,probability\n", labels, probabilities, {});
  out.commit();
}

void write_soft_prediction_csv(const std::filesystem::path& path, std::span<const std::int32_t> labels,
                               std::span<const double> probabilities, std::span<const double> outlier_scores,
                               std::span<const double> membership, std::size_t k) {
  const std::size_t q = labels.size();
  if (probabilities.size() != q || outlier_scores.size() != q || membership.size() != q * k) {
    throw error(error_code::invalid_argument,
                path.string() + ": labels, probabilities, outlier_scores and membership (" +
                    std::to_string(q) + " x " + std::to_string(k) + ") differ in length");
  }
  io_detail::output_file out(path);
  std::string buf = "label,probability,outlier_score";
  for (std::size_t j = 0; j < k; ++j) buf += ",membership_" + std::to_string(j);
  buf += '\n';
  constexpr std::size_t flush_at = std::size_t{1} << 20;
  for (std::size_t i = 0; i < q; ++i) {
    append_number(buf, labels[i]);
    buf += ',';
    append_number(buf, probabilities[i]);
    buf += ',';
    append_number(buf, outlier_scores[i]);
    for (std::size_t j = 0; j < k; ++j) {
      buf += ',';
      append_number(buf, membership[i * k + j]);
    }
    buf += '\n';
    if (buf.size() >= flush_at) {
      out.write(buf);
      buf.clear();
    }
  }
  out.write(buf);
  out.commit();
}

}  // namespace chutoro
