#!/usr/bin/env bash
# Work and communication per rank of the distributed fit (docs/distributed.md):
# chutoro_distributed_bench under mpirun for P = 1, 2, 4 on seeded blobs,
# with the one-process fit as reference (ARI, distance computations). One
# JSON line per P on stdout. Ranks share this machine's cores: the times are
# not the point, work and bytes are.
#   scripts/bench_distributed.sh [N] [DIM] [CENTERS]     (default 100000 16 20)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}" dim="${2:-16}" centers="${3:-20}"
bench=build/release/bench/distributed/chutoro_distributed_bench
[ -x "$bench" ] || { echo "build chutoro_distributed_bench first (CHUTORO_WITH_MPI)" >&2; exit 1; }
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_btl=self,vader
extra=()
[ "$(id -u)" -eq 0 ] && extra=(--allow-run-as-root)
for np in 1 2 4; do
  mpirun "${extra[@]}" -np "$np" --oversubscribe "$bench" --n "$n" --dim "$dim" --centers "$centers" --reference
done
