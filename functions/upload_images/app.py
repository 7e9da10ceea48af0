"""UploadImagesFunction: one S3 event of images/ (through EventBridge): a created file goes to its Le New Black
image slot, a removed file empties it."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.config import load_settings
from connector.flows.image_upload import handle_file_event
from connector.observability import logger, metrics
from connector.services import services_for


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=S3EventBridgeNotificationEvent)
def lambda_handler(event: S3EventBridgeNotificationEvent, context: LambdaContext) -> dict[str, Any]:
    return handle_file_event(event, services_for(*load_settings()))
