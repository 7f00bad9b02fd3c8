// chutoro — the command-line tool: what its commands share (options, input
// reading, output writing, the run summary). Internal to cli/.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <chutoro/data_source.hpp>
#include <chutoro/io.hpp>
#include <chutoro/params.hpp>
#include <chutoro/result.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chutoro_cli {

using clock_type = std::chrono::steady_clock;

/// A bad command line discovered after parsing (exit status 2).
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Prints "chutoro: error: <message>" as one line on stderr.
void print_error(const std::string& message);
double seconds_since(clock_type::time_point t0);

/// Where the items come from: a file (INPUT and its format options) or a plugin.
struct input_options {
  std::string input;
  std::string format = "auto";
  std::string metric;  // empty: the format's default
  std::string column;  // parquet / arrow: the column to cluster
  std::string label_column;
  std::string plugin;  // a plugin library instead of INPUT
  std::string plugin_arg;
  std::vector<std::string> metric_params;            // --metric-param NAME=VALUE
  std::string delimiter;                             // --delimiter: csv cell separator (empty: by extension)
  std::string nan_rows = "error";                    // --nan-rows error|noise (csv, npy)
  std::vector<std::string> columns, ignore_columns;  // --columns / --ignore-columns (csv)
  bool has_column = false, has_label_column = false, has_plugin = false, has_plugin_arg = false;
};

/// Selection parameters as given on the command line.
struct selection_options {
  long long min_cluster_size = 5;
  std::string selection_method = "eom";
  double selection_epsilon = 0.0;
  bool allow_single_cluster = false;
  long long max_cluster_size = 0;
  double selection_persistence = 0.0;
  double selection_epsilon_max = std::numeric_limits<double>::infinity();
  bool has_min_cluster_size = false, has_selection_method = false, has_selection_epsilon = false,
       has_allow_single_cluster = false, has_max_cluster_size = false, has_selection_persistence = false,
       has_selection_epsilon_max = false;
};

/// Graph-stage parameters as given on the command line (they fix the spanning tree).
struct build_options {
  long long min_samples = 0;  // used only when given
  std::string candidates = "auto";
  long long m = 16;
  long long ef_construction = 100;
  std::string seed = "42";  // parsed here: CLI11 wraps "-1" into an unsigned
  bool has_min_samples = false;
};

/// Threads, --device, --output, --json, --quiet.
struct run_options {
  long long threads = 0;
  std::string device = "auto";  // chutoro::device_kind's names; CHUTORO_DEVICE applies to auto
  std::string output;           // "-": standard output (the summary then goes to stderr)
  double lock_timeout = 60.0;   // add, fit --save: seconds to wait for another writer of the model
  bool json = false;
  bool quiet = false;
  bool progress = false, no_progress = false;  // --progress / --no-progress: override the terminal check
  bool has_threads = false, has_output = false;
};

/// `chutoro cluster` and `chutoro fit`.
struct cluster_options {
  input_options in;
  selection_options sel;
  build_options build;
  run_options run;
  std::string model;  // cluster --model MODEL
  std::string save;   // fit --save MODEL
  bool has_model = false;
  double dbscan_cut = 0.0;  // cluster --model --dbscan-cut D
  bool has_dbscan_cut = false;
  std::vector<std::string> fit_only_given;    // graph-stage options given (not allowed with --model)
  std::vector<std::string> input_only_given;  // --format, --metric, ... given (not allowed with --model)

  // cluster under mpirun (docs/distributed.md)
  long long overlap = 2;           // ranks per item
  double replication_margin = -1;  // < 0: unset (no limit)
  double boundary_reach = 0.5;     // distributed_params::boundary_reach
};

/// `chutoro add` and `chutoro predict`.
struct model_options {
  std::string model;
  input_options in;
  run_options run;
  bool soft = false;  // predict --soft: membership vectors
};

