// chutoro — `mpirun -np P chutoro cluster INPUT ... --output FILE`: the
// distributed fit (docs/distributed.md, include/chutoro/distributed.hpp).
//
// A run is distributed when CHUTORO_DISTRIBUTED is 1/on, or when it is unset
// (or "auto") and an MPI launcher started the process (OMPI_COMM_WORLD_SIZE or
// PMI_SIZE is set, or PMIX_RANK with Slurm's SLURM_PROCID: PMIX_RANK alone is
// also what a parent that initialised MPI as a singleton, e.g. a Python
// script that imported mpi4py.MPI, leaves to its children); CHUTORO_DISTRIBUTED=0/off runs one
// independent process. Every rank parses the same command line; the ranks
// agree on the options and the input (distributed_fit compares them with
// rank 0's) or fail together. Rank r reads part r of the input (.npy: its
// rows only; .csv and text: its byte range, cut at line starts; Parquet and
// Arrow IPC: the row groups / record batches holding its rows), rank 0 writes the one
// output file atomically and prints the summary. Any failure: every rank
// exits 1, rank 0 alone prints "chutoro: error: rank R: <cause>", and no
// output file is left.
#include <chutoro/error.hpp>
#include <chutoro/io.hpp>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cli.hpp"

#if CHUTORO_HAVE_MPI
#include <cctype>
#include <chutoro/arrow.hpp>
#include <chutoro/distributed_mpi.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/scores.hpp>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "io/io_common.hpp"
#include "io/parse.hpp"
#endif

namespace chutoro_cli {

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}
}  // namespace

bool distributed_launch() {
  const std::string want = env("CHUTORO_DISTRIBUTED");
  if (want == "1" || want == "on") return true;
  if (want == "0" || want == "off") return false;
  if (!want.empty() && want != "auto")
    throw chutoro::error(chutoro::error_code::invalid_argument,
                         "CHUTORO_DISTRIBUTED=\"" + want + "\": use auto, on (1) or off (0)");
  return !env("OMPI_COMM_WORLD_SIZE").empty() || !env("PMI_SIZE").empty() ||
         (!env("PMIX_RANK").empty() && !env("SLURM_PROCID").empty());
}

#if !CHUTORO_HAVE_MPI

int run_fit_distributed(const cluster_options&) {
  throw chutoro::error(chutoro::error_code::unsupported,
                       "started as a distributed run (by mpirun, or CHUTORO_DISTRIBUTED=1) but this chutoro "
                       "was built without MPI (CHUTORO_WITH_MPI); set CHUTORO_DISTRIBUTED=0 to run each "
                       "process on its own");
}

#else

namespace dist = chutoro::distributed;

