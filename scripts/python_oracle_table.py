#!/usr/bin/env python3
"""Writes the exact-mode agreement table of docs/python.md: chutoro
(candidates="exact") against hdbscan.HDBSCAN(approx_min_span_tree=False) and
sklearn.cluster.HDBSCAN, and the two references against each other, on the
shared data sets, raw (float32-rounded) and jittered, over the parameter grid
of tests/python/test_oracle.py.

Usage: .venv/bin/python scripts/python_oracle_table.py [--datasets digits,...] [--out FILE]
Needs the package installed with its test extra (pip install '.[test]') and
the shared data (../shared/data or CHUTORO_DATA_DIR).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
warnings.filterwarnings("ignore")

import oracle  # noqa: E402

MIN_SAMPLES = (None, 2, 10)  # chutoro's convention (the item itself counts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(oracle.DATASETS))
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()

    rows = []
    header = ("| data | variant | min_samples | configs | chutoro = hdbscan | min ARI vs hdbscan | "
              "items differing (max) | chutoro = sklearn | min ARI vs sklearn | hdbscan = sklearn | "
              "min ARI hdbscan vs sklearn | same levels (c/h, c/s) | tied levels | hierarchy on chutoro's tree = hdbscan's code |")
    rows.append(header)
    rows.append("|" + "|".join([" --- "] * (header.count("|") - 1)) + "|")
    t0 = time.perf_counter()
    for name in args.datasets.split(","):
        for kind in ("raw", "jittered"):
            X = oracle.variant(name, kind)
            for ms_param in MIN_SAMPLES:
                grid = oracle.selection_grid(name)
                by_ms: dict[int, list[oracle.Selection]] = {}
                for sel in grid:
                    ms = ms_param if ms_param is not None else sel.min_cluster_size
                    by_ms.setdefault(ms, []).append(sel)
                stats = dict(n=0, ns=0, ch_exact=0, cs_exact=0, hs_exact=0, ch_ari=1.0, cs_ari=1.0, hs_ari=1.0,
                             diffs=0, lv_ch=True, lv_cs=True, ties=0, stage=0)
                for ms, sels in by_ms.items():
                    tc = oracle.chutoro_tree(X, ms)
                    th = oracle.hdbscan_tree(X, ms)
                    ts = oracle.sklearn_tree(X, ms)
                    eq_ch, ties = oracle.levels_equal(tc.single_linkage, th.single_linkage)
                    eq_cs, _ = oracle.levels_equal(tc.single_linkage, ts.single_linkage)
                    stats["lv_ch"] &= eq_ch
                    stats["lv_cs"] &= eq_cs
                    stats["ties"] = max(stats["ties"], ties)
                    h_on_c = oracle.Tree(tc.single_linkage)
                    for sel in sels:
                        fc = oracle.chutoro_select(tc, sel)
                        fh = oracle.hdbscan_select(th, sel)
                        fs = oracle.sklearn_select(ts, sel)
                        ach = oracle.agreement(fc, fh)
                        stats["n"] += 1
                        stats["ch_exact"] += ach.exact
                        stats["ch_ari"] = min(stats["ch_ari"], ach.ari)
                        stats["diffs"] = max(stats["diffs"], ach.label_diffs)
                        if fs is not None:
                            acs, ahs = oracle.agreement(fc, fs), oracle.agreement(fh, fs)
                            stats["ns"] += 1
                            stats["cs_exact"] += acs.exact
                            stats["hs_exact"] += ahs.exact
                            stats["cs_ari"] = min(stats["cs_ari"], acs.ari)
                            stats["hs_ari"] = min(stats["hs_ari"], ahs.ari)
                        stage = oracle.agreement(fc, oracle.hdbscan_select(h_on_c, sel))
                        stats["stage"] += (stage.exact and stage.label_diffs == 0)
                ms_text = "None (= min_cluster_size)" if ms_param is None else str(ms_param)
                n = stats["n"]
                rows.append(
                    f"| {name} | {kind} | {ms_text} | {n} | {stats['ch_exact']}/{n} | {stats['ch_ari']:.4f} | "
                    f"{stats['diffs']} | {stats['cs_exact']}/{stats['ns']} | {stats['cs_ari']:.4f} | {stats['hs_exact']}/{stats['ns']} | "
                    f"{stats['hs_ari']:.4f} | {'yes' if stats['lv_ch'] else 'NO'} / {'yes' if stats['lv_cs'] else 'NO'} | "
                    f"{stats['ties']} | {stats['stage']}/{n} |"
                )
                print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(f"\n{table}\n\n({time.perf_counter() - t0:.0f} s)")
    if args.out:
        Path(args.out).write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
