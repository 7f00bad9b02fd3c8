"""The example scripts run and print what they promise."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_cluster_words_example(shared_data):
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python" / "cluster_words.py"), "--limit", "4000", "--show", "3"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    lines = out.strip().splitlines()
    assert re.match(r"4,000 words from words_en.txt: \d+ clusters, [\d.]+% noise", lines[0]), out
    clusters = [line for line in lines[1:] if line.strip().startswith("cluster")]
    assert 1 <= len(clusters) <= 3, out
    assert all(re.search(r"\(\d+ words, persistence [\d.]+\): \S", line) for line in clusters), out
