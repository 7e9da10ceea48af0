"""Le New Black's answers read without I/O: error bodies, token expiry, and batch answers tied to their items.

Every shape marked uncertain in lenewblack-api.md is read in all its known variants: batch item `status` or
`success`, error bodies in every shape seen, `expire_on` in several forms. The client (client.py) sends the
calls and hands what comes back to these functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import SecretStr

from connector.errors import LeNewBlackError
from connector.lenewblack.models import BatchKey, ItemKey, ItemOutcome, errors_summary, key_text


def normalize_errors(value: Any) -> dict[str, list[str]]:
    """Field errors as `{field: [messages]}`; a bare string or list becomes messages under the key ``""``."""
    if value is None or value in ("", [], {}):
        return {}
    if isinstance(value, Mapping):
        normalized: dict[str, list[str]] = {}
        for field, messages in value.items():
            texts = _texts(messages)
            if texts:
                normalized[str(field)] = texts
        return normalized
    texts = _texts(value)
    return {"": texts} if texts else {}


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Mapping):
        # A nested map (e.g. per-variant errors) is flattened into "key: message" lines.
        return [f"{key}: {text}" for key, inner in value.items() for text in _texts(inner)]
    if isinstance(value, list | tuple):
        return [text for inner in value for text in _texts(inner)]
    return [str(value)]


def parse_error_body(body: Any) -> tuple[str | None, dict[str, list[str]]]:
    """The remote message and field errors of an error body, whatever shape it has.

    Shapes seen in the SDKs: `{"message": "..."}`, `{"message": ["...", "..."]}`, `{"error": "..."}`,
    `{"error": {"message": "...", "errors": {...}}}`, and an `errors` map at top level.
    """
    if isinstance(body, str):
        return (body.strip() or None), {}
    if not isinstance(body, Mapping):
        return None, {}
    nested = body.get("error")
    field_errors = normalize_errors(body.get("errors"))
    if not field_errors and isinstance(nested, Mapping):
        field_errors = normalize_errors(nested.get("errors"))
    candidates = [body.get("message")]
    if isinstance(nested, Mapping):
        candidates.append(nested.get("message"))
    else:
        candidates.append(nested)
    for candidate in candidates:
        texts = _texts(candidate)
        if texts:
            return "; ".join(texts), field_errors
    return (errors_summary(field_errors) or None), field_errors


def parse_token_expiry(body: Mapping[str, Any], now: datetime) -> datetime | None:
    """When the token expires, as an aware UTC datetime; None when the answer says nothing usable.

    `expire_on` is an absolute date-time (`YYYY-MM-DD HH:MM:SS`, ISO 8601 with or without zone, assumed UTC
    when naive) or an epoch number; failing that, `expires_in` seconds.
    """
    expire_on = body.get("expire_on")
    if isinstance(expire_on, int | float) and not isinstance(expire_on, bool):
        return datetime.fromtimestamp(expire_on, UTC)
    if isinstance(expire_on, str) and expire_on.strip():
        text = expire_on.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return datetime.fromtimestamp(float(text), UTC)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    expires_in = body.get("expires_in")
    if isinstance(expires_in, int | float | str) and not isinstance(expires_in, bool):
        try:
            return now + timedelta(seconds=float(expires_in))
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class _Result:
    """One entry of a batch answer's `data`, read without assuming which item it is about."""

    success: bool
    errors: dict[str, list[str]]
    message: str | None
    result: dict[str, Any] | None


def _read_result(entry: Any) -> _Result:
    if not isinstance(entry, Mapping):
        return _Result(False, {}, f"unreadable batch result {entry!r}", None)
    status = entry.get("status")
    success = entry.get("success")
    if isinstance(status, str):
        accepted = status.strip().lower() == "success"
    elif isinstance(success, bool):
        accepted = success
    else:
        accepted = False
    errors = normalize_errors(entry.get("errors"))
    message = entry.get("message") if isinstance(entry.get("message"), str) else None
    if not accepted and not errors and not message:
        message = (
            f"Le New Black answered status {status!r} without errors"
            if isinstance(status, str)
            else "batch result carries neither `status` nor `success`"
        )
    result = entry.get("result")
    return _Result(accepted, errors, message, dict(result) if isinstance(result, Mapping) else None)


