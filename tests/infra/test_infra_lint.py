"""The template passes cfn-lint with the serverless rules, exactly as `make validate` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sandbox.template import ROOT, TEMPLATE_PATH


def test_cfn_lint_with_serverless_rules_passes() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    completed = subprocess.run(
        [str(cfn_lint), "--append-rules", "cfn_lint_serverless.rules", "--", str(TEMPLATE_PATH)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_cfn_lint_sees_the_serverless_rules(tmp_path: Path) -> None:
    """The plug-in is loaded: a function without a destination and log group is reported."""
    template = tmp_path / "bare.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  BareFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Runtime: python3.13\n"
        "      Handler: app.lambda_handler\n"
        "      CodeUri: s3://bucket/key\n",
        encoding="utf-8",
    )
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    completed = subprocess.run(
        [str(cfn_lint), "--append-rules", "cfn_lint_serverless.rules", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert "WS1004" in completed.stdout
    assert "WS1000" in completed.stdout
