"""Write helpers shared by every app's services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.db import models

ModelT = TypeVar("ModelT", bound=models.Model)


def model_update(*, instance: ModelT, fields: Sequence[str], data: Mapping[str, Any]) -> tuple[ModelT, bool]:
    """Set those of `fields` that `data` holds, validate them and save only them.

    Returns the instance and whether anything changed; an unchanged instance is not saved. A field
    with `auto_now` (updated_at) is saved along with any change.
    """
    changed = [name for name in fields if name in data and getattr(instance, name) != data[name]]
    if not changed:
        return instance, False
    for name in changed:
        setattr(instance, name, data[name])
    concrete = [field for field in instance._meta.concrete_fields if not field.primary_key]
    instance.full_clean(exclude=[field.name for field in concrete if field.name not in changed])
    auto_updated = [field.name for field in concrete if getattr(field, "auto_now", False)]
    instance.save(update_fields=[*changed, *auto_updated])
    return instance, True


def texts_given(**texts: str | None) -> dict[str, str]:
    """The texts a caller passed (None means "leave as is"), stripped: the `data` of a model_update."""
    return {name: text.strip() for name, text in texts.items() if text is not None}
