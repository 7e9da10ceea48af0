"""The brand-owned configuration (ARCHITECTURE §5): written only after validation, shown with secrets masked.

`connector settings --write FILE` stores a settings document in its SSM parameter only when it validates, and
labels the version `last-good`: the functions read that label, so a document written any other way (console,
`aws ssm put-parameter`) never reaches a running flow. SSM keeps every version (parameter history).

`connector secret --write credentials|api-access FILE` stores one of the two secrets the same way (Secrets
Manager keeps the previous value as AWSPREVIOUS). Neither the value nor pydantic's echo of it is printed.

The names come from the environment (SETTINGS_PARAMETER, CREDENTIALS_SECRET_ID, API_ACCESS_SECRET_ID), which
`make configure` derives from the stack name as template.yaml does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from connector.access import new_api_access
from connector.config import Environment
from connector.errors import SettingsError
from connector.settings import LAST_GOOD, parse_secret_of_kind, parse_settings

SETTINGS_DESCRIPTION = "Connector settings document (JSON), written by `connector settings --write` after validation"
SECRET_DESCRIPTIONS = {
    "credentials": "Connector credentials (Fastmag, Le New Black), written by `connector secret --write credentials`",
    "api-access": "Connector export API tokens, link codes and session key: `connector secret --write api-access`",
}


def last_good(parameter_name: str) -> str:
    """The selector of the validated version of a settings parameter."""
    return f"{parameter_name}:{LAST_GOOD}"


def secret_name(environment: Environment, kind: str) -> str:
    names = {"credentials": environment.CREDENTIALS_SECRET_ID, "api-access": environment.API_ACCESS_SECRET_ID}
    if kind not in names:
        raise SettingsError(f"unknown secret {kind!r}; known: {', '.join(names)}")
    return names[kind]


def _compact(text: str) -> str:
    return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))


def write_settings(ssm: Any, name: str, text: str) -> int:
    """Validate `text` and store it as a new version labelled last-good; returns the version. An invalid document
    raises SettingsError (naming the bad fields) before anything is written."""
    parse_settings(text)
    # The document as written (only what differs from the defaults), so a release's new defaults still apply.
    answer = ssm.put_parameter(
        Name=name,
        Value=_compact(text),
        Type="String",
        # Every default SQL query can pass a standard parameter's 4 KB: the advanced tier only when needed.
        Tier="Intelligent-Tiering",
        Overwrite=True,
    )
    version = int(answer["Version"])
    # A label names one version of a parameter: labelling this one moves it from the previous one.
    ssm.label_parameter_version(Name=name, ParameterVersion=version, Labels=[LAST_GOOD])
    return version


def generate_secret(kind: str, path: Path, flows: tuple[str, ...]) -> None:
    """A fresh api-access document in a new file only the user can read (the values are never printed): one
    script token, one link code per flow, a session signing key, all from `secrets`."""
    if kind != "api-access":
        raise SettingsError("only the api-access secret is generated (the credentials come from Fastmag and LNB)")
    document = json.dumps(new_api_access(flows), indent=2)
    parse_secret_of_kind(kind, document)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SettingsError(f"{path} exists: give a new file (nothing overwritten)") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(document + "\n")


def write_secret(secrets: Any, name: str, kind: str, text: str) -> str:
    """Validate `text` as the `kind` secret and store it (created on first write); returns the version id.
    Errors name fields only, never values."""
    parse_secret_of_kind(kind, text)
    value = _compact(text)
    try:
        answer = secrets.put_secret_value(SecretId=name, SecretString=value)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        answer = secrets.create_secret(Name=name, SecretString=value, Description=SECRET_DESCRIPTIONS[kind])
    return str(answer["VersionId"])


def _settings_view(ssm: Any, name: str) -> dict[str, Any]:
    try:
        parameter = ssm.get_parameter(Name=last_good(name))["Parameter"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"ParameterNotFound", "ParameterVersionLabelNotFound"}:
            raise
        return {"parameter": name, "written": False, "hint": "make configure SETTINGS=FILE"}
    latest = ssm.get_parameter(Name=name)["Parameter"]
    view: dict[str, Any] = {
        "parameter": name,
        "version": parameter["Version"],
        "label": LAST_GOOD,
        "document": json.loads(parameter["Value"]),
    }
    if latest["Version"] != parameter["Version"]:
        view["ignored_newer_version"] = f"{latest['Version']} (not written by `settings --write`, so never read)"
    return view


def _secret_view(secrets: Any, name: str, kind: str) -> dict[str, Any]:
    try:
        answer = secrets.get_secret_value(SecretId=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        return {"secret": name, "written": False, "hint": f"make configure-secret SECRET={kind} FILE=…"}
    try:
        # SecretStr fields dump as "**********": the keys show, the values never.
        masked: Any = parse_secret_of_kind(kind, answer["SecretString"]).model_dump(mode="json")
    except SettingsError as error:
        masked = f"invalid: {error}"
    return {"secret": name, "version": answer["VersionId"], "document": masked}


def live_configuration(ssm: Any, secrets: Any, environment: Environment) -> dict[str, Any]:
    """What the functions read now: the last-good settings document, both secrets masked."""
    return {
        "settings": _settings_view(ssm, environment.SETTINGS_PARAMETER),
        "credentials": _secret_view(secrets, environment.CREDENTIALS_SECRET_ID, "credentials"),
        "api-access": _secret_view(secrets, environment.API_ACCESS_SECRET_ID, "api-access"),
    }
