// chutoro._core — the Python door of distributed FISHDBC (docs/distributed.md):
// a communicator whose collectives call a Python transport object
// (chutoro/_distributed.py, over an mpi4py communicator), so the extension
// itself never links MPI. Bound in module.cpp as _core.distributed_fit.
#pragma once

#include <nanobind/nanobind.h>

#include <chutoro/data_source.hpp>
#include <chutoro/params.hpp>
#include <cstddef>
#include <string>

namespace chutoro_python {

/// chutoro::distributed::distributed_fit over `transport` (a Python object
/// with rank, size and the methods alltoallv, allreduce_u64, allreduce_f64,
/// broadcast, gather, send, receive on bytes; see chutoro/_distributed.py),
/// then each rank's own rows of the result sent back to it. Collective: every
/// rank of the transport's group calls it with its slice `local` (rank r's
/// rows follow ranks 0..r-1's). Takes the GIL only inside the transport's
/// calls. Returns a dict: labels (int32), probabilities, outlier_scores
/// (float64) of this rank's rows; cluster_persistence (every rank); n, first,
/// ranks; stats (this rank's work and traffic); all_ranks (rank 0: every
/// rank's stats; elsewhere empty). Throws chutoro::distributed::distributed_error
/// on every rank when any rank failed.
nanobind::dict distributed_fit(const chutoro::data_source& local, nanobind::object transport,
                               const chutoro::params& p, std::size_t overlap, double replication_margin,
                               const std::string& identity);

}  // namespace chutoro_python
