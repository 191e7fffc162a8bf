"""The prices file: every price with its value, unit, date and source, checked before anything is computed.

A missing or negative price stops the lab with `ParameterError` naming it: a cost computed from a price
that is not there would be a made-up number. The shipped file (`prices.yaml` beside this module) holds
dated example values that the user replaces.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import ParameterError

DEFAULT_PRICES_FILE = Path(__file__).with_name("prices.yaml")

# name -> (unit after the currency, what it prices); all required except the optional ones
PRICE_UNITS = {
    "cpu_hour": ("hour", "a CPU machine like the one the labs ran on, per hour"),
    "gpu_hour": ("hour", "a GPU machine, per hour"),
    "api_input_per_million": ("million tokens", "a hosted API's input tokens (outside comparison)"),
    "api_output_per_million": ("million tokens", "a hosted API's output tokens (outside comparison)"),
    "label": ("label", "one feedback label"),
    "engineer_hour": ("hour", "one engineer hour"),
}
OPTIONAL = frozenset({"engineer_hour"})


@dataclass(frozen=True)
class Price:
    name: str
    value: float | None  # None only for an optional price left out
    unit: str
    date: str
    source: str


@dataclass(frozen=True)
class Prices:
    """The checked prices, the currency they share, and optional engineer hours per approach."""

    items: dict[str, Price]
    currency: str
    engineer_hours: dict[str, float] = field(default_factory=dict)
    path: str = ""

    def __getitem__(self, name: str) -> float:
        """The value of a price (0 for an optional one left out)."""
        value = self.items[name].value
        return 0.0 if value is None else value

    def hour(self, device: str) -> float:
        return self["gpu_hour" if device == "gpu" else "cpu_hour"]

    def priced(self) -> list[str]:
        """Names of the prices that have a value (the ones a sensitivity analysis varies)."""
        return [n for n, p in self.items.items() if p.value is not None]

    def scaled(self, name: str, factor: float) -> "Prices":
        """The same prices with one of them multiplied by `factor`."""
        item = self.items[name]
        value = None if item.value is None else item.value * factor
        return replace(self, items={**self.items, name: replace(item, value=value)})

    def frame(self):
        import pandas as pd

        return pd.DataFrame([{"price": p.name, "value": p.value, "unit": p.unit, "date": p.date, "source": p.source}
                             for p in self.items.values()]).set_index("price")


def _fail(path, message: str):
    raise ParameterError(f"prices file {path}: {message}")


def _price(path, name: str, entry: Any) -> Price:
    unit_tail, what = PRICE_UNITS[name]
    if entry is None and name in OPTIONAL:
        return Price(name, None, f"?/{unit_tail}", "", "")
    if not isinstance(entry, dict):
        _fail(path, f"price {name!r} ({what}) is missing; give value, unit, date and source")
    value = entry.get("value")
    if value is None and name not in OPTIONAL:
        _fail(path, f"price {name!r} ({what}) has no value")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            _fail(path, f"price {name!r} = {value!r} is not a number")
        if value < 0:
            _fail(path, f"price {name!r} = {value} is negative")
    unit = str(entry.get("unit") or "")
    if "/" not in unit or unit.split("/", 1)[1].strip().lower() != unit_tail:
        _fail(path, f"price {name!r} has unit {unit!r}; expected '<currency>/{unit_tail}'")
    for key in ("date", "source"):
        if value is not None and not str(entry.get(key) or "").strip():
            _fail(path, f"price {name!r} has no {key}: say when and where the value comes from")
    return Price(name, None if value is None else float(value), unit, str(entry.get("date") or ""),
                 " ".join(str(entry.get("source") or "").split()))


def load_prices(path: str | Path | None = None) -> Prices:
    """Read and check a prices file (None: the shipped example file)."""
    import yaml

    path = Path(path).expanduser() if path else DEFAULT_PRICES_FILE
    if not path.is_file():
        raise ParameterError(f"parameter 'prices_file' = {str(path)!r} does not exist; allowed: a YAML file like "
                             f"{DEFAULT_PRICES_FILE}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        _fail(path, f"not valid YAML ({err})")
    entries = doc.get("prices") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        _fail(path, "needs a 'prices:' mapping of name -> {value, unit, date, source}")
    unknown = sorted(set(entries) - set(PRICE_UNITS))
    if unknown:
        _fail(path, f"unknown price(s) {unknown}; allowed: {list(PRICE_UNITS)}")
    items = {name: _price(path, name, entries.get(name)) for name in PRICE_UNITS}
    currencies = {p.unit.split("/", 1)[0].strip() for p in items.values() if p.value is not None}
    if len(currencies) != 1:
        _fail(path, f"prices must share one currency, found {sorted(currencies)}")
    hours = doc.get("engineer_hours") or {}
    if not isinstance(hours, dict):
        _fail(path, "'engineer_hours' must map approach names to hours")
    for approach, value in hours.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            _fail(path, f"engineer_hours of {approach!r} = {value!r} is not a non-negative number")
    return Prices(items, currencies.pop(), {str(k): float(v) for k, v in hours.items()}, str(path))
