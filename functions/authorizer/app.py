"""AuthorizerFunction: who calls the export API (a Bearer token, or a session cookie with its CSRF token, or a
confirm page's ticket): connector.api.auth."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.api.auth import authorize
from connector.config import load_api_access
from connector.observability import logger


# Reads the api-access secret only (its role can read nothing else): not the settings, not the credentials.
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorize(event, load_api_access())
