// chutoro — the commands on a saved model (chutoro::model, docs/model_format.md):
//
//   chutoro cluster --model MODEL [selection options]   re-extract clusters, no rebuild
//   chutoro add MODEL INPUT                             FISHDBC's incremental update, saved back
//   chutoro predict MODEL INPUT --output FILE           approximate_predict, the model unchanged
//
// A model fitted on a plugin's items does not store them: --plugin LIB.so
// --plugin-arg ARG re-opens them (model::load checks they are the same).
#include <chutoro/error.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/model.hpp>
#include <chutoro/plugin_source.hpp>
#include <chutoro/scores.hpp>
#include <chutoro/version.hpp>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli.hpp"
#include "io/io_common.hpp"

namespace chutoro_cli {

namespace {

/// Loads MODEL on `device`, re-opening plugin items with --plugin/--plugin-arg. Errors name the model file.
chutoro::model load_model(const std::string& path, const input_options& in, chutoro::device_kind device) {
  if (in.has_plugin_arg && !in.has_plugin) throw usage_error("--plugin-arg needs --plugin");
  std::shared_ptr<chutoro::data_source> data;
  if (in.has_plugin) data = std::make_shared<chutoro::plugin_source>(in.plugin, in.plugin_arg);
  try {
    return chutoro::model::load(path, std::move(data), device);
  } catch (const chutoro::error& e) {
    std::string msg = e.what();
    if (msg.find(path) == std::string::npos) msg = path + ": " + msg;
    if (e.code() == chutoro::error_code::invalid_argument) {
      msg += in.has_plugin
                 ? " (--plugin and --plugin-arg must re-open exactly the items the model was "
                   "fitted on, and only for a model fitted with --plugin)"
                 : " (a model fitted with --plugin needs the same --plugin LIB.so --plugin-arg ARG to "
                   "re-open its items)";
    }
    throw chutoro::error(e.code(), msg);
  }
}

/// "metric euclidean, 64 dims" / "metric levenshtein, no dimension".
std::string describe(const std::string& metric, std::size_t dim, bool dense) {
  return "metric " + metric + ", " +
         (dense ? std::to_string(dim) + (dim == 1 ? " dim" : " dims") : "no dimension");
}

/// Items of INPUT for `m` (add, predict): the model's metric, the model's kind and dimension checked by the
/// library.
loaded_input read_items(const model_options& o, const chutoro::model& m) {
  // --plugin re-opens the model's own items: INPUT is a file.
  input_options items = o.in;
  items.has_plugin = items.has_plugin_arg = false;
  const input_plan plan = plan_input(items);
  const bool plugin_model = o.in.has_plugin;
  if (!plugin_model && m.data().kind() == chutoro::source_kind::sets &&
      static_cast<const chutoro::set_source&>(m.data()).vocabulary().empty()) {
    // Without its token vocabulary, new lines could not be numbered as the model's items.
    throw chutoro::error(chutoro::error_code::unsupported,
                         o.model +
                             ": a jaccard (token set) model without its token vocabulary cannot take items "
                             "from a file: the tokens of " +
                             o.in.input +
                             " cannot be numbered as the model's (the vocabulary is stored since model "
                             "format version 4 by `chutoro fit`; fit again on all items)");
  }
  // A plugin's distance cannot measure file items: read them with the kind's default metric and let
  // the model refuse them (unsupported).
  return read_input(plan, plugin_model ? std::string() : m.data().name(), plugin_model ? nullptr : &m.data());
}

/// Runs a model operation on `items`: a type_mismatch names INPUT and the model,
/// unsupported names the model, anything else names INPUT.
void with_items(const model_options& o, const chutoro::model& m, const loaded_input& items,
                const std::function<void()>& f) {
  try {
    f();
  } catch (const chutoro::error& e) {
    if (e.code() == chutoro::error_code::type_mismatch) {
      throw chutoro::error(e.code(), items.name + " (" + items.format_name + ", " +
                                         describe(items.metric, items.dim, items.dense) +
                                         ") does not match the model " + o.model + " (" +
                                         describe(m.data().name(), m.data().dim(), m.data().dim() > 0) +
                                         "): " + e.what());
    }
    if (e.code() == chutoro::error_code::unsupported)
      throw chutoro::error(e.code(), o.model + ": " + e.what());
    const std::string msg = e.what();
    if (msg.rfind(items.name, 0) == 0) throw;
    throw chutoro::error(e.code(), items.name + ": " + msg);
  }
}

/// Checks INPUT's options (--plugin re-opens the model's items: INPUT stays a file) before any work.
void check_item_options(const model_options& o) {
  input_options items = o.in;
  items.has_plugin = items.has_plugin_arg = false;
  (void)plan_input(items);
  if (o.in.has_plugin_arg && !o.in.has_plugin) throw usage_error("--plugin-arg needs --plugin");
}

void add_model_input(CLI::App* c, model_options& o, const std::string& what, const std::string& label_help) {
  c->add_option("MODEL", o.model, "A model file written by `chutoro fit`")->required()->check(file_name());
  c->add_option("INPUT", o.in.input,
                what +
                    ": .csv (header row), .npy, text (one item a line), .parquet or .arrow/.feather; "
                    "the model's metric, items of its kind and dimension")
      ->required()
      ->check(file_name());
  add_input_options(
      c, o.in, false,
      "The plugin library the model was fitted on (re-opens its items; models fitted with --plugin)",
      label_help);
  add_threads_option(c, o.run);
  add_device_option(c, o.run);
}

run_summary model_summary(clock_type::time_point t_start, const std::string& path, const chutoro::model& m) {
  run_summary s;
  s.t_start = t_start;
  s.input_name = path;
  s.format_name = "model";
  s.metric = m.data().name();
  s.n = m.size();
  s.dim = m.data().dim();
  s.dense = s.dim > 0;
  s.p = m.parameters();
  s.stats = m.stats();
  return s;
}

}  // namespace

// ---------------------------------------------------------------- cluster --model

int run_cluster_model(const cluster_options& o) {
  const auto t_start = clock_type::now();
  if (!o.in.input.empty()) throw usage_error("give either INPUT or --model, not both");
  for (const auto& name : o.fit_only_given) {
    throw usage_error(
        name + " does not apply to --model: it is fixed when the model is fitted (chutoro fit); " +
        "--model takes only the selection options (--min-cluster-size, --cluster-selection-method, "
        "--cluster-selection-epsilon, --allow-single-cluster, --max-cluster-size, "
        "--cluster-selection-persistence, --cluster-selection-epsilon-max) and --dbscan-cut");
  }
  for (const auto& name : o.input_only_given)
    throw usage_error(name + " does not apply to --model: the model keeps its items and metric");
  chutoro::selection_params checked;
  apply_selection(o.sel, checked, true);  // range checks before any work
  apply_threads(o.run);
  const chutoro::device_kind device = apply_device(o.run);
  if (o.run.has_output) check_output_path(o.run.output);
  if (o.run.has_output && same_file(o.run.output, o.model))
    throw usage_error("--output and --model name the same file " + o.model);

  const auto t_read = clock_type::now();
  chutoro::model m = load_model(o.model, o.in, device);
  const double seconds_read = seconds_since(t_read);

  chutoro::selection_params sp = m.parameters().selection;
  apply_selection(o.sel, sp, true);
  chutoro::params p = m.parameters();
  p.selection = sp;
  try {
    chutoro::validate(p);
  } catch (const chutoro::error& e) {
    throw usage_error(e.what());
  }
  if (m.size() < sp.min_cluster_size) {
    throw chutoro::error(chutoro::error_code::invalid_argument,
                         o.model + ": " + std::to_string(m.size()) + (m.size() == 1 ? " item" : " items") +
                             ", fewer than --min-cluster-size " + std::to_string(sp.min_cluster_size));
  }
  const auto t_cluster = clock_type::now();
  naming(o.model, [&] { m.cluster(sp); });
  chutoro::clustering c = m.clusters();
  if (o.has_dbscan_cut) {  // DBSCAN*: the flat cut replaces the labels; probabilities 1 for members
    c.labels = chutoro::dbscan_clustering(c.single_linkage_tree, o.dbscan_cut, sp.min_cluster_size);
    std::int32_t k = 0;
    for (std::size_t i = 0; i < c.labels.size(); ++i) {
      c.probabilities[i] = c.labels[i] >= 0 ? 1.0 : 0.0;
      k = std::max(k, c.labels[i] + 1);
    }
    c.cluster_persistence.assign(static_cast<std::size_t>(k), 1.0);
  }
  const double seconds_cluster = seconds_since(t_cluster);
  if (o.run.has_output)
    chutoro::write_clustering_csv(o.run.output, c.labels, c.probabilities, c.outlier_scores);

  run_summary s = model_summary(t_start, o.model, m);
  if (o.in.has_plugin) s.plugin_arg = o.in.plugin_arg;
  s.seconds_read = seconds_read;
  s.stats = {};  // nothing was built (but load rebuilt the tree on its device)
  s.stats.candidates = m.stats().candidates;
  s.stats.device = m.stats().device;
  s.stats.device_fallback_reason = m.stats().device_fallback_reason;
  s.stats.seconds_hierarchy = seconds_cluster;
  report(s, c.labels, c.n_clusters(), o.run);
  return 0;
}

// ---------------------------------------------------------------- add

CLI::App* add_add_command(CLI::App& app, model_options& o) {
  CLI::App* c = app.add_subcommand(
      "add", "Add the items of INPUT to MODEL (FISHDBC's incremental update), re-cluster, save MODEL back");
  add_model_input(c, o, "The items to add",
                  "CSV column that is not a feature (e.g. ground-truth classes): excluded");
  add_output_options(
      c, o.run,
      "Write label,probability,outlier_score of every item of the grown model (old items first) "
      "to this CSV (atomically, after MODEL is saved)");
  add_lock_option(c, o.run);
  return c;
}

void note_given_model(const CLI::App* c, model_options& o) {
  note_given_input(c, o.in);
  note_given_run(c, o.run);
}

int run_add(const model_options& o) {
  const auto t_start = clock_type::now();
  apply_threads(o.run);
  const chutoro::device_kind device = apply_device(o.run);
  check_item_options(o);
  if (o.run.has_output) {
    check_output_path(o.run.output);
    if (same_file(o.run.output, o.model))
      throw usage_error("--output and MODEL name the same file " + o.model);
    if (same_file(o.run.output, o.in.input))
      throw usage_error("--output and INPUT name the same file " + o.in.input);
  }
  check_output_path(o.model, "model");

  // One writer at a time: held from reading MODEL to replacing it, so that
  // concurrent adds each see the other's items (none is lost).
  const bool tell = show_progress(o.run);  // a terminal, not --quiet/--json
  const chutoro::io_detail::file_lock lock(o.model, o.run.lock_timeout, [&] {
    if (tell) std::cerr << "chutoro: waiting for another process changing " << o.model << "\n";
  });

  const auto t_read = clock_type::now();
  chutoro::model m = load_model(o.model, o.in, device);
  const std::size_t old_n = m.size();
  const loaded_input items = read_items(o, m);
  const double seconds_read = seconds_since(t_read);

  progress_bar bar(show_progress(o.run));
  with_items(o, m, items, [&] { m.add(*items.source, bar.callback()); });
  bar.clear();
  const chutoro::clustering& c = m.clusters();

  // Every file is written before any is committed, and MODEL first: a failure
  // leaves MODEL as it was and no labels of a model that was never saved.
  std::unique_ptr<chutoro::io_detail::output_file> labels;
  if (o.run.has_output)
    labels =
        chutoro::io_detail::stage_clustering_csv(o.run.output, c.labels, c.probabilities, c.outlier_scores);
  m.save(o.model);
  if (labels) labels->commit();

  run_summary s = model_summary(t_start, o.model, m);
  s.seconds_read = seconds_read;
  const std::size_t added = m.size() - old_n;
  s.json_extra.emplace_back("added", added);
  s.json_extra.emplace_back("added_from", items.name);
  s.json_extra.emplace_back("added_format", items.format_name);
  s.human_extra.push_back("added       " + std::to_string(added) + (added == 1 ? " item" : " items") +
                          " from " + items.name + " (" + items.format_name + "); " + o.model + " saved");
  report(s, c.labels, c.n_clusters(), o.run);
  return 0;
}

// ---------------------------------------------------------------- predict

CLI::App* add_predict_command(CLI::App& app, model_options& o) {
  CLI::App* c = app.add_subcommand(
      "predict", "Label the items of INPUT with MODEL's clusters (approximate_predict); MODEL is unchanged");
  add_model_input(c, o, "The items to label",
                  "CSV column holding ground-truth classes: not a feature; the predicted labels are scored "
                  "against it (ARI, AMI)");
  c->add_option("--output", o.run.output,
                "Write label,probability per item of INPUT to this CSV (atomically: all or nothing)")
      ->required()
      ->check(file_name());
  c->add_flag("--soft", o.soft,
              "Soft clustering (hdbscan's membership_vector): write label,probability,outlier_score and one "
              "membership_J column per cluster J");
  c->add_flag("--json", o.run.json, "Print one JSON object with the run's summary on stdout");
  c->add_flag("--quiet", o.run.quiet, "Print nothing but errors (--json still prints its object)");
  return c;
}

int run_predict(const model_options& o) {
  const auto t_start = clock_type::now();
  apply_threads(o.run);
  const chutoro::device_kind device = apply_device(o.run);
  check_item_options(o);
  check_output_path(o.run.output);
  if (same_file(o.run.output, o.model)) throw usage_error("--output and MODEL name the same file " + o.model);
  if (same_file(o.run.output, o.in.input))
    throw usage_error("--output and INPUT name the same file " + o.in.input);

  const auto t_read = clock_type::now();
  const chutoro::model m = load_model(o.model, o.in, device);
  const loaded_input items = read_items(o, m);
  const double seconds_read = seconds_since(t_read);

  const auto t_predict = clock_type::now();
  chutoro::prediction pr;
  with_items(o, m, items, [&] { pr = m.approximate_predict(*items.source, o.soft); });
  const double seconds_predict = seconds_since(t_predict);
  if (o.soft) {
    chutoro::write_soft_prediction_csv(o.run.output, pr.labels, pr.probabilities, pr.outlier_scores,
                                       pr.membership, pr.n_clusters);
  } else {
    chutoro::write_prediction_csv(o.run.output, pr.labels, pr.probabilities);
  }

  std::size_t noise = 0;
  const std::vector<std::uint64_t> sizes = cluster_sizes(pr.labels, 0, &noise);
  std::size_t hit = 0;
  for (const auto size : sizes) hit += size > 0 ? 1 : 0;
  const std::size_t q = pr.labels.size();
  const double noise_fraction = q ? static_cast<double>(noise) / static_cast<double>(q) : 0.0;
  std::optional<double> ari, ami;
  if (o.in.has_label_column) {
    const std::vector<std::int32_t> truth = chutoro::encode_labels(items.labels);
    ari = chutoro::adjusted_rand_index(truth, pr.labels);
    ami = chutoro::adjusted_mutual_info(truth, pr.labels);
  }
  const double seconds_total = seconds_since(t_start);
  if (o.run.json) {
    nlohmann::ordered_json j;
    j["model"] = o.model;
    j["input"] = items.name;
    j["format"] = items.format_name;
    j["n"] = q;
    j["dim"] = items.dim;
    j["metric"] = items.metric;
    j["model_n"] = m.size();
    j["model_clusters"] = m.clusters().n_clusters();
    j["clusters"] = hit;  // model clusters that received at least one item
    j["noise_fraction"] = noise_fraction;
    j["seconds"] = {{"total", seconds_total}, {"read", seconds_read}, {"predict", seconds_predict}};
    j["device"] = std::string(chutoro::to_string(m.stats().device));
    if (!m.stats().device_fallback_reason.empty())
      j["device_fallback_reason"] = m.stats().device_fallback_reason;
    if (ari) {
      j["label_column"] = o.in.label_column;
      j["ari"] = *ari;
      j["ami"] = *ami;
    }
    j["output"] = o.run.output;
    summary_stream(o.run) << j.dump() << '\n';
  } else if (!o.run.quiet) {
    std::ostringstream os;
    os << "chutoro " << CHUTORO_VERSION_STRING << ": predict " << items.name << " (" << items.format_name
       << "), " << q << (q == 1 ? " item" : " items") << " with " << o.model << " (" << m.size() << " items, "
       << m.clusters().n_clusters() << " clusters)\n";
    os << "  clusters    " << hit << " of " << m.clusters().n_clusters() << " received items\n";
    os << "  device      " << chutoro::to_string(m.stats().device);
    if (!m.stats().device_fallback_reason.empty())
      os << " (auto: " << m.stats().device_fallback_reason << ")";
    os << "\n";
    os << "  noise       " << fixed(100.0 * noise_fraction, 1) << "% (" << noise
       << (noise == 1 ? " item" : " items") << ")\n";
    if (ari) {
      os << "  ARI / AMI   " << fixed(*ari, 4) << " / " << fixed(*ami, 4) << " (against column \""
         << o.in.label_column << "\")\n";
    }
    os << "  time        " << fixed(seconds_total, 3) << " s (read " << fixed(seconds_read, 3) << ", predict "
       << fixed(seconds_predict, 3) << ")\n";
    os << "  output      " << o.run.output << "\n";
    summary_stream(o.run) << os.str();
  }
  summary_stream(o.run).flush();
  return 0;
}

}  // namespace chutoro_cli
