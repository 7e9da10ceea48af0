"""ExportPricesFunction: the prices export, started by the export API (asynchronous invoke) or the CLI."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.observability import logger, metrics
from connector.runner import handler_for

run_prices = handler_for("prices")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_prices(event)
