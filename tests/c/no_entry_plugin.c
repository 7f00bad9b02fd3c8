/* A shared library that is not a chutoro plugin: it lacks chutoro_plugin_open. */
__attribute__((visibility("default"))) int not_a_chutoro_plugin(void) { return 42; }
