# Optional Arrow/Parquet readers: the target chutoro_arrow (a static library the
# CLI and the tests link; the core chutoro library never depends on Arrow).
#
#   CHUTORO_WITH_ARROW = AUTO (default) | ON | OFF
#
# AUTO/ON look for Apache Arrow's C++ libraries, first as CMake packages
# (Arrow + Parquet, e.g. from Apache's own packages or conda), then in the
# pyarrow wheel of a Python interpreter (pyarrow ships libarrow/libparquet and
# their headers): CHUTORO_ARROW_PYTHON if set, else the venv made by
# scripts/arrow_env.sh (build/arrow-venv), else python3 on the PATH.
# Found: chutoro_arrow is src/io/arrow_io.cpp and CHUTORO_HAVE_ARROW is ON.
# Not found (or OFF): chutoro_arrow is src/io/arrow_stub.cpp, whose readers
# throw error(unsupported) saying Parquet/Arrow support was not built; ON
# then stops the configure instead.
set(CHUTORO_WITH_ARROW AUTO CACHE STRING "Arrow/Parquet readers: AUTO, ON or OFF")
set_property(CACHE CHUTORO_WITH_ARROW PROPERTY STRINGS AUTO ON OFF)
set(CHUTORO_ARROW_PYTHON "" CACHE FILEPATH "Python interpreter whose pyarrow provides Arrow C++ (optional)")

set(CHUTORO_HAVE_ARROW OFF)
set(_chutoro_arrow_why "CHUTORO_WITH_ARROW=OFF")
set(_chutoro_arrow_libs)
if(NOT CHUTORO_WITH_ARROW STREQUAL "OFF")
  find_package(Arrow CONFIG QUIET)
  find_package(Parquet CONFIG QUIET)
  if(Arrow_FOUND AND Parquet_FOUND AND TARGET Arrow::arrow_shared AND TARGET Parquet::parquet_shared)
    set(CHUTORO_HAVE_ARROW ON)
    set(_chutoro_arrow_libs Parquet::parquet_shared Arrow::arrow_shared)
    set(_chutoro_arrow_why "Arrow ${Arrow_VERSION} (CMake package)")
  else()
    set(_pythons)
    if(CHUTORO_ARROW_PYTHON)
      list(APPEND _pythons "${CHUTORO_ARROW_PYTHON}")
    endif()
    list(APPEND _pythons "${PROJECT_SOURCE_DIR}/build/arrow-venv/bin/python")
    find_program(_chutoro_python3 NAMES python3)
    if(_chutoro_python3)
      list(APPEND _pythons "${_chutoro_python3}")
    endif()
    set(_chutoro_arrow_why "no Arrow CMake package and no Python with pyarrow (run scripts/arrow_env.sh)")
    foreach(_py IN LISTS _pythons)
      if(NOT EXISTS "${_py}")
        continue()
      endif()
      execute_process(
        COMMAND "${_py}" -c "import pyarrow as pa; print(pa.get_include()); print(pa.get_library_dirs()[0]); print(pa.__version__)"
        OUTPUT_VARIABLE _out ERROR_QUIET RESULT_VARIABLE _rc OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(NOT _rc EQUAL 0)
        continue()
      endif()
      string(REPLACE "\n" ";" _out "${_out}")
      list(GET _out 0 _inc)
      list(GET _out 1 _libdir)
      list(GET _out 2 _ver)
      # The wheel ships versioned sonames only (libarrow.so.2600): link those.
      file(GLOB _arrow_so "${_libdir}/libarrow.so.[0-9]*")
      file(GLOB _parquet_so "${_libdir}/libparquet.so.[0-9]*")
      list(FILTER _arrow_so INCLUDE REGEX "/libarrow\\.so\\.[0-9]+$")
      list(FILTER _parquet_so INCLUDE REGEX "/libparquet\\.so\\.[0-9]+$")
      if(NOT _arrow_so OR NOT _parquet_so OR NOT EXISTS "${_inc}/arrow/api.h")
        continue()
      endif()
      list(GET _arrow_so 0 _arrow_so)
      list(GET _parquet_so 0 _parquet_so)
      add_library(chutoro_pyarrow_arrow SHARED IMPORTED)
      set_target_properties(chutoro_pyarrow_arrow PROPERTIES IMPORTED_LOCATION "${_arrow_so}"
                            INTERFACE_INCLUDE_DIRECTORIES "${_inc}")
      add_library(chutoro_pyarrow_parquet SHARED IMPORTED)
      set_target_properties(chutoro_pyarrow_parquet PROPERTIES IMPORTED_LOCATION "${_parquet_so}"
                            INTERFACE_INCLUDE_DIRECTORIES "${_inc}")
      set(_chutoro_arrow_libs chutoro_pyarrow_parquet chutoro_pyarrow_arrow)
      set(CHUTORO_HAVE_ARROW ON)
      set(_chutoro_arrow_why "pyarrow ${_ver} from ${_py}")
      break()
    endforeach()
  endif()
  if(CHUTORO_WITH_ARROW STREQUAL "ON" AND NOT CHUTORO_HAVE_ARROW)
    message(FATAL_ERROR "CHUTORO_WITH_ARROW=ON but Arrow C++ was not found: ${_chutoro_arrow_why}")
  endif()
endif()

if(CHUTORO_HAVE_ARROW)
  add_library(chutoro_arrow STATIC ${PROJECT_SOURCE_DIR}/src/io/arrow_io.cpp)
  target_link_libraries(chutoro_arrow PUBLIC chutoro ${_chutoro_arrow_libs})
  message(STATUS "chutoro: Arrow/Parquet readers ON: ${_chutoro_arrow_why}")
else()
  add_library(chutoro_arrow STATIC ${PROJECT_SOURCE_DIR}/src/io/arrow_stub.cpp)
  target_link_libraries(chutoro_arrow PUBLIC chutoro)
  message(STATUS "chutoro: Arrow/Parquet readers OFF: ${_chutoro_arrow_why}")
endif()
target_include_directories(chutoro_arrow PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_options(chutoro_arrow PRIVATE -Wall -Wextra)
