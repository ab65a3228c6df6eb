"""load_pipeline: a valid file, and each kind of error reported with its TOML line number."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_mlops.errors import InputError
from tui_mlops.pipeline.spec import INIT_TEMPLATE, PipelineFileError, load_pipeline

VALID = """\
[pipeline]
name = "demo"
max_parallel = 3

[stages.ingest]
kind = "ingest"
path = "data.csv"
name = "demo"

[stages.split]
kind = "split"
input = "ingest"
seed = 1

[stages.train]
kind = "train"
dataset = "split.train"
valid = "split.valid"
target = "y"

[stages.note]
kind = "shell"
command = "echo hi"
after = ["train"]
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mlops.toml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str, home=None) -> str:
    path = _file(tmp_path, text)
    with pytest.raises(PipelineFileError) as info:
        load_pipeline(path, home=home)
    return str(info.value)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_valid_file_gives_stages_in_file_order_with_inputs_and_lines(tmp_path: Path) -> None:
    spec = load_pipeline(_file(tmp_path, VALID))
    assert spec.name == "demo" and spec.max_parallel == 3 and spec.executor == "local"
    assert list(spec.stages) == ["ingest", "split", "train", "note"]
    assert spec.root == tmp_path.resolve()
    train = spec.stages["train"]
    assert train.inputs == {"dataset": "split.train", "valid": "split.valid"}
    assert train.deps == ("split",) and train.line == _line_of(VALID, "[stages.train]")
    assert spec.stages["note"].after == ("train",) and spec.stages["note"].deps == ("train",)
    assert spec.stages["split"].params == {"input": "ingest", "seed": 1}


def test_error_is_an_input_error_with_exit_code_3(tmp_path: Path) -> None:
    assert issubclass(PipelineFileError, InputError) and PipelineFileError.exit_code == 3


def test_unknown_kind_names_its_line_and_the_kinds(tmp_path: Path) -> None:
    text = VALID.replace('kind = "train"', 'kind = "trian"')
    msg = _error(tmp_path, text)
    assert f"mlops.toml line {_line_of(text, 'trian')}: stage 'train': unknown kind 'trian'" in msg
    assert "(kinds: ingest," in msg and "shell" in msg


def test_cycle_names_the_stages_and_the_line(tmp_path: Path) -> None:
    text = VALID.replace('target = "y"', 'target = "y"\nafter = ["note"]')
    msg = _error(tmp_path, text)
    assert f"line {_line_of(text, '[stages.train]')}: stages train -> note -> train form a cycle" in msg


def test_stage_naming_itself_is_a_cycle(tmp_path: Path) -> None:
    text = VALID.replace('input = "ingest"', 'input = "split.train"')
    msg = _error(tmp_path, text)
    assert f"line {_line_of(text, 'split.train')}: stages split -> split form a cycle" in msg


def test_missing_input_after_names_no_stage(tmp_path: Path) -> None:
    text = VALID.replace('after = ["train"]', 'after = ["trian"]')
    msg = _error(tmp_path, text)
    assert f"line {_line_of(text, 'after =')}: stage 'note': missing input: after names no stage 'trian'" in msg


def test_missing_input_bad_output_of_a_stage(tmp_path: Path) -> None:
    text = VALID.replace('valid = "split.valid"', 'valid = "split.vlid"')
    msg = _error(tmp_path, text)
    assert f"line {_line_of(text, 'split.vlid')}: stage 'train': valid = 'split.vlid': stage 'split' " \
           "has no output 'vlid' (outputs: train, valid, test)" in msg


def test_missing_input_dataset_that_is_neither_stage_nor_dataset(tmp_path: Path, home) -> None:
    (tmp_path / "data.csv").write_text("a,y\n1,0\n")
    text = VALID.replace('input = "ingest"', 'input = "ingset"')
    msg = _error(tmp_path, text, home=home)
    assert f"line {_line_of(text, 'ingset')}: stage 'split': missing input: input = 'ingset'" in msg
    assert "no dataset named 'ingset'" in msg


def test_missing_input_file_is_found_before_running(tmp_path: Path, home) -> None:
    msg = _error(tmp_path, VALID, home=home)
    assert f"line {_line_of(VALID, 'data.csv')}: stage 'ingest': missing input: path = 'data.csv'" in msg


def test_bad_param_type_names_the_line(tmp_path: Path) -> None:
    text = VALID.replace("seed = 1", 'seed = "one"')
    msg = _error(tmp_path, text)
    assert f"line {_line_of(text, 'seed =')}: stage 'split': seed must be an integer, got 'one'" in msg


def test_bool_is_not_an_integer(tmp_path: Path) -> None:
    text = VALID.replace("max_parallel = 3", "max_parallel = true")
    msg = _error(tmp_path, text)
    assert f"line {_line_of(text, 'max_parallel')}: [pipeline]: max_parallel must be an integer" in msg


def test_unknown_param_and_missing_required_param(tmp_path: Path) -> None:
    text = VALID.replace("seed = 1", "sed = 1")
    msg = _error(tmp_path, text)
    assert f"line {_line_of(text, 'sed =')}: stage 'split': unknown param 'sed' for kind 'split'" in msg
    text = VALID.replace('target = "y"\n', "")
    msg = _error(tmp_path, text)
    assert f"line {_line_of(text, '[stages.train]')}: stage 'train': missing param 'target'" in msg


def test_toml_syntax_error_keeps_its_line(tmp_path: Path) -> None:
    text = VALID.replace('seed = 1', 'seed = = 1')
    msg = _error(tmp_path, text)
    assert msg.startswith(f"{tmp_path / 'mlops.toml'} line {_line_of(text, 'seed = =')}: invalid TOML")


def test_unknown_table_and_executor(tmp_path: Path) -> None:
    text = VALID + "\n[stagez.x]\nkind = 1\n"
    assert f"line {_line_of(text, '[stagez.x]')}: unknown table [stagez]" in _error(tmp_path, text)
    text = VALID.replace('name = "demo"\n', 'name = "demo"\nexecutor = "spark"\n', 1)
    assert "line 3: executor must be one of local, dask, got 'spark'" in _error(tmp_path, text)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(PipelineFileError, match="no such pipeline file .*mlops-tui init"):
        load_pipeline(tmp_path / "nope.toml")


def test_stage_declared_below_its_user_is_found(tmp_path: Path) -> None:
    text = '[stages.b]\nkind = "shell"\ncommand = "true"\nafter = ["a"]\n\n[stages.a]\nkind = "shell"\ncommand = "true"\n'
    spec = load_pipeline(_file(tmp_path, text))
    assert spec.stages["b"].deps == ("a",) and spec.stages["b"].line == 1 and spec.stages["a"].line == 6
    assert spec.name  # no [pipeline] table: named after the folder


def test_init_template_loads(tmp_path: Path) -> None:
    spec = load_pipeline(_file(tmp_path, INIT_TEMPLATE))
    assert list(spec.stages) == ["ingest", "split", "train", "gate", "register", "promote", "report"]
    assert spec.stages["gate"].inputs == {"run": "train", "data": "split.test"}
    assert spec.stages["promote"].deps == ("register",)
