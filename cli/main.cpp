// chutoro — the command-line tool.
//
//   chutoro cluster INPUT [options]   cluster a CSV, NPY, text, Parquet or Arrow file
//   chutoro cluster --plugin LIB.so --plugin-arg ARG [options]   cluster a plugin's items
//   chutoro --version
//
// Exit status: 0 success; 1 a failure with the input, the run or the output
// (chutoro::error and other runtime errors); 2 a usage error (unknown or
// malformed option, out-of-range value, metric that does not fit the format).
// Every error is one line on stderr, "chutoro: error: <message>", and no
// output file (nor temporary file) is left behind.
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <chutoro/arrow.hpp>
#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/io.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/params.hpp>
#include <chutoro/plugin_source.hpp>
#include <chutoro/scores.hpp>
#include <chutoro/simd.hpp>
#include <chutoro/version.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

/// A bad command line discovered after parsing (exit status 2).
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct cluster_options {
  std::string input;
  std::string format = "auto";
  std::string metric;  // empty: the format's default
  long long min_cluster_size = 5;
  long long min_samples = 0;  // used only when given
  std::string selection_method = "eom";
  double selection_epsilon = 0.0;
  bool allow_single_cluster = false;
  std::string candidates = "hnsw";
  long long m = 16;
  long long ef_construction = 100;
  std::string seed = "42";  // parsed here: CLI11 wraps "-1" into an unsigned
  long long threads = 0;
  std::string label_column;
  std::string column;  // parquet / arrow: the column to cluster
  std::string plugin;  // a plugin library instead of INPUT
  std::string plugin_arg;
  std::string output;
  bool json = false;
  bool quiet = false;
  // Which options were given.
  bool has_min_samples = false, has_threads = false, has_label_column = false, has_output = false;
  bool has_column = false, has_plugin = false, has_plugin_arg = false;
};

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::uint64_t peak_rss_bytes() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<std::uint64_t>(ru.ru_maxrss) * 1024u;  // Linux: kilobytes
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

void print_error(const std::string& message) {
  std::cout.flush();
  std::fprintf(stderr, "chutoro: error: %s\n", one_line(message).c_str());
  std::fflush(stderr);
}

/// A one-line progress bar on stderr, redrawn in place when the percentage or stage changes.
class progress_bar {
 public:
  explicit progress_bar(bool enabled) : enabled_(enabled) {}
  ~progress_bar() { clear(); }
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

  void update(std::string_view stage, std::size_t done, std::size_t total) {
    if (!enabled_) return;
    const int pct = total == 0 ? 100 : static_cast<int>(std::min<std::size_t>(100, done * 100 / total));
    if (stage == stage_ && pct == pct_) return;
    stage_ = std::string(stage);
    pct_ = pct;
    constexpr int width = 30;
    const int filled = pct * width / 100;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(width - filled), '-');
    std::fprintf(stderr, "\r\033[K%-14s [%s] %3d%%", stage_.c_str(), bar.c_str(), pct);
    std::fflush(stderr);
    drawn_ = true;
  }

  void clear() {
    if (!drawn_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::string stage_;
  int pct_ = -1;
};

std::string with_commas(std::uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(digits);
  os << v;
  return os.str();
}

std::string human_bytes(std::uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return fixed(v, u == 0 ? 0 : 1) + " " + units[u];
}

/// Checks that the output can be created before any work is done.
void check_output_path(const std::string& output) {
  const fs::path p(output);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw chutoro::error(chutoro::error_code::io,
                         output + ": cannot write the output: directory " + dir.string() + " does not exist");
  }
  if (fs::is_directory(p, ec)) {
    throw chutoro::error(chutoro::error_code::io, output + ": cannot write the output: it is a directory");
  }
}

