"""Reading settings from the environment for the processes that are not Django.

Each process builds one frozen settings object from `Env(os.environ)` in its `__main__`; nothing
else reads `os.environ`. A malformed value stops the process at start with the variable's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """A missing or malformed environment variable."""


class Env:
    """Typed, checked reads of one environment mapping; an unset or empty variable is the default."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str = "") -> str:
        raw = self._raw(name)
        return default if raw is None else raw

    def required(self, name: str) -> str:
        raw = self._raw(name)
        if raw is None:
            raise SettingsError(f"{name} is required")
        return raw

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int = 1 << 31) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
        if not minimum <= value <= maximum:
            raise SettingsError(f"{name} must be between {minimum} and {maximum}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0, maximum: float = 3600.0) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, not {raw!r}") from None
        if not minimum <= value <= maximum:  # also refuses nan
            raise SettingsError(f"{name} must be between {minimum} and {maximum}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        word = raw.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise SettingsError(f"{name} must be on or off (1/0, true/false, yes/no), not {raw!r}")

    def path(self, name: str, default: Path) -> Path:
        raw = self._raw(name)
        return default if raw is None else Path(raw)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        return value
