"""Input fields that take what their schema says and nothing else."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StringOnlyMixin:
    """A JSON string, and only a string: DRF's CharField would turn 0 or 1.5 into "0" and "1.5",
    which the schema (`type: string`) says is invalid."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")  # type: ignore[attr-defined]
        return str(super().to_internal_value(data))  # type: ignore[misc]


class StrictCharField(StringOnlyMixin, serializers.CharField):
    pass


class StrictRegexField(StringOnlyMixin, serializers.RegexField):
    pass


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false, and only that: DRF's BooleanField would take 0, 1, "yes" and "on",
    which the schema (`type: boolean`) says are invalid."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data