// ---- options (registration on a CLI11 command; has_* are set after parsing by note_given_*)
/// CLI11 transform of an integer option: decimal text in [lo, hi], rewritten
/// canonically (CLI11 alone reads "010" as octal and saturates values beyond
/// long long); the usage error names the text given and the range.
CLI::Validator integer_in(long long lo, long long hi);
/// CLI11 check of a number option: finite and >= 0, naming the text given.
CLI::Validator number_at_least_zero();
/// CLI11 check of a file name option or argument: "<name>: empty file name".
CLI::Validator file_name();
/// --format, --column, --label-column, --plugin, --plugin-arg, and --metric when `with_metric`.
void add_input_options(CLI::App* c, input_options& o, bool with_metric, const std::string& plugin_help,
                       const std::string& label_help);
void add_selection_options(CLI::App* c, selection_options& o);
void add_build_options(CLI::App* c, build_options& o);
void add_threads_option(CLI::App* c, run_options& o);
/// --device auto|cpu|cuda.
void add_device_option(CLI::App* c, run_options& o);
void add_output_options(CLI::App* c, run_options& o, const std::string& output_help);
/// --lock-timeout (add, fit --save: commands that replace a model file).
void add_lock_option(CLI::App* c, run_options& o);
/// Where the summary goes: stdout, or stderr when the output rows go to stdout (--output -).
std::ostream& summary_stream(const run_options& o);
/// Whether option `name` was given to command `c` (false when `c` has no such option).
bool given(const CLI::App* c, const std::string& name);
void note_given_input(const CLI::App* c, input_options& o);
void note_given_selection(const CLI::App* c, selection_options& o);
void note_given_build(const CLI::App* c, build_options& o);
void note_given_run(const CLI::App* c, run_options& o);

// ---- parameters
/// Range-checks the selection options; only the given ones when `only_given`,
/// writing them over `sp`. Throws usage_error.
void apply_selection(const selection_options& o, chutoro::selection_params& sp, bool only_given);
/// All parameters of a fit (build.threads is left 0: threads are the process's, see apply_threads).
chutoro::params make_params(const selection_options& sel, const build_options& build);
/// Range-checks --threads and, when given and > 0, makes it the OpenMP default.
void apply_threads(const run_options& o);
/// --device as a device_kind (usage_error for an unknown name), checked
/// against this machine at once (chutoro::select_device: a chutoro::error
/// naming why for cuda without a usable GPU, or a bad CHUTORO_DEVICE), so
/// that nothing is read first.
chutoro::device_kind apply_device(const run_options& o);

// ---- input
/// What an input's options say before any file is opened.
struct input_plan {
  const input_options* in = nullptr;
  std::string name;         ///< the file, or the plugin library
  std::string format_name;  ///< "csv", ..., "plugin"; the column is appended after reading
  chutoro::input_format format{};
  bool columnar = false;
};
/// Checks the input options (one of INPUT or --plugin, format, --column,
/// --label-column) without reading. Throws usage_error or chutoro::error.
input_plan plan_input(const input_options& o);

/// Items read from a file or opened through a plugin.
struct loaded_input {
  std::unique_ptr<chutoro::data_source> source;
  std::string name, format_name, metric;
  bool dense = false;
  std::size_t n = 0, dim = 0;
  std::vector<std::string> labels;  ///< --label-column's cells
  double seconds = 0;               ///< reading time
  /// --nan-rows noise: the rows (0-based, of rows_read) kept; empty when none was left out.
  std::vector<std::size_t> kept_rows;
  std::size_t rows_read = 0;
};
/// Checks the metric against the format, reads the file (or opens the plugin)
/// and builds the source. `model_metric`: the metric of a model the items
/// must match (add, predict): used when it fits the items' kind, the kind's
/// default metric otherwise (the model then reports the mismatch).
/// `like`: the model's source; vector items then get its metric parameters (seuclidean's V, ...).
loaded_input read_input(const input_plan& plan, const std::string& model_metric = {},
                        const chutoro::data_source* like = nullptr);

