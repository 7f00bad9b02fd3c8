// chutoro — lookups over the one metric table (include/chutoro/metric_table.hpp)
// and the factories every door builds its built-in sources with.
#include <charconv>
#include <chutoro/error.hpp>
#include <chutoro/metric_table.hpp>
#include <cmath>
#include <string>

namespace chutoro {

const metric_info& builtin_metric(std::string_view name) {
  if (const metric_info* m = find_builtin_metric(name)) return *m;
  throw error(error_code::invalid_argument,
              "metric: unknown metric '" + std::string(name) + "' (expected " +
                  builtin_metric_names(metric_items::vectors) + " for vectors, " +
                  builtin_metric_names(metric_items::strings) + " for strings, or an alias " +
                  builtin_metric_alias_list() + ")");
}

std::string builtin_metric_names(metric_items items) {
  std::string out;
  for (const metric_info& m : builtin_metrics) {
    if (m.items != items) continue;
    if (!out.empty()) out += ", ";
    out += m.name;
  }
  return out;
}

std::string builtin_metric_alias_list() {
  std::string out;
  for (const metric_alias& a : builtin_metric_aliases) {
    if (!out.empty()) out += ", ";
    out += std::string(a.alias) + " (" + std::string(a.name) + ")";
  }
  return out;
}

namespace {

double parse_number(std::string_view text, std::string_view setting) {
  // strtod: from_chars for double is not in every libstdc++ this builds with.
  const std::string s(text);
  char* end = nullptr;
  const double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || std::isnan(v))
    throw error(error_code::invalid_argument,
                "metric parameter '" + std::string(setting) + "': '" + s + "' is not a number");
  return v;
}

std::vector<double> parse_numbers(std::string_view text, std::string_view setting) {
  std::vector<double> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string_view piece =
        text.substr(start, comma == std::string_view::npos ? comma : comma - start);
    out.push_back(parse_number(piece, setting));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

void parse_metric_param(std::string_view setting, metric_params& into) {
  const std::size_t eq = setting.find('=');
  if (eq == std::string_view::npos)
    throw error(error_code::invalid_argument, "metric parameter '" + std::string(setting) +
                                                  "': expected name=value (p=3, V=1,2,3 or VI=...)");
  const std::string_view name = setting.substr(0, eq), value = setting.substr(eq + 1);
  if (name == "p") {
    into.p = parse_number(value, setting);
  } else if (name == "V") {
    into.V = parse_numbers(value, setting);
  } else if (name == "VI") {
    into.VI = parse_numbers(value, setting);
  } else {
    throw error(error_code::invalid_argument, "metric parameter '" + std::string(setting) +
                                                  "': unknown name '" + std::string(name) +
                                                  "' (expected p for minkowski, V for seuclidean, VI for "
                                                  "mahalanobis)");
  }
}

void check_metric_params(const metric_info& m, const metric_params& params) {
  auto refuse = [&](std::string_view given) {
    if (m.params.empty())
      throw error(error_code::invalid_argument, "metric_params: " + std::string(m.name) +
                                                    " takes no parameters (got " + std::string(given) + ")");
    throw error(error_code::invalid_argument, "metric_params: " + std::string(m.name) + " takes " +
                                                  std::string(m.params) + ", not " + std::string(given));
  };
  if (params.p && m.params != "p") refuse("p");
  if (params.p && !(*params.p > 0 && std::isfinite(*params.p)))
    throw error(
        error_code::invalid_argument,
        "metric_params: minkowski's p must be a finite number > 0 (got " + std::to_string(*params.p) + ")");
  if (!params.V.empty() && m.params != "V") refuse("V");
  if (!params.VI.empty() && m.params != "VI") refuse("VI");
}

namespace {

std::vector<double> dense_params(const metric_params& params) {
  if (params.p) return {*params.p};
  if (!params.V.empty()) return params.V;
  return params.VI;
}

}  // namespace

std::unique_ptr<data_source> make_vector_source(std::span<const float> values, std::size_t n, std::size_t dim,
                                                std::string_view metric, const metric_params& params) {
  const metric_info& m = builtin_metric(metric);
  if (m.items != metric_items::vectors)
    throw error(error_code::invalid_argument, "metric: '" + std::string(metric) +
                                                  "' measures strings, not vectors (vector metrics: " +
                                                  builtin_metric_names(metric_items::vectors) + ")");
  check_metric_params(m, params);
  switch (m.kind) {
    case source_kind::products:
      return std::make_unique<product_source>(values, n, dim, static_cast<product_metric>(m.value));
    case source_kind::bits:
      return std::make_unique<bit_source>(
          bit_source::from_dense(values, n, dim, static_cast<bit_metric>(m.value)));
    default: {
      const std::vector<double> p = dense_params(params);
      return std::make_unique<dense_source>(values, n, dim, static_cast<dense_metric>(m.value), p);
    }
  }
}

std::unique_ptr<data_source> make_string_source(std::span<const std::string> items, std::string_view metric) {
  const metric_info& m = builtin_metric(metric);
  if (m.items != metric_items::strings)
    throw error(error_code::invalid_argument, "metric: '" + std::string(metric) +
                                                  "' measures vectors, not strings (string metrics: " +
                                                  builtin_metric_names(metric_items::strings) + ")");
  if (m.kind == source_kind::sets) return std::make_unique<set_source>(set_source::from_token_lines(items));
  return std::make_unique<string_source>(items);
}

std::unique_ptr<data_source> make_vector_source_like(const data_source& like, std::span<const float> values,
                                                     std::size_t n, std::size_t dim) {
  switch (like.kind()) {
    case source_kind::dense: {
      const auto& d = static_cast<const dense_source&>(like);
      return std::make_unique<dense_source>(values, n, dim, d.metric(), d.params());
    }
    case source_kind::products:
      return std::make_unique<product_source>(values, n, dim,
                                              static_cast<const product_source&>(like).metric());
    case source_kind::bits:
      return std::make_unique<bit_source>(
          bit_source::from_dense(values, n, dim, static_cast<const bit_source&>(like).metric()));
    case source_kind::sparse: {  // the non-zero entries of the dense rows
      std::vector<std::int64_t> indptr{0}, indices;
      std::vector<float> nonzero;
      if (values.size() == n * dim) {  // else the constructor below names the mismatch
        for (std::size_t i = 0; i < n; ++i) {
          for (std::size_t k = 0; k < dim; ++k)
            if (values[i * dim + k] != 0.0f)
              indices.push_back(std::int64_t(k)), nonzero.push_back(values[i * dim + k]);
          indptr.push_back(std::int64_t(indices.size()));
        }
      }
      return std::make_unique<sparse_source>(indptr, indices, nonzero, dim,
                                             static_cast<const sparse_source&>(like).metric());
    }
    default:
      throw error(error_code::type_mismatch, "new items: the model's '" + like.name() +
                                                 "' source does not hold vectors, so vectors cannot join it");
  }
}

}  // namespace chutoro
