"""A full image export against the sandbox: its files reach Le New Black through ImageUploadQueue and the upload
code, paced as the template's event source mapping paces them, never more uploads in flight than UploadConcurrency."""

from __future__ import annotations

import pytest

from connector.runs import RunStore
from sandbox.seed import build_seed
from sandbox.stack import LocalStack
from sandbox.template import load_template, upload_pacing
from tests.integration.conftest import NO_WAIT
from tests.integration.test_products import export

FILES = 5000


@pytest.mark.long_running
def test_a_5000_file_export_never_has_more_uploads_in_flight_than_upload_concurrency() -> None:
    concurrency = upload_pacing(load_template()).max_concurrency  # UploadConcurrency's default
    # Some 2.8 exported colours per model, 8 photos each: over 5 000 files of a few hundred bytes. Some 30 000 AWS
    # calls: moto answers them in this process (the same backends as its server, without HTTP).
    seed = build_seed(models=240, bad_rows=False)
    with LocalStack(seed, settings_document=NO_WAIT, aws_in_process=True) as stack:
        stack.fastmag.switches.photos_per_colour = 8
        export(stack, "products")
        result = export(stack, "images")
        staged = result["counters"]["sent"]
        assert staged >= FILES
        stack.lnb.latency_seconds = 0.002  # each upload lasts long enough for the next ones to overlap it
        stack.lnb.max_in_flight = 0

        answers = stack.deliver_s3_events()

        assert [answer["event"] for answer in answers] == ["record.sent"] * staged
        assert len(stack.lnb.images) == staged
        # The pace: as many at once as the setting allows, never more.
        assert stack.lnb.max_in_flight == stack.upload_queue.pacing.max_concurrency == concurrency
        record = RunStore(stack.table).get(result["run_id"])
        assert record is not None
        assert record.uploads is not None
        assert record.uploads.model_dump() == {"uploaded": staged, "failed": 0, "pending": 0}
