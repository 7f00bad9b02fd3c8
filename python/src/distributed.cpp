// chutoro._core — distributed FISHDBC over a Python transport (distributed.hpp).
#include "distributed.hpp"

#include <nanobind/ndarray.h>

#include <chutoro/distributed.hpp>
#include <chutoro/error.hpp>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

namespace nb = nanobind;

namespace chutoro_python {
namespace {

namespace dist = chutoro::distributed;

nb::bytes to_bytes(std::span<const std::byte> b) { return nb::bytes(b.data(), b.size()); }

/// The bytes of any object with the buffer protocol (bytes, bytearray, memoryview, numpy).
std::vector<std::byte> from_buffer(nb::handle h) {
  Py_buffer view;
  if (PyObject_GetBuffer(h.ptr(), &view, PyBUF_SIMPLE) != 0) throw nb::python_error();
  const auto* at = static_cast<const std::byte*>(view.buf);
  std::vector<std::byte> out(at, at + view.len);
  PyBuffer_Release(&view);
  return out;
}

/// The collective layer over a Python transport object: each operation takes
/// the GIL and calls the transport's method of that name (a transport error
/// aborts the job there, as MPI's default handler would).
class py_communicator final : public dist::communicator {
 public:
  explicit py_communicator(nb::object transport) : t_(std::move(transport)) {
    rank_ = nb::cast<int>(t_.attr("rank"));
    size_ = nb::cast<int>(t_.attr("size"));
  }
  ~py_communicator() override {
    nb::gil_scoped_acquire gil;
    t_.reset();
  }
  py_communicator(const py_communicator&) = delete;
  py_communicator& operator=(const py_communicator&) = delete;
  [[nodiscard]] int rank() const noexcept override { return rank_; }
  [[nodiscard]] int size() const noexcept override { return size_; }

 protected:
  std::vector<std::vector<std::byte>> do_alltoallv(std::vector<std::vector<std::byte>>&& send) override {
    nb::gil_scoped_acquire gil;
    nb::list parts;
    for (const auto& s : send) parts.append(to_bytes(s));
    send.clear();
    nb::object got = t_.attr("alltoallv")(parts);
    std::vector<std::vector<std::byte>> out;
    for (nb::handle h : got) out.push_back(from_buffer(h));
    expects(out.size() == static_cast<std::size_t>(size_), "alltoallv");
    return out;
  }
  void do_allreduce(std::span<std::uint64_t> values, dist::reduce_op op) override {
    reduce(std::as_writable_bytes(values), "u8", op);
  }
  void do_allreduce(std::span<double> values, dist::reduce_op op) override {
    reduce(std::as_writable_bytes(values), "f8", op);
  }
  void do_broadcast(std::vector<std::byte>& bytes, int root) override {
    nb::gil_scoped_acquire gil;
    nb::object got = t_.attr("broadcast")(rank_ == root ? nb::object(to_bytes(bytes)) : nb::none(), root);
    if (rank_ != root) bytes = from_buffer(got);
  }
  std::vector<std::vector<std::byte>> do_gather(std::span<const std::byte> bytes, int root) override {
    nb::gil_scoped_acquire gil;
    nb::object got = t_.attr("gather")(to_bytes(bytes), root);
    std::vector<std::vector<std::byte>> out;
    if (rank_ != root) return out;
    for (nb::handle h : got) out.push_back(from_buffer(h));
    expects(out.size() == static_cast<std::size_t>(size_), "gather");
    return out;
  }
  void do_send(std::span<const std::byte> bytes, int to) override {
    nb::gil_scoped_acquire gil;
    t_.attr("send")(to_bytes(bytes), to);
  }
  std::vector<std::byte> do_receive(int from) override {
    nb::gil_scoped_acquire gil;
    return from_buffer(t_.attr("receive")(from));
  }

 private:
  void reduce(std::span<std::byte> values, const char* dtype, dist::reduce_op op) {
    nb::gil_scoped_acquire gil;
    const std::vector<std::byte> got =
        from_buffer(t_.attr("allreduce")(to_bytes(values), dtype, static_cast<int>(op)));
    expects(got.size() == values.size(), "allreduce");
    std::memcpy(values.data(), got.data(), got.size());
  }
  static void expects(bool ok, const char* what) {
    if (!ok)
      throw chutoro::error(chutoro::error_code::internal, std::string("distributed transport: ") + what +
                                                              " returned a result of the wrong size");
  }
  nb::object t_;
  int rank_ = 0, size_ = 1;
};

template <class T>
nb::ndarray<nb::numpy, T> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owned->data(), {owned->size()}, owner);
}

