from pathlib import Path

import pytest

from storage import paths
from storage.config import OPTIONS, Config


def test_every_option_is_declared_with_type_default_and_help() -> None:
    assert len({o.name for o in OPTIONS}) == len(OPTIONS)
    for option in OPTIONS:
        assert isinstance(option.default, option.type), option.name
        assert option.help and "." in option.name


def test_defaults_save_and_load(home: Path) -> None:
    config = Config()
    assert config.get("capture.interval_seconds") == 3.0
    config.set("capture.interval_seconds", 5)  # an int is fine where a float is expected
    config.set("model.gguf_path", 'C:\\models\\my "best" model.gguf')
    config.save()
    assert paths.config_file() == home / "config.toml"
    loaded = Config.load()
    assert loaded.get("capture.interval_seconds") == 5.0
    assert loaded.get("model.gguf_path") == 'C:\\models\\my "best" model.gguf'
    assert loaded.get("search.default_k") == 10


def test_wrong_types_and_unknown_names_are_refused() -> None:
    config = Config()
    with pytest.raises(TypeError):
        config.set("search.default_k", "ten")
    with pytest.raises(TypeError):
        config.set("search.default_k", True)
    with pytest.raises(KeyError):
        config.set("search.colour", 1)


def test_a_broken_config_file_falls_back_to_defaults(home: Path) -> None:
    (home / "config.toml").write_text("[search]\ndefault_k = 'ten'\nnot toml at all [[[")
    assert Config.load().get("search.default_k") == 10
    (home / "config.toml").write_text("[search]\ndefault_k = 'ten'\nkeyword_weight = 2\n")
    loaded = Config.load()
    assert loaded.get("search.default_k") == 10 and loaded.get("search.keyword_weight") == 2.0


def test_engram_home_redirects_every_path(home: Path) -> None:
    for where in (paths.key_file(), paths.store_dir(), paths.blob_dir(), paths.log_dir(), paths.model_dir()):
        assert home in where.parents


def test_a_value_of_the_wrong_type_is_logged_by_key_and_type_never_its_content(
        home: Path, caplog: pytest.LogCaptureFixture) -> None:
    (home / "config.toml").write_text('[agents]\nuser_names = "Ana Quokkabridge"\n[search]\ndefault_k = [7, "x9z"]\n')
    with caplog.at_level("WARNING"):
        loaded = Config.load()
    assert loaded.get("agents.user_names") == [] and loaded.get("search.default_k") == 10
    assert "agents.user_names" in caplog.text and "must be a list" in caplog.text
    assert "search.default_k" in caplog.text and "must be an int" in caplog.text
    assert "Quokkabridge" not in caplog.text and "x9z" not in caplog.text
    with pytest.raises(TypeError) as caught:
        Config().set("agents.user_names", "Ana Quokkabridge")
    assert "Quokkabridge" not in str(caught.value)
