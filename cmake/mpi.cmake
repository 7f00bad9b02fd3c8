# Optional distributed FISHDBC over MPI: the library chutoro_distributed
# (src/distributed/, alias chutoro::distributed), its tests and the CLI's
# MPI door (docs/distributed.md). The core library and the Python wheel
# never depend on MPI.
#
#   CHUTORO_WITH_MPI = AUTO (default) | ON | OFF
#
# AUTO builds it where find_package(MPI) finds MPI for C++ (Debian:
# openmpi-bin + libopenmpi-dev, installed by scripts/install_deps.sh), except
# in sanitizer and fuzzing builds and in the Python wheel (SKBUILD); ON stops
# the configure when MPI is missing; OFF never looks.
# Sets CHUTORO_HAVE_MPI.
set(CHUTORO_WITH_MPI AUTO CACHE STRING "Distributed FISHDBC over MPI: AUTO, ON or OFF")
set_property(CACHE CHUTORO_WITH_MPI PROPERTY STRINGS AUTO ON OFF)
set(CHUTORO_HAVE_MPI OFF)
# AUTO stays off in sanitizer and fuzzing builds: MPI's own allocations would
# need suppressions there, and the distributed tests do not run in them.
set(_chutoro_mpi_mode "${CHUTORO_WITH_MPI}")
if(_chutoro_mpi_mode STREQUAL "AUTO" AND (CHUTORO_SANITIZE OR CHUTORO_SANITIZE_THREAD OR CHUTORO_BUILD_FUZZERS))
  set(_chutoro_mpi_mode OFF)
endif()
if(NOT _chutoro_mpi_mode STREQUAL "OFF" AND NOT DEFINED SKBUILD)
  if(_chutoro_mpi_mode STREQUAL "ON")
    find_package(MPI REQUIRED COMPONENTS CXX)
  else()
    find_package(MPI QUIET COMPONENTS CXX)
  endif()
  if(MPI_CXX_FOUND)
    set(CHUTORO_HAVE_MPI ON)
  endif()
endif()
message(STATUS "chutoro: distributed (MPI): ${CHUTORO_HAVE_MPI}")

if(CHUTORO_HAVE_MPI)
  file(GLOB CHUTORO_DISTRIBUTED_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/distributed/*.cpp)
  add_library(chutoro_distributed STATIC ${CHUTORO_DISTRIBUTED_SOURCES})
  add_library(chutoro::distributed ALIAS chutoro_distributed)
  target_include_directories(chutoro_distributed PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(chutoro_distributed PUBLIC chutoro MPI::MPI_CXX PRIVATE OpenMP::OpenMP_CXX)
  target_compile_options(chutoro_distributed PRIVATE -Wall -Wextra -Wpedantic)
endif()
