"""ImportOrdersFunction: LNB orders in Invoicing → Fastmag, exactly once, or blocked with a reason."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.flows import orders
from connector.observability import logger, metrics
from connector.runner import handle


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle("orders", orders.run, event)
