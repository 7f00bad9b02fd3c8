// chutoro — `chutoro cluster INPUT` (fit and report) and `chutoro fit INPUT
// --save MODEL` (the same fit, kept as a chutoro::model and saved).
#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/model.hpp>
#include <chutoro/scores.hpp>
#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>

#include "cli.hpp"
#include "io/io_common.hpp"

namespace chutoro_cli {

namespace {

const std::vector<std::string> fit_only_options = {"--min-samples", "--candidates", "--m",
                                                   "--ef-construction", "--seed"};
const std::vector<std::string> input_only_options = {"--format",         "--metric",   "--metric-param",
                                                     "--delimiter",      "--nan-rows", "--columns",
                                                     "--ignore-columns", "--column",   "--label-column"};

const char* const label_help =
    "CSV column holding ground-truth classes: not a feature; the result is scored against it (ARI, AMI)";

void add_fit_like_options(CLI::App* c, cluster_options& o, const std::string& plugin_help) {
  add_input_options(c, o.in, true, plugin_help, label_help);
  add_selection_options(c, o.sel);
  add_build_options(c, o.build);
  add_threads_option(c, o.run);
  add_device_option(c, o.run);
  add_output_options(
      c, o.run, "Write label,probability,outlier_score per item to this CSV (atomically: all or nothing)");
}

}  // namespace

CLI::App* add_cluster_command(CLI::App& app, cluster_options& o) {
  CLI::App* c = app.add_subcommand(
      "cluster", "Cluster the items of INPUT (FISHDBC / HDBSCAN*), or re-cluster a saved model (--model)");
  c->add_option("INPUT", o.in.input,
                "Input file: .csv (header row), .npy (2-D float32/float64), text (one item a line), "
                ".parquet or .arrow/.feather (one column)")
      ->check(file_name());
  c->add_option("--model", o.model,
                "Re-extract the clusters of a model saved by `chutoro fit` (no rebuild) instead of INPUT; "
                "selection options not given keep the model's values")
      ->check(file_name());
  add_fit_like_options(c, o,
                       "Cluster the items of a plugin library (chutoro/plugin.h) instead of INPUT; with "
                       "--model: re-open the plugin items the model was fitted on");
  c->add_option("--dbscan-cut", o.dbscan_cut,
                "With --model: label by the DBSCAN* flat cut of the single-linkage tree at this "
                "mutual-reachability distance (hdbscan's dbscan_clustering); groups smaller than "
                "--min-cluster-size are noise")
      ->check(number_at_least_zero());
  c->add_option("--overlap", o.overlap,
                "Under mpirun (docs/distributed.md): each item goes to N ranks, those of its nearest centres")
      ->transform(integer_in(1, 4096));
  c->add_option("--replication-margin", o.replication_margin,
                "Under mpirun: a further centre's rank takes the item only within (1 + this) times its "
                "nearest centre's distance (default: no limit)")
      ->check(number_at_least_zero());
  c->add_option("--boundary-reach", o.boundary_reach,
                "Under mpirun: an item is also searched in another rank's shard when a lower bound on its "
                "distance to that rank's cells is below this times its core distance (1: every shard that "
                "could hold a nearer neighbour; 0: off)")
      ->capture_default_str()
      ->check(number_at_least_zero());
  return c;
}

CLI::App* add_fit_command(CLI::App& app, cluster_options& o) {
  CLI::App* c = app.add_subcommand(
      "fit", "Fit a model on the items of INPUT and save it (for add, cluster --model, predict)");
  c->add_option("INPUT", o.in.input,
                "Input file: .csv (header row), .npy (2-D float32/float64), text (one item a line), "
                ".parquet or .arrow/.feather (one column)")
      ->check(file_name());
  c->add_option("--save", o.save, "The model file to write (atomically)")->required()->check(file_name());
  add_fit_like_options(c, o, "Fit on the items of a plugin library (chutoro/plugin.h) instead of INPUT");
  add_lock_option(c, o.run);
  return c;
}

void note_given_cluster(const CLI::App* c, cluster_options& o) {
  note_given_input(c, o.in);
  note_given_selection(c, o.sel);
  note_given_build(c, o.build);
  note_given_run(c, o.run);
  o.has_model = given(c, "--model");
  o.has_dbscan_cut = given(c, "--dbscan-cut");
  if (o.has_dbscan_cut && !o.has_model)
    throw usage_error("--dbscan-cut needs --model (re-clustering a saved model)");
  for (const auto& name : fit_only_options)
    if (given(c, name)) o.fit_only_given.push_back(name);
  for (const auto& name : input_only_options)
    if (given(c, name)) o.input_only_given.push_back(name);
}

int run_fit(const cluster_options& o) {
  if (distributed_launch()) return run_fit_distributed(o);
  const auto t_start = clock_type::now();
  const bool saving = !o.save.empty();

  // ---- options
  chutoro::params p = make_params(o.sel, o.build);
  apply_threads(o.run);
  p.build.device = apply_device(o.run);
  // A saved model keeps no thread count: it would bind every later add or
  // predict on any machine; the process's OpenMP default (--threads) rules.
  p.build.threads = saving ? 0 : static_cast<int>(o.run.threads);
  if (!saving && o.in.input.empty() && !o.in.has_plugin)
    throw usage_error("INPUT is required (or --plugin LIB.so --plugin-arg ARG, or --model MODEL)");
  const input_plan plan = plan_input(o.in);
  if (o.run.has_output) {
    check_output_path(o.run.output);
    if (!o.in.input.empty() && o.in.input != "-" && same_file(o.run.output, o.in.input))
      throw usage_error("--output names the input file " + o.in.input + "; choose another output file");
  }
  if (saving) {
    check_output_path(o.save, "model");
    if (o.run.has_output && same_file(o.save, o.run.output))
      throw usage_error("--save and --output name the same file " + o.save);
    if (!o.in.input.empty() && o.in.input != "-" && same_file(o.save, o.in.input))
      throw usage_error("--save names the input file " + o.in.input + "; choose another model file");
  }

  // ---- read
  loaded_input in = read_input(plan);
  const std::size_t n = in.n;
  if (n < p.selection.min_cluster_size) {
    throw chutoro::error(chutoro::error_code::invalid_argument,
                         in.name + ": " + std::to_string(n) + (n == 1 ? " item" : " items") +
                             ", fewer than --min-cluster-size " +
                             std::to_string(p.selection.min_cluster_size));
  }
  if (p.min_samples() > n) {
    throw chutoro::error(
        chutoro::error_code::invalid_argument,
        in.name + ": " + std::to_string(n) + (n == 1 ? " item" : " items") + ", fewer than --min-samples " +
            std::to_string(p.min_samples()) +
            (o.build.has_min_samples ? "" : " (--min-samples defaults to --min-cluster-size)"));
  }

  // ---- fit
  progress_bar bar(show_progress(o.run));
  std::optional<chutoro::model> model;
  chutoro::result r;
  if (saving) {
    std::shared_ptr<chutoro::data_source> data(std::move(in.source));
    naming(in.name, [&] { model.emplace(std::move(data), p, bar.callback()); });
  } else {
    naming(in.name, [&] { r = chutoro::fit(*in.source, p, bar.callback()); });
    in.source.reset();
  }
  bar.clear();
  const chutoro::clustering& c = saving ? model->clusters() : r;
  const chutoro::fit_stats& stats = saving ? model->stats() : r.stats;

  // ---- scores
  run_summary s;
  if (o.in.has_label_column) {
    const std::vector<std::int32_t> truth = chutoro::encode_labels(in.labels);
    s.ari = chutoro::adjusted_rand_index(truth, c.labels);
    s.ami = chutoro::adjusted_mutual_info(truth, c.labels);
    s.label_column = o.in.label_column;
  }

  // ---- model, output: every file written before any is committed, the model first
  std::unique_ptr<chutoro::io_detail::output_file> rows;
  if (o.run.has_output && !in.kept_rows.empty()) {
    // --nan-rows noise: the rows left out are noise (-1, probability 0, outlier score NaN).
    std::vector<std::int32_t> labels(in.rows_read, -1);
    std::vector<double> prob(in.rows_read, 0.0),
        outlier(in.rows_read, std::numeric_limits<double>::quiet_NaN());
    for (std::size_t k = 0; k < in.kept_rows.size(); ++k) {
      labels[in.kept_rows[k]] = c.labels[k];
      prob[in.kept_rows[k]] = c.probabilities[k];
      outlier[in.kept_rows[k]] = c.outlier_scores[k];
    }
    rows = chutoro::io_detail::stage_clustering_csv(o.run.output, labels, prob, outlier);
  } else if (o.run.has_output) {
    rows =
        chutoro::io_detail::stage_clustering_csv(o.run.output, c.labels, c.probabilities, c.outlier_scores);
  }
  if (!in.kept_rows.empty())
    s.human_extra.push_back("nan rows    " + std::to_string(in.rows_read - in.kept_rows.size()) +
                            " left out, labelled -1 (--nan-rows noise)");
  if (saving) {
    // Wait for an `add` replacing the same model file, so that it is not
    // lost silently under this one (a new file needs no lock).
    std::optional<chutoro::io_detail::file_lock> lock;
    if (std::filesystem::exists(o.save) && std::filesystem::is_regular_file(o.save)) {
      lock.emplace(o.save, o.run.lock_timeout, [&] {
        if (show_progress(o.run))
          std::cerr << "chutoro: waiting for another process changing " << o.save << "\n";
      });
    }
    model->save(o.save);
    s.json_extra.emplace_back("model", o.save);
    s.human_extra.push_back("model       " + o.save + " (saved)");
  }
  if (rows) rows->commit();

  // ---- report
  s.t_start = t_start;
  s.input_name = in.name;
  if (o.in.has_plugin) s.plugin_arg = o.in.plugin_arg;
  s.format_name = in.format_name;
  s.metric = in.metric;
  s.n = n;
  s.dim = in.dim;
  s.dense = in.dense;
  s.p = saving ? model->parameters() : p;
  s.seconds_read = in.seconds;
  s.stats = stats;
  report(s, c.labels, c.n_clusters(), o.run);
  return 0;
}

}  // namespace chutoro_cli
