"""Tests for shared/errors.py: one tree under AutoGLMError, stable codes, field-naming messages."""

from __future__ import annotations

import pytest

from shared import errors
from shared.errors import AutoGLMError, ContractError, PayloadError, PayloadTooLargeError, TopicError


def _error_classes() -> list[type[AutoGLMError]]:
    return [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == errors.__name__
    ]


def test_every_error_is_under_the_root() -> None:
    classes = _error_classes()
    assert len(classes) >= 15
    assert all(issubclass(cls, AutoGLMError) for cls in classes)


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in _error_classes()]
    assert len(codes) == len(set(codes))


def test_contract_errors() -> None:
    assert issubclass(PayloadTooLargeError, PayloadError)
    assert issubclass(PayloadError, ContractError)
    assert issubclass(TopicError, ContractError)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({}, "bad"),
        ({"field": "brightness"}, "brightness: bad"),
        ({"model": "LightState"}, "LightState: bad"),
        ({"field": "color.r", "model": "LightState"}, "LightState.color.r: bad"),
    ],
)
def test_payload_error_message_names_model_and_field(kwargs: dict[str, str], text: str) -> None:
    err = PayloadError("bad", **kwargs)
    assert str(err) == text
    assert err.field == kwargs.get("field")
    assert err.model == kwargs.get("model")