def parse_batch_response(
    body: Any,
    items: Sequence[Mapping[str, Any]],
    http_status: int | None,
    key: BatchKey,
    without_key: Literal["resend", "by_position"] = "resend",
) -> list[ItemOutcome]:
    """One outcome per input item, in input order, each tied to its item by the key a success result carries.

    - A success counts for an item only when its `result` names the item (`key`): at its own position first,
      elsewhere only when exactly one item not yet accepted has that key.
    - Errors name no item: they are attributed by position only when the answer has one result per item and
      every keyed success sits at its own position. Otherwise every item not accepted is "not attributable".
    - A success naming no item at all is accepted by position under that same condition with
      `without_key="by_position"`; with "resend" it is not accepted.

    An item not accepted is never recorded as pushed, so the flow reports it and sends it again next run.
    """
    data = body.get("data") if isinstance(body, Mapping) else None
    count = len(items)
    if not isinstance(data, list):
        return [
            _not_attributable(index, "unreadable batch answer: no `data` list", http_status) for index in range(count)
        ]
    if len(data) == count:
        in_order = _in_order_outcomes(data, items, http_status, key, without_key)
        if in_order is not None:
            return in_order
    return _matched_outcomes(data, items, http_status, key, without_key)


def _matched_outcomes(
    data: list[Any],
    items: Sequence[Mapping[str, Any]],
    http_status: int | None,
    key: BatchKey,
    without_key: Literal["resend", "by_position"],
) -> list[ItemOutcome]:
    """`parse_batch_response` for any answer: every success is matched against every item of the batch."""
    count = len(items)
    results = [_read_result(entry) for entry in data]
    names = _ItemNames(key, items)
    keyed = [
        (position, found)
        for position, result in enumerate(results)
        if result.success and (found := names.named_by(result.result)) is not None
    ]
    outcomes = {
        index: _accepted(index, results[position], http_status) for index, position in _keyed_claims(keyed).items()
    }
    if count == len(results) and all(position in found for position, found in keyed):
        return [
            outcomes.get(index) or _by_position(index, results[index], http_status, without_key)
            for index in range(count)
        ]
    order = "" if count != len(results) else " out of the request's order"
    reason = f"the batch answer has {len(results)} result(s){order} for {count} item(s)"
    return [outcomes.get(index) or _not_attributable(index, reason, http_status) for index in range(count)]


def _in_order_outcomes(
    data: list[Any],
    items: Sequence[Mapping[str, Any]],
    http_status: int | None,
    key: BatchKey,
    without_key: Literal["resend", "by_position"],
) -> list[ItemOutcome] | None:
    """`_matched_outcomes` for the usual answer, one result per item in request order, in one pass; None as soon
    as a success names anything but the item at its own position (the general matching then decides).

    When every keyed success names its own item, the general rules give each such item its success and every
    other item the result at its position: that is all this computes. A full push reads 1 000 answers of 100."""
    outcomes: list[ItemOutcome] = []
    for index, entry in enumerate(data):
        # The answer's usual entry, a success echoing its item, read without `_read_result`'s copies.
        if type(entry) is dict and entry.get("status") == "success" and type(echo := entry.get("result")) is dict:
            names = _names_own_item(key, echo, items[index])
            if names is False:
                return None
            if names:
                message = entry.get("message")
                outcomes.append(
                    ItemOutcome(
                        index=index,
                        accepted=True,
                        message=message if isinstance(message, str) else None,
                        http_status=http_status,
                        result=echo,  # validation copies it
                    )
                )
                continue
        result = _read_result(entry)
        if result.success and result.result is not None:
            names = _names_own_item(key, result.result, items[index])
            if names is False:
                return None
            if names:
                outcomes.append(_accepted(index, result, http_status))
                continue
        outcomes.append(_by_position(index, result, http_status, without_key))
    return outcomes


