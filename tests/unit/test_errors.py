"""`errors.describe`: one line naming the bad fields, never the values that were sent."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from connector.errors import describe, field_problems


class Buyer(BaseModel):
    email: str = Field(pattern=r"^[^@]+@[^@]+$")
    age: int = Field(ge=0)


def _error(model: type[BaseModel], data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return caught.value


def test_each_field_is_named_with_its_message_and_no_input_is_echoed() -> None:
    error = _error(Buyer, {"email": "secret-value@@example", "age": "hunter2"})
    text = describe(error)
    assert text.startswith("email: ") and "; age: " in text
    assert "secret-value" not in text and "hunter2" not in text


def test_fields_only_names_the_fields() -> None:
    error = _error(Buyer, {"email": "hunter2", "age": -1})
    assert describe(error, with_messages=False) == "email, age"


def test_an_error_on_the_whole_document_is_named_by_root() -> None:
    error = _error(Buyer, "hunter2")
    assert describe(error, root="(document)").startswith("(document): ")
    assert describe(error).startswith(": ")


def test_invalid_json_names_the_document_not_a_character_position() -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(Buyer).validate_json('{"email": "hunter2"')
    [(field, message)] = field_problems(caught.value, root="body")
    assert field == "body" and "hunter2" not in message
