// chutoro — the command-line tool: options, input reading, output writing and
// the run summary shared by its commands (cli.hpp).
#include <omp.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chutoro/arrow.hpp>
#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/plugin_source.hpp>
#include <chutoro/version.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "io/io_common.hpp"

namespace chutoro_cli {

namespace fs = std::filesystem;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

namespace {

constexpr long long kMaxItems = static_cast<long long>(chutoro::param_limits::max_items);
constexpr long long kMaxThreads = 4096;

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

std::string with_commas(std::uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
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

void at_least(const char* flag, long long v, long long lo) {
  if (v < lo) {
    throw usage_error(std::string(flag) + " must be >= " + std::to_string(lo) + " (got " + std::to_string(v) +
                      ")");
  }
}

/// The metric names (canonical and aliases) for items `items`, from the one table (metric_table.hpp).
std::vector<std::string> metric_names(chutoro::metric_items items, bool with_aliases) {
  std::vector<std::string> out;
  for (const chutoro::metric_info& m : chutoro::builtin_metrics)
    if (m.items == items) out.emplace_back(m.name);
  if (with_aliases)
    for (const chutoro::metric_alias& a : chutoro::builtin_metric_aliases)
      if (chutoro::find_builtin_metric(a.name)->items == items) out.emplace_back(a.alias);
  return out;
}

const std::vector<std::string> dense_metrics = metric_names(chutoro::metric_items::vectors, true);
const std::vector<std::string> string_metrics = metric_names(chutoro::metric_items::strings, true);

bool one_of(const std::vector<std::string>& names, const std::string& m) {
  return std::find(names.begin(), names.end(), m) != names.end();
}

std::string joined(const std::vector<std::string>& names) {
  std::string j;
  for (std::size_t k = 0; k < names.size(); ++k)
    j += (k == 0 ? "" : k + 1 == names.size() ? " or " : ", ") + names[k];
  return j;
}

}  // namespace

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(digits);
  os << v;
  return os.str();
}

void print_error(const std::string& message) {
  std::cout.flush();
  // Messages quote what files hold (already escaped); file names and plugin
  // names may still carry control characters or bytes that are not UTF-8.
  std::fprintf(stderr, "chutoro: error: %s\n", chutoro::io_detail::escape_text(one_line(message)).c_str());
  std::fflush(stderr);
}

// ---------------------------------------------------------------- progress

void progress_bar::update(std::string_view stage, std::size_t done, std::size_t total) {
  if (!enabled_) return;
  const int pct = total == 0 ? 100 : static_cast<int>(std::min<std::size_t>(100, done * 100 / total));
  if (stage == stage_ && pct == pct_) return;
  const auto now = clock_type::now();
  if (stage != stage_) stage_start_ = now;
  stage_ = std::string(stage);
  pct_ = pct;
  constexpr int width = 30;
  const int filled = pct * width / 100;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(width - filled), '-');
  // Rate and time left at the stage's mean rate so far (shown once it has a second of history).
  std::string tail;
  const double secs = std::chrono::duration<double>(now - stage_start_).count();
  if (secs >= 1.0 && done > 0 && done <= total) {
    const double rate = static_cast<double>(done) / secs;
    const double left = static_cast<double>(total - done) / rate;
    const char* unit = "";
    double shown = rate;
    if (rate >= 1e6)
      shown = rate / 1e6, unit = "M";
    else if (rate >= 1e3)
      shown = rate / 1e3, unit = "k";
    char buf[64];
    const auto l = static_cast<long long>(left + 0.5);
    std::snprintf(buf, sizeof buf, "  %.1f%s/s  %lld:%02lld:%02lld left", shown, unit, l / 3600, l / 60 % 60,
                  l % 60);
    tail = buf;
  }
  std::fprintf(stderr, "\r\033[K%-14s [%s] %3d%%%s", stage_.c_str(), bar.c_str(), pct, tail.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void progress_bar::clear() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

bool show_progress(const run_options& o) {
  if (o.quiet || o.json || o.no_progress) return false;
  return o.progress || ::isatty(STDERR_FILENO) == 1;
}

// ---------------------------------------------------------------- options

CLI::Validator integer_in(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        long long v = 0;
        const char* first = text.data();
        const char* last = first + text.size();
        if (first != last && *first == '+') ++first;
        const auto [ptr, ec] = std::from_chars(first, last, v);
        if (text.empty() || ec != std::errc{} || ptr != last || v < lo || v > hi) {
          return "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "] (got " +
                 chutoro::io_detail::quote_text(text) + ")";
        }
        text = std::to_string(v);  // CLI11 would read "010" as octal
        return {};
      },
      "");
}

