// chutoro — the MPI transport of the collective layer (distributed_mpi.hpp).
// Messages are cut into pieces of at most 1 GiB (MPI counts are int); sizes
// travel first as 64-bit integers.
#include <algorithm>
#include <chutoro/distributed_mpi.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace chutoro::distributed {

namespace {

constexpr std::size_t piece = std::size_t{1} << 30;
constexpr int tag_alltoallv = 7101, tag_gather = 7102, tag_p2p = 7103, tag_p2p_size = 7104;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw error(error_code::io,
              std::string("MPI ") + what + ": " + std::string(text, static_cast<std::size_t>(len)));
}

/// Non-blocking pieces of one message, appended to `reqs`.
void isend_pieces(const std::byte* data, std::size_t n, int peer, int tag, MPI_Comm comm,
                  std::vector<MPI_Request>& reqs) {
  for (std::size_t at = 0; at < n; at += piece) {
    reqs.emplace_back();
    check(MPI_Isend(data + at, static_cast<int>(std::min(piece, n - at)), MPI_BYTE, peer, tag, comm,
                    &reqs.back()),
          "Isend");
  }
}
void irecv_pieces(std::byte* data, std::size_t n, int peer, int tag, MPI_Comm comm,
                  std::vector<MPI_Request>& reqs) {
  for (std::size_t at = 0; at < n; at += piece) {
    reqs.emplace_back();
    check(MPI_Irecv(data + at, static_cast<int>(std::min(piece, n - at)), MPI_BYTE, peer, tag, comm,
                    &reqs.back()),
          "Irecv");
  }
}
void wait_all(std::vector<MPI_Request>& reqs) {
  if (!reqs.empty())
    check(MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE), "Waitall");
  reqs.clear();
}

MPI_Op mpi_op(reduce_op op) {
  switch (op) {
    case reduce_op::sum:
      return MPI_SUM;
    case reduce_op::min:
      return MPI_MIN;
    case reduce_op::max:
      return MPI_MAX;
  }
  return MPI_SUM;
}

class mpi_communicator final : public communicator {
 public:
  explicit mpi_communicator(MPI_Comm comm) : comm_(comm) {
    check(MPI_Comm_rank(comm_, &rank_), "Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "Comm_size");
  }
  [[nodiscard]] int rank() const noexcept override { return rank_; }
  [[nodiscard]] int size() const noexcept override { return size_; }

 protected:
  std::vector<std::vector<std::byte>> do_alltoallv(std::vector<std::vector<std::byte>>&& send) override {
    const auto p = static_cast<std::size_t>(size_);
    std::vector<std::uint64_t> out(p), in(p);
    for (std::size_t r = 0; r < p; ++r) out[r] = send[r].size();
    check(MPI_Alltoall(out.data(), 1, MPI_UINT64_T, in.data(), 1, MPI_UINT64_T, comm_), "Alltoall");
    std::vector<std::vector<std::byte>> got(p);
    std::vector<MPI_Request> reqs;
    for (std::size_t r = 0; r < p; ++r) {
      if (static_cast<int>(r) == rank_) continue;
      got[r].resize(in[r]);
      irecv_pieces(got[r].data(), got[r].size(), static_cast<int>(r), tag_alltoallv, comm_, reqs);
    }
    for (std::size_t r = 0; r < p; ++r)
      if (static_cast<int>(r) != rank_)
        isend_pieces(send[r].data(), send[r].size(), static_cast<int>(r), tag_alltoallv, comm_, reqs);
    wait_all(reqs);
    got[static_cast<std::size_t>(rank_)] = std::move(send[static_cast<std::size_t>(rank_)]);
    return got;
  }
  void do_allreduce(std::span<std::uint64_t> values, reduce_op op) override {
    check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_UINT64_T,
                        mpi_op(op), comm_),
          "Allreduce");
  }
  void do_allreduce(std::span<double> values, reduce_op op) override {
    check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, mpi_op(op),
                        comm_),
          "Allreduce");
  }
  void do_broadcast(std::vector<std::byte>& bytes, int root) override {
    std::uint64_t n = bytes.size();
    check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_), "Bcast");
    if (rank_ != root) bytes.resize(n);
    for (std::size_t at = 0; at < n; at += piece)
      check(MPI_Bcast(bytes.data() + at, static_cast<int>(std::min<std::size_t>(piece, n - at)), MPI_BYTE,
                      root, comm_),
            "Bcast");
  }
  std::vector<std::vector<std::byte>> do_gather(std::span<const std::byte> bytes, int root) override {
    std::uint64_t n = bytes.size();
    std::vector<std::uint64_t> sizes(rank_ == root ? static_cast<std::size_t>(size_) : 0);
    check(MPI_Gather(&n, 1, MPI_UINT64_T, sizes.data(), 1, MPI_UINT64_T, root, comm_), "Gather");
    std::vector<std::vector<std::byte>> got;
    std::vector<MPI_Request> reqs;
    if (rank_ == root) {
      got.resize(static_cast<std::size_t>(size_));
      for (int r = 0; r < size_; ++r) {
        auto& g = got[static_cast<std::size_t>(r)];
        if (r == root) {
          g.assign(bytes.begin(), bytes.end());
          continue;
        }
        g.resize(sizes[static_cast<std::size_t>(r)]);
        irecv_pieces(g.data(), g.size(), r, tag_gather, comm_, reqs);
      }
    } else {
      isend_pieces(bytes.data(), bytes.size(), root, tag_gather, comm_, reqs);
    }
    wait_all(reqs);
    return got;
  }
  void do_send(std::span<const std::byte> bytes, int to) override {
    std::uint64_t n = bytes.size();
    check(MPI_Send(&n, 1, MPI_UINT64_T, to, tag_p2p_size, comm_), "Send");
    std::vector<MPI_Request> reqs;
    isend_pieces(bytes.data(), bytes.size(), to, tag_p2p, comm_, reqs);
    wait_all(reqs);
  }
  std::vector<std::byte> do_receive(int from) override {
    std::uint64_t n = 0;
    check(MPI_Recv(&n, 1, MPI_UINT64_T, from, tag_p2p_size, comm_, MPI_STATUS_IGNORE), "Recv");
    std::vector<std::byte> got(n);
    std::vector<MPI_Request> reqs;
    irecv_pieces(got.data(), got.size(), from, tag_p2p, comm_, reqs);
    wait_all(reqs);
    return got;
  }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace

mpi_session::mpi_session(int* argc, char*** argv) {
  int done = 0;
  MPI_Initialized(&done);
  if (done) return;
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "Init_thread");
  owns_ = true;
}

mpi_session::~mpi_session() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_ && !finalized) MPI_Finalize();
}

std::unique_ptr<communicator> make_mpi_communicator(MPI_Comm comm) {
  return std::make_unique<mpi_communicator>(comm);
}

void abort_all(MPI_Comm comm, int code) noexcept {
  MPI_Abort(comm, code);
  std::abort();
}

}  // namespace chutoro::distributed
