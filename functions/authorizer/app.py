"""AuthorizerFunction: the export API's token check (Bearer header or `token` query parameter)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.api.auth import authorize
from connector.config import load_settings
from connector.observability import logger


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _, secret = load_settings()
    return authorize(event, secret.api_tokens)