CLI::Validator number_at_least_zero() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double v = 0;
        const char* first = text.data();
        const char* last = first + text.size();
        if (first != last && *first == '+') ++first;
        const auto [ptr, ec] = std::from_chars(first, last, v);
        if (text.empty() || ec != std::errc{} || ptr != last || !std::isfinite(v) || v < 0) {
          return "must be a finite number >= 0 (got " + chutoro::io_detail::quote_text(text) + ")";
        }
        return {};
      },
      "");
}

CLI::Validator file_name() {
  return CLI::Validator(
      [](std::string& text) -> std::string { return text.empty() ? "empty file name" : ""; }, "");
}

void add_input_options(CLI::App* c, input_options& o, bool with_metric, const std::string& plugin_help,
                       const std::string& label_help) {
  c->add_option("--format", o.format,
                "auto (by extension: .csv/.tsv/.tab csv, .npy, .txt/.lines/.lst lines, .parquet/.pq, "
                ".arrow/.feather; a trailing .gz is gzip, read through zlib, .zst zstd, through libzstd; "
                "INPUT - is standard input, "
                "csv unless --format says) | csv | npy | lines | parquet | arrow")
      ->capture_default_str();
  c->add_option(
       "--columns", o.columns,
       "csv: the feature columns to read, by header name (comma-separated or repeated); the others are "
       "skipped unparsed")
      ->delimiter(',');
  c->add_option(
       "--ignore-columns", o.ignore_columns,
       "csv: columns to skip unparsed, by header name (comma-separated or repeated), e.g. an id or a "
       "text column")
      ->delimiter(',');
  c->add_option("--delimiter", o.delimiter,
                "csv: the cell separator, one character or \\t; default a tab for .tsv/.tab, else a comma");
  if (with_metric) {
    auto names = [](chutoro::metric_items items) {
      std::string j;
      for (const std::string& n : metric_names(items, false)) j += (j.empty() ? "" : " | ") + n;
      return j;
    };
    c->add_option("--metric", o.metric,
                  "vectors: " + names(chutoro::metric_items::vectors) +
                      " (default euclidean; hamming and tanimoto need 0/1 values); strings: " +
                      names(chutoro::metric_items::strings) +
                      " (default levenshtein; jaccard: whitespace token sets); aliases " +
                      chutoro::builtin_metric_alias_list() + "; docs/metrics.md gives the formulas");
    c->add_option("--metric-param", o.metric_params,
                  "A metric parameter NAME=VALUE, repeatable: p=3 (minkowski), V=v1,v2,... (seuclidean: one "
                  "variance per column; default the columns' variances), VI=a11,a12,... (mahalanobis: the "
                  "dim x dim inverse covariance, row-major; default the inverse of the data's covariance)");
    c->add_option("--nan-rows", o.nan_rows,
                  "error (default: a NaN or empty cell is an error naming its row) | noise: such rows (csv, "
                  "npy) are left out of the clustering and labelled -1 (noise) in the output")
        ->capture_default_str();
  }
  c->add_option("--column", o.column,
                "parquet/arrow: the column to read (fixed_size_list or list of float32/float64, or string); "
                "default: the only column");
  c->add_option("--plugin", o.plugin, plugin_help)->check(file_name());
  c->add_option("--plugin-arg", o.plugin_arg,
                "The argument string passed to the plugin (e.g. its data file)");
  c->add_option("--label-column", o.label_column, label_help);
}

void add_selection_options(CLI::App* c, selection_options& o) {
  c->add_option("--min-cluster-size", o.min_cluster_size, "Smallest cluster size, >= 2")
      ->transform(integer_in(2, kMaxItems))
      ->capture_default_str();
  c->add_option("--cluster-selection-method", o.selection_method, "eom | leaf")->capture_default_str();
  c->add_option("--cluster-selection-epsilon", o.selection_epsilon,
                "Merge clusters split below this distance (HDBSCAN(eps-hat)), >= 0")
      ->check(number_at_least_zero())
      ->capture_default_str();
  c->add_flag("--allow-single-cluster", o.allow_single_cluster,
              "Allow the root to be the only cluster (--allow-single-cluster=false turns it off)");
  c->add_option("--max-cluster-size", o.max_cluster_size,
                "eom: never select a cluster of more items than this (0: no limit)")
      ->transform(integer_in(0, kMaxItems))
      ->capture_default_str();
  c->add_option("--cluster-selection-persistence", o.selection_persistence,
                "Merge leaf clusters whose persistence (in lambda = 1/distance) is below this, >= 0")
      ->check(number_at_least_zero())
      ->capture_default_str();
  c->add_option("--cluster-selection-epsilon-max", o.selection_epsilon_max,
                "eom: never select a cluster born above this distance (>= --cluster-selection-epsilon; "
                "default inf: no limit)");
}

