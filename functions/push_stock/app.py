"""PushStockFunction: Fastmag available-to-sell → Le New Black, on the schedule, a button or the CLI."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.observability import logger, metrics
from connector.runner import handler_for

run_stock = handler_for("stock")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_stock(event)
