"""Settings that guard the stack: generated database passwords, the dashboard's own address and origins."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError

from transit_status.config import GENERATED_PASSWORDS, Settings, load_settings


def test_no_database_password_is_written_in_the_code() -> None:
    # The old defaults ("chicago", "london", "dbz-london") opened every checkout's databases alike.
    assert {Settings.model_fields[name].default.get_secret_value() for name in GENERATED_PASSWORDS} == {""}


def test_each_state_directory_gets_its_own_passwords_kept_private(tmp_path: Path) -> None:
    first = load_settings(state_dir=tmp_path / "one")
    again = load_settings(state_dir=tmp_path / "one")
    other = load_settings(state_dir=tmp_path / "two")
    for name in GENERATED_PASSWORDS:
        password = getattr(first, name).get_secret_value()
        assert len(password) >= 24
        assert getattr(again, name).get_secret_value() == password  # every process of a stack agrees
        assert getattr(other, name).get_secret_value() != password
        stored = first.secrets_dir / name
        assert stored.read_text().strip() == password
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.secrets_dir.stat().st_mode) == 0o700
    assert len({getattr(first, name).get_secret_value() for name in GENERATED_PASSWORDS}) == len(GENERATED_PASSWORDS)


def test_processes_starting_together_agree_on_one_password(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        passwords = set(
            pool.map(lambda _: load_settings(state_dir=tmp_path).postgres_password.get_secret_value(), range(32))
        )
    assert len(passwords) == 1
    assert [path.name for path in (tmp_path / "secrets").iterdir()] != []  # no scratch files left over
    assert all(not path.name.startswith(".") for path in (tmp_path / "secrets").iterdir())


def test_a_password_set_in_the_environment_wins_and_is_not_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRANSIT_POSTGRES_PASSWORD", "from-the-environment")
    settings = load_settings(state_dir=tmp_path)
    assert settings.postgres_password.get_secret_value() == "from-the-environment"
    assert not (settings.secrets_dir / "postgres_password").exists()
    # A child process gets the very values its parent uses.
    assert settings.as_env()["TRANSIT_MARIADB_PASSWORD"] == settings.mariadb_password.get_secret_value()


def test_an_unwritable_state_directory_is_a_clear_settings_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValidationError, match=r"cannot (read|keep a generated password in) .*a-file"):
        load_settings(state_dir=blocker / "state")


def test_the_dashboard_has_its_own_address_and_the_platform_stays_on_loopback(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, dashboard_host="0.0.0.0")
    assert settings.host == "127.0.0.1"
    assert settings.bootstrap_servers.startswith("127.0.0.1:")
    # A wildcard bind address is reached on loopback from this machine.
    assert settings.dashboard_url == f"http://127.0.0.1:{settings.dashboard_port}"
    assert settings.with_overrides(dashboard_host="::").dashboard_url == f"http://[::1]:{settings.dashboard_port}"
    named = settings.with_overrides(dashboard_host="192.0.2.7")
    assert named.dashboard_url == f"http://192.0.2.7:{settings.dashboard_port}"


def test_allowed_origins_are_checked_and_normalised(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path, dashboard_allowed_origins="https://Status.Example.org/, http://10.0.0.5:8888"
    )
    assert settings.dashboard_origins == {"https://status.example.org", "http://10.0.0.5:8888"}
    for bad in ("status.example.org", "https://status.example.org/page", "ftp://status.example.org"):
        with pytest.raises(ValidationError, match="is not an origin"):
            load_settings(state_dir=tmp_path, dashboard_allowed_origins=bad)