nb::dict stats_dict(const dist::rank_stats& s) {
  nb::dict d;
  d["local_items"] = s.local_items;
  d["shard_items"] = s.shard_items;
  d["distance_computations"] = s.distance_computations;
  d["partition_distances"] = s.partition_distances;
  d["candidate_edges"] = s.candidate_edges;
  d["forest_edges"] = s.forest_edges;
  d["bytes_sent"] = s.bytes_sent;
  d["bytes_received"] = s.bytes_received;
  d["collectives"] = s.collectives;
  d["boundary_items"] = s.boundary_items;
  d["boundary_queries"] = s.boundary_queries;
  d["boundary_distances"] = s.boundary_distances;
  d["boundary_bytes_sent"] = s.boundary_bytes_sent;
  d["boundary_rounds"] = s.boundary_rounds;
  d["seconds_partition"] = s.seconds_partition;
  d["seconds_build"] = s.seconds_build;
  d["seconds_merge"] = s.seconds_merge;
  d["seconds_forest"] = s.seconds_forest;
  d["seconds_hierarchy"] = s.seconds_hierarchy;
  return d;
}

// One rank's rows of the result on the wire: n labels (int32), then n
// probabilities and n outlier scores (float64).
constexpr std::size_t row_bytes = 4 + 8 + 8;

template <class T>
void put(std::vector<std::byte>& out, const std::vector<T>& v, std::size_t first, std::size_t n) {
  const auto* at = reinterpret_cast<const std::byte*>(v.data() + first);
  out.insert(out.end(), at, at + n * sizeof(T));
}

template <class T>
std::vector<T> take(const std::vector<std::byte>& in, std::size_t& at, std::size_t n) {
  std::vector<T> v(n);
  std::memcpy(v.data(), in.data() + at, n * sizeof(T));
  at += n * sizeof(T);
  return v;
}

}  // namespace

nb::dict distributed_fit(const chutoro::data_source& local, nb::object transport, const chutoro::params& p,
                         std::size_t overlap, double replication_margin, const std::string& identity) {
  py_communicator comm(std::move(transport));
  dist::distributed_params dp;
  dp.overlap = overlap;
  dp.replication_margin = replication_margin;
  dist::distributed_result r;
  std::vector<std::int32_t> labels;
  std::vector<double> probabilities, outlier_scores, persistence;
  {
    nb::gil_scoped_release release;
    r = dist::distributed_fit(comm, local, p, dp, identity);
    // Rank 0 holds the clustering of all items in global order: each rank's
    // rows go back to it (one all-to-all-v), the cluster persistence to all.
    const auto ranks = static_cast<std::size_t>(comm.size());
    std::vector<std::vector<std::byte>> parts(ranks);
    std::vector<std::byte> pers;
    if (comm.rank() == 0) {
      std::size_t first = 0;
      for (std::size_t k = 0; k < ranks; ++k) {
        const std::size_t n = r.all_ranks[k].local_items;
        parts[k].reserve(n * row_bytes);
        put(parts[k], r.clusters.labels, first, n);
        put(parts[k], r.clusters.probabilities, first, n);
        put(parts[k], r.clusters.outlier_scores, first, n);
        first += n;
      }
      put(pers, r.clusters.cluster_persistence, 0, r.clusters.cluster_persistence.size());
    }
    const std::vector<std::vector<std::byte>> got = comm.alltoallv(std::move(parts));
    comm.broadcast(pers, 0);
    const std::size_t n = local.size();
    if (got[0].size() != n * row_bytes)
      throw chutoro::error(chutoro::error_code::internal,
                           "distributed_fit: rank " + std::to_string(comm.rank()) + " got " +
                               std::to_string(got[0].size()) + " bytes of results for " + std::to_string(n) +
                               " rows");
    std::size_t at = 0;
    labels = take<std::int32_t>(got[0], at, n);
    probabilities = take<double>(got[0], at, n);
    outlier_scores = take<double>(got[0], at, n);
    at = 0;
    persistence = take<double>(pers, at, pers.size() / sizeof(double));
  }
  nb::dict out;
  out["labels"] = to_numpy(std::move(labels));
  out["probabilities"] = to_numpy(std::move(probabilities));
  out["outlier_scores"] = to_numpy(std::move(outlier_scores));
  out["cluster_persistence"] = to_numpy(std::move(persistence));
  out["n"] = r.n;
  out["first"] = r.first;
  out["ranks"] = comm.size();
  out["stats"] = stats_dict(r.stats);
  nb::list all;
  for (const auto& s : r.all_ranks) all.append(stats_dict(s));
  out["all_ranks"] = all;
  return out;
}

}  // namespace chutoro_python
