// chutoro_model_bench — the incremental-model targets (issue 6), measured
// side by side in one run, written as a Markdown report:
//  1. fitting in 10 equal batches (model + 9 add() calls) vs one fit: ARI
//     between the two clusterings, on 100k x 32 blobs, digits and letter;
//  2. adding 1% new items (add() re-clusters too) vs a full fit, at 100k x 32;
//  3. re-clustering (model::cluster with a new min_cluster_size) and
//     save/load of a fitted 1M-item model (--million; 1M x 2 blobs).
// Times are medians of --repeats runs (wall clock, steady_clock).
//
// Usage: chutoro_model_bench [--out FILE.md] [--repeats N] [--threads T] [--million]
//        [--data-dir DIR]   (defaults: stdout, 3, 2, off, the shared data dir)
#include <algorithm>
#include <chrono>
#include <chutoro/chutoro.hpp>
#include <chutoro/io.hpp>
#include <chutoro/model.hpp>
#include <chutoro/scores.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_data.hpp"  // the blob generator and CSV loader the tests use

namespace {

using clock_type = std::chrono::steady_clock;
using chutoro_test::dense_data;

double seconds(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

/// Rows in a seeded random order (a stream does not arrive sorted by cluster).
dense_data shuffled(const dense_data& d, std::uint64_t seed) {
  std::vector<std::size_t> order(d.n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  dense_data out = d;
  for (std::size_t i = 0; i < d.n; ++i) {
    std::copy_n(d.values.begin() + static_cast<std::ptrdiff_t>(order[i] * d.dim), d.dim,
                out.values.begin() + static_cast<std::ptrdiff_t>(i * d.dim));
    if (!d.truth.empty()) out.truth[i] = d.truth[order[i]];
  }
  return out;
}

std::shared_ptr<chutoro::dense_source> rows(const dense_data& d, std::size_t from, std::size_t to) {
  to = std::min(to, d.n);
  return std::make_shared<chutoro::dense_source>(
      std::span(d.values).subspan(from * d.dim, (to - from) * d.dim), to - from, d.dim,
      chutoro::dense_metric::euclidean);
}

struct options {
  std::string out;
  int repeats = 3;
  int threads = 2;
  bool million = false;
  std::string data_dir = CHUTORO_DATA_DIR;
};

chutoro::params bench_params(const options& o, std::size_t mcs) {
  chutoro::params p;
  p.selection.min_cluster_size = mcs;
  p.build.min_samples = 10;
  p.build.threads = o.threads;
  return p;
}

std::string fmt(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "chutoro_model_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--out")
      o.out = value();
    else if (a == "--repeats")
      o.repeats = std::max(1, std::stoi(value()));
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--million")
      o.million = true;
    else if (a == "--data-dir")
      o.data_dir = value();
    else {
      std::fprintf(stderr,
                   "usage: chutoro_model_bench [--out FILE.md] [--repeats N] [--threads T] [--million] "
                   "[--data-dir DIR]\n");
      return 2;
    }
  }
  std::ostringstream md;
  auto log = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };

  // 1. Ten batches vs one fit.
  md << "### Ten equal batches vs one fit\n\n"
     << "| data | n x d | one fit (s) | 10 batches (s) | ARI batches vs one |\n| --- | --- | --- | --- | --- "
        "|\n";
  struct named {
    std::string name;
    dense_data d;
    std::size_t mcs;
  };
  std::vector<named> sets;
  sets.push_back({"blobs (10 centres, 10% noise, seed 7)",
                  shuffled(chutoro_test::make_blobs(100000, 32, 10, 0.1, 7), 1), 50});
  auto csv = [&](const std::string& file) {
    const chutoro::dense_table t = chutoro::read_csv(o.data_dir + "/" + file, "label");
    dense_data d;
    d.values = t.values, d.n = t.n, d.dim = t.dim;
    return d;
  };
  sets.push_back({"digits.csv", shuffled(csv("digits.csv"), 2), 10});
  sets.push_back({"letter.csv", shuffled(csv("letter.csv"), 3), 10});
  for (const named& s : sets) {
    const auto p = bench_params(o, s.mcs);
    auto t0 = clock_type::now();
    const chutoro::model one(rows(s.d, 0, s.d.n), p);
    const double t_one = seconds(t0);
    const std::size_t step = (s.d.n + 9) / 10;
    t0 = clock_type::now();
    chutoro::model inc(rows(s.d, 0, step), p);
    for (std::size_t from = step; from < s.d.n; from += step) inc.add(*rows(s.d, from, from + step));
    const double t_inc = seconds(t0);
    const double ari = chutoro::adjusted_rand_index(one.clusters().labels, inc.clusters().labels);
    md << "| " << s.name << " | " << s.d.n << " x " << s.d.dim << " | " << fmt(t_one, 2) << " | "
       << fmt(t_inc, 2) << " | " << fmt(ari, 4) << " |\n";
    log(s.name + ": ARI " + fmt(ari, 4));
  }

