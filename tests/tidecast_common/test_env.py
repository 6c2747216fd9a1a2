"""One way to read settings from the environment for the processes that are not Django."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidecast_common.env import Env, SettingsError


def test_unset_and_empty_values_are_the_default() -> None:
    env = Env({"EMPTY": "  "})
    assert env.integer("EMPTY", 5) == 5
    assert env.integer("UNSET", 6) == 6
    assert env.number("EMPTY", 1.5) == 1.5
    assert env.flag("EMPTY", default=True) is True
    assert env.text("EMPTY", "x") == "x"
    assert env.path("EMPTY", Path("/a")) == Path("/a")


def test_values_are_parsed_and_bounded() -> None:
    env = Env({"N": "42", "F": "0.25", "B": "Yes", "OFF": "off", "P": "/srv/x", "C": "record"})
    assert env.integer("N", 0, maximum=100) == 42
    assert env.number("F", 0.0) == 0.25
    assert env.flag("B") is True
    assert env.flag("OFF", default=True) is False
    assert env.path("P", Path()) == Path("/srv/x")
    assert env.choice("C", "transcode", ("transcode", "record")) == "record"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda env: env.integer("N", 0, maximum=10), "N must be between 0 and 10"),
        (lambda env: env.integer("WORD", 0), "WORD must be a whole number"),
        (lambda env: env.number("WORD", 0.0), "WORD must be a number"),
        (lambda env: env.number("NAN", 0.0), "NAN must be between"),
        (lambda env: env.flag("WORD"), "WORD must be on or off"),
        (lambda env: env.required("UNSET"), "UNSET is required"),
        (lambda env: env.choice("WORD", "a", ("a", "b")), "WORD must be one of a, b"),
    ],
)
def test_a_malformed_value_names_its_variable(call, message: str) -> None:
    env = Env({"N": "42", "WORD": "many", "NAN": "nan"})
    with pytest.raises(SettingsError, match=message):
        call(env)
