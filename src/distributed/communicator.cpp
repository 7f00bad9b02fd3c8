// chutoro — the collective layer's counting wrappers, the one-process
// communicator, and agree() (include/chutoro/distributed.hpp).
#include <algorithm>
#include <chutoro/distributed.hpp>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>

namespace chutoro::distributed {

std::vector<std::vector<std::byte>> communicator::alltoallv(std::vector<std::vector<std::byte>> send) {
  expects(send.size() == static_cast<std::size_t>(size()), error_code::internal,
          "alltoallv: " + std::to_string(send.size()) + " parts for " + std::to_string(size()) + " ranks");
  ++traffic_.collectives;
  for (int r = 0; r < size(); ++r)
    if (r != rank()) traffic_.bytes_sent += send[static_cast<std::size_t>(r)].size();
  std::vector<std::vector<std::byte>> got = do_alltoallv(std::move(send));
  for (int r = 0; r < size(); ++r)
    if (r != rank()) traffic_.bytes_received += got[static_cast<std::size_t>(r)].size();
  return got;
}

void communicator::allreduce(std::span<std::uint64_t> values, reduce_op op) {
  ++traffic_.collectives;
  if (size() > 1) traffic_.bytes_sent += values.size_bytes(), traffic_.bytes_received += values.size_bytes();
  do_allreduce(values, op);
}

void communicator::allreduce(std::span<double> values, reduce_op op) {
  ++traffic_.collectives;
  if (size() > 1) traffic_.bytes_sent += values.size_bytes(), traffic_.bytes_received += values.size_bytes();
  do_allreduce(values, op);
}

void communicator::broadcast(std::vector<std::byte>& bytes, int root) {
  ++traffic_.collectives;
  if (rank() == root) {
    // A binomial tree moves each byte once per receiving rank; counted at the root.
    traffic_.bytes_sent += bytes.size() * static_cast<std::uint64_t>(size() - 1);
    do_broadcast(bytes, root);
  } else {
    do_broadcast(bytes, root);
    traffic_.bytes_received += bytes.size();
  }
}

std::vector<std::vector<std::byte>> communicator::gather(std::span<const std::byte> bytes, int root) {
  ++traffic_.collectives;
  if (rank() != root) traffic_.bytes_sent += bytes.size();
  std::vector<std::vector<std::byte>> got = do_gather(bytes, root);
  if (rank() == root)
    for (int r = 0; r < size(); ++r)
      if (r != root) traffic_.bytes_received += got[static_cast<std::size_t>(r)].size();
  return got;
}

void communicator::send(std::span<const std::byte> bytes, int to) {
  ++traffic_.messages;
  if (to != rank()) traffic_.bytes_sent += bytes.size();
  do_send(bytes, to);
}

std::vector<std::byte> communicator::receive(int from) {
  std::vector<std::byte> got = do_receive(from);
  if (from != rank()) traffic_.bytes_received += got.size();
  return got;
}

// ---- self_communicator

std::vector<std::vector<std::byte>> self_communicator::do_alltoallv(
    std::vector<std::vector<std::byte>>&& send) {
  return std::move(send);
}

std::vector<std::vector<std::byte>> self_communicator::do_gather(std::span<const std::byte> bytes, int) {
  return {std::vector<std::byte>(bytes.begin(), bytes.end())};
}

void self_communicator::do_send(std::span<const std::byte>, int to) {
  throw error(error_code::internal,
              "self_communicator: send to rank " + std::to_string(to) + " in a group of one process");
}

std::vector<std::byte> self_communicator::do_receive(int from) {
  throw error(error_code::internal,
              "self_communicator: receive from rank " + std::to_string(from) + " in a group of one process");
}

// ---- agree

void agree(communicator& comm, const std::function<void()>& local) {
  error_code code = error_code::internal;
  std::string cause;
  bool failed = false;
  try {
    local();
  } catch (const error& e) {
    failed = true, code = e.code(), cause = e.what();
  } catch (const std::bad_alloc&) {
    failed = true, code = error_code::internal, cause = "out of memory";
  } catch (const std::exception& e) {
    failed = true, code = error_code::internal, cause = e.what();
  }
  const auto p = static_cast<std::uint64_t>(comm.size());
  // [lowest failing rank (p: none), failing ranks]
  std::uint64_t flag[2] = {failed ? static_cast<std::uint64_t>(comm.rank()) : p, failed ? 1u : 0u};
  comm.allreduce(std::span<std::uint64_t>(flag, 1), reduce_op::min);
  comm.allreduce(std::span<std::uint64_t>(flag + 1, 1), reduce_op::sum);
  if (flag[0] == p) return;
  const int who = static_cast<int>(flag[0]);
  // The cause travels as [code (4 bytes)][message bytes].
  std::vector<std::byte> msg;
  if (comm.rank() == who) {
    msg.resize(4 + cause.size());
    const auto c = static_cast<std::int32_t>(code);
    std::memcpy(msg.data(), &c, 4);
    std::memcpy(msg.data() + 4, cause.data(), cause.size());
  }
  comm.broadcast(msg, who);
  std::int32_t c = static_cast<std::int32_t>(error_code::internal);
  if (msg.size() >= 4) std::memcpy(&c, msg.data(), 4);
  std::string text =
      "rank " + std::to_string(who) + ": " +
      std::string(reinterpret_cast<const char*>(msg.data()) + std::min<std::size_t>(4, msg.size()),
                  msg.size() - std::min<std::size_t>(4, msg.size()));
  if (flag[1] > 1)
    text += " (and " + std::to_string(flag[1] - 1) + (flag[1] == 2 ? " more rank)" : " more ranks)");
  throw distributed_error(static_cast<error_code>(c), text, who);
}

}  // namespace chutoro::distributed
