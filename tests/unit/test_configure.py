"""`connector settings --write|--show` and `secret --write`: validated before stored, versioned, never echoed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from connector import config, configure
from connector.cli import main
from connector.errors import SettingsError
from connector.flows import FLOWS

NAMES = {
    "SETTINGS_PARAMETER": "/brand/settings",
    "CREDENTIALS_SECRET_ID": "brand/credentials",
    "API_ACCESS_SECRET_ID": "brand/api-access",
}
CREDENTIALS = {"fastmag_user": "u", "fastmag_password": "pw-Zq9", "lnb_client_id": "c", "lnb_client_secret": "cs-Xk2"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    for name, value in NAMES.items():
        monkeypatch.setenv(name, value)
    config.environment.cache_clear()
    with mock_aws():
        yield
    config.environment.cache_clear()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def history(name: str) -> list[dict[str, Any]]:
    return list(boto3.client("ssm").get_parameter_history(Name=name)["Parameters"])


def test_an_invalid_document_is_never_written(aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"stock": {"safety_buffer": 2}}))
    bad.write_text(json.dumps({"stock": {"zero_guard_share": 3}}))
    assert cli(capsys, "settings", "--write", str(bad))[0] == 2
    with pytest.raises(boto3.client("ssm").exceptions.ParameterNotFound):
        boto3.client("ssm").get_parameter(Name=NAMES["SETTINGS_PARAMETER"])
    assert cli(capsys, "settings", "--write", str(good))[0] == 0
    code, _, err = cli(capsys, "settings", "--write", str(bad))
    assert code == 2
    assert "stock.zero_guard_share" in err and "nothing written" in err
    assert [entry["Version"] for entry in history(NAMES["SETTINGS_PARAMETER"])] == [1]


def test_each_written_version_is_kept_and_the_label_moves_to_the_newest(aws: None) -> None:
    ssm = boto3.client("ssm")
    name = NAMES["SETTINGS_PARAMETER"]
    assert configure.write_settings(ssm, name, '{"stock": {"safety_buffer": 1}}') == 1
    assert configure.write_settings(ssm, name, '{"stock": {"safety_buffer": 2}}') == 2
    labels = {entry["Version"]: entry.get("Labels", []) for entry in history(name)}
    assert labels == {1: [], 2: ["last-good"]}
    read = ssm.get_parameter(Name=configure.last_good(name))["Parameter"]
    assert json.loads(read["Value"]) == {"stock": {"safety_buffer": 2}}


def test_a_version_written_around_validation_is_never_read(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    ssm = boto3.client("ssm")
    name = NAMES["SETTINGS_PARAMETER"]
    configure.write_settings(ssm, name, '{"stock": {"safety_buffer": 4}}')
    ssm.put_parameter(Name=name, Value='{"stock": {"zero_guard_share": 3}}', Type="String", Overwrite=True)
    secrets = boto3.client("secretsmanager")
    configure.write_secret(secrets, NAMES["CREDENTIALS_SECRET_ID"], "credentials", json.dumps(CREDENTIALS))
    monkeypatch.setenv("PARAMETERS_MAX_AGE", "0")
    loaded, credentials = config.load_settings()
    assert loaded.stock.safety_buffer == 4
    assert credentials.fastmag_password.get_secret_value() == "pw-Zq9"
    view = configure.live_configuration(ssm, secrets, config.environment())
    assert view["settings"]["version"] == 1
    assert "2" in view["settings"]["ignored_newer_version"]


def test_secrets_are_validated_written_and_shown_masked(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    credentials, tokens, wrong = tmp_path / "c.json", tmp_path / "t.json", tmp_path / "w.json"
    credentials.write_text(json.dumps(CREDENTIALS))
    tokens.write_text(json.dumps({"api_tokens": ["tok-Vb7-Qm2Xv9LpR4sKd8WzN3bHj5Tg1Ry6"]}))
    # The API tokens in the credentials secret: refused, naming the field, not echoing any value.
    wrong.write_text(json.dumps({**CREDENTIALS, "api_tokens": ["tok-Vb7-Qm2Xv9LpR4sKd8WzN3bHj5Tg1Ry6"]}))
    code, out, err = cli(capsys, "secret", "--write", "credentials", str(wrong))
    assert code == 2 and "api_tokens" in err
    assert not any(value in out + err for value in ("pw-Zq9", "cs-Xk2", "tok-Vb7-Qm2Xv9LpR4sKd8WzN3bHj5Tg1Ry6"))
    assert cli(capsys, "secret", "--write", "credentials", str(credentials))[0] == 0
    code, out, _ = cli(capsys, "secret", "--write", "api-access", str(tokens))
    assert code == 0 and NAMES["API_ACCESS_SECRET_ID"] in out
    assert cli(capsys, "secret", "--write", "credentials", str(credentials))[0] == 0  # an update: a new version
    code, out, err = cli(capsys, "settings", "--show")
    assert code == 0
    assert not any(value in out + err for value in ("pw-Zq9", "cs-Xk2", "tok-Vb7-Qm2Xv9LpR4sKd8WzN3bHj5Tg1Ry6"))
    shown = json.loads(out)
    assert shown["credentials"]["document"]["fastmag_user"] == "u"
    assert shown["credentials"]["document"]["fastmag_password"] == "**********"
    assert shown["api-access"]["document"]["api_tokens"] == ["**********"]
    assert shown["settings"]["written"] is False
    stored = boto3.client("secretsmanager").get_secret_value(SecretId=NAMES["API_ACCESS_SECRET_ID"])
    assert json.loads(stored["SecretString"]) == {"api_tokens": ["tok-Vb7-Qm2Xv9LpR4sKd8WzN3bHj5Tg1Ry6"]}


def test_an_unknown_secret_kind_writes_nothing(aws: None) -> None:
    with pytest.raises(SettingsError, match="unknown secret"):
        configure.secret_name(config.environment(), "everything")
    with pytest.raises(SettingsError, match="unknown secret"):
        configure.write_secret(boto3.client("secretsmanager"), "x", "everything", "{}")


def test_the_authorizer_reads_only_the_api_access_secret(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The authorizer answers from api-access even when neither the settings nor the credentials exist."""
    from sandbox.handlers import FakeLambdaContext, handler_module

    monkeypatch.setenv("PARAMETERS_MAX_AGE", "0")
    document = json.dumps({"api_tokens": ["tok-Vb7-Qm2Xv9LpR4sKd8WzN3bHj5Tg1Ry6"]})
    configure.write_secret(boto3.client("secretsmanager"), NAMES["API_ACCESS_SECRET_ID"], "api-access", document)
    event = json.loads((Path(__file__).parents[2] / "events" / "authorizer_bearer.json").read_text())
    event["headers"]["Authorization"] = "Bearer tok-Vb7-Qm2Xv9LpR4sKd8WzN3bHj5Tg1Ry6"
    answer = handler_module("authorizer").lambda_handler(event, FakeLambdaContext("authorizer"))
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_a_generated_api_access_document_is_strong_private_and_written_once(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "api-access.json"
    code, out, _ = cli(capsys, "secret", "--generate", "api-access", str(target))
    assert code == 0 and "<ApiUrl>/exports/<flow>?code=" in out
    assert target.stat().st_mode & 0o777 == 0o600
    document = json.loads(target.read_text())
    assert {link["flow"] for link in document["link_codes"]} == set(FLOWS)
    values = [*document["api_tokens"], document["session_signing_key"], *(c["code"] for c in document["link_codes"])]
    assert len(set(values)) == len(values) and all(len(value) >= 32 for value in values)
    assert not any(value in out for value in values)
    # Never over an existing file; never the credentials (they come from Fastmag and LNB).
    assert cli(capsys, "secret", "--generate", "api-access", str(target))[0] == 2
    assert json.loads(target.read_text()) == document
    assert cli(capsys, "secret", "--generate", "credentials", str(tmp_path / "c.json"))[0] == 2
    assert cli(capsys, "secret", "--write", "api-access", str(target))[0] == 0


def test_a_weak_api_token_is_refused_when_written_and_when_read(
    aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARAMETERS_MAX_AGE", "0")
    weak = tmp_path / "weak.json"
    weak.write_text(json.dumps({"api_tokens": ["sandbox-button-token"]}))
    code, out, err = cli(capsys, "secret", "--write", "api-access", str(weak))
    assert code == 2
    assert "api_tokens.0: Value error, too weak: use at least 32 random characters" in err
    assert "sandbox-button-token" not in out + err
    # Written around the command (console, aws cli): the authorizer refuses to read it, with the same words.
    boto3.client("secretsmanager").create_secret(Name=NAMES["API_ACCESS_SECRET_ID"], SecretString=weak.read_text())
    with pytest.raises(SettingsError, match=r"api_tokens\.0: Value error, too weak"):
        config.load_api_access()
