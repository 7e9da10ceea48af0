"""Where the settings come from: the Lambda environment, Powertools Parameters in AWS, a file for the CLI.

The documents themselves (and their validation) are settings.py.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

from connector.access import ApiAccess
from connector.errors import SettingsError
from connector.settings import (
    LAST_GOOD,
    Credentials,
    Settings,
    parse_api_access,
    parse_secret,
    parse_settings,
)


class Environment(BaseModel):
    """The Lambda environment variables the template sets."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    STATE_TABLE: str = "connector-state"
    STAGING_BUCKET: str = "connector-staging"
    SETTINGS_PARAMETER: str = "/connector/settings"
    # The secrets' names, not their values.
    CREDENTIALS_SECRET_ID: str = "connector/credentials"  # noqa: S105
    API_ACCESS_SECRET_ID: str = "connector/api-access"  # noqa: S105
    PARAMETERS_MAX_AGE: int = 300
    FLOW_FUNCTIONS: str = "{}"
    # "lambda": the API invokes the flow functions named in FLOW_FUNCTIONS; "local" (make serve, tests): it runs
    # the handler folders named there in a thread of the same process.
    FLOW_INVOKER: Literal["lambda", "local"] = "lambda"
    # The schedules the status page reads: [{"flow": …, "name": …, "group": …}] (connector.schedules.ScheduleRef).
    SCHEDULES: str = "[]"
    # The brand's timezone: the pages show times in it (the UTC value on hover).
    BRAND_TIMEZONE: str = "Europe/Paris"

    @field_validator("BRAND_TIMEZONE")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"BRAND_TIMEZONE {value!r} is not an IANA timezone (e.g. Europe/Paris)") from error
        return value

    # The functions' log group, where a key's history is queried (keys.py); empty (sandbox): the task log files.
    LOG_GROUP: str = ""

    # UploadImagesFunction: ImageUploadQueue's maxReceiveCount, so the last delivery of a file records its failure.
    UPLOAD_MAX_RECEIVES: int = 3


@cache
def environment() -> Environment:
    return Environment.model_validate(dict(os.environ))


def load_settings() -> tuple[Settings, Credentials]:
    """The flows' settings and credentials through Powertools Parameters (cached for PARAMETERS_MAX_AGE seconds)."""
    from aws_lambda_powertools.utilities import parameters

    env = environment()
    # The validated version only (connector.configure labels it): a document written around validation never runs.
    document = parameters.get_parameter(f"{env.SETTINGS_PARAMETER}:{LAST_GOOD}", max_age=env.PARAMETERS_MAX_AGE)
    secret = parameters.get_secret(env.CREDENTIALS_SECRET_ID, max_age=env.PARAMETERS_MAX_AGE)
    return parse_settings(str(document)), parse_secret(str(secret))


def load_api_access() -> ApiAccess:
    """The export API tokens (the authorizer's only read), cached like the settings."""
    from aws_lambda_powertools.utilities import parameters

    env = environment()
    return parse_api_access(str(parameters.get_secret(env.API_ACCESS_SECRET_ID, max_age=env.PARAMETERS_MAX_AGE)))


def load_local_settings(path: Path | None, secret_file: Path | None = None) -> tuple[Settings, Credentials]:
    """The CLI's settings: a JSON file (or the defaults) and the credentials from `secret_file`, else from
    CONNECTOR_SECRET_FILE or CONNECTOR_SECRET. No secret given is an error: never a default one."""
    settings = parse_settings(_read(path, "settings")) if path else Settings()
    secret_file = secret_file or (
        Path(os.environ["CONNECTOR_SECRET_FILE"]) if os.environ.get("CONNECTOR_SECRET_FILE") else None
    )
    raw_secret = _read(secret_file, "secret") if secret_file else os.environ.get("CONNECTOR_SECRET")
    if not raw_secret:
        raise SettingsError(
            "no secret given: pass --secret FILE (the credentials secret's JSON, as make configure-secret takes it), "
            "or set CONNECTOR_SECRET_FILE or CONNECTOR_SECRET"
        )
    return settings, parse_secret(raw_secret)


def _read(path: Path, what: str) -> str:
    """A local file's text, or a SettingsError saying which file and why (not a traceback)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"cannot read the {what} file {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise SettingsError(f"cannot read the {what} file {path}: not UTF-8 text ({error.reason})") from error
