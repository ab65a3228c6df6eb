"""The user config file: parsing, defaults, one-line errors naming the file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tui_mlops.errors import InputError
from tui_mlops.settings import (
    CONFIG_ENV, Settings, apply_environment, check_names, config_path, configured_max_jobs,
    default_config_text, find_line, load_settings,
)


def _cfg(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "absent.toml")
    assert s == Settings() and s.path is None
    assert (s.theme, s.refresh_hz, s.chart_marker, s.mouse, s.color_depth) == (
        "textual-dark", 2.0, "braille", True, "auto")
    assert s.jobs_max_concurrent is None and dict(s.keymap) == {}


def test_parse_every_setting(tmp_path: Path) -> None:
    path = _cfg(tmp_path, 'theme = "nord"\nrefresh_hz = 4\nchart_marker = "ascii"\nmouse = false\n'
                          'color_depth = "256"\njobs_max_concurrent = 3\n\n[keymap]\n'
                          '"experiments.filter" = "f"\n"app.quit" = " q , ctrl+q "\n')
    s = load_settings(path)
    assert s.path == path
    assert (s.theme, s.refresh_hz, s.chart_marker, s.mouse, s.color_depth, s.jobs_max_concurrent) == (
        "nord", 4.0, "ascii", False, "256", 3)
    assert dict(s.keymap) == {"experiments.filter": "f", "app.quit": "q,ctrl+q"}


def test_config_path_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "c.toml"))
    assert config_path() == tmp_path / "c.toml"
    _cfg(tmp_path, "").rename(tmp_path / "c.toml")
    (tmp_path / "c.toml").write_text("jobs_max_concurrent = 5\n")
    assert configured_max_jobs() == 5
    monkeypatch.delenv(CONFIG_ENV)
    assert config_path().name == "config.toml" and "mlops-tui" in str(config_path())


@pytest.mark.parametrize("text, line, words", [
    ('theme = "nord"\nbogus = 1\n', 2, "unknown setting 'bogus'"),
    ('\n\nrefresh_hz = "fast"\n', 3, "refresh_hz must be a number from 0.2 to 10"),
    ("refresh_hz = 50\n", 1, "from 0.2 to 10"),
    ('chart_marker = "dots"\n', 1, 'chart_marker must be "braille" or "block" or "ascii"'),
    ('mouse = "no"\n', 1, "mouse must be true or false"),
    ("color_depth = 8\n", 1, "color_depth must be"),
    ("jobs_max_concurrent = 0\n", 1, "a whole number >= 1"),
    ("jobs_max_concurrent = true\n", 1, "a whole number >= 1"),
    ('keymap = "f"\n', 1, "keymap must be a table"),
    ('[keymap]\n"app.quit" = 3\n', 2, "must be a string of keys"),
    ('[keymap]\n\n"app.quit" = ""\n', 3, "must be a string of keys"),
    ('[keymap]\napp.quit = "x"\n', 2, 'quote binding ids'),
])
def test_bad_values_name_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = _cfg(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_settings(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}, line {line}: "), msg
    assert words in msg and "\n" not in msg


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = _cfg(tmp_path, 'theme = "nord"\nmouse = \n')
    with pytest.raises(InputError, match=re.escape(str(path)) + r": invalid TOML: .*line 2"):
        load_settings(path)


def test_unknown_binding_id_and_theme(tmp_path: Path) -> None:
    path = _cfg(tmp_path, 'theme = "nope"\n[keymap]\n"a.x" = "f"\n"jobs.kill" = "k"\n')
    s = load_settings(path)
    with pytest.raises(InputError, match=re.escape(f"{path}, line 1: unknown theme 'nope'")):
        check_names(s, themes={"nord", "textual-dark"})
    with pytest.raises(InputError) as err:
        check_names(s, binding_ids={"a.x", "jobs.cancel", "jobs.logs"})
    assert str(err.value).startswith(f"{path}, line 4: unknown binding id 'jobs.kill'")
    assert "jobs.cancel, jobs.logs" in str(err.value)
    check_names(load_settings(_cfg(tmp_path, '[keymap]\n"a.x" = "f"\n')), binding_ids={"a.x"})


def test_setting_below_keymap_header_is_explained(tmp_path: Path) -> None:
    s = load_settings(_cfg(tmp_path, '[keymap]\n"a.x" = "f"\ntheme = "nord"\n'))
    with pytest.raises(InputError, match="line 3: .*theme is a setting: move it above the"):
        check_names(s, binding_ids={"a.x"})


def test_default_text_loads_and_round_trips(tmp_path: Path) -> None:
    text = default_config_text()
    assert load_settings(_cfg(tmp_path, text)) == Settings()
    # Uncomment every setting line: the values written are the defaults themselves.
    active = re.sub(r"(?m)^# ([a-z_]+ = .*)$", r"\1", text)
    active = re.sub(r'(?m)^# ("experiments\.filter" = .*)$', r"\1", active)
    s = load_settings(_cfg(tmp_path, active))
    assert s == Settings(keymap={"experiments.filter": "f"}, jobs_max_concurrent=2)
    for name in ("theme", "refresh_hz", "chart_marker", "mouse", "color_depth", "jobs_max_concurrent"):
        assert find_line(active, name), f"{name} not in the default text"


def test_apply_environment_sets_color_system_once() -> None:
    env: dict[str, str] = {}
    apply_environment(Settings(color_depth="16"), env)
    assert env == {"TEXTUAL_COLOR_SYSTEM": "standard"}
    apply_environment(Settings(color_depth="truecolor"), env)
    assert env["TEXTUAL_COLOR_SYSTEM"] == "standard"  # a value already there wins
    empty: dict[str, str] = {}
    apply_environment(Settings(), empty)
    assert empty == {}
