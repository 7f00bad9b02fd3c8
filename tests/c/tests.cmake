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