int run_cluster(const cluster_options& o) {
  const auto t_start = clock_type::now();

  // ---- options that CLI11 cannot range-check
  auto at_least = [](const char* flag, long long v, long long lo) {
    if (v < lo) {
      throw usage_error(std::string(flag) + " must be >= " + std::to_string(lo) + " (got " +
                        std::to_string(v) + ")");
    }
  };
  at_least("--min-cluster-size", o.min_cluster_size, 2);
  if (o.has_min_samples) at_least("--min-samples", o.min_samples, 1);
  at_least("--m", o.m, 2);
  at_least("--ef-construction", o.ef_construction, 1);
  at_least("--threads", o.threads, 0);
  if (!std::isfinite(o.selection_epsilon) || o.selection_epsilon < 0) {
    throw usage_error("--cluster-selection-epsilon must be a finite number >= 0 (got " +
                      std::to_string(o.selection_epsilon) + ")");
  }
  if (o.threads > 4096)
    throw usage_error("--threads must be <= 4096 (got " + std::to_string(o.threads) + ")");

  chutoro::params p;
  p.selection.min_cluster_size = static_cast<std::size_t>(o.min_cluster_size);
  if (o.has_min_samples) p.build.min_samples = static_cast<std::size_t>(o.min_samples);
  if (o.selection_method == "eom") {
    p.selection.method = chutoro::cluster_selection_method::eom;
  } else if (o.selection_method == "leaf") {
    p.selection.method = chutoro::cluster_selection_method::leaf;
  } else {
    throw usage_error("unknown --cluster-selection-method \"" + o.selection_method +
                      "\"; choose eom or leaf");
  }
  p.selection.cluster_selection_epsilon = o.selection_epsilon;
  p.selection.allow_single_cluster = o.allow_single_cluster;
  if (o.candidates == "hnsw") {
    p.build.candidates = chutoro::candidate_mode::hnsw;
  } else if (o.candidates == "exact") {
    p.build.candidates = chutoro::candidate_mode::exact;
  } else {
    throw usage_error("unknown --candidates \"" + o.candidates + "\"; choose hnsw or exact");
  }
  p.build.m = static_cast<std::size_t>(o.m);
  p.build.ef_construction = static_cast<std::size_t>(o.ef_construction);
  {
    std::uint64_t seed = 0;
    const char* b = o.seed.data();
    const char* e = b + o.seed.size();
    const auto [ptr, ec] = std::from_chars(b, e, seed);
    if (o.seed.empty() || ec != std::errc{} || ptr != e) {
      throw usage_error("--seed must be an integer in [0, 2^64 - 1] (got \"" + o.seed + "\")");
    }
    p.build.seed = seed;
  }
  p.build.threads = static_cast<int>(o.threads);
  try {
    chutoro::validate(p);
  } catch (const chutoro::error& e) {
    throw usage_error(e.what());
  }
  if (o.has_threads && o.threads > 0) omp_set_num_threads(static_cast<int>(o.threads));

  // ---- input, format and metric
  if (o.has_plugin == !o.input.empty()) {
    throw usage_error(o.has_plugin ? "give either INPUT or --plugin, not both"
                                   : "INPUT is required (or --plugin LIB.so --plugin-arg ARG)");
  }
  if (o.has_plugin_arg && !o.has_plugin) throw usage_error("--plugin-arg needs --plugin");
  if (o.has_plugin) {
    if (!o.metric.empty())
      throw usage_error("--metric does not apply to --plugin: the plugin defines the distance");
    if (o.format != "auto") throw usage_error("--format does not apply to --plugin");
    if (o.has_label_column || o.has_column)
      throw usage_error("--label-column and --column do not apply to --plugin");
  }
  const std::string input_name = o.has_plugin ? o.plugin : o.input;
  chutoro::input_format format{};
  if (o.has_plugin) {
    // no file format
  } else if (o.format == "auto") {
    try {
      format = chutoro::detect_format(o.input);
    } catch (const chutoro::error& e) {
      throw usage_error(e.what());
    }
  } else if (o.format == "csv" || o.format == "npy" || o.format == "lines" || o.format == "parquet" ||
             o.format == "arrow") {
    format = chutoro::parse_input_format(o.format);
  } else {
    throw usage_error("unknown --format \"" + o.format +
                      "\"; choose auto, csv, npy, lines, parquet or arrow");
  }
  const bool columnar =
      !o.has_plugin && (format == chutoro::input_format::parquet || format == chutoro::input_format::arrow);
  std::string format_name = o.has_plugin ? "plugin" : std::string(chutoro::to_string(format));
  if (columnar && !chutoro::arrow_files_supported()) {
    throw chutoro::error(
        chutoro::error_code::unsupported,
        o.input + ": " + (format == chutoro::input_format::parquet ? "Parquet" : "Arrow IPC") +
            " support was not built into this chutoro (Apache Arrow C++ was not found when it was "
            "configured; run scripts/arrow_env.sh and rebuild)");
  }
  if (o.has_column && !columnar) {
    throw usage_error("--column needs a parquet or arrow input; " + o.input + " is read as " + format_name);
  }
  if (o.has_label_column && (o.has_plugin || format != chutoro::input_format::csv)) {
    throw usage_error("--label-column needs a csv input; " + input_name + " is read as " + format_name);
  }
  if (o.has_output) check_output_path(o.output);

  static const std::vector<std::string> dense_metrics = {"euclidean", "cosine",  "manhattan", "inner_product",
                                                         "angular",   "hamming", "tanimoto"};
  static const std::vector<std::string> string_metrics = {"levenshtein", "jaccard"};
  auto one_of = [](const std::vector<std::string>& names, const std::string& m) {
    return std::find(names.begin(), names.end(), m) != names.end();
  };
  auto joined = [](const std::vector<std::string>& names) {
    std::string j;
    for (std::size_t k = 0; k < names.size(); ++k)
      j += (k == 0 ? "" : k + 1 == names.size() ? " or " : ", ") + names[k];
    return j;
  };
  if (!o.metric.empty() && !one_of(dense_metrics, o.metric) && !one_of(string_metrics, o.metric)) {
    throw usage_error("unknown --metric \"" + o.metric + "\"; choose " + joined(dense_metrics) +
                      " (vectors: csv, npy, parquet/arrow list columns) or " + joined(string_metrics) +
                      " (strings: lines, parquet/arrow string columns)");
  }
  // The kind of item is known before reading except for parquet/arrow (the column's type tells).
  auto check_fit = [&](bool dense_items, const std::string& m) {
    if (dense_items && !one_of(dense_metrics, m)) {
      throw usage_error("metric \"" + m + "\" does not fit format " + format_name +
                        " (dense vectors): choose " + joined(dense_metrics));
    }
    if (!dense_items && !one_of(string_metrics, m)) {
      throw usage_error("metric \"" + m + "\" does not fit format " + format_name + " (strings): choose " +
                        joined(string_metrics));
    }
  };
  if (!o.has_plugin && !columnar && !o.metric.empty())
    check_fit(format != chutoro::input_format::lines, o.metric);

  // ---- read
  const auto t_read = clock_type::now();
  std::unique_ptr<chutoro::data_source> source;
  chutoro::dense_table table;
  std::vector<std::string> items;
  bool dense = false;
  std::size_t n = 0, dim = 0;
  auto with_file = [&](const auto& build) {
    try {
      build();
    } catch (const chutoro::error& e) {
      const std::string msg = e.what();
      if (msg.rfind(input_name, 0) == 0 || msg.rfind("plugin " + input_name, 0) == 0)
        throw;  // names the file
      throw chutoro::error(e.code(), input_name + ": " + msg);
    }
  };
  std::string metric;
  if (o.has_plugin) {
    source = std::make_unique<chutoro::plugin_source>(o.plugin, o.plugin_arg);
    n = source->size();
    metric = source->name();
  } else {
    if (format == chutoro::input_format::csv) {
      table = chutoro::read_csv(
          o.input, o.has_label_column ? std::optional<std::string_view>(o.label_column) : std::nullopt);
      dense = true;
    } else if (format == chutoro::input_format::npy) {
      table = chutoro::read_npy(o.input);
      dense = true;
    } else if (format == chutoro::input_format::lines) {
      items = chutoro::read_lines(o.input);
    } else {
      const auto col = o.has_column ? std::optional<std::string_view>(o.column) : std::nullopt;
      chutoro::column_data c = format == chutoro::input_format::parquet
                                   ? chutoro::read_parquet(o.input, col)
                                   : chutoro::read_arrow_ipc(o.input, col);
      dense = c.type == chutoro::column_data::kind::dense;
      if (dense) {
        table = std::move(c.dense);
      } else {
        items = std::move(c.strings);
      }
      format_name += ", column " + c.name;
    }
    metric = o.metric.empty() ? (dense ? "euclidean" : "levenshtein") : o.metric;
    check_fit(dense, metric);
    if (dense) {
      n = table.n;
      dim = table.dim;
      with_file([&] {
        if (metric == "inner_product" || metric == "angular") {
          source = std::make_unique<chutoro::product_source>(table.values, table.n, table.dim,
                                                             chutoro::parse_product_metric(metric));
        } else if (metric == "hamming" || metric == "tanimoto") {
          source = std::make_unique<chutoro::bit_source>(chutoro::bit_source::from_dense(
              table.values, table.n, table.dim, chutoro::parse_bit_metric(metric)));
        } else {
          source = std::make_unique<chutoro::dense_source>(table.values, table.n, table.dim,
                                                           chutoro::parse_dense_metric(metric));
        }
      });
      table.values = {};  // the source holds its own copy
    } else {
      n = items.size();
      with_file([&] {
        if (metric == "jaccard") {
          source = std::make_unique<chutoro::set_source>(chutoro::set_source::from_token_lines(items));
        } else {
          source = std::make_unique<chutoro::string_source>(items);
        }
      });
      items = {};
    }
  }
  const double seconds_read = seconds_since(t_read);

  if (n < p.selection.min_cluster_size) {
    throw chutoro::error(chutoro::error_code::invalid_argument,
                         input_name + ": " + std::to_string(n) + (n == 1 ? " item" : " items") +
                             ", fewer than --min-cluster-size " +
                             std::to_string(p.selection.min_cluster_size));
  }
  if (p.min_samples() > n) {
    throw chutoro::error(chutoro::error_code::invalid_argument,
                         input_name + ": " + std::to_string(n) + (n == 1 ? " item" : " items") +
                             ", fewer than --min-samples " + std::to_string(p.min_samples()) +
                             (o.has_min_samples ? "" : " (--min-samples defaults to --min-cluster-size)"));
  }

  // ---- fit
  const bool show_progress = !o.quiet && !o.json && ::isatty(STDERR_FILENO) == 1;
  progress_bar bar(show_progress);
  chutoro::result r;
  with_file([&] {
    r = chutoro::fit(*source, p, [&bar](std::string_view stage, std::size_t done, std::size_t total) {
      bar.update(stage, done, total);
    });
  });
  bar.clear();
  source.reset();

  // ---- scores
  std::optional<double> ari, ami;
  if (o.has_label_column) {
    const std::vector<std::int32_t> truth = chutoro::encode_labels(table.labels);
    ari = chutoro::adjusted_rand_index(truth, r.labels);
    ami = chutoro::adjusted_mutual_info(truth, r.labels);
  }

  // ---- output
  if (o.has_output) chutoro::write_clustering_csv(o.output, r.labels, r.probabilities, r.outlier_scores);

  // ---- report
  std::int32_t max_label = -1;
  std::size_t noise = 0;
  for (const auto l : r.labels) {
    max_label = std::max(max_label, l);
    noise += l < 0 ? 1 : 0;
  }
  const std::size_t k = std::max<std::size_t>(r.n_clusters(), static_cast<std::size_t>(max_label + 1));
  std::vector<std::uint64_t> sizes(k, 0);
  for (const auto l : r.labels) {
    if (l >= 0) ++sizes[static_cast<std::size_t>(l)];
  }
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  const double noise_fraction = n ? static_cast<double>(noise) / static_cast<double>(n) : 0.0;
  const double seconds_total = seconds_since(t_start);
  const std::uint64_t rss = peak_rss_bytes();

  if (o.json) {
    nlohmann::ordered_json j;
    j["version"] = CHUTORO_VERSION_STRING;
    j["input"] = input_name;
    if (o.has_plugin) j["plugin_arg"] = o.plugin_arg;
    j["format"] = format_name;
    j["n"] = n;
    j["dim"] = dim;
    j["metric"] = metric;
    j["candidates"] = std::string(chutoro::to_string(p.build.candidates));
    j["min_cluster_size"] = p.selection.min_cluster_size;
    j["min_samples"] = p.min_samples();
    j["cluster_selection_method"] = std::string(chutoro::to_string(p.selection.method));
    j["cluster_selection_epsilon"] = p.selection.cluster_selection_epsilon;
    j["allow_single_cluster"] = p.selection.allow_single_cluster;
    j["m"] = p.build.m;
    j["ef_construction"] = p.build.ef_construction;
    j["seed"] = p.build.seed;
    j["threads"] = omp_get_max_threads();
    j["clusters"] = k;
    j["noise_fraction"] = noise_fraction;
    j["cluster_sizes"] = sizes;
    j["seconds"] = {{"total", seconds_total},
                    {"read", seconds_read},
                    {"graph", r.stats.seconds_graph},
                    {"mst", r.stats.seconds_mst},
                    {"hierarchy", r.stats.seconds_hierarchy}};
    j["peak_rss_bytes"] = rss;
    j["distance_computations"] = r.stats.distance_computations;
    j["candidate_edges"] = r.stats.candidate_edges;
    if (o.has_label_column) {
      j["label_column"] = o.label_column;
      j["ari"] = *ari;
      j["ami"] = *ami;
    }
    if (o.has_output) j["output"] = o.output;
    std::cout << j.dump() << '\n';
  } else if (!o.quiet) {
    std::ostringstream s;
    s << "chutoro " << CHUTORO_VERSION_STRING << ": " << input_name << " (" << format_name << "), " << n
      << (n == 1 ? " item" : " items");
    if (dense) s << " x " << dim << (dim == 1 ? " dim" : " dims");
    s << "\n";
    s << "  metric " << metric << ", candidates " << chutoro::to_string(p.build.candidates)
      << ", min_cluster_size " << p.selection.min_cluster_size << ", min_samples " << p.min_samples()
      << ", selection " << chutoro::to_string(p.selection.method) << "\n";
    s << "  clusters    " << k;
    if (!sizes.empty()) {
      s << " (largest:";
      const std::size_t shown = std::min<std::size_t>(sizes.size(), 8);
      for (std::size_t i = 0; i < shown; ++i) s << (i ? ", " : " ") << sizes[i];
      if (shown < sizes.size()) s << ", ...";
      s << ")";
    }
    s << "\n";
    s << "  noise       " << fixed(100.0 * noise_fraction, 1) << "% (" << noise
      << (noise == 1 ? " item" : " items") << ")\n";
    if (o.has_label_column) {
      s << "  ARI / AMI   " << fixed(*ari, 4) << " / " << fixed(*ami, 4) << " (against column \""
        << o.label_column << "\")\n";
    }
    s << "  time        " << fixed(seconds_total, 3) << " s (read " << fixed(seconds_read, 3) << ", graph "
      << fixed(r.stats.seconds_graph, 3) << ", mst " << fixed(r.stats.seconds_mst, 3) << ", hierarchy "
      << fixed(r.stats.seconds_hierarchy, 3) << ")\n";
    s << "  distances   " << with_commas(r.stats.distance_computations) << " computed\n";
    s << "  peak RSS    " << human_bytes(rss) << "\n";
    if (o.has_output) s << "  output      " << o.output << "\n";
    std::cout << s.str();
  }
  std::cout.flush();
  return 0;
}

