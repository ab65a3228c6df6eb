"""Two scripts logging 50,000 points each while the app keeps folding: every point arrives once."""

from __future__ import annotations

import subprocess
import sys
import time

from tui_mlops.store.catalog import open_catalog
from tui_mlops.store.home import Home

POINTS = 50_000
# Each writer waits for "go" at the start and again half-way (after flushing), so the reader is
# sure to fold a half-written run, and folds on while the second halves are written.
WRITER = """
import sys
import tui_mlops as mt
n = int(sys.argv[3])
with mt.start_run("concurrency", name=sys.argv[2], home=sys.argv[1]) as run:
    print(run.run_id, flush=True)
    sys.stdin.readline()
    for i in range(n):
        if i == n // 2:
            run.flush()
            print("half", flush=True)
            sys.stdin.readline()
        run.log_metric("x", i * 0.5, step=i)
"""


def point_counts(home: Home) -> dict[str, int]:
    # What the app does on every change notice: open (which folds), query, close.
    with open_catalog(home) as cat:
        return dict(cat.con.execute("SELECT run_id, count(*) FROM metrics GROUP BY run_id").fetchall())


def go(writers: list[subprocess.Popen]) -> None:
    for w in writers:
        w.stdin.write("go\n")
        w.stdin.flush()


def test_two_writers_and_a_folding_reader_lose_and_duplicate_nothing(home: Home) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(home.root), f"w{i}", str(POINTS)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    try:
        run_ids = {w.stdout.readline().strip() for w in writers}
        assert point_counts(home) == {}
        go(writers)
        assert [w.stdout.readline().strip() for w in writers] == ["half", "half"]
        assert point_counts(home) == dict.fromkeys(run_ids, POINTS // 2)
        go(writers)
        folds = 0
        deadline = time.monotonic() + 120
        while any(w.poll() is None for w in writers) and time.monotonic() < deadline:
            counts = point_counts(home)
            assert all(POINTS // 2 <= n <= POINTS for n in counts.values())
            folds += 1
    finally:
        outs = [w.communicate(timeout=60) for w in writers]
    for w, (_, err) in zip(writers, outs):
        assert w.returncode == 0, err
    assert folds >= 1
    with open_catalog(home) as cat:
        rows = cat.con.execute(
            """SELECT r.run_id, r.status, count(m.seq), count(DISTINCT m.step), count(DISTINCT m.seq),
                      min(m.step), max(m.step), sum(m.value)
               FROM runs r JOIN metrics m USING (run_id) GROUP BY r.run_id, r.status""").fetchall()
        summary = cat.con.execute("SELECT n, last, last_step FROM metric_summary").fetchall()
    assert {r[0] for r in rows} == run_ids and len(rows) == 2
    expected_sum = sum(i * 0.5 for i in range(POINTS))
    for _, status, n, steps, seqs, lo, hi, total in rows:
        assert (status, n, steps, seqs, lo, hi) == ("finished", POINTS, POINTS, POINTS, 0, POINTS - 1)
        assert total == expected_sum
    assert summary == [(POINTS, (POINTS - 1) * 0.5, POINTS - 1)] * 2
