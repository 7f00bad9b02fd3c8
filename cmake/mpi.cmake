# Optional distributed FISHDBC over MPI: the library chutoro_distributed
# (src/distributed/, alias chutoro::distributed), its tests and the CLI's
# MPI door (docs/distributed.md). The core library and the Python wheel
# never depend on MPI.
#
#   CHUTORO_WITH_MPI = AUTO (default) | ON | OFF
#
# AUTO builds it where find_package(MPI) finds MPI for C++ (Debian:
# openmpi-bin + libopenmpi-dev, installed by scripts/install_deps.sh);
# ON stops the configure when MPI is missing; OFF never looks.
# Sets CHUTORO_HAVE_MPI.
set(CHUTORO_WITH_MPI AUTO CACHE STRING "Distributed FISHDBC over MPI: AUTO, ON or OFF")
set_property(CACHE CHUTORO_WITH_MPI PROPERTY STRINGS AUTO ON OFF)
set(CHUTORO_HAVE_MPI OFF)
if(NOT CHUTORO_WITH_MPI STREQUAL "OFF" AND NOT DEFINED SKBUILD)
  if(CHUTORO_WITH_MPI STREQUAL "ON")
    find_package(MPI REQUIRED COMPONENTS CXX)
  else()
    find_package(MPI QUIET COMPONENTS CXX)
  endif()
  if(MPI_CXX_FOUND)
    set(CHUTORO_HAVE_MPI ON)
  endif()
endif()
if(NOT CHUTORO_WITH_MPI STREQUAL "OFF" AND NOT CHUTORO_HAVE_MPI AND CHUTORO_WITH_MPI STREQUAL "ON")
  message(FATAL_ERROR "CHUTORO_WITH_MPI=ON but no MPI for C++ was found (apt-get install openmpi-bin libopenmpi-dev)")
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
