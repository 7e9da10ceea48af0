"""ExportCustomersFunction: Fastmag B2B customers → Le New Black retailers, from the export button or the CLI."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.observability import logger, metrics
from connector.runner import handler_for

run_customers = handler_for("customers")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_customers(event)
