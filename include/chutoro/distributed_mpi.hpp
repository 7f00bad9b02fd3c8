// chutoro — the MPI transport of the collective layer (distributed.hpp).
// Includes <mpi.h>: only for code built against MPI (chutoro::distributed).
#pragma once

#include <mpi.h>

#include <chutoro/distributed.hpp>
#include <memory>

namespace chutoro::distributed {

/// MPI for the lifetime of the object: MPI_Init_thread (MPI_THREAD_FUNNELED:
/// only the main thread calls MPI; OpenMP threads compute) unless MPI is
/// already initialised, and MPI_Finalize at destruction when this object
/// initialised it. Not thread safe; one per process.
class mpi_session {
 public:
  mpi_session(int* argc, char*** argv);
  ~mpi_session();
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;

 private:
  bool owns_ = false;
};

/// A communicator over `comm` (MPI_COMM_WORLD or a sub-communicator, which
/// must outlive the result). Counts bytes moved to and from other ranks.
[[nodiscard]] std::unique_ptr<communicator> make_mpi_communicator(MPI_Comm comm);

/// Ends every process of `comm` with `code` (MPI_Abort): the last resort
/// when one rank fails outside a stage the ranks agree on (agree()).
[[noreturn]] void abort_all(MPI_Comm comm, int code) noexcept;

}  // namespace chutoro::distributed