/// Runs `f`; a chutoro::error whose message does not start with `name` (or
/// "plugin <name>") gets "<name>: " in front.
void naming(const std::string& name, const std::function<void()>& f);

// ---- output
/// Checks that `path` can be written before any work is done (`what`: "output",
/// "model"): not empty, its directory exists, not a directory, block device or
/// socket. "-" (standard output), FIFOs and character devices pass: they are
/// written through (io_detail::output_file). Throws usage_error or chutoro::error(io).
void check_output_path(const std::string& path, const std::string& what = "output");
/// Whether writing to one of two paths would replace the other: the same
/// existing regular file by device and inode (symbolic and hard links
/// included), or, when one does not exist yet, the same name once links are resolved.
bool same_file(const std::string& a, const std::string& b);

/// A progress bar on stderr when it is a terminal (or --progress) and the run is not
/// --quiet/--json: stage, bar, percent, rate (items per second) and the time left at that rate.
class progress_bar {
 public:
  explicit progress_bar(bool enabled) : enabled_(enabled) {}
  ~progress_bar() { clear(); }
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;
  void update(std::string_view stage, std::size_t done, std::size_t total);
  void clear();
  /// A chutoro::progress_fn drawing this bar.
  auto callback() {
    return
        [this](std::string_view stage, std::size_t done, std::size_t total) { update(stage, done, total); };
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::string stage_;
  int pct_ = -1;
  std::chrono::steady_clock::time_point stage_start_{};
};
bool show_progress(const run_options& o);

// ---- summary
/// What a run prints (human lines, or one JSON object with --json).
struct run_summary {
  clock_type::time_point t_start;
  std::string input_name, format_name, metric;
  std::optional<std::string> plugin_arg;
  std::size_t n = 0, dim = 0;
  bool dense = false;
  chutoro::params p;
  double seconds_read = 0;
  chutoro::fit_stats stats;
  std::optional<double> ari, ami;
  std::string label_column;
  /// Extra JSON members and human lines (after the scores, before the output line).
  std::vector<std::pair<std::string, nlohmann::ordered_json>> json_extra;
  std::vector<std::string> human_extra;
};
/// Prints the summary of a clustering with `labels` (n_clusters from the library).
void report(const run_summary& s, std::span<const std::int32_t> labels, std::size_t n_clusters,
            const run_options& o);
/// Cluster sizes, largest first, and the noise count.
std::vector<std::uint64_t> cluster_sizes(std::span<const std::int32_t> labels, std::size_t n_clusters,
                                         std::size_t* noise);
std::string fixed(double v, int digits);

// ---- commands
CLI::App* add_cluster_command(CLI::App& app, cluster_options& o);
CLI::App* add_fit_command(CLI::App& app, cluster_options& o);
CLI::App* add_add_command(CLI::App& app, model_options& o);
CLI::App* add_predict_command(CLI::App& app, model_options& o);
void note_given_cluster(const CLI::App* c, cluster_options& o);
void note_given_model(const CLI::App* c, model_options& o);

/// `chutoro devices [--json]` (devices_command.cpp).
CLI::App* add_devices_command(CLI::App& app, bool& json);
int run_devices(bool json);
/// The "cuda: ..." line of --version: the devices, or "none (<reason>)".
std::string cuda_version_line();

/// `cluster INPUT` (save empty) and `fit INPUT --save MODEL`.
int run_fit(const cluster_options& o);
/// Whether this process is a rank of a distributed run (distributed_command.cpp):
/// CHUTORO_DISTRIBUTED on/1, or unset/auto and started by an MPI launcher.
bool distributed_launch();
/// `mpirun -np P chutoro cluster INPUT ...` (error(unsupported) in a build without MPI).
int run_fit_distributed(const cluster_options& o);
/// `cluster --model MODEL`.
int run_cluster_model(const cluster_options& o);
int run_add(const model_options& o);
int run_predict(const model_options& o);

}  // namespace chutoro_cli
