"""ApiFunction: the export buttons, runs, previews and the order ledger (REST API behind the token authorizer)."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.api.routes import app
from connector.observability import logger


# No metrics decorator: the API emits none (the runs it starts do, from their own functions). The request id is
# every log line's correlation id, and error bodies carry it, so support finds the lines of a refused request.
@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