void add_build_options(CLI::App* c, build_options& o) {
  c->add_option("--min-samples", o.min_samples,
                "Core-distance k, the item itself counting; default: min cluster size")
      ->transform(integer_in(1, kMaxItems));
  c->add_option(
       "--candidates", o.candidates,
       "auto (exact where it is cheap, else hnsw) | hnsw (FISHDBC) | exact (kd-tree at low dimension, "
       "else all pairs, O(n^2)) | knn (GPU kNN candidates, --device cuda only)")
      ->capture_default_str();
  c->add_option("--m", o.m, "HNSW links per node, >= 2")
      ->transform(integer_in(chutoro::param_limits::min_m, chutoro::param_limits::max_m))
      ->capture_default_str();
  c->add_option("--ef-construction", o.ef_construction, "HNSW candidate list size while inserting, >= 1")
      ->transform(
          integer_in(chutoro::param_limits::min_ef_construction, chutoro::param_limits::max_ef_construction))
      ->capture_default_str();
  c->add_option("--seed", o.seed, "Seed of the HNSW build, an integer in [0, 2^64 - 1]")
      ->type_name("UINT64")
      ->capture_default_str();
}

void add_threads_option(CLI::App* c, run_options& o) {
  c->add_option("--threads", o.threads, "Worker threads; 0 = all cores")
      ->transform(integer_in(0, kMaxThreads))
      ->capture_default_str();
}

void add_device_option(CLI::App* c, run_options& o) {
  c->add_option("--device", o.device,
                "auto | cpu | cuda: where the graph stage runs; auto (default) follows CHUTORO_DEVICE when "
                "set, else uses a GPU stage only where it is measured at least 2x faster than the CPU, else "
                "the CPU. Results are the same on every device")
      ->capture_default_str();
}

void add_output_options(CLI::App* c, run_options& o, const std::string& output_help) {
  c->add_option("--output", o.output,
                output_help + "; - writes to standard output (the summary then goes to stderr)")
      ->check(file_name());
  c->add_flag("--json", o.json, "Print one JSON object with the run's summary on stdout");
  c->add_flag("--quiet", o.quiet, "Print nothing but errors (--json still prints its object)");
  c->add_flag(
      "--progress", o.progress,
      "Draw the progress bar (stage, percent, rate, time left) on stderr even when it is not a terminal");
  c->add_flag("--no-progress", o.no_progress, "Never draw the progress bar (default: only on a terminal)");
}

void add_lock_option(CLI::App* c, run_options& o) {
  c->add_option("--lock-timeout", o.lock_timeout,
                "Seconds to wait while another chutoro process is changing the same model file (add, fit "
                "--save), then fail")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
}

std::ostream& summary_stream(const run_options& o) {
  return o.has_output && o.output == "-" ? std::cerr : std::cout;
}

bool given(const CLI::App* c, const std::string& name) {
  try {
    return c->count(name) > 0;
  } catch (const CLI::OptionNotFound&) {
    return false;  // not an option of this command
  }
}

void note_given_input(const CLI::App* c, input_options& o) {
  o.has_column = given(c, "--column");
  o.has_label_column = given(c, "--label-column");
  o.has_plugin = given(c, "--plugin");
  o.has_plugin_arg = given(c, "--plugin-arg");
}

void note_given_selection(const CLI::App* c, selection_options& o) {
  o.has_min_cluster_size = given(c, "--min-cluster-size");
  o.has_selection_method = given(c, "--cluster-selection-method");
  o.has_selection_epsilon = given(c, "--cluster-selection-epsilon");
  o.has_allow_single_cluster = given(c, "--allow-single-cluster");
  o.has_max_cluster_size = given(c, "--max-cluster-size");
  o.has_selection_persistence = given(c, "--cluster-selection-persistence");
  o.has_selection_epsilon_max = given(c, "--cluster-selection-epsilon-max");
}

void note_given_build(const CLI::App* c, build_options& o) { o.has_min_samples = given(c, "--min-samples"); }

void note_given_run(const CLI::App* c, run_options& o) {
  o.has_threads = given(c, "--threads");
  o.has_output = given(c, "--output");
}

// ---------------------------------------------------------------- parameters

