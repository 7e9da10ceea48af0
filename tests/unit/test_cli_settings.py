"""`python -m connector settings --defaults | --schema`: an integrator starts from a file, not from the code."""

from __future__ import annotations

import json

import jsonschema
import pytest

from connector.cli import main
from connector.fastmag.queries import QUERIES
from connector.settings import Settings, parse_settings


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_defaults_print_the_whole_document_sql_included_and_it_validates_back_to_the_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "settings", "--defaults")
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert parse_settings(out) == Settings()
    assert document["fastmag"]["queries"] == {name: query.sql for name, query in QUERIES.items()}
    assert document["orders"]["missing_ean"] == "block"  # every section, not only the queries


def test_the_schema_accepts_the_defaults_and_refuses_what_the_model_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "settings", "--schema")
    assert (code, err) == (0, "")
    schema = json.loads(out)
    validator = jsonschema.Draft202012Validator(schema)
    defaults = Settings().model_dump(mode="json")
    validator.validate(defaults)
    typo = {**defaults, "stock": {**defaults["stock"], "zero_gaurd_share": 0.1}}
    out_of_range = {**defaults, "stock": {**defaults["stock"], "zero_guard_share": 3}}
    unknown_mode = {**defaults, "fastmag": {**defaults["fastmag"], "wire": {"transactions_per_call": "some"}}}
    for document in (typo, out_of_range, unknown_mode):
        assert not validator.is_valid(document)
        with pytest.raises(Exception, match="settings document"):
            parse_settings(document)
    stock = schema["$defs"]["FastmagQueries"]["properties"]["stock"]
    assert stock["default"] == QUERIES["stock"].sql
    assert "variant_id" in stock["description"]


@pytest.mark.parametrize("flags", [[], ["--defaults", "--schema"]])
def test_settings_without_exactly_one_choice_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    code, out, err = run(capsys, "settings", *flags)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")


def test_without_settings_the_layer_runs_nothing_and_points_to_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", "stock", "--preview")
    assert (code, out) == (2, "")
    assert "python -m sandbox run stock --preview" in err
