"""pytest configuration of the Python tests.

- The shared real data sets are found in CHUTORO_DATA_DIR or ../shared/data
  beside the repository root; tests that need them fail (not skip) without them.
- Parameter grids mark most of their cases `slow`. All run by default (the
  whole suite takes about a minute: the trees are computed once per data set
  and min_samples); CHUTORO_FULL_GRID=0 deselects them for a quicker run over
  a fixed, spread subsample.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

FULL_GRID = os.environ.get("CHUTORO_FULL_GRID", "1") != "0"


def pytest_report_header(config):
    import chutoro
    import oracle

    return [
        f"chutoro {chutoro.__version__} from {Path(chutoro.__file__).parent}",
        f"shared data: {oracle.data_dir()}",
        f"grids: {'full (CHUTORO_FULL_GRID=0 for a subsample)' if FULL_GRID else 'subsample (CHUTORO_FULL_GRID=0)'}",
    ]


def pytest_collection_modifyitems(config, items):
    if FULL_GRID:
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("slow") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def shared_data():
    import oracle

    d = oracle.data_dir()
    if d is None:
        pytest.fail("shared data not found: set CHUTORO_DATA_DIR or put the data sets in ../shared/data")
    return d
