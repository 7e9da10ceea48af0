"""The local stack: both simulators and moto on 127.0.0.1, the template's resources, the real handlers.

Used by `make run`, `make serve`, the CLI's sandbox mode, the integration tests and the benchmarks, so
they all exercise the same code the Lambda functions run.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import boto3
import requests
from moto import backends, mock_aws
from moto.dynamodb.responses import DynamoHandler
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer

from connector import configure, settings
from connector.config import load_settings
from connector.flows.image_upload import UploadBatch, upload_batch
from connector.observability import metrics
from connector.previews import PreviewStore
from connector.services import services_for
from sandbox.credentials import SANDBOX_API_ACCESS, SANDBOX_CREDENTIALS
from sandbox.fastmag_sim import FastmagSimulator
from sandbox.handlers import REGION, ROOT, FakeLambdaContext, forget_cached_clients, handler_module
from sandbox.lnb_sim import LeNewBlackSimulator
from sandbox.s3_events import S3Changes
from sandbox.seed import Seed, build_seed, lnb_orders
from sandbox.template import dynamodb_table_spec, load_template, schedules, upload_pacing
from sandbox.upload_queue import UploadQueue, sqs_event

_METRICS_FLUSH = threading.Lock()

STACK_NAME = "connector"


def _list_moto_modules_once() -> None:
    """moto's server finds each request's service by listing its package directory (a listdir and some 200 stats
    per request, most of a small request's time); the package does not change while the process runs."""
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


_list_moto_modules_once()


def _conditional_writes_atomic() -> None:
    """DynamoDB's conditional writes and S3's `If-Match`/`If-None-Match` puts are atomic; moto checks the condition
    and then writes, and a thread switch in between lets two concurrent writers both win (16 threads racing one
    `attribute_not_exists` update had several winners in 17 of 30 trials). One lock per process around those
    requests gives the emulation the atomicity the connector's locks, run records and ledger rely on."""
    atomic = threading.RLock()

    def serialised[**P, R](request: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(request)
        def locked(*args: P.args, **kwargs: P.kwargs) -> R:
            with atomic:
                return request(*args, **kwargs)

        return locked

    DynamoHandler.call_action = serialised(DynamoHandler.call_action)  # type: ignore[method-assign]
    S3Response.put_object = serialised(S3Response.put_object)  # type: ignore[method-assign]


_conditional_writes_atomic()


class LocalStack:
    """Context manager: simulators + moto + resources; environment variables set as Lambda would."""

    def __init__(
        self,
        seed: Seed | None = None,
        *,
        settings_document: dict[str, Any] | None = None,
        fastmag_options: dict[str, Any] | None = None,
        lnb_options: dict[str, Any] | None = None,
        orders: int = 6,
        upload_concurrency: int | None = None,
        aws_in_process: bool = False,
    ) -> None:
        """`aws_in_process`: moto answers boto3 inside this process (no endpoint, no HTTP) instead of as a server
        on 127.0.0.1; the same moto backends, several times faster per call, for tests that make thousands of AWS
        calls in this process. Other processes (the CLI's) cannot reach such a stack."""
        self.seed = seed if seed is not None else build_seed()
        self._extra_settings = settings_document or {}
        self.fastmag = FastmagSimulator(self.seed, **(fastmag_options or {}))
        self.lnb = LeNewBlackSimulator(**(lnb_options or {}))
        self._orders = orders
        self._moto = None if aws_in_process else ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._mock_aws = mock_aws() if aws_in_process else None
        self.aws_endpoint: str | None = None
        self._saved_env: dict[str, str | None] = {}
        self.names = {
            "STATE_TABLE": "connector-state",
            "STAGING_BUCKET": "connector-staging",
            "SETTINGS_PARAMETER": "/connector/settings",
            "CREDENTIALS_SECRET_ID": "connector/credentials",
            "API_ACCESS_SECRET_ID": "connector/api-access",
        }
        self._s3_changes = S3Changes()
        pacing = upload_pacing(load_template())
        if upload_concurrency is not None:
            pacing = replace(pacing, max_concurrency=upload_concurrency)
        self.upload_queue = UploadQueue(pacing, self.upload_batch)
        # The template's schedules as a first deploy makes them (parameter defaults: disabled).
        self.schedules = schedules(load_template(), STACK_NAME)

    # --- life cycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
        self.fastmag.__enter__()
        self.lnb.__enter__()
        for order in lnb_orders(self.seed, count=self._orders):
            self.lnb.add_order(order)
        if self._moto is not None:
            self._moto.start()
            host, port = self._moto.get_host_and_port()
            self.aws_endpoint = f"http://{host}:{port}"
            # moto keeps its state per process, not per server: start every stack from an empty account.
            requests.post(f"{self.aws_endpoint}/moto-api/reset", timeout=10).raise_for_status()
            self._set_env({"AWS_ENDPOINT_URL": self.aws_endpoint})
        elif self._mock_aws is not None:
            self._unset_env("AWS_ENDPOINT_URL")  # boto3 must not send to a server: moto answers it here
            self._mock_aws.start()  # from an empty account, as the reset above
        self._set_env(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "POWERTOOLS_SERVICE_NAME": "connector",
                "POWERTOOLS_METRICS_NAMESPACE": "FastmagLeNewBlack",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "PARAMETERS_MAX_AGE": "0",
                "UPLOAD_MAX_RECEIVES": str(self.upload_queue.pacing.max_receives),
                **self.names,
                "SCHEDULES": json.dumps([{"flow": s["flow"], "name": s["Name"]} for s in self.schedules]),
            }
        )
        forget_cached_clients()
        self._create_resources()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._moto is not None:
                self._moto.stop()
            if self._mock_aws is not None:
                self._mock_aws.stop()
        finally:
            self.lnb.__exit__(None, None, None)
            self.fastmag.__exit__(None, None, None)
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            forget_cached_clients()

    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _unset_env(self, name: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ.pop(name, None)

    def _create_resources(self) -> None:
        template = load_template()
        self.dynamodb.create_table(TableName=self.names["STATE_TABLE"], **dynamodb_table_spec(template))
        self.s3.create_bucket(
            Bucket=self.names["STAGING_BUCKET"], CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        scheduler = boto3.client("scheduler")
        for schedule in self.schedules:
            scheduler.create_schedule(
                Name=schedule["Name"],
                ScheduleExpression=schedule["ScheduleExpression"],
                ScheduleExpressionTimezone=schedule["ScheduleExpressionTimezone"],
                State=schedule["State"],
                FlexibleTimeWindow={"Mode": "OFF"},
                # Nothing fires in the sandbox: moto keeps schedules but never invokes their targets.
                Target={
                    "Arn": f"arn:aws:lambda:{REGION}:123456789012:function:{STACK_NAME}-{schedule['flow']}",
                    "RoleArn": f"arn:aws:iam::123456789012:role/{schedule['Name']}",
                    "Input": schedule["Input"],
                },
            )
        # The brand-owned configuration is not the stack's: written as `make configure` does (validated, labelled).
        configure.write_settings(
            boto3.client("ssm"), self.names["SETTINGS_PARAMETER"], json.dumps(self.settings_document())
        )
        secrets = boto3.client("secretsmanager")
        configure.write_secret(
            secrets, self.names["CREDENTIALS_SECRET_ID"], "credentials", json.dumps(self.secret_document())
        )
        configure.write_secret(
            secrets, self.names["API_ACCESS_SECRET_ID"], "api-access", json.dumps(self.api_access_document())
        )

    def set_schedule_state(self, name: str, state: str) -> None:
        """Enable or disable one of the template's schedules, as the console or a deploy would."""
        scheduler = boto3.client("scheduler")
        current = scheduler.get_schedule(Name=name, GroupName="default")
        kept = ("ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target", "GroupName")
        scheduler.update_schedule(Name=name, State=state, **{key: current[key] for key in kept})

    # --- settings ------------------------------------------------------------------------------------------------

    def settings_document(self) -> dict[str, Any]:
        document = _deep_merge(
            {
                "fastmag": {"base_url": self.fastmag.url, "photos": {"cdn_base_url": self.fastmag.url}},
                "lenewblack": {"base_url": self.lnb.url},
                # The sandbox takes every order; a deployment decides its go-live cut-off (README, go-live).
                "orders": {"not_before": None},
            },
            self._extra_settings,
        )
        settings.parse_settings(document)  # fail here, with the field named, rather than in a handler
        return document

    def secret_document(self) -> dict[str, Any]:
        """The credentials secret (the flows' logins)."""
        return dict(SANDBOX_CREDENTIALS)

    def api_access_document(self) -> dict[str, Any]:
        """The api-access secret (the export buttons' tokens)."""
        return dict(SANDBOX_API_ACCESS)

    def configure(self, overrides: dict[str, Any]) -> None:
        """Change the settings document, as an integrator would in SSM."""
        self._extra_settings = _deep_merge(self._extra_settings, overrides)
        configure.write_settings(
            boto3.client("ssm"), self.names["SETTINGS_PARAMETER"], json.dumps(self.settings_document())
        )
        forget_cached_clients()

    @property
    def settings(self) -> settings.Settings:
        return settings.parse_settings(self.settings_document())

    # --- AWS -------------------------------------------------------------------------------------------------

    @property
    def dynamodb(self) -> Any:
        return boto3.client("dynamodb")

    @property
    def s3(self) -> Any:
        return boto3.client("s3")

    @property
    def table(self) -> Any:
        return boto3.resource("dynamodb").Table(self.names["STATE_TABLE"])

    def invoke(self, function_dir: str, event: dict[str, Any]) -> Any:
        """Call a real handler as Lambda would, with a Lambda-like context."""
        module = handler_module(function_dir)
        return module.lambda_handler(event, FakeLambdaContext(function_dir))

    def deliver_s3_events(
        self, prefix: str = "images/", *, progress: Callable[[int, int], None] | None = None
    ) -> list[Any]:
        """What S3 events do in AWS (moto sends none): each object created, replaced or removed under `prefix`
        since the previous delivery goes through ImageUploadQueue to the upload code, paced as the template's
        event source mapping paces it (`upload_queue`); returns each file's answer, a file whose deliveries all
        failed as `{"event": "record.failed", "reason": …}` (it is then in `upload_queue.dead_letters`).
        `progress(done, total)` is called as files are settled: make run's progress bar."""
        events = self._s3_changes.events(self.s3, self.names["STAGING_BUCKET"], prefix)
        return self.upload_queue.deliver(events, progress=progress)

    def upload_batch(self, sqs_event: dict[str, Any]) -> UploadBatch:
        """One batch of ImageUploadQueue through the code UploadImagesFunction runs; its metrics flushed at the end,
        as the handler's `log_metrics` does."""
        try:
            return upload_batch(sqs_event, services_for(*load_settings()), FakeLambdaContext("upload_images"))
        finally:
            # The sandbox's upload "containers" are threads sharing one Metrics object (a Lambda container runs one
            # batch at a time): a flush checks the set is not empty, then serialises it, and a flush in another
            # thread in between emptied it ("Must contain at least one metric").
            with _METRICS_FLUSH:
                metrics.flush_metrics()

    def upload(self, event: dict[str, Any], *, receives: int = 1) -> dict[str, Any]:
        """One S3 event, alone in its batch, delivered for the `receives`-th time: its answer, or the error that
        sends it back to the queue."""
        batch = self.upload_batch(sqs_event(event, receives=receives))
        for error in batch.errors.values():
            raise error
        (answer,) = batch.answers.values()
        return answer

    def run_record(self, run_id: str) -> dict[str, Any]:
        item = self.table.get_item(Key={"pk": f"RUN#{run_id}", "sk": "RUN"}, ConsistentRead=True).get("Item")
        if item is None:
            raise KeyError(f"no run {run_id}")
        return dict(item)

    def preview_lines(self, run_id: str) -> list[dict[str, Any]]:
        return list(PreviewStore(self.s3, self.names["STAGING_BUCKET"]).read(run_id))

    def event(self, name: str, **changes: Any) -> dict[str, Any]:
        """A sample event from events/, with some fields changed."""
        document = json.loads((ROOT / "events" / f"{name}.json").read_text(encoding="utf-8"))
        return {**document, **changes}


def _deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
