// chutoro — single-linkage tree from a spanning tree (hdbscan's `label`).
#include <algorithm>
#include <chutoro/error.hpp>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/hierarchy/hierarchy.hpp"
#include "core/mst/union_find.hpp"

namespace chutoro::detail {

std::vector<linkage_row> single_linkage(std::size_t n, std::span<const mst_edge> mst) {
  if (n == 0) {
    expects(mst.empty(), error_code::invalid_argument, "single_linkage: edges given for n = 0 items");
    return {};
  }
  expects(n <= std::numeric_limits<std::uint32_t>::max(), error_code::invalid_argument,
          "single_linkage: n = " + std::to_string(n) + " exceeds 2^32 - 1 items");
  expects(mst.size() == n - 1, error_code::invalid_argument,
          "single_linkage: a spanning tree of n = " + std::to_string(n) + " items has " +
              std::to_string(n - 1) + " edges, got " + std::to_string(mst.size()));
  const auto ni = static_cast<std::int64_t>(n);
  for (std::size_t e = 0; e < mst.size(); ++e) {
    const mst_edge& edge = mst[e];
    const char* problem = nullptr;
    if (edge.a < 0 || edge.a >= ni || edge.b < 0 || edge.b >= ni) {
      problem = "has an id outside [0, n)";
    } else if (edge.a == edge.b) {
      problem = "is a self-loop";
    } else if (std::isnan(edge.distance) || edge.distance < 0) {
      problem = "has a NaN or negative distance";
    }
    if (problem != nullptr) {
      throw error(error_code::invalid_argument, "single_linkage: edge " + std::to_string(e) + " (" +
                                                    std::to_string(edge.a) + ", " + std::to_string(edge.b) +
                                                    ") " + problem + ", n = " + std::to_string(n));
    }
  }

  // Sorting (distance, input position) pairs is a stable sort by distance
  // that reads the keys contiguously.
  struct keyed {
    double distance;
    std::uint32_t index;
  };
  std::vector<keyed> order(mst.size());
  for (std::size_t e = 0; e < mst.size(); ++e) order[e] = {mst[e].distance, static_cast<std::uint32_t>(e)};
  std::sort(order.begin(), order.end(), [](const keyed& x, const keyed& y) {
    return x.distance < y.distance || (x.distance == y.distance && x.index < y.index);
  });

  // cluster_of[representative] = the single-linkage id of that set.
  union_find sets(n);
  std::vector<std::int64_t> cluster_of(n);
  std::iota(cluster_of.begin(), cluster_of.end(), std::int64_t{0});

  std::vector<linkage_row> out(n - 1);
  for (std::size_t r = 0; r < order.size(); ++r) {
    const mst_edge& edge = mst[order[r].index];
    const auto a = sets.find(static_cast<std::uint32_t>(edge.a));
    const auto b = sets.find(static_cast<std::uint32_t>(edge.b));
    if (a == b) {
      throw error(error_code::invalid_argument, "single_linkage: edge (" + std::to_string(edge.a) + ", " +
                                                    std::to_string(edge.b) +
                                                    ") closes a cycle: the edges are not a spanning tree");
    }
    const std::int64_t size = std::int64_t{sets.set_size(a)} + sets.set_size(b);
    out[r] = linkage_row{cluster_of[a], cluster_of[b], edge.distance, size};
    sets.unite(a, b);
    cluster_of[sets.find(a)] = ni + static_cast<std::int64_t>(r);
  }
  return out;
}

}  // namespace chutoro::detail