void apply_selection(const selection_options& o, chutoro::selection_params& sp, bool only_given) {
  if (!only_given || o.has_min_cluster_size) {
    at_least("--min-cluster-size", o.min_cluster_size, 2);
    sp.min_cluster_size = static_cast<std::size_t>(o.min_cluster_size);
  }
  if (!only_given || o.has_selection_epsilon) {
    if (!std::isfinite(o.selection_epsilon) || o.selection_epsilon < 0) {
      throw usage_error("--cluster-selection-epsilon must be a finite number >= 0 (got " +
                        std::to_string(o.selection_epsilon) + ")");
    }
    sp.cluster_selection_epsilon = o.selection_epsilon;
  }
  if (!only_given || o.has_selection_method) {
    if (o.selection_method == "eom") {
      sp.method = chutoro::cluster_selection_method::eom;
    } else if (o.selection_method == "leaf") {
      sp.method = chutoro::cluster_selection_method::leaf;
    } else {
      throw usage_error("unknown --cluster-selection-method \"" + o.selection_method +
                        "\"; choose eom or leaf");
    }
  }
  if (!only_given || o.has_allow_single_cluster) sp.allow_single_cluster = o.allow_single_cluster;
  if (!only_given || o.has_max_cluster_size) {
    at_least("--max-cluster-size", o.max_cluster_size, 0);
    sp.max_cluster_size = static_cast<std::size_t>(o.max_cluster_size);
  }
  if (!only_given || o.has_selection_persistence) {
    if (!std::isfinite(o.selection_persistence) || o.selection_persistence < 0) {
      throw usage_error("--cluster-selection-persistence must be a finite number >= 0 (got " +
                        std::to_string(o.selection_persistence) + ")");
    }
    sp.cluster_selection_persistence = o.selection_persistence;
  }
  if (!only_given || o.has_selection_epsilon_max) {
    if (std::isnan(o.selection_epsilon_max) || o.selection_epsilon_max < sp.cluster_selection_epsilon) {
      throw usage_error("--cluster-selection-epsilon-max must be >= --cluster-selection-epsilon (got " +
                        std::to_string(o.selection_epsilon_max) + " < " +
                        std::to_string(sp.cluster_selection_epsilon) + ")");
    }
    sp.cluster_selection_epsilon_max = o.selection_epsilon_max;
  }
}

chutoro::params make_params(const selection_options& sel, const build_options& b) {
  // Range checks in the order the options are documented.
  at_least("--min-cluster-size", sel.min_cluster_size, 2);
  if (b.has_min_samples) at_least("--min-samples", b.min_samples, 1);
  at_least("--m", b.m, 2);
  at_least("--ef-construction", b.ef_construction, 1);

  chutoro::params p;
  apply_selection(sel, p.selection, false);
  if (b.has_min_samples) p.build.min_samples = static_cast<std::size_t>(b.min_samples);
  if (b.candidates == "hnsw") {
    p.build.candidates = chutoro::candidate_mode::hnsw;
  } else if (b.candidates == "exact") {
    p.build.candidates = chutoro::candidate_mode::exact;
  } else if (b.candidates == "auto") {
    p.build.candidates = chutoro::candidate_mode::auto_select;
  } else if (b.candidates == "knn") {
    p.build.candidates = chutoro::candidate_mode::knn;
  } else {
    throw usage_error("unknown --candidates \"" + b.candidates + "\"; choose auto, hnsw, exact or knn");
  }
  p.build.m = static_cast<std::size_t>(b.m);
  p.build.ef_construction = static_cast<std::size_t>(b.ef_construction);
  std::uint64_t seed = 0;
  const char* first = b.seed.data();
  const char* last = first + b.seed.size();
  const auto [ptr, ec] = std::from_chars(first, last, seed);
  if (b.seed.empty() || ec != std::errc{} || ptr != last) {
    throw usage_error("--seed must be an integer in [0, 2^64 - 1] (got \"" + b.seed + "\")");
  }
  p.build.seed = seed;
  try {
    chutoro::validate(p);
  } catch (const chutoro::error& e) {
    throw usage_error(e.what());
  }
  return p;
}

void apply_threads(const run_options& o) {
  at_least("--threads", o.threads, 0);
  if (o.threads > kMaxThreads)
    throw usage_error("--threads must be <= " + std::to_string(kMaxThreads) + " (got " +
                      std::to_string(o.threads) + ")");
  if (o.has_threads && o.threads > 0) omp_set_num_threads(static_cast<int>(o.threads));
}

chutoro::device_kind apply_device(const run_options& o) {
  chutoro::device_kind d{};
  try {
    d = chutoro::parse_device_kind(o.device);
  } catch (const chutoro::error&) {
    throw usage_error("unknown --device \"" + o.device + "\"; choose auto, cpu or cuda");
  }
  (void)chutoro::select_device(d);
  return d;
}

// ---------------------------------------------------------------- input

