"""CLI handlers for registering and browsing datasets: `data add/list/show/preview/rm`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tui_mlops.cli_format import (
    ProgressLine, cell, human_size, human_time, key_values, print_json, raw_cell, run_cancellable, table,
)
from tui_mlops.errors import InputError, MlopsError
from tui_mlops.store.home import Home

PROG = "mlops-tui"


def progress_enabled(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "progress", False)) or sys.stderr.isatty()


def version_row(v: Any, *, current: str | None = None) -> list[Any]:
    mark = "*" if current is not None and v.version == current else ""
    return [mark, v.short, human_time(v.created_at), v.rows, len(v.columns), human_size(v.size_bytes),
            v.operation, _short_ref(v.parent_ref) if v.parent_ref else ""]


def _short_ref(ref: str | None) -> str:
    if not ref:
        return ""
    name, _, version = ref.partition("@")
    return f"{name}@{version[:8]}"


def params_text(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str) if params else ""


def _kv_text(params: dict[str, Any]) -> str:
    parts = []
    for k, val in params.items():
        if val is None or val == {} or val == []:
            continue
        text = val if isinstance(val, str) else json.dumps(val, separators=(",", ":"), default=str)
        parts.append(f"{k}={text}")
    return ", ".join(parts)


def params_brief(params: dict[str, Any]) -> str:
    """Params for a person: `drop_duplicates; filter: expr=age > 1` rather than nested JSON."""
    if not params:
        return ""
    steps = params.get("steps")
    if isinstance(steps, list):
        texts = []
        for step in steps:
            if isinstance(step, dict) and "op" in step:
                inner = _kv_text(step.get("params") or {})
                texts.append(f"{step['op']}: {inner}" if inner else str(step["op"]))
            else:
                texts.append(str(step))
        rest = _kv_text({k: v for k, v in params.items() if k != "steps"})
        return "; ".join(texts) + (f" ({rest})" if rest else "")
    return _kv_text(params)


def uncut(value: Any) -> str:
    """Table text for a column that must not be cut (the last one, where nothing follows)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else cell(value)


# -- add --------------------------------------------------------------------------------------
def parse_types(items: list[str]) -> dict[str, str]:
    types: dict[str, str] = {}
    for item in items:
        # Split at the last '=': a type never holds one, a column name might.
        col, sep, typ = item.rpartition("=")
        if not sep or not col or not typ.strip():
            raise InputError(f"--type expects COL=TYPE (e.g. --type zip=VARCHAR), got {item!r}")
        types[col] = typ.strip()
    return types


