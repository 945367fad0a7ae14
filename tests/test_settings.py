"""``convrec.settings``: the environment read in one place, flags overriding it there."""

from __future__ import annotations

from pathlib import Path

import pytest

from convrec.settings import Limits, Settings, get_settings, resolve_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CONVREC_DATA", "CONVREC_CACHE", "CONVREC_OFFLINE", "DATABASE_URL",
                 "CONVREC_HOST", "CONVREC_PORT", "XDG_CACHE_HOME", "CONVREC_DATASET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_without_environment(clean_env: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    assert settings.data_dir is None and settings.data_dir_origin is None
    assert settings.cache_dir == Path.home() / ".cache" / "convrec"
    assert (settings.offline, settings.host, settings.port) == (False, "127.0.0.1", 8000)
    assert settings.resolved_database_url == f"sqlite:///{settings.cache_dir / 'studio.sqlite3'}"
    assert settings.limits == Limits()
    assert "neither --data-dir nor CONVREC_DATA is set" in settings.describe_data_dir()


def test_environment_is_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("CONVREC_DATA", str(tmp_path / "data"))
    clean_env.setenv("CONVREC_CACHE", str(tmp_path / "cache"))
    clean_env.setenv("CONVREC_OFFLINE", "1")
    clean_env.setenv("DATABASE_URL", "postgresql://u@h/db")
    clean_env.setenv("CONVREC_HOST", "0.0.0.0")
    clean_env.setenv("CONVREC_PORT", "8123")
    settings = get_settings()
    assert settings.data_dir == tmp_path / "data" and settings.data_dir_origin == "CONVREC_DATA"
    assert settings.explicit_data_dir is None  # CONVREC_DATA is a default, not a demand
    assert settings.describe_data_dir() == f"CONVREC_DATA={tmp_path / 'data'}"
    assert settings.cache_dir == tmp_path / "cache" and settings.offline
    assert settings.resolved_database_url == "postgresql://u@h/db"
    assert (settings.host, settings.port) == ("0.0.0.0", 8123)


def test_flags_override_the_environment(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("CONVREC_DATA", str(tmp_path / "env"))
    clean_env.setenv("CONVREC_PORT", "8123")
    settings = get_settings(data_dir=str(tmp_path / "flag"), port=9000, host=None)
    assert settings.data_dir == tmp_path / "flag" and settings.data_dir_origin == "--data-dir"
    assert settings.explicit_data_dir == tmp_path / "flag"
    assert settings.describe_data_dir() == f"--data-dir {tmp_path / 'flag'}"
    assert settings.port == 9000 and settings.host == "127.0.0.1"  # None: flag not given
    unchanged = get_settings(data_dir=None)
    assert unchanged.data_dir == tmp_path / "env" and unchanged.data_dir_origin == "CONVREC_DATA"


def test_the_release_comes_from_the_flag_then_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert get_settings().dataset is None  # the studio's default release (ml-100k)
    clean_env.setenv("CONVREC_DATASET", " ml-latest-small ")
    assert get_settings().dataset == "ml-latest-small"
    assert get_settings(dataset="ml-1m").dataset == "ml-1m"
    assert get_settings(dataset=None).dataset == "ml-latest-small"


def test_resolve_settings_folds_a_data_dir_argument_in(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A notebook's ``data_dir=`` becomes the settings' ``--data-dir``; without one the
    settings (or the environment) decide."""
    clean_env.setenv("CONVREC_DATA", str(tmp_path / "env"))
    from_env = resolve_settings()
    assert (from_env.data_dir, from_env.data_dir_origin) == (tmp_path / "env", "CONVREC_DATA")
    given = Settings(cache_dir=tmp_path / "cache")
    assert resolve_settings(given) is given  # nothing to fold in: the same object
    folded = resolve_settings(given, data_dir=tmp_path / "arg")
    assert folded.explicit_data_dir == tmp_path / "arg"
    assert folded.cache_dir == tmp_path / "cache"  # everything else kept


def test_with_overrides_expands_the_home_folder() -> None:
    settings = Settings().with_overrides(data_dir="~/datasets")
    assert settings.data_dir == Path.home() / "datasets"
    assert settings.data_dir_origin == "--data-dir"


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("yes", True), ("0", False),
                                                 ("", False), ("False", False)])
def test_offline_flag_values(clean_env: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    clean_env.setenv("CONVREC_OFFLINE", value)
    assert get_settings().offline is expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CONVREC_PORT", "http", "CONVREC_PORT must be a port number from 1 to 65535, got 'http'"),
        ("CONVREC_PORT", "99999", "got '99999'"),
        ("CONVREC_PORT", "0", "got '0'"),
        ("CONVREC_OFFLINE", "maybe", "CONVREC_OFFLINE must be 1 or 0"),
    ],
)
def test_bad_environment_is_one_clear_line(
    clean_env: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValueError, match="Fix: ") as info:
        get_settings()
    assert message in str(info.value) and "\n" not in str(info.value)
