"""`mlops-tui data add/list/show/preview/rm` and the global options, run as subprocesses."""

from __future__ import annotations

import gzip
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path


from cli_helpers import PEOPLE_CSV, REPO, Cli, cli_env, run_cli


def _make_folder(folder: Path) -> None:
    import duckdb

    folder.mkdir()
    (folder / "a.csv").write_text(PEOPLE_CSV)
    (folder / "b.tsv").write_text("k\tv\nx\t1\ny\t2\n")
    con = duckdb.connect()
    con.execute("COPY (SELECT range AS n, range * 0.5 AS half FROM range(7)) TO ? (FORMAT parquet)",
                [str(folder / "c.parquet")])
    con.close()
    (folder / "d.ndjson").write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n')
    with gzip.open(folder / "e.csv.gz", "wt") as fh:
        fh.write("p,q\n1,2\n3,4\n5,6\n")
    (folder / "notes.md").write_text("not data\n")


def test_add_formats_reregister_new_version_list_and_show(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    _make_folder(folder)
    added = cli.json("data", "add", folder)
    by_name = {r["name"]: r for r in added}
    assert sorted(by_name) == ["a", "b", "c", "d", "e"]  # notes.md is not a data file: skipped
    assert {n: r["rows"] for n, r in by_name.items()} == {"a": 10, "b": 2, "c": 7, "d": 2, "e": 3}
    assert all(r["created"] for r in added)
    assert [c["name"] for c in by_name["a"]["columns"]] == ["id", "name", "age", "city", "signup"]
    first = by_name["a"]["version"]
    assert len(first) == 16

    # Same bytes again: the same version, not a duplicate.
    again = cli.json("data", "add", folder / "a.csv")
    assert [(r["version"], r["created"]) for r in again] == [(first, False)]

    # A changed file under the same name: a second version of that dataset.
    (folder / "a.csv").write_text(PEOPLE_CSV + "10,Jo,41,Oslo,2024-10-01\n")
    changed = cli.json("data", "add", folder / "a.csv")
    second = changed[0]["version"]
    assert changed[0]["created"] and second != first and changed[0]["rows"] == 11

    listed = {d["name"]: d for d in cli.json("data", "list")}
    assert listed["a"]["versions"] == 2 and listed["a"]["latest_version"] == second
    assert listed["c"]["rows"] == 7 and listed["c"]["columns"] == 2

    table = cli.ok("data", "list").out.splitlines()
    assert table[0].split() == ["name", "versions", "latest", "rows", "cols", "size", "created"]
    row_a = next(line.split() for line in table if line.startswith("a "))
    assert row_a[1:4] == ["2", second[:8], "11"]  # versions shown short in tables
    assert second not in "\n".join(table)

    shown = cli.json("data", "show", "a")
    assert shown["version"]["version"] == second and shown["version"]["ref"] == f"a@{second}"
    assert [v["version"] for v in shown["versions"]] == [second, first]
    assert shown["lineage"] == [] and shown["children"] == []

    human = cli.ok("data", "show", f"a@{first[:6]}").out
    assert f"a@{first}" in human and "signup" in human and "BIGINT" in human
    marked = [line for line in human.splitlines() if line.strip().startswith("*")]
    assert len(marked) == 1 and first[:8] in marked[0]


def test_format_and_type_overrides(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "codes.txt"
    src.write_text("zip\tcount\n01234\t5\n99999\t7\n")
    out = cli.json("data", "add", src, "--format", "tsv", "--type", "zip=VARCHAR", "--name", "codes")
    assert out[0]["name"] == "codes"
    assert out[0]["columns"] == [{"name": "zip", "type": "VARCHAR"}, {"name": "count", "type": "BIGINT"}]
    preview_rows = out[0]["rows"]
    assert preview_rows == 2

    bad = cli("data", "add", src, "--type", "zip")
    assert bad.rc == 2 and "COL=TYPE" in bad.err


def test_errors_are_one_line_with_exit_2(cli: Cli, tmp_path: Path) -> None:
    missing = cli("data", "add", tmp_path / "missing.csv")
    assert missing.rc == 2
    assert missing.err.startswith("mlops-tui: error: ") and "missing.csv" in missing.err
    assert len(missing.err.strip().splitlines()) == 1 and missing.out == ""

    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    r = cli("data", "add", header_only)
    assert r.rc == 2 and "header.csv" in r.err
    assert cli.json("data", "list") == []  # nothing partial left behind

    r = cli("data", "add", header_only, "--name", "../../etc")
    assert r.rc == 2 and "invalid dataset name" in r.err

    r = cli("data", "show", "nosuch")
    assert r.rc == 2 and "nosuch" in r.err and r.err.startswith("mlops-tui: error:")

    usage = cli("data", "frobnicate")
    assert usage.rc == 2 and "usage:" in usage.err


def test_preview_pages(cli: Cli, people_csv: Path) -> None:
    cli.ok("data", "add", people_csv)
    page = cli.json("data", "preview", "people", "--offset", "2", "--limit", "3")
    assert page["offset"] == 2 and page["total"] == 10
    assert [c["name"] for c in page["columns"]] == ["id", "name", "age", "city", "signup"]
    assert [row[0] for row in page["rows"]] == [3, 4, 4]

    human = cli.ok("data", "preview", "people", "--limit", "2").out.splitlines()
    assert human[0].split() == ["id", "name", "age", "city", "signup"]
    assert "NULL" in human[2]  # Bob has no age
    assert human[-1].startswith("rows 1-2 of 10")


def test_rm_needs_confirmation_then_removes(cli: Cli, people_csv: Path) -> None:
    v1 = cli.json("data", "add", people_csv)[0]["version"]
    people_csv.write_text(PEOPLE_CSV + "10,Jo,41,Oslo,2024-10-01\n")
    v2 = cli.json("data", "add", people_csv)[0]["version"]

    refused = cli("data", "rm", "people")  # stdin is not a terminal and there is no --yes
    assert refused.rc == 2 and "--yes" in refused.err

    removed = cli.json("data", "rm", f"people@{v1[:8]}", "--yes")
    assert [r["version"] for r in removed["removed"]] == [v1]
    assert [v["version"] for v in cli.json("data", "show", "people")["versions"]] == [v2]

    out = cli.ok("data", "rm", "people", "--all", "--yes").out
    assert f"removed people@{v2[:8]}" in out
    assert cli.json("data", "list") == []
    assert not (cli.home / "datasets" / "people").exists()


def test_home_flag_beats_env_var(tmp_path: Path, people_csv: Path) -> None:
    env_home, flag_home = tmp_path / "from-env", tmp_path / "from-flag"
    env = cli_env(MLOPS_TUI_HOME=str(env_home))
    assert run_cli("store", "path", home=None, env=env).out.strip() == str(env_home)
    assert run_cli("store", "path", home=flag_home, env=env).out.strip() == str(flag_home)
    # --home is also accepted after the subcommand.
    assert run_cli("store", "path", "--home", tmp_path / "late", home=None, env=env).out.strip() \
        == str(tmp_path / "late")

    r = run_cli("data", "add", people_csv, home=None, env=env)
    assert r.rc == 0, r.err
    assert (env_home / "datasets" / "people").is_dir() and not flag_home.exists()


def test_version_flag_and_app_without_a_terminal(tmp_path: Path) -> None:
    from tui_mlops import __version__

    r = run_cli("--version", home=None)
    assert r.rc == 0 and r.out.strip() == f"mlops-tui {__version__}"
    # No subcommand opens the app, which needs a terminal: under a pipe, say so instead of hanging.
    r = run_cli(home=tmp_path / "home")
    assert r.rc == 2 and r.err.startswith("mlops-tui: error: the app needs a terminal")


def test_ctrl_c_cancels_ingest_cleanly(cli: Cli, tmp_path: Path) -> None:
    import duckdb

    big = tmp_path / "big.csv"
    con = duckdb.connect()
    con.execute("COPY (SELECT range AS id, random() AS x, 'row text ' || range AS s, range % 7 AS k "
                "FROM range(3000000)) TO ? (HEADER)", [str(big)])
    con.close()

    cmd = [sys.executable, "-m", "tui_mlops", "--home", str(cli.home), "data", "add", str(big), "--progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=cli_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Wait until the progress line shows the ingest has begun, then press "Ctrl-C".
        seen = b""
        deadline = time.monotonic() + 30
        while b"ingesting big.csv:" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 1.0)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
        assert b"ingesting big.csv:" in seen, seen
        proc.send_signal(signal.SIGINT)
        _out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = (seen + rest).decode()
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("mlops-tui: cancelled:") and "big.csv" in last
    assert cli.json("data", "list") == []
    leftovers = [p for p in (cli.home / "datasets").rglob("*") if p.is_file() and p.suffix != ".jsonl"]
    assert leftovers == []
