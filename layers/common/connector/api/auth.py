"""The export API's token check, run by the Lambda REQUEST authorizer in front of every method.

A token comes from `Authorization: Bearer <token>` (scripts) or a `token` query parameter (the Fastmag
buttons are plain links). No token answers 401 (API Gateway does so when the authorizer raises
"Unauthorized"); a wrong token is an explicit Deny, which API Gateway answers with 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from pydantic import SecretStr

from connector.observability import logger

# API Gateway turns exactly this exception message into a 401 answer.
UNAUTHORIZED = "Unauthorized"


class Unauthorized(Exception):
    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def presented_token(event: APIGatewayAuthorizerRequestEvent) -> str | None:
    header = (event.get("headers") and event.headers.get("Authorization")) or ""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = event.get("queryStringParameters") or {}
    token = str(query.get("token") or "").strip()
    return token or None


def matching_token(presented: str, tokens: Sequence[SecretStr]) -> int | None:
    """Index of the configured token that matches, compared in constant time against every one of them."""
    found: int | None = None
    for index, token in enumerate(tokens):
        expected = token.get_secret_value().encode()
        if expected and hmac.compare_digest(presented.encode(), expected) and found is None:
            found = index
    return found


def authorize(raw_event: dict[str, Any], tokens: Sequence[SecretStr]) -> dict[str, Any]:
    """The authorizer's answer: an IAM policy allowing or denying every method of this API and stage."""
    event = APIGatewayAuthorizerRequestEvent(raw_event)
    presented = presented_token(event)
    if presented is None:
        logger.info("api request without token", extra={"event": "api.unauthorized", "path": event.path})
        raise Unauthorized
    index = matching_token(presented, tokens)
    arn = event.parsed_arn
    principal = f"button-token-{index}" if index is not None else "unknown-token"
    policy = APIGatewayAuthorizerResponse(
        principal_id=principal,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        partition=arn.partition,
    )
    if index is None:
        logger.warning("api request with a wrong token", extra={"event": "api.denied", "path": event.path})
        policy.deny_all_routes()
    else:
        policy.allow_all_routes()
    return policy.asdict()
