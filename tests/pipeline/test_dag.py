"""The stage graph: order, levels, closures, cycles and the ASCII drawing."""

from __future__ import annotations

from pathlib import Path

from tui_mlops.pipeline import dag
from tui_mlops.pipeline.spec import StageSpec, load_pipeline


def _stages(edges: dict[str, list[str]]) -> dict[str, StageSpec]:
    return {n: StageSpec(n, "shell", {"command": "true"}, {}, tuple(d), i + 1) for i, (n, d) in enumerate(edges.items())}


DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}


def test_levels_group_stages_that_can_run_together() -> None:
    assert dag.levels(_stages(DIAMOND)) == [["a", "e"], ["b", "c"], ["d"]]
    assert dag.topo_order(_stages(DIAMOND)) == ["a", "e", "b", "c", "d"]


def test_order_respects_a_dependency_declared_later() -> None:
    order = dag.topo_order(_stages({"late": ["early"], "early": []}))
    assert order == ["early", "late"]


def test_upstream_and_downstream() -> None:
    st = _stages(DIAMOND)
    assert dag.upstream(st, "d") == {"a", "b", "c"}
    assert dag.downstream(st, "a") == {"b", "c", "d"}
    assert dag.upstream(st, "e") == set() and dag.downstream(st, "d") == set()


def test_find_cycle_names_it_in_flow_order() -> None:
    assert dag.find_cycle(_stages(DIAMOND)) is None
    assert dag.find_cycle(_stages({"x": [], "a": ["c"], "b": ["a"], "c": ["b"]})) == ["a", "b", "c", "a"]


def test_dag_text_draws_levels_inputs_and_states(tmp_path: Path) -> None:
    (tmp_path / "mlops.toml").write_text(
        '[pipeline]\nname = "p"\n[stages.ingest]\nkind = "ingest"\npath = "x.csv"\n'
        '[stages.split]\nkind = "split"\ninput = "ingest"\n'
        '[stages.side]\nkind = "shell"\ncommand = "true"\n'
        '[stages.done]\nkind = "shell"\ncommand = "true"\nafter = ["split", "side"]\n')
    spec = load_pipeline(tmp_path / "mlops.toml")
    text = dag.dag_text(spec, {"ingest": "ok", "split": "running"})
    lines = text.splitlines()
    assert lines[0] == "pipeline p: 4 stage(s) in 3 level(s), executor local, up to 2 at a time"
    assert " 1 [ingest: ok]  [side]" in lines
    assert "     split [split] <- ingest (input)" in lines
    assert "     done [shell] <- split (after), side (after)" in lines
    assert lines.index(" 2 [split: running]") < lines.index(" 3 [done]")
