"""The vocabulary of stall patterns: the condition attributes an item may name, the dwell bands
a stall falls in, and an itemset's canonical form, id and display name.

An item is "attribute=value" (`node=PICKING`, `zone_humidity=high`); an itemset is kept in
canonical order: the node first, then ATTRIBUTES order. The id is derived from the canonical
items, so the same items always have the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

# Condition attributes (the node is the stratum; it is an item too).
ATTRIBUTES: tuple[str, ...] = (
    "warehouse",
    "zone",
    "channel",
    "sku_category",
    "zone_humidity",
    "equipment",
    "equipment_calibration",
    "broker",
    "broker_login_rate",
    "carrier",
    "carrier_load",
)
ORDER: tuple[str, ...] = ("node", *ATTRIBUTES)

# How far past its threshold a visit dwelt: the band describes a stall, it is not a condition.
BAND_OK, BAND_1_2, BAND_GT2 = "≤threshold", "1–2× threshold", ">2× threshold"

# Attributes whose value is an entity id: shown as the id alone.
_ENTITIES = frozenset({"node", "warehouse", "zone", "equipment", "broker", "carrier"})
_PHRASES = {
    ("equipment_calibration", "overdue"): "overdue calibration",
    ("equipment_calibration", "ok"): "calibration ok",
    ("equipment_calibration", "none"): "no calibration on record",
    ("zone_humidity", "high"): "humid zone",
    ("zone_humidity", "normal"): "normal humidity",
    ("broker_login_rate", "spike"): "broker login spike",
    ("broker_login_rate", "normal"): "normal broker logins",
    ("carrier_load", "high"): "carrier load high",
    ("carrier_load", "normal"): "normal carrier load",
}


def parse_items(text: str | Sequence[str]) -> tuple[str, ...]:
    """'node=PICKING, zone_humidity=high' (or a list) -> canonical sorted items."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    out: dict[str, str] = {}
    for part in parts:
        item = part.strip()
        if not item:
            continue
        attr, sep, value = item.partition("=")
        attr, value = attr.strip(), value.strip()
        if not sep or not value or attr not in ORDER:
            raise ValueError(
                f"not an item {item!r}: write attribute=value with an attribute among {', '.join(ORDER)}"
            )
        if attr in out:
            raise ValueError(f"attribute {attr} given twice")
        out[attr] = value
    if not out:
        raise ValueError("no items given")
    return canonical(out)


def canonical(items: Mapping[str, str]) -> tuple[str, ...]:
    """The items of an attribute -> value mapping in canonical order."""
    return tuple(f"{a}={items[a]}" for a in ORDER if a in items)


def as_dict(items: Sequence[str]) -> dict[str, str]:
    """attribute -> value of "attribute=value" items."""
    return dict(it.split("=", 1) for it in items)


def pattern_id(items: Sequence[str]) -> str:
    """'P' and 8 hex digits derived from the canonical items."""
    return "P" + hashlib.sha1("|".join(items).encode()).hexdigest()[:8]


def display_name(items: Sequence[str]) -> str:
    """The items in words: entity ids as they are, conditions as phrases ('humid zone')."""
    words = []
    for it in items:
        attr, _, value = it.partition("=")
        if attr in _ENTITIES:
            words.append(value)
        else:
            words.append(_PHRASES.get((attr, value), f"{attr.replace('_', ' ')} {value}"))
    return " · ".join(words)


__all__ = [
    "ATTRIBUTES",
    "BAND_1_2",
    "BAND_GT2",
    "BAND_OK",
    "ORDER",
    "as_dict",
    "canonical",
    "display_name",
    "parse_items",
    "pattern_id",
]
