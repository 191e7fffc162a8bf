"""Agreement fields: their current values (after amendments), answers and aliases."""
from __future__ import annotations

from .agreements import Agreement, Amendment
from .util import amount_aliases, count_aliases, date_aliases, dedupe, fmt_amount, fmt_date
from .world import DEMONYMS

# field -> (noun used in questions and facts, triple relation)
FIELDS = {
    "effective": ("effective date", "effective_date"),
    "term": ("initial term", "initial_term"),
    "renewal": ("automatic renewal period", "renewal_period"),
    "notice": ("termination notice period", "termination_notice"),
    "law": ("governing law", "governed_by"),
    "payment": ("payment term", "payment_term"),
    "fee": ("fee", "fee"),
    "cap": ("liability cap", "liability_cap"),
    "territory": ("exclusive territory", "exclusive_territory"),
    "conf": ("confidentiality period", "confidentiality_period"),
}
AMENDMENT_FIELD = {"term": "term", "notice": "notice", "payment": "payment", "cap": "cap", "conf": "conf",
                   "law": "law"}


def raw_value(ag: Agreement, fld: str):
    return {
        "effective": ag.effective, "term": ag.term_months, "renewal": ag.renewal_years,
        "notice": ag.notice_days, "law": ag.law, "payment": ag.payment_days, "fee": ag.fee,
        "cap": ag.cap, "territory": ag.territory, "conf": ag.conf_years,
    }[fld]


def current_value(ag: Agreement, fld: str, amendments: list[Amendment]):
    """(value now in force, the amendment that set it or None)."""
    for am in amendments:
        if am.agreement is ag and am.field == fld:
            return am.new, am
    return raw_value(ag, fld), None


def answer_of(fld: str, value) -> tuple[str, list[str]]:
    """The canonical answer text and its aliases for a field value."""
    if fld == "effective":
        return fmt_date(value, 0), dedupe(date_aliases(value))
    if fld in ("term",):
        if value % 12 == 0:
            years = value // 12
            main = f"{years} year" + ("s" if years != 1 else "")
            return main, dedupe(count_aliases(years, "year") + count_aliases(value, "month")[:3])
        return f"{value} months", dedupe(count_aliases(value, "month"))
    if fld in ("renewal", "conf"):
        return f"{value} year" + ("s" if value != 1 else ""), dedupe(count_aliases(value, "year"))
    if fld in ("notice", "payment"):
        return f"{value} days", dedupe(count_aliases(value, "day"))
    if fld == "law":
        names = [value, f"the {value}"] if value == "Netherlands" else [value]
        dem = DEMONYMS[value]
        return value, dedupe(names + [f"laws of {n}" for n in names] + [f"{dem} law", dem])
    if fld == "cap":
        return fmt_amount(*value), dedupe(amount_aliases(*value))
    if fld == "fee":
        if value.endswith("%"):
            num = value[:-1]
            return value, [value, f"{num} percent", f"{num} per cent", f"{num} %"]
        cur, amount = value.split(" ", 1)
        return value, dedupe(amount_aliases(int(amount.replace(",", "")), cur))
    if fld == "territory":
        bare = value[4:] if value.startswith("the ") else value
        return value, dedupe([value, bare, f"the {value}" if value == "Netherlands" else bare])
    raise KeyError(fld)


def value_text(fld: str, value) -> str:
    """The value as prose, for facts and triples."""
    if fld == "territory" and value is None:
        return "non-exclusive"
    if fld == "renewal" and value == 0:
        return "no automatic renewal"
    if fld == "law" and value == "Netherlands":
        return "the Netherlands"
    return answer_of(fld, value)[0]
