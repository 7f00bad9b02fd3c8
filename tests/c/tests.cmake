# Plugin and Arrow test support (included from tests/CMakeLists.txt).
# The C99 compile-and-link test of include/chutoro/plugin.h.
add_executable(chutoro_plugin_header_c99 ${CMAKE_CURRENT_SOURCE_DIR}/c/plugin_header_c99.c)
set_target_properties(chutoro_plugin_header_c99 PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_include_directories(chutoro_plugin_header_c99 PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_compile_options(chutoro_plugin_header_c99 PRIVATE -std=c99 -pedantic-errors -Wall -Wextra -Werror)
add_test(NAME PluginHeaderC99 COMMAND chutoro_plugin_header_c99)

# Test plugins: one that misbehaves on request, one without the entry point.
add_library(chutoro_test_plugin MODULE ${CMAKE_CURRENT_SOURCE_DIR}/c/misbehaving_plugin.c)
add_library(chutoro_test_no_entry MODULE ${CMAKE_CURRENT_SOURCE_DIR}/c/no_entry_plugin.c)
foreach(t chutoro_test_plugin chutoro_test_no_entry)
  set_target_properties(${t} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF
                        C_VISIBILITY_PRESET hidden)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(${t} PRIVATE -Wall -Wextra -Wpedantic)
endforeach()
target_link_libraries(chutoro_test_plugin PRIVATE m)

add_dependencies(chutoro_tests chutoro_test_plugin chutoro_test_no_entry chutoro_jaccard_tokens
                 chutoro_tanimoto_fingerprints)
target_link_libraries(chutoro_tests PRIVATE chutoro_arrow ${CMAKE_DL_LIBS})
target_compile_definitions(chutoro_tests PRIVATE
  CHUTORO_TEST_PLUGIN="$<TARGET_FILE:chutoro_test_plugin>"
  CHUTORO_TEST_NO_ENTRY="$<TARGET_FILE:chutoro_test_no_entry>"
  CHUTORO_JACCARD_PLUGIN="$<TARGET_FILE:chutoro_jaccard_tokens>"
  CHUTORO_TANIMOTO_PLUGIN="$<TARGET_FILE:chutoro_tanimoto_fingerprints>"
  $<$<BOOL:${CHUTORO_HAVE_ARROW}>:CHUTORO_TEST_HAVE_ARROW=1>)

# A CUDA module stand-in that needs no CUDA (its situation is picked by the
# environment variable CHUTORO_FAKE_CUDA): the loader and `chutoro devices`
# tests. The real module, where it is built, for the tests that need it.
add_library(chutoro_test_fake_cuda MODULE ${CMAKE_CURRENT_SOURCE_DIR}/c/fake_cuda_module.c)
set_target_properties(chutoro_test_fake_cuda PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF
                      C_VISIBILITY_PRESET hidden)
target_include_directories(chutoro_test_fake_cuda PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_options(chutoro_test_fake_cuda PRIVATE -Wall -Wextra -Wpedantic)
add_dependencies(chutoro_tests chutoro_test_fake_cuda)
target_compile_definitions(chutoro_tests PRIVATE
  CHUTORO_TEST_FAKE_CUDA="$<TARGET_FILE:chutoro_test_fake_cuda>"
  $<$<TARGET_EXISTS:chutoro_cuda>:CHUTORO_TEST_CUDA_MODULE="$<TARGET_FILE:chutoro_cuda>">)
if(TARGET chutoro_cuda)
  add_dependencies(chutoro_tests chutoro_cuda)
endif()
# The CUDA toolkit's stub libcuda.so: where it is, a CLI test puts it where the
# driver should be and checks that the real module says so.
if(TARGET chutoro_cuda AND CUDAToolkit_LIBRARY_DIR AND EXISTS "${CUDAToolkit_LIBRARY_DIR}/stubs/libcuda.so")
  target_compile_definitions(chutoro_tests PRIVATE CHUTORO_TEST_CUDA_STUB="${CUDAToolkit_LIBRARY_DIR}/stubs/libcuda.so")
endif()
