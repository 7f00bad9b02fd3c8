# CCCL (Thrust, CUB, libcu++): header-only, shipped with the CUDA toolkit (on
# CUDA 13 under <toolkit>/include/cccl). With it the GPU algorithms of
# src/cuda/*.cuh also compile with the host compiler for Thrust's OpenMP
# device system, so tests/gpu builds and runs without a GPU.
# Looked for in CUDAToolkit_ROOT / CUDA_HOME / CUDA_PATH and /usr/local/cuda
# (nvcc need not be on PATH), or set CHUTORO_CCCL_INCLUDE_DIR. Defines the
# INTERFACE target chutoro::cccl_omp (include path as SYSTEM, the OpenMP device
# system, OpenMP) for those targets only: nothing of it reaches the core library.
find_package(CUDAToolkit QUIET)
set(_cccl_hints)
foreach(_root IN ITEMS "${CUDAToolkit_INCLUDE_DIRS}" "$ENV{CUDA_HOME}/include" "$ENV{CUDA_PATH}/include"
                       "/usr/local/cuda/include")
  if(_root)
    list(APPEND _cccl_hints "${_root}/cccl" "${_root}")
  endif()
endforeach()
find_path(CHUTORO_CCCL_INCLUDE_DIR NAMES thrust/version.h cuda/atomic HINTS ${_cccl_hints} NO_DEFAULT_PATH
          DOC "Folder holding CCCL's thrust/, cub/ and cuda/ headers")
if(CHUTORO_CCCL_INCLUDE_DIR AND EXISTS "${CHUTORO_CCCL_INCLUDE_DIR}/cuda/atomic"
   AND EXISTS "${CHUTORO_CCCL_INCLUDE_DIR}/thrust/system/omp")
  if(NOT TARGET chutoro_cccl_omp)
    add_library(chutoro_cccl_omp INTERFACE)
    add_library(chutoro::cccl_omp ALIAS chutoro_cccl_omp)
    target_include_directories(chutoro_cccl_omp SYSTEM INTERFACE "${CHUTORO_CCCL_INCLUDE_DIR}")
    target_compile_definitions(chutoro_cccl_omp INTERFACE THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP)
    target_link_libraries(chutoro_cccl_omp INTERFACE OpenMP::OpenMP_CXX)
  endif()
  set(CHUTORO_CCCL_FOUND TRUE)
else()
  set(CHUTORO_CCCL_FOUND FALSE)
endif()
