// forest_bench_cuda.cu — forest_bench.cpp through nvcc: the same harness with
// Borůvka on Thrust's CUDA device system (see forest_bench.cpp for usage).
#include "forest_bench.cpp"
