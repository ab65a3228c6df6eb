"""Run queries: the filter language, sorting, paging, best values, grouping, lookups, histories
(one run's from its log, many runs' from the catalog, whole or min/max-reduced)."""

from __future__ import annotations

import math
import random

import pytest

import tui_mlops as mt
from tui_mlops.errors import InputError, NotFoundError
from tui_mlops.store.home import Home
from tui_mlops.tracking.query import (
    get_run, group_runs, list_experiments, metric_direction, metric_histories, metric_history, search_runs,
)

# name: (params, tags, metrics, experiment)
RUNS = {
    "a": ({"num_leaves": 31, "lr": 0.1, "boost": "gbdt", "seed": 1}, {"team": "risk"},
          {"valid/auc": 0.91, "valid/binary_logloss": 0.30}, "churn"),
    "b": ({"num_leaves": 63, "lr": 0.05, "boost": "dart", "seed": 1}, {"team": "ops"},
          {"valid/auc": 0.95, "valid/binary_logloss": 0.25}, "churn"),
    "c": ({"num_leaves": 15, "lr": 0.1, "boost": "gbdt", "seed": 2}, {"team": "ops"},
          {"valid/auc": 0.80, "valid/binary_logloss": 0.45}, "churn"),
    "d": ({"num_leaves": 31, "lr": 0.2, "boost": "goss", "seed": 2}, {"team": "risk"},
          {"valid/auc": 0.89, "valid/binary_logloss": 0.20}, "churn"),
    "e": ({"num_leaves": "auto", "lr": 0.1, "boost": "gbdt", "seed": 3}, {},
          {"valid/auc": 0.70}, "fraud"),
}


@pytest.fixture
def runs(home: Home) -> dict[str, str]:
    ids = {}
    for name, (params, tags, metrics, exp) in RUNS.items():
        with mt.start_run(exp, name=name, params=params, tags=tags, home=home) as run:
            run.log_metrics(metrics, step=10)
        ids[name] = run.run_id
    return ids


def names(home: Home, query: str | None = None, **kw) -> list[str]:
    return [r.name for r in search_runs(home, query, **kw).rows]


@pytest.mark.parametrize("query,expected", [
    ("metrics.`valid/auc` > 0.9", "ab"),
    ("metrics.valid/auc > 0.9", "ab"),                         # '/' allowed in a bare dotted name
    ("params.num_leaves in (31, 63)", "abd"),                   # numbers compare the numeric value
    ("params.num_leaves = '31'", "ad"),                         # strings compare the text
    ("params.num_leaves = 'auto'", "e"),
    ("params.num_leaves >= 31", "abd"),
    ("params.lr between 0.05 and 0.1", "abce"),
    ("params.lr not between 0.05 and 0.1", "d"),
    ("metrics.valid/auc < 0.85 or tags.team = \"risk\"", "acde"),
    ("metrics.valid/auc > 0.9 and params.num_leaves in (31, 63) or tags.team = 'risk'", "abd"),
    ("not tags.team = 'risk'", "bc"),                           # a missing tag is neither
    ("tags.team is null", "e"),
    ("params.boost not in ('gbdt', 'dart')", "d"),
    ("params.boost like 'g%'", "acde"),
    ("experiment = 'fraud'", "e"),
    ("status = 'finished' and name in ('a', 'c')", "ac"),
    ("attributes.name = 'b'", "b"),
    ("metrics.valid/binary_logloss is null", "e"),
    ("params.seed = 1 and (tags.team = 'ops' or metrics.valid/auc >= 0.91)", "ab"),
    ("tags.team = 'ops' AND NOT params.boost = 'dart'", "c"),
])
def test_query_language(home: Home, runs: dict[str, str], query: str, expected: str) -> None:
    assert sorted(names(home, query)) == list(expected)