CLI::App* add_cluster_command(CLI::App& app, cluster_options& o) {
  CLI::App* c = app.add_subcommand("cluster", "Cluster the items of INPUT (FISHDBC / HDBSCAN*)");
  c->add_option("INPUT", o.input,
                "Input file: .csv (header row), .npy (2-D float32/float64), text (one item a line), "
                ".parquet or .arrow/.feather (one column)");
  c->add_option("--format", o.format, "auto (by extension) | csv | npy | lines | parquet | arrow")
      ->capture_default_str();
  c->add_option(
      "--metric", o.metric,
      "vectors: euclidean (default) | cosine | manhattan | inner_product | angular | hamming | tanimoto "
      "(0/1 values); strings: levenshtein (default) | jaccard (whitespace token sets)");
  c->add_option(
      "--column", o.column,
      "parquet/arrow: the column to cluster (fixed_size_list or list of float32/float64, or string); "
      "default: the only column");
  c->add_option("--plugin", o.plugin,
                "Cluster the items of a plugin library (chutoro/plugin.h) instead of INPUT");
  c->add_option("--plugin-arg", o.plugin_arg,
                "The argument string passed to the plugin (e.g. its data file)");
  c->add_option("--min-cluster-size", o.min_cluster_size, "Smallest cluster size, >= 2")
      ->capture_default_str();
  c->add_option("--min-samples", o.min_samples,
                "Core-distance k, the item itself counting; default: min cluster size");
  c->add_option("--cluster-selection-method", o.selection_method, "eom | leaf")->capture_default_str();
  c->add_option("--cluster-selection-epsilon", o.selection_epsilon,
                "Merge clusters split below this distance (HDBSCAN(eps-hat)), >= 0")
      ->capture_default_str();
  c->add_flag("--allow-single-cluster", o.allow_single_cluster, "Allow the root to be the only cluster");
  c->add_option("--candidates", o.candidates, "hnsw (FISHDBC) | exact (all pairs, O(n^2): small inputs only)")
      ->capture_default_str();
  c->add_option("--m", o.m, "HNSW links per node, >= 2")->capture_default_str();
  c->add_option("--ef-construction", o.ef_construction, "HNSW candidate list size while inserting, >= 1")
      ->capture_default_str();
  c->add_option("--seed", o.seed, "Seed of the HNSW build, an integer in [0, 2^64 - 1]")
      ->type_name("UINT64")
      ->capture_default_str();
  c->add_option("--threads", o.threads, "Worker threads; 0 = all cores")->capture_default_str();
  c->add_option(
      "--label-column", o.label_column,
      "CSV column holding ground-truth classes: not a feature; the result is scored against it (ARI, AMI)");
  c->add_option("--output", o.output,
                "Write label,probability,outlier_score per item to this CSV (atomically: all or nothing)");
  c->add_flag("--json", o.json, "Print one JSON object with the run's summary on stdout");
  c->add_flag("--quiet", o.quiet, "Print nothing but errors (--json still prints its object)");
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chutoro: FISHDBC density-based clustering, a scalable approximation of HDBSCAN*", "chutoro"};
  app.set_version_flag("--version", std::function<std::string()>([] {
                         try {
                           return std::string("chutoro ") + CHUTORO_VERSION_STRING + "\nsimd " +
                                  chutoro::simd_target();
                         } catch (const chutoro::error& e) {
                           throw CLI::ValidationError("--version", e.what());
                         }
                       }),
                       "Print the version and the SIMD target of the distance kernels, and exit");
  app.require_subcommand(1);
  cluster_options o;
  CLI::App* cluster = add_cluster_command(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string msg = e.what();
    if (msg.empty()) msg = e.get_name();
    print_error(msg + " (see chutoro " + (cluster->parsed() ? "cluster " : "") + "--help)");
    return 2;
  }
  o.has_min_samples = cluster->count("--min-samples") > 0;
  o.has_threads = cluster->count("--threads") > 0;
  o.has_label_column = cluster->count("--label-column") > 0;
  o.has_output = cluster->count("--output") > 0;
  o.has_column = cluster->count("--column") > 0;
  o.has_plugin = cluster->count("--plugin") > 0;
  o.has_plugin_arg = cluster->count("--plugin-arg") > 0;

  try {
    return run_cluster(o);
  } catch (const usage_error& e) {
    print_error(e.what());
    return 2;
  } catch (const chutoro::error& e) {
    print_error(e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    print_error("out of memory");
    return 1;
  } catch (const std::exception& e) {
    print_error(e.what());
    return 1;
  }
}
