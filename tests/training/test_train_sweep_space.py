"""Search spaces: parsing, grid and seeded random expansion, and their errors."""

from __future__ import annotations

import pytest

from tui_mlops.errors import InputError
from tui_mlops.training.sweep import expand, parse_space, space_text


def test_parse_space_lists_and_ranges():
    space = parse_space("num_leaves=15,31,63; learning_rate=0.01:0.3:log;\nmin_child_samples=5:50:int; "
                        "boosting=gbdt,dart")
    assert space == {
        "num_leaves": [15, 31, 63],
        "learning_rate": {"low": 0.01, "high": 0.3, "log": True, "int": False},
        "min_child_samples": {"low": 5.0, "high": 50.0, "log": False, "int": True},
        "boosting": ["gbdt", "dart"],
    }
    assert parse_space(space_text(space)) == space


@pytest.mark.parametrize("text, message", [
    ("", "the search space is empty"),
    ("a", "bad search space entry 'a': expected NAME=v1,v2,... or NAME=LOW:HIGH"),
    ("a=1:x", "bad search space entry a=1:x: LOW and HIGH must be numbers"),
    ("a=3:1", "bad search space entry a=3:1: LOW must be below HIGH"),
    ("a=0:1:log", "a log range needs LOW > 0"),
    ("a=1:2:cube", "a range is LOW:HIGH[:log][:int]"),
    ("a=1,2; a=3", "search space names 'a' twice"),
    ("a=1.2:1.8:int", "no integer between LOW and HIGH"),
])
def test_bad_spaces(text, message):
    with pytest.raises(InputError) as err:
        parse_space(text)
    assert message in str(err.value)


def test_grid_expands_every_combination_in_order():
    trials = expand(parse_space("a=1,2; b=x,y,z"), "grid", None, 0)
    assert trials == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"},
                      {"a": 2, "b": "x"}, {"a": 2, "b": "y"}, {"a": 2, "b": "z"}]
    subset = expand(parse_space("a=1,2; b=x,y,z"), "grid", 4, 3)
    assert len(subset) == 4 and all(t in trials for t in subset)
    assert subset == expand(parse_space("a=1,2; b=x,y,z"), "grid", 4, 3)
    with pytest.raises(InputError, match="grid search needs lists of values, but 'lr' is a range"):
        expand(parse_space("lr=0.1:0.2"), "grid", None, 0)


def test_random_is_seeded_and_inside_the_space():
    space = parse_space("lr=0.01:0.3:log; n=5:50:int; m=a,b; f=0:1")
    one = expand(space, "random", 30, 11)
    assert one == expand(space, "random", 30, 11)
    assert one != expand(space, "random", 30, 12)
    assert len(one) == 30
    for t in one:
        assert 0.01 <= t["lr"] <= 0.3 and isinstance(t["n"], int) and 5 <= t["n"] <= 50
        assert t["m"] in ("a", "b") and 0 <= t["f"] <= 1
    assert len(expand(space, "random", None, 0)) == 10
    with pytest.raises(InputError, match="unknown search method 'bayes'"):
        expand(space, "bayes", 3, 0)
    with pytest.raises(InputError, match="trials must be between 1 and"):
        expand(space, "random", 0, 0)
