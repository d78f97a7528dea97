"""Nesting is measured outside strings, escapes included; the limit is inclusive."""

from __future__ import annotations

import json

import pytest

from hub.app import jsondoc


@pytest.mark.parametrize(
    "doc, deep",
    [
        ({}, 1),
        ({"a": [1, {"b": []}]}, 4),
        ({"a": "[[[{{{"}, 1),
        ({"a": 'quote \\" then [[[ and \\\\'}, 1),
        ([[[[[]]]]], 5),
        ("just a string", 0),
    ],
)
def test_depth(doc, deep):
    assert jsondoc.depth(json.dumps(doc).encode()) == deep


def test_limit():
    at = b"[" * 64 + b"]" * 64
    assert jsondoc.loads(at) == json.loads(at)
    with pytest.raises(jsondoc.TooDeep):
        jsondoc.loads(b"[" + at + b"]")


def test_not_json_is_a_value_error():
    with pytest.raises(ValueError):
        jsondoc.loads(b"{nope")
    with pytest.raises(ValueError):
        jsondoc.loads(b"\xff\xfe\x00")
