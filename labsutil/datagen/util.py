"""Small deterministic helpers: number words, dates, amounts, JSON lines."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Iterable

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


def words(n: int) -> str:
    """English words for 0 <= n < 1000 (e.g. 120 -> 'one hundred twenty')."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else "-" + _ONES[ones])
    hundreds, rest = divmod(n, 100)
    return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + words(rest))


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def unit(n: int, name: str) -> str:
    """'3 years', '1 year'."""
    return f"{n} {name}" if n == 1 else f"{n} {name}s"


def spelled(n: int, name: str) -> str:
    """'ninety (90) days' in contract style."""
    return f"{words(n)} ({n}) {name if n == 1 else name + 's'}"


def count_aliases(n: int, name: str) -> list[str]:
    """Every way a document or a model may write a number of days/years/months."""
    plural = name if n == 1 else name + "s"
    return [f"{n} {plural}", f"{words(n)} {plural}", f"{words(n)} ({n}) {plural}", f"{n}-{name}",
            f"{words(n)}-{name}", str(n)]


# Date styles used in documents; the answer is always written in style 0.
def fmt_date(d: dt.date, style: int = 0) -> str:
    month = MONTHS[d.month - 1]
    if style == 0:
        return f"{d.day} {month} {d.year}"
    if style == 1:
        return f"{month} {d.day}, {d.year}"
    if style == 2:
        return f"the {ordinal(d.day)} day of {month}, {d.year}"
    return d.isoformat()


def date_aliases(d: dt.date) -> list[str]:
    month = MONTHS[d.month - 1]
    return [fmt_date(d, 0), fmt_date(d, 1), f"{ordinal(d.day)} day of {month}, {d.year}",
            d.isoformat(), f"{ordinal(d.day)} {month} {d.year}", f"{month} {ordinal(d.day)}, {d.year}",
            f"{month} {d.day} {d.year}", f"{d.day:02d}/{d.month:02d}/{d.year}",
            f"{d.month}/{d.day}/{d.year}"]


CURRENCY_WORDS = {"EUR": ("euros", "€"), "USD": ("US dollars", "$"), "GBP": ("pounds sterling", "£"),
                  "CHF": ("Swiss francs", "CHF "), "JPY": ("yen", "¥"), "CAD": ("Canadian dollars", "CA$")}


def fmt_amount(amount: int, currency: str) -> str:
    return f"{currency} {amount:,}"


def amount_aliases(amount: int, currency: str) -> list[str]:
    word, symbol = CURRENCY_WORDS[currency]
    out = [fmt_amount(amount, currency), f"{amount:,} {currency}", f"{symbol}{amount:,}",
           f"{amount:,} {word}", f"{amount:,}", str(amount)]
    if amount >= 1_000_000 and amount % 10_000 == 0:
        m = amount / 1_000_000
        ms = f"{m:g}"
        out += [f"{currency} {ms} million", f"{ms} million {word}", f"{symbol}{ms} million",
                f"{ms} million"]
    elif amount % 1000 == 0 and amount < 1_000_000:
        k = amount // 1000
        out += [f"{currency} {k} thousand", f"{k} thousand {word}", f"{k}k"]
    return out


def dedupe(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item not in seen:
            seen[item] = None
    return list(seen)


def write_jsonl(path: Path, rows: Iterable[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
            n += 1
    return n


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def join_names(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")