@pytest.mark.parametrize("query,message", [
    ("foo.bar > 1", "unknown field 'foo.bar' at position 1 in filter 'foo.bar > 1'"),
    ("metrics.auc > 0.5 and colour = 'red'", "unknown field 'colour' at position 23"),
    ("metrics.auc = 'high'", "metrics.auc is a number: compare it with a number, at position 1"),
    ("metrics.auc >", "unexpected end at position 14"),
    ("params.a in (1, 2", "expected ')'"),
    ("metrics.auc", "expected a comparison"),
])
def test_query_errors_name_the_position(home: Home, runs: dict[str, str], query: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        search_runs(home, query)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_sort_by_metric_param_and_attribute(home: Home, runs: dict[str, str]) -> None:
    assert names(home, order_by="metrics.valid/auc") == list("badce")
    assert names(home, order_by="metrics.`valid/auc`", descending=False) == list("ecdab")
    # Numbers sort numerically (15 < 31 < 63, not as text), the text value after them.
    # Ties (a and d have 31) go newest first.
    assert names(home, order_by="params.num_leaves", descending=False) == list("cdabe")
    assert names(home, order_by="params.num_leaves") == list("bdace")
    assert names(home, order_by="name", descending=False) == list("abcde")
    # Runs without the sort key come last in both directions.
    assert names(home, order_by="metrics.valid/binary_logloss")[-1] == "e"
    assert names(home, order_by="metrics.valid/binary_logloss", descending=False)[-1] == "e"
    with pytest.raises(InputError, match="cannot sort by"):
        search_runs(home, order_by="metrics.auc desc")


def test_page_total_keys_and_best_over_all_filtered_runs(home: Home, runs: dict[str, str]) -> None:
    page = search_runs(home, "experiment = 'churn'", order_by="name", descending=False, offset=1, limit=2)
    assert [r.name for r in page.rows] == ["b", "c"] and page.total == 4 and page.offset == 1
    assert page.param_keys == ["boost", "lr", "num_leaves", "seed"]
    assert page.metric_keys == ["valid/auc", "valid/binary_logloss"]
    # best over all 4 filtered runs, not just the page; logloss is minimised, auc maximised
    assert page.best == {"valid/auc": (0.95, runs["b"]), "valid/binary_logloss": (0.20, runs["d"])}
    row = page.rows[0]
    assert row.params["num_leaves"] == "63" and row.tags == {"team": "ops"}
    assert row.metrics == {"valid/auc": 0.95, "valid/binary_logloss": 0.25}
    assert search_runs(home, experiment="fraud").total == 1


def test_children_can_be_hidden(home: Home, runs: dict[str, str]) -> None:
    with mt.start_run("churn", name="child", home=home, parent_run_id=runs["a"]) as child:
        child.log_metric("valid/auc", 0.5)
    assert search_runs(home).total == 6
    assert search_runs(home, include_children=False).total == 5
    assert get_run(home, runs["a"]).children == [child.run_id]
    assert names(home, f"parent_run_id = '{runs['a']}'") == ["child"]


def test_group_by_param_mean_std_best(home: Home, runs: dict[str, str]) -> None:
    groups = group_runs(home, "params.num_leaves", "metrics.valid/auc", query="experiment = 'churn'")
    by = {g.value: g for g in groups}
    assert [g.value for g in groups] == ["15", "31", "63"]
    assert by["31"].count == 2 and by["31"].mean == pytest.approx(0.90)
    assert by["31"].std == pytest.approx(0.0141421356, rel=1e-6) and by["31"].best == pytest.approx(0.91)
    assert by["63"].std is None
    loss = {g.value: g for g in group_runs(home, "tags.team", "metrics.valid/binary_logloss")}
    assert loss["risk"].best == pytest.approx(0.20) and loss["(none)"].mean is None
    with pytest.raises(InputError, match="cannot group by"):
        group_runs(home, "metrics.valid/auc", "metrics.valid/auc")
    with pytest.raises(InputError, match="cannot average"):
        group_runs(home, "params.seed", "tags.team")


def test_get_run_by_prefix(home: Home) -> None:
    mt.start_run(home=home, run_id="beef0001", name="x").end()
    mt.start_run(home=home, run_id="beef0002", name="y").end()
    assert get_run(home, "beef0001").name == "x" and get_run(home, "BEEF0001").name == "x"
    assert get_run(home, "beef0002").name == "y"
    with pytest.raises(InputError, match="ambiguous: beef0001, beef0002"):
        get_run(home, "beef")
    with pytest.raises(NotFoundError, match="no run 'cafe'"):
        get_run(home, "cafe")
    with pytest.raises(InputError, match="at least 4"):
        get_run(home, "be")


def test_metric_history_orders_by_step_then_time(home: Home) -> None:
    with mt.start_run(home=home) as run:
        for step in (3, 1, 2):
            run.log_metric("loss", step * 10, step=step)
        run.log_metric("loss", 15, step=1)  # a later point at the same step comes after
        for v in (7, 8):
            run.log_metric("free", v)  # no step: numbered by position
    assert metric_history(home, run.run_id, "loss") == ([1.0, 1.0, 2.0, 3.0], [10.0, 15.0, 20.0, 30.0])
    assert metric_history(home, run.run_id, "free") == ([0.0, 1.0], [7.0, 8.0])
    assert metric_history(home, run.run_id, "nothing") == ([], [])


def test_list_experiments_and_direction(home: Home, runs: dict[str, str]) -> None:
    assert list_experiments(home) == [("churn", 4), ("fraud", 1)]
    for key in ("loss", "valid/binary_logloss", "train/l2", "rmse", "valid/multi_error", "mape", "l1"):
        assert metric_direction(key) == "min", key
    for key in ("auc", "valid/auc", "accuracy", "f1", "r2", "ndcg@5", "map@3", "average_precision"):
        assert metric_direction(key) == "max", key


def _same(got: tuple[list[float], list[float]], want: tuple[list[float], list[float]]) -> bool:
    """Equal lists, NaN equal to NaN."""
    def norm(values: list[float]) -> list[object]:
        return ["nan" if isinstance(v, float) and math.isnan(v) else v for v in values]
    return norm(got[0]) == norm(want[0]) and norm(got[1]) == norm(want[1])


def test_metric_histories_equal_metric_history_for_every_run(home: Home) -> None:
    ids = []
    with mt.start_run(home=home) as run:  # stepped, out of order, two points at one step
        for step in (3, 1, 2):
            run.log_metric("loss", step * 10, step=step)
        run.log_metric("loss", 15, step=1)
        run.log_metrics({"loss": float("nan"), "acc": 0.5}, step=4)
        run.log_metric("loss", float("inf"), step=5)
    ids.append(run.run_id)
    with mt.start_run(home=home) as run:  # no steps at all: numbered by position
        for v in (0.9, 0.4, 0.4, 0.6):
            run.log_metric("loss", v)
        run.log_system({"cpu": 5.0})
        run.log_system({"cpu": 7.0})
    ids.append(run.run_id)
    with mt.start_run(home=home) as run:  # unstepped points between stepped ones come after them
        for i, v in enumerate((0.9, 0.4, 0.4, 0.6, 0.3)):
            run.log_metric("loss", v, step=None if i % 2 else 100 * i)
        run.log_metrics({"acc": 0.7}, step=3)
    ids.append(run.run_id)
    with mt.start_run(home=home) as run:  # never logged loss
        run.log_metric("acc", 0.1)
    ids.append(run.run_id)
    for key in ("loss", "acc", "system/cpu", "nothing"):
        got = metric_histories(home, ids, key)
        assert list(got) == ids, key
        for rid in ids:
            assert _same(got[rid], metric_history(home, rid, key)), (key, rid)
    assert metric_histories(home, ids, "loss")[ids[2]] == ([0.0, 200.0, 400.0, 3.0, 4.0], [0.9, 0.4, 0.3, 0.4, 0.6])
    assert metric_histories(home, ids, "nothing")[ids[0]] == ([], [])
    # Prefixes resolve (keyed by full id); unknown runs are errors.
    assert list(metric_histories(home, [ids[1][:6], ids[1]], "loss")) == [ids[1]]
    with pytest.raises(NotFoundError, match="no run 'ffffffff'"):
        metric_histories(home, [ids[0], "ffffffff"], "loss")


def test_metric_histories_reduced_keep_every_spike_as_minmax_reduce_does(home: Home) -> None:
    from tui_mlops.charts import minmax_reduce

    rng = random.Random(7)
    ids = []
    with mt.start_run(home=home) as run:  # 3,000 steps, one spike up and one down, many ties
        for s in range(3000):
            v = 1.0 if s == 1234 else -1.0 if s == 2345 else round(rng.random() * 0.5, 1)
            run.log_metric("loss", float("inf") if s == 10 else v, step=s)
    ids.append(run.run_id)
    with mt.start_run(home=home) as run:  # few points: all kept (the non-finite one dropped)
        for s, v in enumerate((0.5, float("nan"), 0.2)):
            run.log_metric("loss", v, step=s)
    ids.append(run.run_id)
    with mt.start_run(home=home) as run:  # unstepped points, more than 2 x columns of them
        for _ in range(500):
            run.log_metric("loss", rng.random())
        run.log_metric("loss", 5.0)
    ids.append(run.run_id)
    with mt.start_run(home=home) as run:  # one step only: every point in one column
        for v in (0.3, 0.1, 0.9, 0.1, 0.9, 0.5) * 30:
            run.log_metric("loss", v, step=7)
    ids.append(run.run_id)
    for columns in (50, 1):
        got = metric_histories(home, ids, "loss", columns=columns)
        for rid in ids:
            full = metric_history(home, rid, "loss")
            assert got[rid] == minmax_reduce(*full, columns), (columns, rid)
            xs, ys = got[rid]
            finite = [(x, y) for x, y in zip(*full) if math.isfinite(y)]
            assert len(xs) <= max(2 * columns, len(finite) if len(finite) <= 2 * columns else 0)
            assert max(ys) == max(y for _x, y in finite) and min(ys) == min(y for _x, y in finite)
    xs, ys = metric_histories(home, ids[:1], "loss", columns=50)[ids[0]]
    assert (1234.0, 1.0) in zip(xs, ys) and (2345.0, -1.0) in zip(xs, ys) and len(xs) <= 100
    assert metric_histories(home, ids[1:2], "loss", columns=50)[ids[1]] == ([0.0, 2.0], [0.5, 0.2])
