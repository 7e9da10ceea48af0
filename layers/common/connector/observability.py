"""The single Logger / Metrics / Tracer and the log field contract support queries (ARCHITECTURE §7).

Every line carries `flow`, `run_id` and `trigger` (appended once per run with `bind_run`). Record lines add
`event`, `key`, `reason` and where known `lnb_status`, `fastmag_number`, `http_status`, `duration_ms`.
Emails are masked wherever they appear in a logged value.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "connector"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="FastmagLeNewBlack", service=SERVICE)
tracer = Tracer(service=SERVICE)

_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])([A-Za-z0-9._%+\-]*)@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")
_SECRET_QUERY = re.compile(r"(access_token|client_secret|motpasse|password|token)=([^&\s]+)", re.IGNORECASE)

# Fields a record line may carry; the saved Logs Insights queries rely on these names.
RECORD_FIELDS = (
    "event",
    "key",
    "reason",
    "lnb_status",
    "fastmag_number",
    "http_status",
    "duration_ms",
    "remote",
    "method",
    "path",
    "old",
    "new",
)


def mask_email(text: str) -> str:
    """`jeanne.durand@example.fr` → `j***@example.fr`: support can still tell buyers apart by domain."""
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(3)}", text)


def mask_url(url: str) -> str:
    """Hide credentials carried in query strings (LNB's access_token, Fastmag's MotPasse)."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", url)


def masked(value: Any) -> Any:
    """Mask emails inside any JSON-like value before it is logged or stored for support."""
    if isinstance(value, str):
        return mask_email(value)
    if isinstance(value, Mapping):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


def bind_run(*, flow: str, run_id: str, trigger: str) -> None:
    """Put the run's identity on every following log line of this invocation."""
    logger.append_keys(flow=flow, run_id=run_id, trigger=trigger)


def log_record(event: str, key: str, *, reason: str | None = None, level: str = "INFO", **fields: Any) -> None:
    """One JSON line per record outcome (`record.sent`, `record.rejected`, `order.blocked`, …)."""
    extra: dict[str, Any] = {"event": event, "key": mask_email(key)}
    if reason is not None:
        extra["reason"] = mask_email(reason)
    extra.update({name: masked(value) for name, value in fields.items() if value is not None})
    message = f"{event} {extra['key']}" + (f": {extra['reason']}" if reason else "")
    log_at(level, message, extra)


def log_at(level: str, message: str, extra: dict[str, Any]) -> None:
    {"INFO": logger.info, "WARNING": logger.warning, "ERROR": logger.error}[level](message, extra=extra)


@contextmanager
def remote_call(remote: str, method: str, path: str) -> Iterator[dict[str, Any]]:
    """Time one remote call and log it (`event=remote.call`); the caller may set `http_status` in the dict."""
    outcome: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        yield outcome
    finally:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        logger.info(
            f"remote.call {remote} {method} {mask_url(path)}",
            extra={
                "event": "remote.call",
                "remote": remote,
                "method": method,
                "path": mask_url(path),
                "duration_ms": duration_ms,
                **outcome,
            },
        )
