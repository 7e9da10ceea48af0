"""ApiFunction: the export buttons, runs, previews and the order ledger (REST API behind the token authorizer)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.api.routes import app
from connector.observability import logger


# No metrics decorator: the API emits none (the runs it starts do, from their own functions).
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
