// chutoro — which SIMD code path the dense distance kernels use.
#pragma once

#include <string>

namespace chutoro {

/// Name of the Highway target the dense kernels run on, lower case ("avx3"
/// = AVX-512, "avx2", "sse4", "ssse3", "sse2", "neon", "emu128", ...): the best
/// the CPU supports, or the one named by the environment variable
/// CHUTORO_SIMD_TARGET (read once; an unsupported name throws
/// chutoro::error(invalid_argument) listing the available ones). Thread safe.
std::string simd_target();

}  // namespace chutoro