def cmd_add(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data.ingest import IngestOptions, ingest_file, supported_files

    options = IngestOptions(name=args.name, format=args.format, types=parse_types(args.types))
    src = Path(args.path)
    if src.is_dir():
        files = supported_files(src)
        if not files:
            raise InputError(f"{src}: no CSV, TSV, Parquet, JSON or NDJSON files in this folder")
        if args.name and len(files) > 1:
            raise InputError(f"{src}: --name needs a single file, but the folder has {len(files)}")
    else:
        files = [src]

    results: list[Any] = []
    failures = 0
    for path in files:
        line = ProgressLine(f"ingesting {path.name}", progress_enabled(args))

        def work(cancel: Any, path: Path = path, line: ProgressLine = line) -> Any:
            line.start()
            return ingest_file(home, path, options, progress=line.update, cancel=cancel)

        try:
            result = run_cancellable(work, f"ingest of {path} stopped; no version was registered for it")
        except MlopsError as exc:
            line.finish()
            if len(files) == 1:
                raise
            # In a folder one bad file must not hide the others: report it and go on.
            failures += 1
            print(f"{PROG}: error: {exc.message}", file=sys.stderr)
            continue
        finally:
            line.finish()
        results.append(result)
        if not args.json:
            v = result.version
            what = f"registered {v.name}@{v.short}" if result.created else \
                f"already registered {v.name}@{v.short} (same content)"
            print(f"{what}: {v.rows:,} rows x {len(v.columns)} columns, {human_size(v.size_bytes)}  <- {path}")
    if args.json:
        print_json([r.to_dict() for r in results])
    return 2 if failures else 0


# -- list / show --------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data.versions import list_datasets

    datasets = list_datasets(home)
    if args.json:
        print_json([d.to_dict() for d in datasets])
        return 0
    if not datasets:
        print(f"no datasets yet in {home.root}; register one with `{PROG} data add FILE`")
        return 0
    rows = [[d.name, d.versions, d.latest_version[:8], d.rows, d.n_columns, human_size(d.size_bytes),
             human_time(d.latest_created_at)] for d in datasets]
    print(table(["name", "versions", "latest", "rows", "cols", "size", "created"], rows))
    return 0


def _with_ref(v: Any) -> dict[str, Any]:
    return {"ref": v.ref, **v.to_dict()}


def lineage_of(home: Home, v: Any) -> tuple[list[dict[str, Any]], list[Any], list[Any]]:
    """(ancestors from parent to root, children, all versions of v's dataset), in one catalog open."""
    from tui_mlops.store.catalog import open_catalog

    ancestors: list[dict[str, Any]] = []
    with open_catalog(home, fold=False) as cat:
        seen = {v.ref}
        cur = v
        while cur.parent_name and cur.parent_version:
            ref = f"{cur.parent_name}@{cur.parent_version}"
            found = [p for p in cat.find_versions(cur.parent_name, cur.parent_version)
                     if p.version == cur.parent_version]
            if not found:
                # Lineage is recorded on the child, so a removed parent is still named.
                ancestors.append({"ref": ref, "name": cur.parent_name, "version": cur.parent_version,
                                  "missing": True})
                break
            if ref in seen:  # a cycle cannot be made through the API; never loop if one appears
                break
            seen.add(ref)
            cur = found[0]
            ancestors.append({**_with_ref(cur), "missing": False})
        children = cat.children(v.name, v.version)
        siblings = cat.list_versions(v.name)
    return ancestors, children, siblings


def cmd_show(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data.versions import resolve

    v = resolve(home, args.ref)
    ancestors, children, versions = lineage_of(home, v)
    if args.json:
        print_json({
            "version": _with_ref(v),
            "lineage": ancestors,
            "children": [_with_ref(c) for c in children],
            "versions": [_with_ref(x) for x in versions],
        })
        return 0
    print(v.ref)
    info = [("rows", f"{v.rows:,}"), ("columns", str(len(v.columns))), ("size", human_size(v.size_bytes)),
            ("created", human_time(v.created_at, seconds=True)), ("operation", v.operation)]
    if v.params:
        info.append(("params", params_text(v.params)))
    if v.parent_ref:
        info.append(("parent", v.parent_ref))
    if v.source_path:
        info.append(("source", v.source_path))
    print(key_values(info, indent="  "))
    print("\ncolumns")
    print(table(["#", "name", "type"], [[i, c.name, c.type] for i, c in enumerate(v.columns, 1)], indent="  "))
    print("\nlineage (this version first, then its parents up to the root)")
    chain: list[list[Any]] = [["", _short_ref(v.ref), v.operation, v.rows, params_brief(v.params)]]
    for a in ancestors:
        if a["missing"]:
            chain.append(["<-", _short_ref(a["ref"]), "(removed)", "", ""])
        else:
            chain.append(["<-", _short_ref(a["ref"]), a["operation"], a["rows"], params_brief(a["params"])])
    print(table(["", "version", "operation", "rows", "params"], chain, indent="  ", fmt=uncut))
    if children:
        print("\nchildren")
        print(table(["version", "operation", "rows", "created"],
                    [[_short_ref(c.ref), c.operation, c.rows, human_time(c.created_at)] for c in children],
                    indent="  "))
    print(f"\nversions of {v.name} ({len(versions)}; * = this one)")
    print(table(["", "version", "created", "rows", "cols", "size", "operation", "parent"],
                [version_row(x, current=v.version) for x in versions], indent="  "))
    return 0


# -- preview ------------------------------------------------------------------------------------
def cmd_preview(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data.preview import read_page
    from tui_mlops.data.versions import resolve

    v = resolve(home, args.ref)
    page = read_page(home, v, args.offset, args.limit)
    if args.json:
        print_json({"ref": v.ref, "offset": page.offset, "total": page.total,
                    "columns": [{"name": n, "type": t} for n, t in zip(page.columns, page.types)],
                    "rows": [list(r) for r in page.rows]})
        return 0
    if not page.rows:
        print(f"no rows at offset {args.offset:,}: {v.name}@{v.short} has {page.total:,} rows")
        return 0
    # raw_cell: a preview shows the data as it is (no thousands separators or rounding).
    print(table(list(page.columns), page.rows, fmt=raw_cell))
    first = page.offset + 1
    print(f"rows {first:,}-{page.offset + len(page.rows):,} of {page.total:,} ({v.name}@{v.short})")
    return 0


# -- rm -----------------------------------------------------------------------------------------
def cmd_rm(args: argparse.Namespace, home: Home) -> int:
    from tui_mlops.data.versions import list_versions, parse_ref, remove, resolve

    if args.all:
        name, version = parse_ref(args.ref)
        if version:
            raise InputError(f"--all removes a whole dataset: give {name!r} without '@{version}'")
        targets = list_versions(home, name)
        what = f"all {len(targets)} version(s) of {name}"
    else:
        v = resolve(home, args.ref)
        targets = [v]
        what = f"{v.name}@{v.short} ({v.rows:,} rows)"
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError(f"not removing {what} without confirmation: pass --yes")
        answer = input(f"remove {what}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing removed")
            return 0
    removed = remove(home, args.ref, all_versions=args.all)
    if args.json:
        print_json({"removed": [_with_ref(v) for v in removed]})
    else:
        for v in removed:
            print(f"removed {v.name}@{v.short}")
    return 0
