// Clusters two well-separated lines of points and prints the cluster count.
#include <chutoro/chutoro.hpp>
#include <cstdio>
#include <vector>

int main() {
  std::vector<float> values;
  for (int i = 0; i < 200; ++i) {
    values.push_back((i % 2 ? 10.0f : 0.0f) + 0.001f * static_cast<float>(i));
    values.push_back(0.0f);
  }
  chutoro::dense_source data(values, 200, 2, chutoro::dense_metric::euclidean);
  const chutoro::result r = chutoro::fit(data, chutoro::params{});
  std::printf("%zu clusters\n", r.n_clusters());
  return r.n_clusters() == 2 ? 0 : 1;
}