void naming(const std::string& name, const std::function<void()>& f) {
  try {
    f();
  } catch (const chutoro::error& e) {
    const std::string msg = e.what();
    if (msg.rfind(name, 0) == 0 || msg.rfind("plugin " + name, 0) == 0) throw;  // names the file
    throw chutoro::error(e.code(), name + ": " + msg);
  }
}

input_plan plan_input(const input_options& o) {
  input_plan plan;
  plan.in = &o;
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
  plan.name = o.has_plugin ? o.plugin : o.input;
  if (o.has_plugin) {
    // no file format
  } else if (o.format == "auto" && o.input == "-") {
    plan.format = chutoro::input_format::csv;  // standard input: csv unless --format says otherwise
  } else if (o.format == "auto") {
    try {
      plan.format = chutoro::detect_format(o.input);
    } catch (const chutoro::error& e) {
      throw usage_error(e.what());
    }
  } else if (o.format == "csv" || o.format == "npy" || o.format == "lines" || o.format == "parquet" ||
             o.format == "arrow") {
    plan.format = chutoro::parse_input_format(o.format);
  } else {
    throw usage_error("unknown --format \"" + o.format +
                      "\"; choose auto, csv, npy, lines, parquet or arrow");
  }
  plan.columnar = !o.has_plugin && (plan.format == chutoro::input_format::parquet ||
                                    plan.format == chutoro::input_format::arrow);
  plan.format_name = o.has_plugin ? "plugin" : std::string(chutoro::to_string(plan.format));
  if (plan.columnar && !chutoro::arrow_files_supported()) {
    throw chutoro::error(
        chutoro::error_code::unsupported,
        o.input + ": " + (plan.format == chutoro::input_format::parquet ? "Parquet" : "Arrow IPC") +
            " support was not built into this chutoro (Apache Arrow C++ was not found when it was "
            "configured; run scripts/arrow_env.sh and rebuild)");
  }
  if (o.has_column && !plan.columnar) {
    throw usage_error("--column needs a parquet or arrow input; " + o.input + " is read as " +
                      plan.format_name);
  }
  if (!o.delimiter.empty()) {
    if (o.has_plugin || plan.format != chutoro::input_format::csv)
      throw usage_error("--delimiter needs a csv input; " + plan.name + " is read as " + plan.format_name);
    if (o.delimiter != "\\t" && o.delimiter != "\t" && o.delimiter.size() != 1)
      throw usage_error("--delimiter must be one character or \\t (got \"" + o.delimiter + "\")");
    const char d = o.delimiter.size() == 1 ? o.delimiter[0] : '\t';
    if (d == '"' || d == ' ' || d == '\n' || d == '\r' || d == '.' || d == '-' || d == '+' ||
        (d >= '0' && d <= '9'))
      throw usage_error(
          "--delimiter cannot be a quote, a space, a line end or a character of numbers (got \"" +
          o.delimiter + "\")");
  }
  if ((!o.columns.empty() || !o.ignore_columns.empty()) &&
      (o.has_plugin || plan.format != chutoro::input_format::csv))
    throw usage_error("--columns and --ignore-columns need a csv input; " + plan.name + " is read as " +
                      plan.format_name);
  if (o.nan_rows != "error" && o.nan_rows != "noise")
    throw usage_error("unknown --nan-rows \"" + o.nan_rows + "\"; choose error or noise");
  if ((plan.format == chutoro::input_format::npy || plan.columnar) && o.input == "-")
    throw usage_error("INPUT - (standard input) works for csv and lines input, not " + plan.format_name);
  if (o.has_label_column && (o.has_plugin || plan.format != chutoro::input_format::csv)) {
    throw usage_error("--label-column needs a csv input; " + plan.name + " is read as " + plan.format_name);
  }
  return plan;
}

