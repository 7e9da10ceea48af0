"""ReadinessFunction: what will block orders or exports, read from both sides; daily, a button or the CLI."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.observability import logger, metrics
from connector.runner import handler_for

run_readiness = handler_for("readiness")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return run_readiness(event)
