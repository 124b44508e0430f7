"""Checking config values: one helper every config's rule table goes through, and its dict round trip.

A config lists its rules as ``(name, value, ok, allowed)`` rows; `check` raises a `ConfigError`
on the first row whose predicate does not hold, worded "``stage name`` must be ``allowed``; got
``value``". `check_needs` refuses combinations, e.g. an option that would be ignored
(`ignored_unless`), naming the setting it needs; `config_from_dict` is the inverse of ``dataclasses.asdict`` that refuses
unknown keys. No stage is imported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeVar

from shardkit.errors import ConfigError, is_int, is_number

T = TypeVar("T")

#: one rule: (name shown, value received, predicate on the value, what the value must be)
Rule = tuple[str, Any, Callable[[Any], bool], str]
#: one need: (setting, whether its need is met, what it needs, what was found instead)
Need = tuple[str, bool, str, str]


def check(stage: str, rules: Iterable[Rule], *, separator: str = "; ") -> None:
    """Raise a `ConfigError` for the first rule whose value fails its predicate.

    A predicate that raises ``TypeError`` or ``ValueError`` (a string where a number belongs)
    counts as failing, so every wrong type gets the same message as a wrong value.

    Args:
        stage: prefix of every message (``"train"``, ``"reader"``; ``""`` for none).
        rules: ``(name, value, ok, allowed)`` rows, checked in order.
        separator: between what is allowed and what was received (the salience settings say
            ``", "``, as they always have).

    Raises:
        ConfigError: ``"{stage} {name} must be {allowed}; got {value!r}"``.
    """
    prefix = f"{stage} " if stage else ""
    for name, value, ok, allowed in rules:
        try:
            holds = bool(ok(value))
        except (TypeError, ValueError):
            holds = False
        if not holds:
            raise ConfigError(f"{prefix}{name} must be {allowed}{separator}got {value!r}")


def check_needs(stage: str, needs: Iterable[Need]) -> None:
    """Raise a `ConfigError` for the first setting that needs another one it did not get.

    Used for combinations: an option that would be ignored without another (``momentum``
    without ``optimizer='sgd'``), or one that does not work with another.

    Args:
        stage: prefix of every message (``"train"``; ``""`` for none).
        needs: ``(name, ok, needed, found)`` rows: the setting, whether its need is met, what
            it needs (``"optimizer='sgd'"``) and what was found instead (``"optimizer='adam'"``).

    Raises:
        ConfigError: ``"{stage} {name} needs {needed}; got {found}"``.
    """
    prefix = f"{stage} " if stage else ""
    for name, ok, needed, found in needs:
        if not ok:
            raise ConfigError(f"{prefix}{name} needs {needed}; got {found}")


def ignored_unless(given: Iterable[str], table: Mapping[str, tuple[bool, str, str]]) -> list[Need]:
    """`check_needs` rows for the given options that only take effect with another setting.

    Args:
        given: names of the options that were set.
        table: option → ``(takes effect, the setting it needs, what was found)``.

    Returns:
        One row per given option of the table, sorted by name; each says the option is ignored otherwise.
    """
    return [(name, table[name][0], f"{table[name][1]} (it is ignored otherwise)", table[name][2]) for name in sorted(set(given) & set(table))]


def config_from_dict(
    cls: type[T],
    data: Mapping[str, Any],
    what: str,
    nested: Mapping[str, type] | None = None,
    unknown_message: str = "{what} has unknown settings {unknown}; allowed: {allowed}",
) -> T:
    """The inverse of ``asdict`` for a config dataclass: unknown keys refused, nested configs rebuilt.

    JSON turns tuples into lists; lists become tuples again (every sequence setting is a tuple).
    A key that ``data`` lacks takes the value in the class's ``SAVED_BEFORE`` table, if any: what
    a config saved before that setting existed meant (not today's default).

    Args:
        cls: the config dataclass.
        data: its settings, e.g. as read back from JSON.
        what: how the message names the config (``"train config"``).
        nested: field → config class of fields that hold a config (a dict in ``data``); each is
            rebuilt with its own ``NESTED`` table if it has one.
        unknown_message: wording of the unknown-keys error (``{what}``, ``{unknown}``, ``{allowed}``).

    Raises:
        ConfigError: an unknown key, or a value the config refuses.
    """
    known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    data = {**getattr(cls, "SAVED_BEFORE", {}), **data}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(unknown_message.format(what=what, unknown=unknown, allowed=sorted(known)))
    nested = nested or {}
    values = {}
    for key, value in data.items():
        kind = nested.get(key)
        if kind is not None and isinstance(value, Mapping):
            value = config_from_dict(kind, value, f"{what} {key}", getattr(kind, "NESTED", None))
        elif isinstance(value, list):
            value = tuple(value)
        values[key] = value
    return cls(**values)


# ----- predicates ---------------------------------------------------------------------------


def integer(low: float = -math.inf, high: float = math.inf) -> Callable[[Any], bool]:
    """An int (not a bool) in ``[low, high]``."""
    return lambda value: is_int(value) and low <= value <= high


def number(low: float = -math.inf, high: float = math.inf, *, open_low: bool = False, open_high: bool = False) -> Callable[[Any], bool]:
    """A finite int or float (not a bool) in ``[low, high]`` (either end open if asked)."""

    def ok(value: Any) -> bool:
        if not is_number(value) or not math.isfinite(value):
            return False
        above = value > low if open_low else value >= low
        below = value < high if open_high else value <= high
        return above and below

    return ok


def positive(value: Any) -> bool:
    """A finite number > 0."""
    return number(0.0, open_low=True)(value)


def one_of(allowed: Iterable[Any]) -> Callable[[Any], bool]:
    """A member of ``allowed``."""
    choices = tuple(allowed)
    return lambda value: value in choices


def optional(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """None, or a value ``ok`` accepts."""
    return lambda value: value is None or ok(value)


def probability(value: Any) -> bool:
    """A real number in [0, 1]."""
    return number(0.0, 1.0)(value)


def ordered_pair(low: float = -math.inf) -> Callable[[Any], bool]:
    """A ``(lo, hi)`` pair of finite numbers with ``low <= lo <= hi``."""

    def ok(value: Any) -> bool:
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
            return False
        return all(number()(v) for v in value) and low <= value[0] <= value[1]

    return ok


def non_empty_subset(allowed: Iterable[Any]) -> Callable[[Any], bool]:
    """A non-empty sequence (not a string) whose items are all in ``allowed``."""
    choices = frozenset(allowed)
    return lambda value: isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0 and all(v in choices for v in value)


def holds(condition: bool) -> Callable[[Any], bool]:
    """A predicate that ignores the value: for rules about several settings at once."""
    return lambda _value: condition


class DictConfig:
    """Base of the config dataclasses: ``to_dict`` (JSON-ready) and ``from_dict`` (its inverse).

    A config names itself for messages in ``CONFIG_NAME``, lists its fields that hold another
    config in ``NESTED``, may reword the unknown-keys error with ``UNKNOWN_MESSAGE``, and names in
    ``SAVED_BEFORE`` the value a setting added later had implicitly in configs saved without it.
    """

    CONFIG_NAME: ClassVar[str] = "config"
    NESTED: ClassVar[dict[str, type]] = {}
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {}
    UNKNOWN_MESSAGE: ClassVar[str] = "{what} has unknown settings {unknown}; allowed: {allowed}"

    def to_dict(self) -> dict:
        """All settings as a plain, JSON-ready dict."""
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """Inverse of `to_dict`: unknown keys are an error, nested configs are rebuilt."""
        return config_from_dict(cls, data, cls.CONFIG_NAME, cls.NESTED, cls.UNKNOWN_MESSAGE)  # type: ignore[attr-defined]
