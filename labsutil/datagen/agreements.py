"""Agreements between the fictional companies: their terms, their prose, their amendments."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from .util import fmt_amount, fmt_date, spelled, unit, words
from .world import COUNTRIES, INDUSTRIES, Company, Person, World

# type key: (display name, role of party A, role of party B, fee kind, has exclusivity clause, count)
TYPES = {
    "supply": ("Supply Agreement", "Supplier", "Buyer", "purchase", True, 18),
    "license": ("License Agreement", "Licensor", "Licensee", "royalty", True, 14),
    "services": ("Services Agreement", "Service Provider", "Customer", "service_fee", False, 16),
    "distribution": ("Distribution Agreement", "Supplier", "Distributor", "purchase", True, 14),
    "nda": ("Non-Disclosure Agreement", "Disclosing Party", "Receiving Party", None, False, 12),
    "lease": ("Lease Agreement", "Landlord", "Tenant", "rent", False, 8),
    "manufacturing": ("Manufacturing Agreement", "Manufacturer", "Customer", "order_value", False, 10),
    "consulting": ("Consulting Agreement", "Consultant", "Client", "retainer", False, 8),
}
# fee kind: (question noun, how the clause names it)
FEE_NAMES = {
    "purchase": "minimum annual purchase commitment",
    "royalty": "royalty rate",
    "service_fee": "annual service fee",
    "rent": "monthly rent",
    "order_value": "annual minimum order value",
    "retainer": "monthly retainer",
}
REGIONS = ["the Nordic countries", "the Iberian Peninsula", "the Benelux countries", "the Baltic states",
           "North America", "South America", "the DACH region", "Southeast Asia"]
TERRITORIES = COUNTRIES + REGIONS
TERM_MONTHS = [12, 24, 36, 48, 60, 18, 30, 84]
TERM_WEIGHTS = [14, 22, 24, 12, 14, 6, 4, 4]
NOTICE_DAYS = [30, 45, 60, 90, 120, 180]
PAYMENT_DAYS = [15, 30, 45, 60, 90]
CONF_YEARS = [2, 3, 4, 5, 7, 10]
ROYALTIES = ["2%", "2.5%", "3%", "3.5%", "4%", "4.5%", "5%", "6%", "7%", "8%", "10%", "12%"]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "USD", "GBP", "CHF"]
TOPICS = ["supply-chain optimisation", "regulatory compliance", "digital transformation",
          "market entry strategy", "energy efficiency", "quality management", "pricing strategy"]
PREMISES = ["warehouse", "office space", "production hall", "laboratory", "distribution centre"]
STREETS = ["Harbour Road", "Station Street", "Mill Lane", "Canal Street", "Foundry Road", "Dock Street",
           "Quarry Lane", "Market Square"]
HOLDING_PRODUCTS = ["shared administrative services", "treasury services", "office equipment"]


@dataclass
class Agreement:
    doc_id: str
    kind: str
    a: Company  # party A (first role)
    b: Company
    effective: dt.date
    term_months: int
    renewal_years: int  # 0: no automatic renewal
    notice_days: int
    law: str
    payment_days: int | None
    fee: str | None  # formatted amount or royalty percentage
    fee_amount: tuple[int, str] | None
    cap: tuple[int, str] | None
    territory: str | None  # exclusive territory; None: non-exclusive or no clause
    conf_years: int
    sign_a: Person
    sign_b: Person
    product: str
    extra: dict = field(default_factory=dict)
    clause_numbers: dict = field(default_factory=dict)  # clause label -> number in the text
    text: str = ""
    clauses: list = field(default_factory=list)  # (label, clause text without number/heading)

    @property
    def type_name(self) -> str:
        return TYPES[self.kind][0]

    @property
    def roles(self) -> tuple[str, str]:
        return TYPES[self.kind][1], TYPES[self.kind][2]

    @property
    def fee_kind(self) -> str | None:
        return TYPES[self.kind][3]

    @property
    def has_exclusivity(self) -> bool:
        return TYPES[self.kind][4]

    @property
    def title(self) -> str:
        return f"{self.type_name} between {self.a.name} and {self.b.name}"

    @property
    def parties(self) -> list[Company]:
        return [self.a, self.b]

    def signatory_for(self, company: str) -> Person:
        return self.sign_a if company == self.a.name else self.sign_b


@dataclass
class Amendment:
    doc_id: str
    number: int
    agreement: Agreement
    date: dt.date
    field: str  # term | notice | payment | cap | conf | law
    old: object
    new: object
    text: str = ""

    @property
    def title(self) -> str:
        return f"Amendment No. {self.number} to the {self.agreement.title}"


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    d = start + dt.timedelta(days=rng.randint(0, (end - start).days))
    return d.replace(day=min(d.day, 28))


def _amount(rng: random.Random, low: int, high: int, step: int) -> int:
    return rng.randrange(low, high + step, step)


def _product(rng: random.Random, company: Company) -> str:
    return rng.choice(INDUSTRIES.get(company.industry, HOLDING_PRODUCTS))


def build_agreements(rng: random.Random, world: World) -> list[Agreement]:
    companies = world.companies
    kinds: list[str] = []
    for kind, spec in TYPES.items():
        kinds += [kind] * spec[5]
    rng.shuffle(kinds)
    used: set[tuple[str, str, str]] = set()  # membership only, never iterated
    pairs: list[tuple[Company, Company]] = []
    # Some pairs of companies do business several times (for "how many agreements" questions).
    frequent = []
    while len(frequent) < 14:
        x, y = rng.sample(companies, 2)
        if all({x.name, y.name} != {p.name, q.name} for p, q in frequent):
            frequent.append((x, y))
    repeat_plan = [p for p in frequent for _ in range(rng.choice([2, 2, 3]))]
    agreements: list[Agreement] = []
    for i, kind in enumerate(kinds):
        placed = None
        for idx, (x, y) in enumerate(repeat_plan):  # planned repeat pairs first
            key = (kind,) + tuple(sorted((x.name, y.name)))
            if key not in used:
                placed = repeat_plan.pop(idx)
                break
        if placed is None:
            for _ in range(1000):
                x, y = rng.sample(companies, 2)
                key = (kind,) + tuple(sorted((x.name, y.name)))
                if key not in used:
                    break
            else:
                raise RuntimeError("could not place agreement")
        used.add(key)
        a, b = (x, y) if rng.random() < 0.5 else (y, x)
        fee_kind = TYPES[kind][3]
        currency = rng.choice(CURRENCIES)
        fee_amount = None
        if fee_kind == "royalty":
            fee = rng.choice(ROYALTIES)
        elif fee_kind == "purchase":
            fee_amount = (_amount(rng, 500_000, 6_000_000, 250_000), currency)
        elif fee_kind == "order_value":
            fee_amount = (_amount(rng, 400_000, 4_000_000, 100_000), currency)
        elif fee_kind == "service_fee":
            fee_amount = (_amount(rng, 120_000, 1_800_000, 20_000), currency)
        elif fee_kind == "rent":
            fee_amount = (_amount(rng, 4_000, 60_000, 500), currency)
        elif fee_kind == "retainer":
            fee_amount = (_amount(rng, 8_000, 75_000, 1_000), currency)
        if fee_amount:
            fee = fmt_amount(*fee_amount)
        elif fee_kind is None:
            fee = None
        law = rng.choice([a.country, b.country]) if rng.random() < 0.5 else rng.choice(COUNTRIES)
        provider = a
        product = _product(rng, provider)
        extra: dict = {}
        if kind == "consulting":
            product = rng.choice(TOPICS)
        if kind == "lease":
            extra["premises"] = rng.choice(PREMISES)
            extra["address"] = f"{rng.randint(2, 240)} {rng.choice(STREETS)}, {a.city}"
        agreements.append(Agreement(
            doc_id=f"agreement-{i + 1:03d}", kind=kind, a=a, b=b,
            effective=_random_date(rng, dt.date(2014, 1, 1), dt.date(2024, 6, 28)),
            term_months=rng.choices(TERM_MONTHS, TERM_WEIGHTS)[0],
            renewal_years=rng.choices([0, 1, 2, 3, 5], [35, 35, 15, 10, 5])[0],
            notice_days=rng.choice(NOTICE_DAYS),
            law=law,
            payment_days=None if kind == "nda" else rng.choice(PAYMENT_DAYS),
            fee=fee, fee_amount=fee_amount,
            cap=None if kind == "nda" else (_amount(rng, 250_000, 10_000_000, 250_000), currency),
            territory=(rng.choice(TERRITORIES) if TYPES[kind][4] and rng.random() < 0.6 else None),
            conf_years=rng.choice(CONF_YEARS),
            sign_a=a.ceo if rng.random() < 0.5 else rng.choice(a.officers),
            sign_b=b.ceo if rng.random() < 0.5 else rng.choice(b.officers),
            product=product, extra=extra,
        ))
    for ag in agreements:
        render_agreement(rng, ag)
    return agreements


# ---------------------------------------------------------------- prose

def _the(country: str) -> str:
    return f"the {country}" if country == "Netherlands" else country


def _dur(months: int, spelled_style: bool, rng: random.Random) -> str:
    if months % 12 == 0 and rng.random() < 0.8:
        n, name = months // 12, "year"
    else:
        n, name = months, "month"
    return spelled(n, name) if spelled_style else unit(n, name)


def _num(n: int, name: str, spelled_style: bool) -> str:
    return spelled(n, name) if spelled_style else unit(n, name)


HEADINGS = {
    "scope": ["Scope", "Subject Matter", "Purpose", "Appointment"],
    "term": ["Term", "Duration", "Term of Agreement"],
    "renewal": ["Renewal", "Extension"],
    "termination": ["Termination", "Termination for Convenience", "Ending this Agreement"],
    "payment": ["Fees and Payment", "Payment Terms", "Price and Payment", "Consideration"],
    "liability": ["Limitation of Liability", "Liability", "Liability Cap"],
    "exclusivity": ["Exclusivity", "Territory and Exclusivity", "Exclusive Rights"],
    "confidentiality": ["Confidentiality", "Confidential Information", "Non-Disclosure"],
    "governing_law": ["Governing Law", "Applicable Law", "Governing Law and Jurisdiction"],
    "assignment": ["Assignment", "Transfer of Rights"],
    "notices": ["Notices", "Communications"],
    "force_majeure": ["Force Majeure", "Events Beyond Control"],
    "entire_agreement": ["Entire Agreement", "Whole Agreement"],
    "severability": ["Severability", "Invalid Provisions"],
}
BOILERPLATE = {
    "assignment": [
        "Neither party may assign or transfer this Agreement without the prior written consent of the other party.",
        "This Agreement may not be assigned by either party, except to an affiliate, without written consent.",
    ],
    "notices": [
        "All notices under this Agreement must be in writing and delivered by hand, by courier or by e-mail to the addresses notified by each party.",
        "Notices shall be given in writing and are deemed received two business days after dispatch.",
    ],
    "force_majeure": [
        "Neither party is liable for any delay or failure to perform caused by events beyond its reasonable control, such as natural disasters, war, strikes or epidemics.",
        "A party affected by an event beyond its reasonable control is excused from performance for as long as the event lasts, provided it informs the other party promptly.",
    ],
    "entire_agreement": [
        "This Agreement is the entire agreement between the parties and supersedes all prior discussions and arrangements.",
        "This Agreement contains the whole agreement of the parties on its subject matter; no other terms apply.",
    ],
    "severability": [
        "If any provision of this Agreement is held invalid, the remaining provisions remain in full force and effect.",
        "An invalid or unenforceable provision shall be replaced by a valid one that comes closest to the parties' intention.",
    ],
}


def _scope(ag: Agreement, rng: random.Random) -> str:
    ra, rb = ag.roles
    p = ag.product
    if ag.kind == "supply":
        return rng.choice([
            f"The {ra} shall supply {p} to the {rb}, and the {rb} shall purchase {p} from the {ra}, on the terms of this Agreement.",
            f"This Agreement governs the supply of {p} by the {ra} to the {rb}.",
        ])
    if ag.kind == "license":
        return rng.choice([
            f"The {ra} grants the {rb} a licence to use the {ra}'s patents and know-how relating to {p} to manufacture and sell Licensed Products.",
            f"Under this Agreement the {rb} may use the {ra}'s technology for {p} to make and sell Licensed Products.",
        ])
    if ag.kind == "services":
        return rng.choice([
            f"The {ra} shall provide services relating to {p} to the {rb} as described in the statement of work.",
            f"The {rb} engages the {ra} to provide services in connection with {p}.",
        ])
    if ag.kind == "distribution":
        return rng.choice([
            f"The {ra} appoints the {rb} as a distributor of its {p}.",
            f"The {rb} shall market and resell the {ra}'s {p} in accordance with this Agreement.",
        ])
    if ag.kind == "nda":
        return rng.choice([
            f"The parties wish to exchange confidential information to evaluate a possible collaboration concerning {p}. This Agreement sets out how that information is protected.",
            f"The {ra} intends to disclose technical and commercial information about {p} to the {rb} for the purpose of evaluating a joint project.",
        ])
    if ag.kind == "lease":
        return rng.choice([
            f"The {ra} leases to the {rb} the {ag.extra['premises']} located at {ag.extra['address']}.",
            f"The {rb} rents from the {ra} the {ag.extra['premises']} at {ag.extra['address']} (the \"Premises\").",
        ])
    if ag.kind == "manufacturing":
        return rng.choice([
            f"The {ra} shall manufacture {p} for the {rb} according to the {rb}'s specifications.",
            f"The {rb} appoints the {ra} to produce {p} on its behalf.",
        ])
    return rng.choice([  # consulting
        f"The {ra} shall advise the {rb} on {p}.",
        f"The {rb} engages the {ra} to provide consulting services on {p}.",
    ])


def _term(ag: Agreement, rng: random.Random, sp: bool, with_date: bool) -> str:
    dur = _dur(ag.term_months, sp, rng)
    if with_date:
        d = fmt_date(ag.effective, ag.extra["date_style"])
        return rng.choice([
            f"The effective date of this Agreement is {d} (the \"Effective Date\"). The initial term is {dur}.",
            f"This Agreement takes effect on {d} (the effective date) and has an initial term of {dur}.",
            f"Effective date: {d}. The initial term of this Agreement is {dur} from the effective date.",
        ])
    return rng.choice([
        f"This Agreement commences on the Effective Date and continues for an initial term of {dur}.",
        f"The initial term of this Agreement is {dur}, beginning on the Effective Date.",
        f"Unless terminated earlier, this Agreement remains in force for an initial term of {dur} from the Effective Date.",
        f"This Agreement has an initial term of {dur}, starting on the Effective Date.",
    ])


def _renewal(ag: Agreement, rng: random.Random, sp: bool) -> str:
    if ag.renewal_years == 0:
        return rng.choice([
            "This Agreement does not renew automatically; any extension requires a written agreement signed by both parties.",
            "There is no automatic renewal: this Agreement expires at the end of the initial term unless the parties agree in writing to extend it.",
        ])
    r = _num(ag.renewal_years, "year", sp)
    return rng.choice([
        f"After the initial term, this Agreement renews automatically for a renewal period of {r}, and again at the end of each renewal period, unless either party gives notice of non-renewal.",
        f"The renewal period is {r}: this Agreement is automatically extended for further periods of {r} each, unless a party objects before expiry.",
        f"On expiry of the initial term, this Agreement renews automatically for successive renewal periods of {r}.",
    ])


def _termination(ag: Agreement, rng: random.Random, sp: bool) -> str:
    n = _num(ag.notice_days, "day", sp)
    return rng.choice([
        f"Either party may terminate this Agreement by written notice to the other party; the termination notice period is {n}.",
        f"This Agreement may be terminated by either party with a termination notice period of {n}.",
        f"The termination notice period is {n}: a party wishing to terminate this Agreement must notify the other party in writing at least {n} in advance.",
        f"Either party may terminate this Agreement at any time, subject to a termination notice period of {n} given in writing.",
    ])


def _payment(ag: Agreement, rng: random.Random, sp: bool) -> str:
    ra, rb = ag.roles
    payer = rb
    fee = ag.fee
    fee_sentence = {
        "purchase": rng.choice([
            f"The {rb} commits to a minimum annual purchase commitment of {fee}.",
            f"The {rb} shall purchase products with a total value of at least {fee} in each contract year (the minimum annual purchase commitment).",
        ]),
        "royalty": rng.choice([
            f"The {rb} shall pay the {ra} a royalty of {fee} of Net Sales of Licensed Products.",
            f"The royalty rate is {fee} of Net Sales, payable by the {rb} each quarter.",
        ]),
        "service_fee": rng.choice([
            f"The {rb} shall pay the {ra} an annual service fee of {fee}.",
            f"In consideration of the services, the {rb} pays an annual service fee of {fee}.",
        ]),
        "rent": rng.choice([
            f"The {rb} shall pay a monthly rent of {fee}.",
            f"The monthly rent for the Premises is {fee}.",
        ]),
        "order_value": rng.choice([
            f"The {rb} shall place orders with a total value of at least {fee} per year (the annual minimum order value).",
            f"The annual minimum order value is {fee}.",
        ]),
        "retainer": rng.choice([
            f"The {rb} shall pay the {ra} a monthly retainer of {fee}.",
            f"The {ra}'s fee is a monthly retainer of {fee}.",
        ]),
    }[ag.fee_kind]
    n = _num(ag.payment_days, "day", sp)
    pay_sentence = rng.choice([
        f"The payment term is {n}: invoices are payable within {n} of receipt.",
        f"Each invoice shall be paid within {n} after the invoice date (the payment term).",
        f"The payment term is {n} from the invoice date.",
        f"The {payer} shall pay all undisputed invoices within the payment term of {n} after receipt.",
    ])
    return f"{fee_sentence} {pay_sentence}"


def _liability(ag: Agreement, rng: random.Random) -> str:
    cap = fmt_amount(*ag.cap)
    return rng.choice([
        f"Each party's total liability under this Agreement is limited to {cap} (the liability cap).",
        f"The liability cap is {cap}: in no event shall either party's aggregate liability under this Agreement exceed this amount.",
        f"The liability of each party arising out of or in connection with this Agreement is subject to a liability cap of {cap}, except in cases of fraud or wilful misconduct.",
        f"The liability cap of each party is {cap} in total for all claims under this Agreement.",
    ])


def _exclusivity(ag: Agreement, rng: random.Random) -> str:
    ra, rb = ag.roles
    if ag.territory is None:
        return rng.choice([
            "The rights granted under this Agreement are non-exclusive; there is no exclusive territory.",
            f"Nothing in this Agreement grants the {rb} any exclusive rights or exclusive territory; the {ra} may appoint others.",
        ])
    t = _the(ag.territory)
    verb = {"supply": "buy the products from the Supplier", "license": "use the licensed technology",
            "distribution": "distribute the products"}[ag.kind]
    return rng.choice([
        f"The {rb} has the exclusive right to {verb} in its exclusive territory. The exclusive territory is {t}.",
        f"The rights granted to the {rb} are exclusive in {t} (the exclusive territory).",
        f"The exclusive territory of the {rb} is {t}: within {t}, the {ra} shall not appoint any other party.",
    ])


def _confidentiality(ag: Agreement, rng: random.Random, sp: bool) -> str:
    n = _num(ag.conf_years, "year", sp)
    return rng.choice([
        f"Each party shall keep the other party's Confidential Information confidential. The confidentiality period is {n} after termination or expiry of this Agreement.",
        f"The confidentiality obligations of the parties survive termination of this Agreement for a confidentiality period of {n}.",
        f"The receiving party shall not disclose Confidential Information to third parties during the confidentiality period, which lasts {n} after this Agreement ends.",
    ])


def _governing_law(ag: Agreement, rng: random.Random) -> str:
    c = _the(ag.law)
    return rng.choice([
        f"This Agreement is governed by the laws of {c}.",
        f"This Agreement shall be governed by and construed in accordance with the laws of {c}.",
        f"The laws of {c} govern this Agreement and any dispute arising from it.",
        f"All matters arising out of this Agreement are governed by the law of {c}, without regard to its conflict-of-laws rules.",
    ])


def render_agreement(rng: random.Random, ag: Agreement) -> None:
    sp = rng.random() < 0.5  # spelled-out numbers ("ninety (90) days") or digits
    ag.extra["date_style"] = rng.choice([0, 0, 1, 1, 2])
    date_in_preamble = rng.random() < 0.75
    ra, rb = ag.roles
    d = fmt_date(ag.effective, ag.extra["date_style"])
    name = ag.type_name
    if date_in_preamble:
        preamble = rng.choice([
            f"This {name} (the \"Agreement\") is entered into as of {d} (the \"Effective Date\") by and between {ag.a.name}, with its principal office in {ag.a.city} (the \"{ra}\"), and {ag.b.name}, with its principal office in {ag.b.city} (the \"{rb}\").",
            f"This {name} is made on {d} (the \"Effective Date\") between {ag.a.name} of {ag.a.city} (\"{ra}\") and {ag.b.name} of {ag.b.city} (\"{rb}\").",
            f"Effective Date: {d}.\nParties: (1) {ag.a.name}, {ag.a.city} (the \"{ra}\"); (2) {ag.b.name}, {ag.b.city} (the \"{rb}\").",
        ])
    else:
        preamble = rng.choice([
            f"This {name} (the \"Agreement\") is made by and between {ag.a.name}, with its principal office in {ag.a.city} (the \"{ra}\"), and {ag.b.name}, with its principal office in {ag.b.city} (the \"{rb}\").",
            f"Parties: (1) {ag.a.name}, {ag.a.city} (the \"{ra}\"); (2) {ag.b.name}, {ag.b.city} (the \"{rb}\").",
        ])
    clauses: list[tuple[str, str]] = []
    merge_renewal = rng.random() < 0.4
    term_text = _term(ag, rng, sp, with_date=not date_in_preamble)
    if merge_renewal:
        term_text += " " + _renewal(ag, rng, sp)
    body = [("term", term_text)]
    if not merge_renewal:
        body.append(("renewal", _renewal(ag, rng, sp)))
    body.append(("termination", _termination(ag, rng, sp)))
    if ag.fee_kind:
        body.append(("payment", _payment(ag, rng, sp)))
    if ag.cap:
        body.append(("liability", _liability(ag, rng)))
    if ag.has_exclusivity:
        body.append(("exclusivity", _exclusivity(ag, rng)))
    body.append(("confidentiality", _confidentiality(ag, rng, sp)))
    body.append(("governing_law", _governing_law(ag, rng)))
    extras = sorted(BOILERPLATE)
    rng.shuffle(extras)
    n_extra = rng.randint(0, 2)
    for k, label in enumerate(extras):
        # at least 1,000 characters in all: a boilerplate clause more while the text is short
        short = len(preamble) + sum(len(t) + 30 for _, t in body) + 350 < 1000
        if k >= n_extra and not short:
            break
        body.append((label, rng.choice(BOILERPLATE[label])))
    rng.shuffle(body)
    clauses = [("scope", _scope(ag, rng))] + body
    style = rng.choice([0, 1, 2])
    lines = [name.upper(), "", preamble, ""]
    for k, (label, text) in enumerate(clauses, 1):
        heading = rng.choice(HEADINGS[label])
        if style == 0:
            lines.append(f"{k}. {heading}. {text}")
        elif style == 1:
            lines.append(f"{k}. {heading.upper()}\n{text}")
        else:
            lines.append(f"Section {k} ({heading}): {text}")
        lines.append("")
        ag.clause_numbers[label] = k
    sig = rng.choice([0, 1, 2])
    a, b = ag.sign_a, ag.sign_b
    if sig == 0:
        lines.append(f"IN WITNESS WHEREOF, the parties have signed this Agreement.\nSigned on behalf of {ag.a.name}: {a.name}, {a.title}\nSigned on behalf of {ag.b.name}: {b.name}, {b.title}")
    elif sig == 1:
        lines.append(f"Signed on behalf of {ag.a.name} by {a.name} ({a.title}).\nSigned on behalf of {ag.b.name} by {b.name} ({b.title}).")
    else:
        lines.append(f"SIGNATURES\nOn behalf of {ag.a.name}, signed by {a.name}, {a.title}.\nOn behalf of {ag.b.name}, signed by {b.name}, {b.title}.")
    ag.text = "\n".join(lines).strip() + "\n"
    ag.clauses = clauses + [("signatures", lines[-1])]


# ---------------------------------------------------------------- amendments

AMENDABLE = ["term", "notice", "payment", "cap", "conf", "law"]


def build_amendments(rng: random.Random, agreements: list[Agreement], n: int = 16) -> list[Amendment]:
    chosen = rng.sample(agreements, n)
    chosen.sort(key=lambda ag: ag.doc_id)
    out = []
    for k, ag in enumerate(chosen, 1):
        options = [f for f in AMENDABLE if not (f in ("payment", "cap") and ag.kind == "nda")]
        fld = rng.choice(options)
        if fld == "term":
            old = ag.term_months
            new = rng.choice([m for m in (24, 36, 48, 60, 72) if m > old] or [old + 24])
        elif fld == "notice":
            old = ag.notice_days
            new = rng.choice([d for d in NOTICE_DAYS if d != old])
        elif fld == "payment":
            old = ag.payment_days
            new = rng.choice([d for d in PAYMENT_DAYS if d != old])
        elif fld == "cap":
            old = ag.cap
            new = (old[0] + rng.choice([1, 2, 4]) * 500_000, old[1])
        elif fld == "conf":
            old = ag.conf_years
            new = rng.choice([y for y in CONF_YEARS if y != old])
        else:
            old = ag.law
            new = rng.choice([c for c in COUNTRIES if c != old])
        date = ag.effective + dt.timedelta(days=rng.randint(180, 900))
        date = date.replace(day=min(date.day, 28))
        am = Amendment(doc_id=f"amendment-{k:02d}", number=1, agreement=ag, date=date, field=fld, old=old, new=new)
        render_amendment(rng, am)
        out.append(am)
    return out


def amended_value_text(fld: str, value, sp: bool = False) -> str:
    if fld == "term":
        return _num(value // 12, "year", sp) if value % 12 == 0 else _num(value, "month", sp)
    if fld in ("notice", "payment"):
        return _num(value, "day", sp)
    if fld == "cap":
        return fmt_amount(*value)
    if fld == "conf":
        return _num(value, "year", sp)
    return _the(value)


def render_amendment(rng: random.Random, am: Amendment) -> None:
    ag = am.agreement
    sp = rng.random() < 0.5
    new = amended_value_text(am.field, am.new, sp)
    label = {"term": "term", "notice": "termination", "payment": "payment", "cap": "liability",
             "conf": "confidentiality", "law": "governing_law"}[am.field]
    num = ag.clause_numbers[label]
    change = {
        "term": rng.choice([
            f"Clause {num} of the Agreement is amended so that the initial term of the Agreement is {new}.",
            f"The initial term of the Agreement is extended: the initial term is now {new} from the Effective Date.",
        ]),
        "notice": rng.choice([
            f"Clause {num} of the Agreement is amended so that the termination notice period is {new}.",
            f"The termination notice period under the Agreement is changed to {new}.",
        ]),
        "payment": rng.choice([
            f"Clause {num} of the Agreement is amended so that the payment term is {new}.",
            f"The payment term under the Agreement is changed to {new} from the invoice date.",
        ]),
        "cap": rng.choice([
            f"Clause {num} of the Agreement is amended so that the liability cap is {new}.",
            f"The liability cap under the Agreement is increased to {new}.",
        ]),
        "conf": rng.choice([
            f"Clause {num} of the Agreement is amended so that the confidentiality period is {new} after termination.",
            f"The confidentiality period under the Agreement is changed to {new} following termination.",
        ]),
        "law": rng.choice([
            f"Clause {num} of the Agreement is amended so that the Agreement is governed by the laws of {new}.",
            f"The governing law of the Agreement is changed: the Agreement is now governed by the laws of {new}.",
        ]),
    }[am.field]
    d = fmt_date(am.date, rng.choice([0, 1]))
    orig = fmt_date(ag.effective, 0)
    a, b = ag.sign_a, ag.sign_b
    lines = [
        f"AMENDMENT No. {am.number} TO THE {ag.type_name.upper()}",
        "",
        f"This Amendment No. {am.number} is made on {d} between {ag.a.name} and {ag.b.name} and amends the {ag.type_name} between them dated {orig} (the \"Agreement\").",
        "",
        f"1. Amendment. With effect from {d}, the parties agree as follows. {change}",
        "",
        "2. Other terms. Except as amended by this Amendment, the Agreement remains unchanged and in full force and effect.",
        "",
        f"Signed for {ag.a.name} by {a.name} ({a.title}) and for {ag.b.name} by {b.name} ({b.title}).",
    ]
    am.text = "\n".join(lines) + "\n"
