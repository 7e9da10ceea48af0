"""Calling the real handlers in-process as Lambda would: each `functions/<dir>/app.py` under its own module
name, with a Lambda-like context, and the reset of the caches a handler keeps between invocations.

Kept apart from `sandbox.stack` (which imports moto and the simulators) so a process that only runs
handlers, such as the benchmark's, carries nothing but the connector.
"""

from __future__ import annotations

import importlib.util
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from aws_lambda_powertools.utilities import parameters

from connector import config, services

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-3"


@dataclass
class FakeLambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    invoked_function_arn: str = ""

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


_handlers: dict[str, ModuleType] = {}


def handler_module(function_dir: str) -> ModuleType:
    """Import functions/<dir>/app.py under its own module name, so every app.py coexists in one process."""
    if function_dir not in _handlers:
        path = ROOT / "functions" / function_dir / "app.py"
        spec = importlib.util.spec_from_file_location(f"functions_{function_dir}_app", path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _handlers[function_dir] = module
    return _handlers[function_dir]


def forget_cached_clients() -> None:
    """Powertools and the services cache clients bound to an endpoint; a new stack has a new endpoint."""
    config.environment.cache_clear()
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()
    services.forget()
