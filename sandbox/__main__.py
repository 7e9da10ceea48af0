"""`python -m sandbox run <flow> [--preview] [--full] [--force]`, `python -m sandbox order REF …`: the
connector's command line (connector/cli.py) on the bundled sandbox, started for the command's duration.
`--seed clean` seeds it without the catalogue's deliberate defects (default: `--seed default`).

`make run` (every flow through its handler, with a summary) is `python -m sandbox.run`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from connector import cli
from connector.settings import Secret, Settings, parse_secret
from sandbox.credentials import SANDBOX_CREDENTIALS
from sandbox.seed import named_seed, take_seed_option
from sandbox.stack import LocalStack

_SEED = {"name": "default"}  # set from --seed before the command starts its sandbox


@contextmanager
def on_sandbox() -> Iterator[tuple[Settings, Secret]]:
    """Simulators and moto on 127.0.0.1, with the sandbox's settings and secret."""
    with LocalStack(named_seed(_SEED["name"])) as stack:
        yield stack.settings, parse_secret(SANDBOX_CREDENTIALS)


if __name__ == "__main__":
    arguments, _SEED["name"] = take_seed_option(sys.argv[1:])
    raise SystemExit(cli.main(arguments, sandbox=on_sandbox))