loaded_input read_input(const input_plan& plan, const std::string& model_metric,
                        const chutoro::data_source* like) {
  const input_options& o = *plan.in;
  loaded_input r;
  r.name = plan.name;
  r.format_name = plan.format_name;

  if (!o.metric.empty() && !one_of(dense_metrics, o.metric) && !one_of(string_metrics, o.metric)) {
    throw usage_error("unknown --metric \"" + o.metric + "\"; choose " +
                      joined(metric_names(chutoro::metric_items::vectors, false)) +
                      " (vectors: csv, npy, parquet/arrow list columns) or " +
                      joined(metric_names(chutoro::metric_items::strings, false)) +
                      " (strings: lines, parquet/arrow string columns), or an alias " +
                      chutoro::builtin_metric_alias_list());
  }
  chutoro::metric_params params;
  for (const std::string& setting : o.metric_params) {
    try {
      chutoro::parse_metric_param(setting, params);
    } catch (const chutoro::error& e) {
      throw usage_error(std::string("--metric-param: ") + e.what());
    }
  }
  if (!params.empty()) {
    if (like != nullptr) throw usage_error("--metric-param does not apply here: the model keeps its metric");
    try {
      chutoro::check_metric_params(chutoro::builtin_metric(o.metric.empty() ? "euclidean" : o.metric),
                                   params);
    } catch (const chutoro::error& e) {
      throw usage_error(std::string("--metric-param: ") + e.what() + " (--metric " +
                        (o.metric.empty() ? "euclidean" : o.metric) + ")");
    }
  }
  // The kind of item is known before reading except for parquet/arrow (the column's type tells).
  auto check_fit = [&](bool dense_items, const std::string& m) {
    if (dense_items && !one_of(dense_metrics, m)) {
      throw usage_error("metric \"" + m + "\" does not fit format " + r.format_name +
                        " (dense vectors): choose " + joined(dense_metrics));
    }
    if (!dense_items && !one_of(string_metrics, m)) {
      throw usage_error("metric \"" + m + "\" does not fit format " + r.format_name + " (strings): choose " +
                        joined(string_metrics));
    }
  };
  if (!o.has_plugin && !plan.columnar && !o.metric.empty())
    check_fit(plan.format != chutoro::input_format::lines, o.metric);

  const auto t_read = clock_type::now();
  chutoro::dense_table table;
  std::vector<std::string> items;
  if (o.has_plugin) {
    r.source = std::make_unique<chutoro::plugin_source>(o.plugin, o.plugin_arg);
    r.n = r.source->size();
    r.metric = r.source->name();
    r.seconds = seconds_since(t_read);
    return r;
  }
  if (plan.format == chutoro::input_format::csv) {
    const char delimiter = o.delimiter.empty() ? '\0' : o.delimiter.size() == 1 ? o.delimiter[0] : '\t';
    table = chutoro::read_csv(
        o.input, o.has_label_column ? std::optional<std::string_view>(o.label_column) : std::nullopt,
        chutoro::csv_options{delimiter, o.nan_rows == "noise", o.columns, o.ignore_columns});
    r.dense = true;
  } else if (plan.format == chutoro::input_format::npy) {
    table = chutoro::read_npy(o.input, o.nan_rows == "noise");
    r.dense = true;
  } else if (plan.format == chutoro::input_format::lines) {
    items = chutoro::read_lines(o.input);
  } else {
    const auto col = o.has_column ? std::optional<std::string_view>(o.column) : std::nullopt;
    chutoro::column_data c = plan.format == chutoro::input_format::parquet
                                 ? chutoro::read_parquet(o.input, col)
                                 : chutoro::read_arrow_ipc(o.input, col);
    r.dense = c.type == chutoro::column_data::kind::dense;
    if (r.dense) {
      table = std::move(c.dense);
    } else {
      items = std::move(c.strings);
    }
    r.format_name += ", column " + c.name;
  }
  const std::string kind_default = r.dense ? "euclidean" : "levenshtein";
  if (!model_metric.empty()) {
    // The model's metric when it fits these items; otherwise the model reports the mismatch.
    r.metric = one_of(r.dense ? dense_metrics : string_metrics, model_metric) ? model_metric : kind_default;
  } else {
    r.metric = o.metric.empty() ? kind_default : o.metric;
    check_fit(r.dense, r.metric);
    r.metric = std::string(chutoro::builtin_metric(r.metric).name);  // an alias's canonical name
  }
  const std::string& metric = r.metric;
  if (r.dense && o.nan_rows == "noise") {
    // Rows holding a NaN leave the table; the output gives them -1 (fit_commands.cpp).
    std::size_t kept = 0;
    for (std::size_t i = 0; i < table.n; ++i) {
      const float* row = table.values.data() + i * table.dim;
      if (std::any_of(row, row + table.dim, [](float v) { return std::isnan(v); })) continue;
      if (kept != i) {
        std::copy(row, row + table.dim, table.values.data() + kept * table.dim);
        if (!table.labels.empty()) table.labels[kept] = std::move(table.labels[i]);
      }
      r.kept_rows.push_back(i);
      ++kept;
    }
    r.rows_read = table.n;
    if (kept == table.n) {
      r.kept_rows.clear();
    } else {
      if (kept == 0)
        throw chutoro::error(chutoro::error_code::invalid_argument, r.name + ": every row holds a NaN");
      table.values.resize(kept * table.dim);
      if (!table.labels.empty()) table.labels.resize(kept);
      table.n = kept;
    }
  }
  if (r.dense) {
    r.n = table.n;
    r.dim = table.dim;
    naming(r.name, [&] {
      const bool like_fits =
          like != nullptr && like->name() == metric &&
          (like->kind() == chutoro::source_kind::dense || like->kind() == chutoro::source_kind::products ||
           like->kind() == chutoro::source_kind::bits || like->kind() == chutoro::source_kind::sparse);
      r.source = like_fits ? chutoro::make_vector_source_like(*like, table.values, table.n, table.dim)
                           : chutoro::make_vector_source(table.values, table.n, table.dim, metric, params);
    });
    r.labels = std::move(table.labels);
  } else {
    r.n = items.size();
    naming(r.name, [&] {
      // A jaccard model's vocabulary numbers the tokens (new ones number on after it).
      const auto* sets = like != nullptr && like->kind() == chutoro::source_kind::sets
                             ? static_cast<const chutoro::set_source*>(like)
                             : nullptr;
      if (sets != nullptr && metric == "jaccard" && !sets->vocabulary().empty())
        r.source = std::make_unique<chutoro::set_source>(
            chutoro::set_source::from_token_lines(items, sets->vocabulary()));
      else
        r.source = chutoro::make_string_source(items, metric);
    });
  }
  r.seconds = seconds_since(t_read);
  return r;
}

