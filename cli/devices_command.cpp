// chutoro — `chutoro devices [--json]`: the GPUs chutoro can use (through its
// CUDA module, see docs/gpu.md), one line each, or why there is none; and the
// "cuda:" line of `chutoro --version`. Exit status 0 in every case: no GPU is
// an answer, not an error.
#include <chutoro/devices.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.hpp"

namespace chutoro_cli {

namespace {

std::string gib(std::uint64_t bytes) {
  return fixed(static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0), 1);
}

std::string capability(const chutoro::device_info& d) {
  return std::to_string(d.compute_capability_major) + "." + std::to_string(d.compute_capability_minor);
}

/// "no CUDA device: <reason>" (the reason alone when it says so already).
std::string none_line(const std::string& reason) {
  const std::string prefix = "no CUDA device";
  if (reason.compare(0, prefix.size(), prefix) == 0) return reason;
  return prefix + ": " + (reason.empty() ? "the CUDA module reported none" : reason);
}

nlohmann::ordered_json version_or_null(int v) {
  return v > 0 ? nlohmann::ordered_json(chutoro::cuda_version_string(v)) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json text_or_null(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

}  // namespace

CLI::App* add_devices_command(CLI::App& app, bool& json) {
  CLI::App* c = app.add_subcommand(
      "devices",
      "List the CUDA devices chutoro can use (name, compute capability, multiprocessors, memory, "
      "driver and runtime versions, PCI bus id), or why there is none; exit status 0 either way");
  c->add_flag("--json", json, "One JSON object on stdout: devices, reason, module, module_build, versions");
  return c;
}

int run_devices(bool json) {
  const chutoro::device_list list = chutoro::list_devices();
  if (json) {
    nlohmann::ordered_json j;
    j["devices"] = nlohmann::ordered_json::array();
    for (const chutoro::device_info& d : list.devices) {
      nlohmann::ordered_json o;
      o["index"] = d.index;
      o["name"] = d.name;
      o["compute_capability"] = capability(d);
      o["multiprocessors"] = d.multiprocessors;
      o["total_memory_bytes"] = d.total_memory_bytes;
      o["free_memory_bytes"] = d.free_memory_bytes;
      o["driver_version"] = version_or_null(d.driver_version);
      o["runtime_version"] = version_or_null(d.runtime_version);
      o["pci_bus_id"] = d.pci_bus_id;
      o["supported"] = d.supported;
      j["devices"].push_back(std::move(o));
    }
    j["reason"] = text_or_null(list.reason);
    j["module"] = text_or_null(list.module);
    j["module_build"] = text_or_null(list.module_build);
    j["driver_version"] = version_or_null(list.driver_version);
    j["runtime_version"] = version_or_null(list.runtime_version);
    std::cout << j.dump() << "\n";
    return 0;
  }
  if (list.devices.empty()) {
    std::cout << none_line(list.reason) << "\n";
    return 0;
  }
  for (const chutoro::device_info& d : list.devices) {
    std::cout << d.index << ": " << d.name << ", compute capability " << capability(d) << ", "
              << d.multiprocessors << " multiprocessors, " << gib(d.total_memory_bytes) << " GiB ("
              << gib(d.free_memory_bytes) << " GiB free), driver CUDA "
              << chutoro::cuda_version_string(d.driver_version) << ", runtime CUDA "
              << chutoro::cuda_version_string(d.runtime_version) << ", PCI " << d.pci_bus_id;
    if (!d.supported) std::cout << ", not supported (the CUDA module has no code for it)";
    std::cout << "\n";
  }
  if (!list.reason.empty()) std::cerr << "chutoro: warning: " << list.reason << "\n";
  return 0;
}

std::string cuda_version_line() {
  const chutoro::device_list list = chutoro::list_devices();
  if (list.devices.empty()) return "cuda: none (" + none_line(list.reason) + ")";
  std::string line = "cuda: " + std::to_string(list.devices.size()) +
                     (list.devices.size() == 1 ? " device: " : " devices: ");
  for (std::size_t k = 0; k < list.devices.size(); ++k)
    line += (k == 0 ? "" : ", ") + list.devices[k].name + " (" + capability(list.devices[k]) + ")";
  return line;
}

}  // namespace chutoro_cli
