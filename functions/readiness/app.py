"""ReadinessFunction: what will block orders or exports, read from both sides; daily, a button or the CLI; and
one key explained for the export API."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.explain import handle_explain
from connector.observability import logger, metrics
from connector.runner import handler_for

run_readiness = handler_for("readiness")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The export API's `GET /keys/{key}` (a synchronous read of both sides) comes here: this function holds the
    # credentials and reads both sides, writing neither; the API holds neither.
    if "explain" in event:
        return handle_explain(event)
    return run_readiness(event)