def _names_own_item(key: BatchKey, result: Mapping[str, Any], item: Mapping[str, Any]) -> bool | None:
    """Whether a success's `result` names `item` (what `BatchKey.of_item` and `of_result` would compare); None
    when it carries no key at all (`BatchKey.names_an_item`); False when it names something else."""
    own = True
    for name in key.required:
        echoed = result.get(name)
        sent = item.get(name)
        if echoed == sent and type(echoed) is str and echoed.strip():
            continue  # the text sent, echoed as it was (the usual answer): no need to read both
        echoed_text = key_text(echoed)
        if echoed_text is None:
            return None
        if own and echoed_text != key_text(sent):
            own = False
    if not own:
        return False
    for name in key.optional:
        sent = key_text(item.get(name))
        if sent is not None and key_text(result.get(name)) != sent:
            return False
    return True


class _ItemNames:
    """The batch's items by key, to find which items a success result names."""

    def __init__(self, key: BatchKey, items: Sequence[Mapping[str, Any]]) -> None:
        self._key = key
        self._positions: dict[ItemKey, list[int]] = {}
        for index, item in enumerate(items):
            item_key = key.of_item(item)
            if item_key is not None:
                self._positions.setdefault(item_key, []).append(index)
        # Items of one batch may be keyed by different fields (a price with its period, one without).
        self._shapes = {tuple(name for name, _ in item_key) for item_key in self._positions}

    def named_by(self, result: Mapping[str, Any] | None) -> list[int] | None:
        """Items a success result names (maybe none of this batch); None when it carries no key at all."""
        if result is None or not self._key.names_an_item(result):
            return None
        found = {
            index
            for shape in self._shapes
            if (result_key := BatchKey.of_result(result, shape)) is not None
            for index in self._positions.get(result_key, ())
        }
        return sorted(found)


def _keyed_claims(keyed: Sequence[tuple[int, list[int]]]) -> dict[int, int]:
    """Item index → position of the success that names it: the success at the item's own position first, else
    a success elsewhere naming exactly one item not yet accepted (two items with one key stay undecided)."""
    accepted: dict[int, int] = {}
    for position, found in keyed:
        if position in found:
            accepted[position] = position
    for position, found in keyed:
        still_open = [index for index in found if index not in accepted]
        if position not in found and len(still_open) == 1:
            accepted[still_open[0]] = position
    return accepted


def _accepted(index: int, result: _Result, http_status: int | None) -> ItemOutcome:
    return ItemOutcome(
        index=index, accepted=True, message=result.message, http_status=http_status, result=result.result
    )


def _by_position(
    index: int, result: _Result, http_status: int | None, without_key: Literal["resend", "by_position"]
) -> ItemOutcome:
    """The outcome of the item at `index` from the result at the same position (answers in request order)."""
    if not result.success:
        return ItemOutcome(
            index=index,
            accepted=False,
            errors=result.errors,
            message=result.message,
            http_status=http_status,
            result=result.result,
        )
    if without_key == "by_position":
        return _accepted(index, result, http_status)
    return _not_attributable(
        index,
        "Le New Black answered success without naming the item (setting lenewblack.batch_success_without_key)",
        http_status,
    )


def _not_attributable(index: int, reason: str, http_status: int | None) -> ItemOutcome:
    return ItemOutcome(
        index=index,
        accepted=False,
        message=f"outcome not attributable: {reason}; the item may or may not have been saved, it is sent again",
        http_status=http_status,
        attributable=False,
    )


def json_default(value: Any) -> Any:
    """Encode what `model_dump()` (python mode) leaves in a payload."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    raise TypeError(f"cannot send {type(value).__name__} to Le New Black as JSON")


# orjson rather than the standard library on the wire: a batch's body and LNB's answer (which echoes every item) cost
# a send thread most of its CPU, and orjson encodes a batch of products 13 times and reads its answer twice as fast.
# Dates go through `json_default`, as they did with `json.dumps`.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def encode_body(value: Any) -> bytes:
    """A request's JSON body, UTF-8, compact. What orjson refuses (an integer past 64 bits, a key that is not
    text) is written by `json.dumps`, which also raises the TypeError of what cannot be sent at all."""
    try:
        return orjson.dumps(value, default=json_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=json_default, ensure_ascii=False, separators=(",", ":")).encode()


def batch_failed(count: int, error: LeNewBlackError) -> list[ItemOutcome]:
    """The outcomes of a batch that failed as a whole: each item rejected with the call's status and message."""
    return [
        ItemOutcome(
            index=index,
            accepted=False,
            errors=error.field_errors,
            message=str(error),
            http_status=error.http_status,
        )
        for index in range(count)
    ]
