"""Company profiles and news items."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from .agreements import Agreement, _dur
from .util import MONTHS, article, fmt_date, join_names
from .world import HOLDING_INDUSTRY, INDUSTRIES, Company, World


def _the(country: str) -> str:
    return f"the {country}" if country == "Netherlands" else country


def profile_text(rng: random.Random, c: Company) -> str:
    """A short profile; every fact is one literal sentence, in a varying order and layout."""
    where = f"{c.city}, {_the(c.country)}"
    if c.industry == HOLDING_INDUSTRY:
        activity = rng.choice([
            "The group manages long-term investments in operating companies.",
            "It owns and oversees a portfolio of businesses.",
        ])
    else:
        products = INDUSTRIES[c.industry]
        activity = rng.choice([
            f"The company makes and sells {join_names(products)}.",
            f"Its main products are {join_names(products)}.",
        ])
    industry = rng.choice([f"{c.name} operates in the {c.industry} industry.",
                           f"{c.name} is {article(c.industry)} {c.industry} company; it operates in the {c.industry} industry."])
    hq = rng.choice([f"{c.name} is headquartered in {where}.", f"The headquarters of {c.name} are in {where}."])
    founded = rng.choice([f"{c.name} was founded in {c.founded}.", f"The company was founded in {c.founded}."])
    ceo = rng.choice([f"The CEO of {c.name} is {c.ceo.name}.",
                      f"The CEO (chief executive officer) of {c.name} is {c.ceo.name}."])
    officers = [f"The {o.title} of {c.name} is {o.name}." for o in c.officers]
    if c.parent:
        owner = rng.choice([f"The parent company of {c.name} is {c.parent}.",
                            f"The parent company of {c.name} is {c.parent}, which owns all of its shares."])
    else:
        owner = rng.choice([f"{c.name} has no parent company; it is an independent company.",
                            f"{c.name} is independent: it has no parent company."])
    facts = [industry, hq, founded, owner]
    rng.shuffle(facts)
    people = [ceo, *officers]
    style = rng.choice([0, 1, 2])
    if style == 0:
        return f"{c.name}\n\n{' '.join(facts)} {' '.join(people)} {activity}\n"
    if style == 1:
        return f"COMPANY PROFILE: {c.name}\n\n{' '.join(people)}\n{' '.join(facts)}\n{activity}\n"
    return f"About {c.name}\n\n{activity} {' '.join(facts[:2])}\n\n{' '.join(people)} {' '.join(facts[2:])}\n"


@dataclass
class News:
    doc_id: str
    kind: str  # acquisition | ceo | deal
    title: str
    text: str
    date: dt.date
    companies: list[str]
    year: int | None = None
    agreement: Agreement | None = None


def build_news(rng: random.Random, world: World, agreements: list[Agreement]) -> list[News]:
    items: list[News] = []
    subs = [c for c in world.companies if c.parent]
    acquired = rng.sample(subs, 5)
    for c in acquired:
        parent = world.by_name[c.parent]
        month = rng.randint(1, 12)
        title = f"{parent.name} completes acquisition of {c.name}"
        text = rng.choice([
            f"{title}\n\n{parent.city}, {MONTHS[month - 1]} {c.acquired}. {parent.name} acquired {c.name} in {c.acquired}. {c.name} is {article(c.industry)} {c.industry} company based in {c.city}. "
            f"{parent.ceo.name}, chief executive of {parent.name}, said the deal strengthens the group. Financial terms were not disclosed.\n",
            f"{title}\n\n{parent.name} announced in {MONTHS[month - 1]} {c.acquired} that it acquired {c.name} in {c.acquired}. "
            f"{c.name}, headquartered in {c.city}, becomes a subsidiary of {parent.name}. The price was not made public.\n",
        ])
        items.append(News("", "acquisition", title, text, dt.date(c.acquired, month, 1), [parent.name, c.name], c.acquired))
    rest = [c for c in world.companies if c not in acquired]
    for c in rng.sample(rest, 4):
        month = rng.randint(1, 12)
        title = f"{c.name} appoints {c.ceo.name} as chief executive"
        text = rng.choice([
            f"{title}\n\n{c.city}, {MONTHS[month - 1]} {c.ceo_since}. {c.name} announced that {c.ceo.name} was appointed Chief Executive Officer in {c.ceo_since}, with immediate effect. "
            f"The board said {c.ceo.name} will focus on growth in {c.industry}.\n",
            f"{title}\n\nIn {MONTHS[month - 1]} {c.ceo_since}, the board of {c.name} appointed {c.ceo.name} as CEO. "
            f"{c.ceo.name} takes over the leadership of the {c.industry} company from its previous chief executive.\n",
        ])
        items.append(News("", "ceo", title, text, dt.date(c.ceo_since, month, 1), [c.name], c.ceo_since))
    for ag in rng.sample(agreements, 5):
        title = f"{ag.a.name} and {ag.b.name} sign {ag.type_name.lower()}"
        dur = _dur(ag.term_months, False, rng)
        text = (f"{title}\n\n{ag.a.name} and {ag.b.name} have signed a {ag.type_name.lower()} that takes effect on "
                f"{fmt_date(ag.effective, 1)}. The agreement runs for an initial term of {dur}. "
                f"Neither company disclosed the financial terms. Analysts expect the deal to support growth in {ag.a.industry}.\n")
        items.append(News("", "deal", title, text, ag.effective, [ag.a.name, ag.b.name], None, ag))
    items.sort(key=lambda n: (n.date, n.title))
    for k, n in enumerate(items, 1):
        n.doc_id = f"news-{k:02d}"
    return items
