// chutoro — the command-line tool.
//
//   chutoro cluster INPUT [options]   cluster a CSV, NPY, text, Parquet or Arrow file
//   chutoro cluster --plugin LIB.so --plugin-arg ARG [options]   cluster a plugin's items
//   chutoro fit INPUT --save MODEL [options]   fit as cluster does, and save the model
//   chutoro cluster --model MODEL [selection options]   re-cluster a saved model (no rebuild)
//   chutoro add MODEL INPUT [--output FILE]   add INPUT's items to MODEL, re-cluster, save MODEL
//   chutoro predict MODEL INPUT --output FILE   label INPUT's items with MODEL's clusters
//   chutoro devices [--json]   the CUDA devices chutoro can use, or why there is none
//   chutoro --version
//
// Every command but --version takes --device auto|cpu|cuda (where the graph
// stage runs; CHUTORO_DEVICE applies to auto): cuda without a usable GPU is
// an error (exit 1) before any input is read.
//
// Exit status: 0 success; 1 a failure with the input, the model, the run or
// the output (chutoro::error and other runtime errors); 2 a usage error
// (unknown or malformed option, out-of-range value, metric that does not fit
// the format, options that do not go together). Every error is one line on
// stderr, "chutoro: error: <message>", and no output file (nor temporary
// file) is left behind; a failed add leaves MODEL as it was.
#include <CLI/CLI.hpp>
#include <chutoro/error.hpp>
#include <chutoro/simd.hpp>
#include <chutoro/version.hpp>
#include <exception>
#include <functional>
#include <new>
#include <string>

#include "cli.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

using namespace chutoro_cli;

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // Blocks of 1 MiB and more come straight from the kernel and go back when
  // freed. By default glibc raises this threshold after the first large free
  // and then keeps freed multi-MiB buffers (candidate edges, compaction
  // copies, forests) in its heap: 40-55 MiB more peak RSS on 1M x 32 blobs.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
  CLI::App app{"chutoro: FISHDBC density-based clustering, a scalable approximation of HDBSCAN*", "chutoro"};
  app.set_version_flag(
      "--version", std::function<std::string()>([] {
        try {
          return std::string("chutoro ") + CHUTORO_VERSION_STRING + "\nsimd " + chutoro::simd_target() +
                 "\n" + cuda_version_line();
        } catch (const chutoro::error& e) {
          throw CLI::ValidationError("--version", e.what());
        }
      }),
      "Print the version, the SIMD target of the distance kernels and the CUDA devices, and exit");
  app.require_subcommand(1);
  cluster_options cluster_o, fit_o;
  model_options add_o, predict_o;
  CLI::App* cluster = add_cluster_command(app, cluster_o);
  CLI::App* fit = add_fit_command(app, fit_o);
  CLI::App* add = add_add_command(app, add_o);
  CLI::App* predict = add_predict_command(app, predict_o);
  bool devices_json = false;
  CLI::App* devices = add_devices_command(app, devices_json);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string msg = e.what();
    if (msg.empty()) msg = e.get_name();
    std::string command;
    for (const CLI::App* c : {cluster, fit, add, predict, devices})
      if (c->parsed()) command = c->get_name() + " ";
    print_error(msg + " (see chutoro " + command + "--help)");
    return 2;
  }

  try {
    if (devices->parsed()) return run_devices(devices_json);
    if (cluster->parsed()) {
      note_given_cluster(cluster, cluster_o);
      return cluster_o.has_model ? run_cluster_model(cluster_o) : run_fit(cluster_o);
    }
    if (fit->parsed()) {
      note_given_cluster(fit, fit_o);
      return run_fit(fit_o);
    }
    if (add->parsed()) {
      note_given_model(add, add_o);
      return run_add(add_o);
    }
    note_given_model(predict, predict_o);
    predict_o.run.has_output = true;
    return run_predict(predict_o);
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