// ---------------------------------------------------------------- output

void check_output_path(const std::string& path, const std::string& what) {
  if (path.empty()) throw usage_error("the " + what + " file name is empty");
  if (path == "-") return;  // standard output
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw chutoro::error(chutoro::error_code::io, path + ": cannot write the " + what + ": directory " +
                                                      dir.string() + " does not exist");
  }
  const fs::file_status st = fs::status(p, ec);
  const char* refused = st.type() == fs::file_type::directory ? "it is a directory"
                        : st.type() == fs::file_type::block   ? "it is a block device, not a file"
                        : st.type() == fs::file_type::socket  ? "it is a socket, not a file"
                                                              : nullptr;
  if (refused != nullptr)
    throw chutoro::error(chutoro::error_code::io, path + ": cannot write the " + what + ": " + refused);
}

bool same_file(const std::string& a, const std::string& b) {
  if (a == "-" || b == "-") return a == b;
  struct stat sa {
  }, sb{};
  if (::stat(a.c_str(), &sa) == 0 &&
      ::stat(b.c_str(), &sb) == 0)  // both exist: by identity (links, hard links)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino && S_ISREG(sa.st_mode);
  std::error_code ec1, ec2;  // one is still to be made: by name, links resolved
  const fs::path pa = fs::weakly_canonical(fs::absolute(a), ec1);
  const fs::path pb = fs::weakly_canonical(fs::absolute(b), ec2);
  if (ec1 || ec2) return fs::absolute(a).lexically_normal() == fs::absolute(b).lexically_normal();
  return pa == pb;
}

// ---------------------------------------------------------------- summary

std::vector<std::uint64_t> cluster_sizes(std::span<const std::int32_t> labels, std::size_t n_clusters,
                                         std::size_t* noise) {
  std::int32_t max_label = -1;
  std::size_t noisy = 0;
  for (const auto l : labels) {
    max_label = std::max(max_label, l);
    noisy += l < 0 ? 1 : 0;
  }
  const std::size_t k = std::max<std::size_t>(n_clusters, static_cast<std::size_t>(max_label + 1));
  std::vector<std::uint64_t> sizes(k, 0);
  for (const auto l : labels) {
    if (l >= 0) ++sizes[static_cast<std::size_t>(l)];
  }
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  if (noise) *noise = noisy;
  return sizes;
}

