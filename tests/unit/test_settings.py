from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.config import load_local_settings
from connector.errors import SettingsError
from connector.settings import Settings, parse_secret, parse_settings
from tests.conftest import TaskLog


def test_empty_document_gives_sandbox_defaults() -> None:
    settings = parse_settings("{}")
    assert settings.fastmag.wire.charset == "cp1252"
    assert settings.fastmag.wire.user_parameter == "Compte"
    assert settings.lenewblack.order_statuses.to_export == "invoicing"
    assert settings.stock.key == "ean13"
    assert settings.stock.zero_guard_share == 0.2


def test_bad_field_is_named_with_its_path() -> None:
    with pytest.raises(SettingsError, match=r"stock\.zero_guard_share"):
        parse_settings({"stock": {"zero_guard_share": 3}})


def test_unknown_key_is_refused_so_typos_surface() -> None:
    with pytest.raises(SettingsError, match=r"stock\.safety_bufer"):
        parse_settings({"stock": {"safety_bufer": 2}})


def test_unknown_charset_and_bad_sku_format_are_refused() -> None:
    with pytest.raises(SettingsError, match="charset"):
        parse_settings({"fastmag": {"wire": {"charset": "klingon"}}})
    with pytest.raises(SettingsError, match="sku_format"):
        parse_settings({"sku_format": "{reference}-{season}"})


def test_order_layout_fields_must_come_from_the_vocabulary() -> None:
    with pytest.raises(SettingsError, match="header_fields"):
        parse_settings({"fastmag": {"order_transaction": {"header_fields": ["store", "colour_of_the_day"]}}})
    layout = parse_settings({"fastmag": {"order_transaction": {"header_fields": ["=WEB", "store"]}}})
    assert layout.fastmag.order_transaction.header_fields == ("=WEB", "store")


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="not JSON"):
        parse_settings("{nope")


def test_secret_errors_name_fields_but_never_echo_values() -> None:
    with pytest.raises(SettingsError) as error:
        parse_secret({"fastmag_user": "u", "fastmag_password": 12345678901, "lnb_client_id": "c"})
    message = str(error.value)
    assert "lnb_client_secret" in message
    assert "12345678901" not in message


def test_secret_values_do_not_print() -> None:
    secret = parse_secret(
        {"fastmag_user": "u", "fastmag_password": "hunter2", "lnb_client_id": "c", "lnb_client_secret": "s3"}
    )
    assert "hunter2" not in repr(secret)
    assert secret.fastmag_password.get_secret_value() == "hunter2"


def test_local_settings_file_and_secret_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"stock": {"stores": ["PARIS"]}}), encoding="utf-8")
    monkeypatch.setenv(
        "CONNECTOR_SECRET",
        json.dumps({"fastmag_user": "u", "fastmag_password": "p", "lnb_client_id": "c", "lnb_client_secret": "s"}),
    )
    settings, secret = load_local_settings(path)
    assert settings.stock.stores == ("PARIS",)
    assert secret.lnb_client_id == "c"
    assert load_local_settings(None)[0] == Settings()


@pytest.mark.parametrize(("strip_quotes", "quoting"), [(True, "strip"), (False, "none")])
def test_a_document_still_saying_strip_quotes_keeps_its_meaning_with_a_warning(
    strip_quotes: bool, quoting: str, task_log: TaskLog
) -> None:
    wire = parse_settings({"fastmag": {"wire": {"strip_quotes": strip_quotes, "charset": "latin-1"}}}).fastmag.wire
    assert (wire.quoting, wire.charset) == (quoting, "latin-1")
    [warning] = [line for line in task_log.lines if "strip_quotes" in line["message"]]
    assert warning["level"] == "WARNING"
    assert f"is read as '{quoting}'" in warning["message"]
    assert "fastmag.wire.quoting" in warning["message"]


def test_quoting_defaults_to_auto_and_strip_quotes_beside_it_or_not_a_boolean_is_refused(task_log: TaskLog) -> None:
    assert parse_settings("{}").fastmag.wire.quoting == "auto"
    for wire in ({"strip_quotes": True, "quoting": "auto"}, {"strip_quotes": "yes"}):
        with pytest.raises(SettingsError, match=r"fastmag\.wire: .*strip_quotes is replaced by fastmag\.wire\.quoting"):
            parse_settings({"fastmag": {"wire": wire}})
    with pytest.raises(SettingsError, match=r"fastmag\.wire\.quoting"):
        parse_settings({"fastmag": {"wire": {"quoting": "csv"}}})
    assert task_log.lines == []


def test_a_local_run_without_a_secret_is_refused_not_given_the_sandbox_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONNECTOR_SECRET", raising=False)
    monkeypatch.delenv("CONNECTOR_SECRET_FILE", raising=False)
    with pytest.raises(SettingsError, match="CONNECTOR_SECRET"):
        load_local_settings(None)
