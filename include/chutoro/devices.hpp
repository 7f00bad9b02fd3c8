// chutoro — the GPUs chutoro can see (through its CUDA module).
//
// GPU code lives in a separately built module, libchutoro_cuda.so, loaded at
// run time (see docs/gpu.md); the library itself never links CUDA. Where the
// module is found: the environment variable CHUTORO_CUDA_LIBRARY (a path:
// only that file is tried), else next to the executable or shared object
// that holds chutoro (the chutoro CLI, the Python extension), then in
// <that folder>/../<libdir> and the install libdir.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chutoro {

/// One CUDA device. Versions use CUDA's encoding, 1000 * major + 10 * minor
/// (13000 is CUDA 13.0; cuda_version_string formats them).
struct device_info {
  int index = 0;                         ///< CUDA device ordinal (after CUDA_VISIBLE_DEVICES)
  std::string name;                      ///< e.g. "NVIDIA H200"
  int compute_capability_major = 0;      ///< e.g. 9
  int compute_capability_minor = 0;      ///< e.g. 0
  int multiprocessors = 0;               ///< streaming multiprocessors
  std::uint64_t total_memory_bytes = 0;  ///< global memory
  std::uint64_t free_memory_bytes = 0;   ///< free global memory when listed
  int driver_version = 0;                ///< CUDA version the installed driver supports
  int runtime_version = 0;               ///< CUDA runtime inside the module (linked statically)
  std::string pci_bus_id;                ///< "domain:bus:device.function", e.g. "0000:19:00.0"
  bool supported = false;                ///< the module has code for this compute capability (>= 7.5)
};

/// What list_devices() found.
struct device_list {
  std::vector<device_info> devices;
  /// Why `devices` is empty, in plain words ("no NVIDIA driver (libcuda.so.1
  /// not found: ...)", "CUDA module not found: ...", ...); when some devices
  /// were listed, why others could not be (usually empty).
  std::string reason;
  std::string module;        ///< the CUDA module's path; empty when none was loaded
  std::string module_build;  ///< its build: CUDA runtime and the code it carries
  int driver_version = 0;    ///< 0 without a driver (or without a module)
  int runtime_version = 0;   ///< 0 without a module
};

/// Lists the CUDA devices: loads the CUDA module (once per process), asks
/// the driver for the devices and, for each, its properties and free memory
/// (which makes the device's CUDA context, ~0.1-0.5 s the first time).
/// Without a usable GPU (no module, no driver, driver too old, no device)
/// returns an empty list and the reason: it never throws for those and
/// never crashes. Throws only std::bad_alloc. Thread safe.
device_list list_devices();

/// "13.0" for 13000; "none" for 0.
std::string cuda_version_string(int version);

}  // namespace chutoro