void report(const run_summary& s, std::span<const std::int32_t> labels, std::size_t n_clusters,
            const run_options& o) {
  const chutoro::params& p = s.p;
  std::size_t noise = 0;
  const std::vector<std::uint64_t> sizes = cluster_sizes(labels, n_clusters, &noise);
  const std::size_t k = sizes.size();
  const std::size_t n = labels.size();
  const double noise_fraction = n ? static_cast<double>(noise) / static_cast<double>(n) : 0.0;
  const double seconds_total = seconds_since(s.t_start);
  const std::uint64_t rss = peak_rss_bytes();

  if (o.json) {
    nlohmann::ordered_json j;
    j["version"] = CHUTORO_VERSION_STRING;
    j["input"] = s.input_name;
    if (s.plugin_arg) j["plugin_arg"] = *s.plugin_arg;
    j["format"] = s.format_name;
    j["n"] = s.n;
    j["dim"] = s.dim;
    j["metric"] = s.metric;
    // The mode that ran (auto resolved), and what was asked.
    j["candidates"] = std::string(chutoro::to_string(s.stats.candidates));
    j["candidates_requested"] = std::string(chutoro::to_string(p.build.candidates));
    j["min_cluster_size"] = p.selection.min_cluster_size;
    j["min_samples"] = p.min_samples();
    j["cluster_selection_method"] = std::string(chutoro::to_string(p.selection.method));
    j["cluster_selection_epsilon"] = p.selection.cluster_selection_epsilon;
    j["allow_single_cluster"] = p.selection.allow_single_cluster;
    j["max_cluster_size"] = p.selection.max_cluster_size;
    j["cluster_selection_persistence"] = p.selection.cluster_selection_persistence;
    if (std::isfinite(p.selection.cluster_selection_epsilon_max))
      j["cluster_selection_epsilon_max"] = p.selection.cluster_selection_epsilon_max;
    j["m"] = p.build.m;
    j["ef_construction"] = p.build.ef_construction;
    j["seed"] = p.build.seed;
    j["threads"] = omp_get_max_threads();
    j["device"] = std::string(chutoro::to_string(s.stats.device));
    if (!s.stats.device_fallback_reason.empty()) j["device_fallback_reason"] = s.stats.device_fallback_reason;
    j["clusters"] = k;
    j["noise_fraction"] = noise_fraction;
    j["cluster_sizes"] = sizes;
    j["seconds"] = {{"total", seconds_total},
                    {"read", s.seconds_read},
                    {"graph", s.stats.seconds_graph},
                    {"mst", s.stats.seconds_mst},
                    {"hierarchy", s.stats.seconds_hierarchy}};
    j["peak_rss_bytes"] = rss;
    j["distance_computations"] = s.stats.distance_computations;
    j["candidate_edges"] = s.stats.candidate_edges;
    if (s.ari) {
      j["label_column"] = s.label_column;
      j["ari"] = *s.ari;
      j["ami"] = *s.ami;
    }
    for (const auto& [key, value] : s.json_extra) j[key] = value;
    if (o.has_output) j["output"] = o.output;
    summary_stream(o) << j.dump() << '\n';
  } else if (!o.quiet) {
    std::ostringstream os;
    os << "chutoro " << CHUTORO_VERSION_STRING << ": " << s.input_name << " (" << s.format_name << "), "
       << s.n << (s.n == 1 ? " item" : " items");
    if (s.dense) os << " x " << s.dim << (s.dim == 1 ? " dim" : " dims");
    os << "\n";
    os << "  metric " << s.metric << ", candidates " << chutoro::to_string(s.stats.candidates)
       << (p.build.candidates == chutoro::candidate_mode::auto_select ? " (auto)" : "")
       << ", min_cluster_size " << p.selection.min_cluster_size << ", min_samples " << p.min_samples()
       << ", selection " << chutoro::to_string(p.selection.method) << "\n";
    os << "  device      " << chutoro::to_string(s.stats.device);
    if (!s.stats.device_fallback_reason.empty()) os << " (auto: " << s.stats.device_fallback_reason << ")";
    os << "\n";
    os << "  clusters    " << k;
    if (!sizes.empty()) {
      os << " (largest:";
      const std::size_t shown = std::min<std::size_t>(sizes.size(), 8);
      for (std::size_t i = 0; i < shown; ++i) os << (i ? ", " : " ") << sizes[i];
      if (shown < sizes.size()) os << ", ...";
      os << ")";
    }
    os << "\n";
    os << "  noise       " << fixed(100.0 * noise_fraction, 1) << "% (" << noise
       << (noise == 1 ? " item" : " items") << ")\n";
    if (s.ari) {
      os << "  ARI / AMI   " << fixed(*s.ari, 4) << " / " << fixed(*s.ami, 4) << " (against column \""
         << s.label_column << "\")\n";
    }
    os << "  time        " << fixed(seconds_total, 3) << " s (read " << fixed(s.seconds_read, 3) << ", graph "
       << fixed(s.stats.seconds_graph, 3) << ", mst " << fixed(s.stats.seconds_mst, 3) << ", hierarchy "
       << fixed(s.stats.seconds_hierarchy, 3) << ")\n";
    os << "  distances   " << with_commas(s.stats.distance_computations) << " computed\n";
    os << "  peak RSS    " << human_bytes(rss) << "\n";
    for (const auto& line : s.human_extra) os << "  " << line << "\n";
    if (o.has_output) os << "  output      " << o.output << "\n";
    summary_stream(o) << os.str();
  }
  summary_stream(o).flush();
}

}  // namespace chutoro_cli