int run_fit_distributed(const cluster_options& o) {
  const auto t_start = clock_type::now();
  dist::mpi_session mpi(nullptr, nullptr);
  const std::unique_ptr<dist::communicator> comm = dist::make_mpi_communicator(MPI_COMM_WORLD);
  const int me = comm->rank(), ranks = comm->size();
  try {
    // ---- options: every rank checks its own (the same command line, normally)
    chutoro::params p;
    dist::distributed_params dp;
    input_plan plan;
    dist::agree(*comm, [&] {
      if (!o.save.empty())
        throw usage_error("fit --save is not distributed; run `chutoro cluster` under mpirun");
      if (o.in.has_plugin)
        throw usage_error("--plugin is not distributed; give a .npy, .csv, text, Parquet or Arrow INPUT");
      if (o.in.input.empty()) throw usage_error("INPUT is required");
      p = make_params(o.sel, o.build);
      apply_threads(o.run);
      p.build.device = apply_device(o.run);
      p.build.threads = static_cast<int>(o.run.threads);
      dp.boundary_reach = o.boundary_reach;
      if (o.overlap < 1)
        throw usage_error("--overlap " + std::to_string(o.overlap) + " is out of range: at least 1");
      dp.overlap = static_cast<std::size_t>(o.overlap);
      if (o.replication_margin >= 0) dp.replication_margin = o.replication_margin;
      plan = plan_input(o.in);  // Parquet / Arrow without Arrow C++: unsupported, as in one process
      if (me == 0 && o.run.has_output) {
        check_output_path(o.run.output);
        if (same_file(o.run.output, o.in.input))
          throw usage_error("--output names the input file " + o.in.input + "; choose another output file");
      }
    });

    // ---- read this rank's part
    const auto t_read = clock_type::now();
    std::unique_ptr<chutoro::data_source> source;
    std::vector<std::string> labels;  // rank 0, csv with --label-column: every row's
    // Items of text: lines, or a Parquet/Arrow string column (known once read).
    bool text = plan.format == chutoro::input_format::lines;
    std::string metric;
    std::size_t dim = 0;
    std::string identity;
    // The metrics whose items move between ranks (distributed_fit's item records).
    const auto check_metric = [&] {
      metric = !o.in.metric.empty() ? o.in.metric : text ? "levenshtein" : "euclidean";
      const chutoro::metric_info& m = chutoro::builtin_metric(metric);  // unknown: invalid_argument
      metric = std::string(m.name);
      const bool strings = m.items == chutoro::metric_items::strings;
      const bool ok = text ? strings
                           : !strings && m.kind != chutoro::source_kind::sparse &&
                                 (m.kind != chutoro::source_kind::dense || metric == "euclidean" ||
                                  metric == "cosine" || metric == "manhattan");
      if (!ok)
        throw usage_error("--metric " + metric + " is not distributed for " + plan.format_name +
                          (text ? " (strings); choose levenshtein or jaccard"
                                : " (vectors); choose euclidean, cosine, manhattan, inner_product, angular, "
                                  "hamming or tanimoto"));
      if (!o.in.metric_params.empty()) throw usage_error("--metric-param is not distributed");
    };
    if (!plan.columnar) dist::agree(*comm, check_metric);
    // Text inputs (.csv, lines): each rank reads only its byte range, cut at
    // line starts (dist::text_part_of); gzip, zstd and quoted CSV files are read whole.
    dist::text_part in_text;
    if (plan.format != chutoro::input_format::npy && !plan.columnar)
      in_text = dist::text_part_of(*comm, o.in.input, plan.format == chutoro::input_format::csv);
    // This rank's rows [lo, hi) of `total`.
    std::size_t total = 0, lo = 0, hi = 0;
    const auto part_of = [&](std::size_t t) {
      total = t;
      lo = t / ranks * me + t % ranks * me / ranks;
      hi = t / ranks * (me + 1) + t % ranks * (me + 1) / ranks;
    };
    chutoro::dense_table part;
    std::vector<std::string> items;
    std::size_t chunks_total = 0, chunks_read = 0;  // Parquet row groups / Arrow record batches
    std::vector<std::uint64_t> chunks_by_rank;      // rank 0: the chunks each rank read
    std::string column_name;
    dist::agree(*comm, [&] {
      if (plan.format == chutoro::input_format::npy) {
        chutoro::npy_part np =
            chutoro::read_npy_part(o.in.input, static_cast<std::size_t>(me), static_cast<std::size_t>(ranks));
        part = std::move(np.table);
        total = np.total_rows, lo = np.first_row, hi = lo + part.n;
        return;
      }
      if (plan.columnar) {
        // Parquet: the row groups holding this rank's rows; Arrow IPC: its record batches.
        const auto col = o.in.has_column ? std::optional<std::string_view>(o.in.column) : std::nullopt;
        chutoro::column_part cp =
            plan.format == chutoro::input_format::parquet
                ? chutoro::read_parquet_part(o.in.input, col, static_cast<std::size_t>(me),
                                             static_cast<std::size_t>(ranks))
                : chutoro::read_arrow_ipc_part(o.in.input, col, static_cast<std::size_t>(me),
                                               static_cast<std::size_t>(ranks));
        total = cp.total_rows, lo = cp.first_row, hi = lo + cp.column.size();
        chunks_total = cp.chunks_total, chunks_read = cp.chunks_read;
        column_name = cp.column.name;
        text = cp.column.type == chutoro::column_data::kind::strings;
        if (text)
          items = std::move(cp.column.strings);
        else
          part = std::move(cp.column.dense);
        return;
      }
      // A parser's "<file>: line N" counts lines of this rank's text (header + its lines): the file's line.
      const auto where = [&](const chutoro::error& e) {
        std::string m = e.what();
        const std::string at = o.in.input + ": line ";
        std::size_t digits = 0;
        while (m.rfind(at, 0) == 0 && at.size() + digits < m.size() &&
               std::isdigit(static_cast<unsigned char>(m[at.size() + digits])))
          ++digits;
        if (digits > 0) {
          const std::uint64_t k = std::stoull(m.substr(at.size(), digits));
          const std::uint64_t line =
              k <= in_text.header_lines ? k : in_text.first_line + k - in_text.header_lines - 1;
          m.replace(at.size(), digits, std::to_string(line));
        }
        return chutoro::error(e.code(), m + " (this rank's part: bytes " + std::to_string(in_text.begin) +
                                            ".." + std::to_string(in_text.end) + " of the file)");
      };
      const std::optional<std::string_view> label =
          o.in.has_label_column ? std::optional<std::string_view>(o.in.label_column) : std::nullopt;
      chutoro::csv_options csv;
      csv.delimiter = chutoro::default_delimiter(o.in.input);
      if (in_text.split) {
        try {
          if (text) {
            if (!in_text.text.empty()) items = chutoro::io_detail::parse_lines(in_text.text, o.in.input);
          } else if (in_text.begin < in_text.end) {
            part = chutoro::io_detail::parse_csv(in_text.text, o.in.input, label, csv);
            if (me != 0 && !part.labels.empty()) labels = std::move(part.labels);
          }
        } catch (const chutoro::error& e) {
          throw where(e);
        }
        in_text.text = {};
        return;
      }
      if (text) {
        std::vector<std::string> all = chutoro::io_detail::parse_lines(in_text.text, o.in.input);
        in_text.text = {};
        part_of(all.size());
        items.assign(std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(lo)),
                     std::make_move_iterator(all.begin() + static_cast<std::ptrdiff_t>(hi)));
      } else {
        chutoro::dense_table all = chutoro::io_detail::parse_csv(in_text.text, o.in.input, label, csv);
        in_text.text = {};
        part_of(all.n);
        part.dim = all.dim;
        part.n = hi - lo;
        part.values.assign(all.values.begin() + static_cast<std::ptrdiff_t>(lo * all.dim),
                           all.values.begin() + static_cast<std::ptrdiff_t>(hi * all.dim));
        if (me == 0) labels = std::move(all.labels);
      }
    });
    if (plan.columnar) {
      // The column's type (vectors or strings) is known now; a rank whose part is empty has none.
      std::uint64_t kinds[2] = {hi > lo && text ? 1u : 0u, hi > lo && !text ? 1u : 0u};
      comm->allreduce(std::span<std::uint64_t>(kinds, 2), dist::reduce_op::sum);
      chunks_by_rank.assign(static_cast<std::size_t>(ranks), 0);
      chunks_by_rank[static_cast<std::size_t>(me)] = chunks_read;
      comm->allreduce(chunks_by_rank, dist::reduce_op::sum);
      text = kinds[0] > 0;
      dist::agree(*comm, [&] {
        if (kinds[0] > 0 && kinds[1] > 0)
          throw chutoro::error(chutoro::error_code::type_mismatch,
                               o.in.input + ": the column holds strings on some ranks and vectors on others");
        check_metric();
      });
    }
    if (in_text.split) {
      // Rows per rank: this rank's offset and the total.
      std::vector<std::uint64_t> counts(static_cast<std::size_t>(ranks), 0);
      counts[static_cast<std::size_t>(me)] = text ? items.size() : part.n;
      comm->allreduce(counts, dist::reduce_op::sum);
      total = 0;
      for (int k = 0; k < ranks; ++k) {
        if (k == me) lo = total;
        total += counts[static_cast<std::size_t>(k)];
      }
      hi = lo + counts[static_cast<std::size_t>(me)];
      if (o.in.has_label_column) {
        // Rank 0 reports ARI against the label column: every rank's labels, in rank order.
        std::vector<std::byte> mine;
        for (const std::string& l : (me == 0 ? std::vector<std::string>{} : labels)) {
          const auto n = static_cast<std::uint32_t>(l.size());
          const auto* b = reinterpret_cast<const std::byte*>(&n);
          mine.insert(mine.end(), b, b + 4);
          const auto* c = reinterpret_cast<const std::byte*>(l.data());
          mine.insert(mine.end(), c, c + l.size());
        }
        if (me == 0) labels = std::move(part.labels);
        const std::vector<std::vector<std::byte> > got = comm->gather(mine, 0);
        for (std::size_t k = 1; k < got.size(); ++k)
          for (std::size_t at = 0; at + 4 <= got[k].size();) {
            std::uint32_t n = 0;
            std::memcpy(&n, got[k].data() + at, 4);
            labels.emplace_back(reinterpret_cast<const char*>(got[k].data() + at + 4), n);
            at += 4 + n;
          }
        if (me != 0) labels.clear();
      }
    }
    dist::agree(*comm, [&] {
      if (hi == lo)
        throw chutoro::error(
            chutoro::error_code::invalid_argument,
            o.in.input + ": " + std::to_string(total) + " rows for " + std::to_string(ranks) +
                " ranks: this rank's part holds no row; use at most " + std::to_string(total) + " ranks" +
                (in_text.split ? " (text inputs are cut by bytes: fewer ranks, or a .npy file)" : ""));
      dim = part.dim;
      naming(o.in.input, [&] {
        try {
          source = text ? chutoro::make_string_source(items, metric)
                        : chutoro::make_vector_source(part.values, part.n, part.dim, metric);
        } catch (const chutoro::error& e) {
          // The sources number items from 0 in this rank's part; name the file's line / row.
          if (plan.format == chutoro::input_format::lines)
            throw chutoro::error(e.code(), std::string(e.what()) + " (item 0 of this part is line " +
                                               std::to_string(lo + 1) + " of the file)");
          // Vector sources say "row R" or "X[R, C]": R + lo is the input's row (0-based), as one process
          // says.
          std::string m = e.what();
          for (const std::string_view at : {std::string_view("row "), std::string_view("X[")}) {
            const std::size_t from = m.find(at);
            std::size_t end = from == std::string::npos ? from : from + at.size();
            while (end < m.size() && std::isdigit(static_cast<unsigned char>(m[end]))) ++end;
            if (from == std::string::npos || end == from + at.size()) continue;
            const std::size_t first = from + at.size();
            m.replace(first, end - first, std::to_string(std::stoull(m.substr(first, end - first)) + lo));
            throw chutoro::error(e.code(), m);
          }
          throw chutoro::error(e.code(), m + " (row 0 of this part is row " + std::to_string(lo) +
                                             " of the input, counting from 0)");
        }
      });
      identity = "file=" + std::filesystem::path(o.in.input).filename().string() +
                 ";bytes=" + std::to_string(std::filesystem::file_size(o.in.input)) +
                 ";format=" + plan.format_name + ";rows=" + std::to_string(total);
    });
    const double seconds_read = seconds_since(t_read);

    // ---- fit
    dist::distributed_result r = dist::distributed_fit(*comm, *source, p, dp, identity);
    source.reset();

    // ---- output: rank 0 writes the one file; every rank learns whether it could
    dist::agree(*comm, [&] {
      if (me != 0 || !o.run.has_output) return;
      const chutoro::clustering& c = r.clusters;
      chutoro::io_detail::stage_clustering_csv(o.run.output, c.labels, c.probabilities, c.outlier_scores)
          ->commit();
    });
    if (me != 0) return 0;

    // ---- report (rank 0)
    run_summary s;
    const chutoro::clustering& c = r.clusters;
    if (o.in.has_label_column && !labels.empty()) {
      const std::vector<std::int32_t> truth = chutoro::encode_labels(labels);
      s.ari = chutoro::adjusted_rand_index(truth, c.labels);
      s.ami = chutoro::adjusted_mutual_info(truth, c.labels);
      s.label_column = o.in.label_column;
    }
    s.t_start = t_start;
    s.input_name = o.in.input;
    s.format_name = plan.format_name + (column_name.empty() ? "" : ", column " + column_name);
    s.metric = metric;
    s.n = r.n;
    s.dim = dim;
    s.dense = !text;
    s.p = p;
    s.seconds_read = seconds_read;
    nlohmann::ordered_json per_rank = nlohmann::ordered_json::array();
    std::uint64_t distances = 0, partition = 0, shard_items = 0, sent = 0;
    double graph = 0, forest = 0;
    for (const dist::rank_stats& x : r.all_ranks) {
      distances += x.distance_computations + x.boundary_distances, partition += x.partition_distances,
          shard_items += x.shard_items;
      sent += x.bytes_sent;
      graph = std::max(graph, x.seconds_build), forest = std::max(forest, x.seconds_merge + x.seconds_forest);
      per_rank.push_back({{"local_items", x.local_items},
                          {"shard_items", x.shard_items},
                          {"distance_computations", x.distance_computations},
                          {"partition_distances", x.partition_distances},
                          {"candidate_edges", x.candidate_edges},
                          {"forest_edges", x.forest_edges},
                          {"bytes_sent", x.bytes_sent},
                          {"bytes_received", x.bytes_received},
                          {"collectives", x.collectives},
                          {"boundary",
                           {{"items", x.boundary_items},
                            {"queries", x.boundary_queries},
                            {"distances", x.boundary_distances},
                            {"bytes_sent", x.boundary_bytes_sent},
                            {"rounds", x.boundary_rounds}}},
                          {"seconds",
                           {{"partition", x.seconds_partition},
                            {"build", x.seconds_build},
                            {"merge", x.seconds_merge},
                            {"forest", x.seconds_forest},
                            {"hierarchy", x.seconds_hierarchy}}}});
    }
    s.stats.distance_computations = distances + partition;
    s.stats.seconds_graph = graph;
    s.stats.seconds_mst = forest;
    s.stats.seconds_hierarchy = r.stats.seconds_hierarchy;
    s.stats.device = chutoro::select_device(p.build.device).device;
    s.json_extra.emplace_back(
        "distributed",
        nlohmann::ordered_json{{"ranks", ranks},
                               {"overlap", dp.overlap},
                               {"input_cut_by_bytes", in_text.split},
                               {"replication", static_cast<double>(shard_items) / static_cast<double>(r.n)},
                               {"bytes_sent", sent},
                               {"per_rank", per_rank}});
    if (plan.columnar)
      s.json_extra.back().second["input_chunks"] = {{"total", chunks_total},
                                                    {"read_per_rank", chunks_by_rank}};
    s.human_extra.push_back("ranks       " + std::to_string(ranks) + " (overlap " +
                            std::to_string(dp.overlap) + ", replication " +
                            fixed(static_cast<double>(shard_items) / static_cast<double>(r.n), 2) + ", " +
                            std::to_string(sent) + " bytes sent; build " + std::to_string(distances) +
                            " + partition " + std::to_string(partition) + " distances)");
    report(s, c.labels, c.n_clusters(), o.run);
    return 0;
  } catch (const dist::distributed_error& e) {
    // Every rank holds the same error: rank 0 prints it once, then the ranks
    // leave together (a rank leaving first with status 1 makes mpirun end
    // the others, rank 0 perhaps before it printed).
    if (me == 0) print_error(e.what());
    MPI_Barrier(MPI_COMM_WORLD);
    return 1;
  } catch (const std::exception& e) {
    // A failure outside the stages the ranks agree on: the others may wait
    // in a collective for ever, so this rank ends them all.
    print_error("rank " + std::to_string(me) + ": " + e.what());
    dist::abort_all(MPI_COMM_WORLD, 1);
  }
}

#endif

}  // namespace chutoro_cli