  // 2. Adding 1% vs a full fit at 100k.
  {
    const dense_data all = shuffled(
        chutoro_test::make_blobs(100000 + 1000 * static_cast<std::size_t>(o.repeats), 32, 10, 0.1, 8), 4);
    const auto p = bench_params(o, 50);
    std::vector<double> fits, adds;
    std::unique_ptr<chutoro::model> m;
    for (int r = 0; r < o.repeats; ++r) {
      const auto t0 = clock_type::now();
      m = std::make_unique<chutoro::model>(rows(all, 0, 100000), p);
      fits.push_back(seconds(t0));
    }
    for (int r = 0; r < o.repeats; ++r) {
      const std::size_t from = 100000 + 1000 * static_cast<std::size_t>(r);
      const auto t0 = clock_type::now();
      m->add(*rows(all, from, from + 1000));
      adds.push_back(seconds(t0));
    }
    const double f = median(fits), a = median(adds);
    md << "\n### Adding 1% to a 100k-item model\n\n"
       << "| 100k x 32 blobs | median (s) |\n| --- | --- |\n"
       << "| full fit of 100,000 items | " << fmt(f, 3) << " |\n"
       << "| add 1,000 items + re-cluster (models of 100k, 101k, 102k, ...) | " << fmt(a, 3) << " |\n"
       << "| ratio add / fit | " << fmt(100.0 * a / f, 2) << "% (target <= 5%) |\n";
    log("add 1%: " + fmt(100.0 * a / f, 2) + "% of a fit");
  }

  // 3. Re-clustering and save/load at 1M items.
  if (o.million) {
    const dense_data d = chutoro_test::make_blobs(1000000, 2, 20, 0.1, 9);
    auto t0 = clock_type::now();
    chutoro::model m(rows(d, 0, d.n), bench_params(o, 50));
    const double t_fit = seconds(t0);
    std::vector<double> cl;
    const std::size_t sizes[] = {100, 25, 400, 50, 200};
    for (int r = 0; r < std::max(o.repeats, 3); ++r) {
      chutoro::selection_params sp;
      sp.min_cluster_size = sizes[r % 5];
      t0 = clock_type::now();
      m.cluster(sp);
      cl.push_back(seconds(t0));
    }
    const auto path = std::filesystem::temp_directory_path() / "chutoro_model_bench.chutoro";
    t0 = clock_type::now();
    m.save(path);
    const double t_save = seconds(t0);
    const auto bytes = std::filesystem::file_size(path);
    t0 = clock_type::now();
    const chutoro::model back = chutoro::model::load(path);
    const double t_load = seconds(t0);
    std::filesystem::remove(path);
    md << "\n### A 1M-item model (1M x 2 blobs, 20 centres, 10% noise)\n\n"
       << "| step | seconds |\n| --- | --- |\n"
       << "| fit | " << fmt(t_fit, 1) << " |\n"
       << "| re-cluster with a new min_cluster_size (median of " << cl.size() << ") | " << fmt(median(cl), 3)
       << " (target < 2 s) |\n"
       << "| save (" << fmt(static_cast<double>(bytes) / (1 << 20), 1) << " MiB) | " << fmt(t_save, 2)
       << " |\n"
       << "| load | " << fmt(t_load, 2) << " |\n";
    log("1M re-cluster: " + fmt(median(cl), 3) + " s");
  }
  if (o.out.empty()) {
    std::fputs(md.str().c_str(), stdout);
  } else {
    std::ofstream(o.out) << md.str();
  }
  return 0;
}
