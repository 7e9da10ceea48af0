"""ReconcileFunction: compares Le New Black with what Fastmag gives now, reports the drift, repairs on request."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.observability import logger, metrics
from connector.runner import handler_for

run_reconcile = handler_for("reconcile")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_reconcile(event)
