// chutoro_distributed_bench — run under mpirun: every rank generates the same
// seeded Gaussian blobs (tests/cpp/test_data.hpp), keeps its slice of rows
// and runs distributed_fit; rank 0 prints one JSON object with every rank's
// work (distance computations) and traffic (bytes sent and received), and,
// with --reference, the one-process fit's distances and the ARI between the
// two clusterings. Timings on a shared machine only mean something side by
// side; work and bytes do not depend on the load.
//
//   mpirun -np 4 chutoro_distributed_bench --n 100000 --dim 16 --centers 20 --reference [--reach R]
#include <chrono>
#include <chutoro/distributed_mpi.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/scores.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "test_data.hpp"

namespace dist = chutoro::distributed;

int main(int argc, char** argv) {
  dist::mpi_session mpi(&argc, &argv);
  std::size_t n = 100000, dim = 16, centers = 20, overlap = 2, mcs = 10, ms = 10;
  double noise = 0.05, margin = std::numeric_limits<double>::infinity(), reach = 0.5;
  std::uint64_t seed = 16100;
  bool reference = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return std::strtoull(argv[++i], nullptr, 10); };
    if (a == "--n")
      n = next();
    else if (a == "--dim")
      dim = next();
    else if (a == "--centers")
      centers = next();
    else if (a == "--overlap")
      overlap = next();
    else if (a == "--min-cluster-size")
      mcs = next();
    else if (a == "--min-samples")
      ms = next();
    else if (a == "--seed")
      seed = next();
    else if (a == "--margin")
      margin = std::strtod(argv[++i], nullptr);
    else if (a == "--reach")
      reach = std::strtod(argv[++i], nullptr);
    else if (a == "--reference")
      reference = true;
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  auto comm = dist::make_mpi_communicator(MPI_COMM_WORLD);
  const int P = comm->size(), me = comm->rank();
  const auto d = chutoro_test::make_blobs(n, dim, centers, noise, seed);
  const std::size_t lo = n * static_cast<std::size_t>(me) / static_cast<std::size_t>(P);
  const std::size_t hi = n * static_cast<std::size_t>(me + 1) / static_cast<std::size_t>(P);
  const chutoro::dense_source mine(std::span<const float>(d.values.data() + lo * dim, (hi - lo) * dim),
                                   hi - lo, dim, chutoro::dense_metric::euclidean);
  chutoro::params p;
  p.selection.min_cluster_size = mcs;
  p.build.min_samples = ms;
  p.build.threads = 1;
  dist::distributed_params dp;
  dp.overlap = overlap;
  dp.replication_margin = margin;
  dp.boundary_reach = reach;
  const auto t0 = std::chrono::steady_clock::now();
  const dist::distributed_result r = dist::distributed_fit(*comm, mine, p, dp);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (me != 0) return 0;
  nlohmann::ordered_json j;
  j["n"] = n, j["dim"] = dim, j["centers"] = centers, j["ranks"] = P, j["overlap"] = overlap;
  if (!std::isinf(margin)) j["replication_margin"] = margin;
  j["min_cluster_size"] = mcs, j["min_samples"] = ms, j["seconds"] = seconds;
  j["clusters"] = r.clusters.n_clusters();
  std::uint64_t build = 0, part = 0, sent = 0, shard = 0, bq = 0, bd = 0, bb = 0;
  nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
  for (const auto& s : r.all_ranks) {
    build += s.distance_computations, part += s.partition_distances, sent += s.bytes_sent,
        shard += s.shard_items;
    bq += s.boundary_queries, bd += s.boundary_distances, bb += s.boundary_bytes_sent;
    ranks.push_back({{"local_items", s.local_items},
                     {"shard_items", s.shard_items},
                     {"distance_computations", s.distance_computations},
                     {"partition_distances", s.partition_distances},
                     {"forest_edges", s.forest_edges},
                     {"bytes_sent", s.bytes_sent},
                     {"bytes_received", s.bytes_received},
                     {"collectives", s.collectives},
                     {"seconds",
                      {{"partition", s.seconds_partition},
                       {"build", s.seconds_build},
                       {"merge", s.seconds_merge},
                       {"forest", s.seconds_forest},
                       {"hierarchy", s.seconds_hierarchy}}}});
  }
  j["boundary_reach"] = reach;
  j["boundary"] = {{"queries", bq}, {"distances", bd}, {"bytes_sent", bb}};
  j["build_distances"] = build, j["partition_distances"] = part, j["bytes_sent"] = sent;
  j["bytes_sent_per_item"] = static_cast<double>(sent) / static_cast<double>(n);
  j["replication"] = static_cast<double>(shard) / static_cast<double>(n);
  if (reference) {
    const chutoro::dense_source all(d.values, n, dim, chutoro::dense_metric::euclidean);
    const auto t1 = std::chrono::steady_clock::now();
    const chutoro::result one = chutoro::fit(all, p);
    j["reference"] = {
        {"distance_computations", one.stats.distance_computations},
        {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count()},
        {"clusters", one.n_clusters()},
        {"ari_vs_distributed", chutoro::adjusted_rand_index(one.labels, r.clusters.labels)}};
    j["distances_vs_reference"] =
        static_cast<double>(build + part + bd) / static_cast<double>(one.stats.distance_computations);
  }
  j["per_rank"] = ranks;
  std::cout << j.dump() << std::endl;
  return 0;
}
