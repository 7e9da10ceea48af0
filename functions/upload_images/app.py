"""UploadImagesFunction: a batch of ImageUploadQueue (S3 events of images/ through EventBridge): each file present
goes to its Le New Black image slot, each file gone empties it; the files that failed go back to the queue."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from connector.config import load_settings
from connector.flows.image_upload import upload_batch
from connector.observability import logger, metrics
from connector.services import services_for


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(upload_batch(event, services_for(*load_settings()), context).response)
