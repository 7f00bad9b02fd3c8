# The CUDA module libchutoro_cuda.so (src/cuda/): built by nvcc with the CUDA
# runtime linked statically, loaded at run time by the host (dlopen, see
# src/core/backend/cuda_loader.hpp), so the library, the CLI and the Python
# extension never link CUDA and need only the NVIDIA driver (libcuda.so.1) to
# use a GPU.
#
#   CHUTORO_WITH_CUDA=AUTO  build it where nvcc is found (default)
#   CHUTORO_WITH_CUDA=ON    build it; no nvcc is an error
#   CHUTORO_WITH_CUDA=OFF   do not build it
#
# nvcc is looked for as CMake does (CMAKE_CUDA_COMPILER, the CUDACXX
# environment variable), then in $CUDA_HOME/bin, $CUDA_PATH/bin and
# /usr/local/cuda/bin, then on the PATH. CHUTORO_CUDA_ARCHITECTURES picks the
# code (CMake's CUDA_ARCHITECTURES syntax); the default, sm_75 (the oldest
# that CUDA 13 targets), sm_80 and sm_90 machine code plus compute_90 PTX for
# newer GPUs, costs ~3 nvcc passes per .cu file.
#
# Sets CHUTORO_HAVE_CUDA (ON when the module target chutoro_cuda exists).
set(CHUTORO_WITH_CUDA AUTO CACHE STRING "Build the CUDA module libchutoro_cuda.so: AUTO (where nvcc is found), ON, OFF")
set_property(CACHE CHUTORO_WITH_CUDA PROPERTY STRINGS AUTO ON OFF)
set(CHUTORO_CUDA_ARCHITECTURES "75-real;80-real;90" CACHE STRING
    "CUDA architectures of libchutoro_cuda.so (CMake CUDA_ARCHITECTURES syntax)")
string(TOUPPER "${CHUTORO_WITH_CUDA}" _chutoro_with_cuda)
if(NOT _chutoro_with_cuda MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "CHUTORO_WITH_CUDA must be AUTO, ON or OFF (got \"${CHUTORO_WITH_CUDA}\")")
endif()

set(CHUTORO_HAVE_CUDA OFF)
if(NOT _chutoro_with_cuda STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    foreach(_root "$ENV{CUDA_HOME}" "$ENV{CUDA_PATH}" "/usr/local/cuda")
      if(_root AND EXISTS "${_root}/bin/nvcc")
        set(CMAKE_CUDA_COMPILER "${_root}/bin/nvcc" CACHE FILEPATH "The CUDA compiler (nvcc)")
        break()
      endif()
    endforeach()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Every CUDA target of the build gets the module's code list unless told otherwise.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES "${CHUTORO_CUDA_ARCHITECTURES}")
    endif()
    enable_language(CUDA)
    # CMake 3.25 knows nvcc's C++ dialects up to 17; nvcc >= 12 has C++20
    # (the project's standard, which CUDA targets inherit).
    if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    find_package(CUDAToolkit REQUIRED)
    if(CUDAToolkit_VERSION VERSION_LESS 12.0)
      set(_chutoro_cuda_why "CUDA ${CUDAToolkit_VERSION} is older than 12.0")
    else()
      set(CHUTORO_HAVE_CUDA ON)
    endif()
  else()
    set(_chutoro_cuda_why "nvcc not found (set CUDA_HOME or CMAKE_CUDA_COMPILER)")
  endif()
  if(NOT CHUTORO_HAVE_CUDA)
    if(_chutoro_with_cuda STREQUAL "ON")
      message(FATAL_ERROR "chutoro: CHUTORO_WITH_CUDA=ON, but ${_chutoro_cuda_why}")
    endif()
    message(STATUS "chutoro: CUDA module not built: ${_chutoro_cuda_why}")
  endif()
endif()

if(CHUTORO_HAVE_CUDA)
  # The code it carries, for the module's own checks and its build_info:
  # "75-real" -> sm_75, "90-virtual" -> compute_90 PTX, "90" -> both.
  set(_sass "")
  set(_ptx "")
  set(_info "")
  foreach(_arch IN LISTS CHUTORO_CUDA_ARCHITECTURES)
    if(NOT _arch MATCHES "^([0-9]+)[a-z]?(-real|-virtual)?$")
      message(FATAL_ERROR "CHUTORO_CUDA_ARCHITECTURES: cannot read \"${_arch}\" (use e.g. 75-real;80-real;90)")
    endif()
    set(_num "${CMAKE_MATCH_1}")
    if(NOT CMAKE_MATCH_2 STREQUAL "-virtual")
      list(APPEND _sass ${_num})
      string(APPEND _info " sm_${_num}")
    endif()
    if(NOT CMAKE_MATCH_2 STREQUAL "-real")
      list(APPEND _ptx ${_num})
      string(APPEND _info " compute_${_num}(PTX)")
    endif()
  endforeach()
  string(REPLACE ";" "," _sass "${_sass}")
  string(REPLACE ";" "," _ptx "${_ptx}")
  set(CHUTORO_CUDA_BUILD_INFO "CUDA ${CUDAToolkit_VERSION_MAJOR}.${CUDAToolkit_VERSION_MINOR} runtime (static),${_info}")

  add_library(chutoro_cuda MODULE
              ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/module.cpp
              ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/forest.cu
              ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/exact.cu
              ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/knn.cu)
  set_target_properties(chutoro_cuda PROPERTIES
    OUTPUT_NAME chutoro_cuda
    PREFIX "lib"
    CUDA_ARCHITECTURES "${CHUTORO_CUDA_ARCHITECTURES}"
    CUDA_RUNTIME_LIBRARY Static
    CUDA_STANDARD 20
    CUDA_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    # Next to the chutoro executable, where the loader looks first.
    LIBRARY_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR})
  target_include_directories(chutoro_cuda PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_compile_definitions(chutoro_cuda PRIVATE
    CHUTORO_CUDA_SASS="${_sass}" CHUTORO_CUDA_PTX="${_ptx}"
    CHUTORO_CUDA_BUILD_INFO="${CHUTORO_CUDA_BUILD_INFO}")
  target_compile_options(chutoro_cuda PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
  # Only the entry point is exported; the static runtime's symbols stay
  # inside (another CUDA runtime in the process cannot capture our calls).
  target_link_libraries(chutoro_cuda PRIVATE CUDA::cudart_static)
  target_link_options(chutoro_cuda PRIVATE
    "LINKER:--version-script=${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/module.map"
    "LINKER:--exclude-libs,ALL" "LINKER:-Bsymbolic" "LINKER:--no-undefined")
  set_property(TARGET chutoro_cuda APPEND PROPERTY LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/cuda/module.map)
  install(TARGETS chutoro_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
