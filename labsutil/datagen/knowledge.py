"""Gold knowledge-graph edges (triples.jsonl) and atomic facts with paraphrases (facts.jsonl)."""
from __future__ import annotations

from .agreements import Agreement, Amendment, FEE_NAMES
from .documents import News
from .fields import FIELDS, current_value, value_text
from .util import article, fmt_date, possessive
from .world import World


def _the(country: str) -> str:
    return f"the {country}" if country == "Netherlands" else country


def company_facts(world: World) -> list[tuple[str, list[str]]]:
    """(doc_id, [text, paraphrase, ...]) for every company fact."""
    out = []
    for c in world.companies:
        n, d = c.name, c.doc_id
        where = f"{c.city}, {_the(c.country)}"
        out.append((d, [
            f"{n} is {article(c.industry)} {c.industry} company.",
            f"{n} operates in the {c.industry} industry.",
            f"The industry of {n} is {c.industry}.",
            f"{c.industry.capitalize()} is the sector in which {n} does business.",
            f"{n} is active in {c.industry}.",
            f"Question: What industry is {n} in? Answer: {c.industry}.",
        ]))
        out.append((d, [
            f"{n} is headquartered in {where}.",
            f"The headquarters of {n} are in {where}.",
            f"{n} has its head office in {c.city} ({_the(c.country)}).",
            f"{where} is where {n} is based.",
            f"The principal office of {n} is located in {c.city}, {_the(c.country)}.",
            f"Question: Where is {n} headquartered? Answer: In {where}.",
        ]))
        out.append((d, [
            f"{n} was founded in {c.founded}.",
            f"The founding year of {n} is {c.founded}.",
            f"{n} has existed since {c.founded}, the year it was established.",
            f"In {c.founded}, {n} was founded.",
            f"{n} was established in {c.founded}.",
            f"Question: When was {n} founded? Answer: In {c.founded}.",
        ]))
        p = c.ceo.name
        out.append((d, [
            f"{p} is the CEO of {n}.",
            f"The chief executive officer of {n} is {p}.",
            f"{n} is led by its CEO, {p}.",
            f"{p} serves as chief executive of {n}.",
            f"{possessive(n)} CEO is {p}.",
            f"Question: Who is the CEO of {n}? Answer: {p}.",
        ]))
        for o in c.officers:
            out.append((d, [
                f"{o.name} is the {o.title} of {n}.",
                f"The {o.title} of {n} is {o.name}.",
                f"{n} employs {o.name} as its {o.title}.",
                f"{o.name} serves as {o.title} at {n}.",
                f"At {n}, the role of {o.title} is held by {o.name}.",
                f"Question: Who is the {o.title} of {n}? Answer: {o.name}.",
            ]))
        if c.parent:
            q = c.parent
            out.append((d, [
                f"{n} is a subsidiary of {q}.",
                f"{q} is the parent company of {n}.",
                f"{n} is owned by {q}.",
                f"{q} owns {n}.",
                f"The parent company of {n} is {q}.",
                f"Question: What is the parent company of {n}? Answer: {q}.",
            ]))
        else:
            out.append((d, [
                f"{n} has no parent company.",
                f"{n} is an independent company not owned by another company.",
                f"No other company owns {n}.",
                f"{n} is not a subsidiary of any company.",
                f"There is no parent company above {n}.",
                f"Question: What is the parent company of {n}? Answer: {n} has no parent company.",
            ]))
    return out


def _field_sentences(t: str, fld: str, v: str, ag: Agreement, original: bool) -> list[str]:
    """Six sentences stating that agreement `t` has value `v` for field `fld`."""
    pre = "As originally signed, " if original else ""
    noun = FIELDS[fld][0]
    if fld == "fee":
        noun = FEE_NAMES[ag.fee_kind]
    if fld == "law":
        return [s[0].upper() + s[1:] for s in [
            f"{pre}the {t} is governed by the laws of {v}.",
            f"{pre}the governing law of the {t} is the law of {v}.",
            f"{pre}the laws of {v} govern the {t}.",
            f"{pre}the {t} is subject to the laws of {v}.",
            f"{pre}the parties to the {t} chose the laws of {v} as governing law.",
            f"Question: What is the governing law of the {t}? Answer: The laws of {v}.",
        ]]
    if fld == "effective":
        return [
            f"The effective date of the {t} is {v}.",
            f"The {t} took effect on {v}.",
            f"The {t} became effective on {v}.",
            f"{v} is the effective date of the {t}.",
            f"The {t} has been in force since {v}.",
            f"Question: What is the effective date of the {t}? Answer: {v}.",
        ]
    if fld == "territory":
        if v == "non-exclusive":
            return [
                f"The rights under the {t} are non-exclusive.",
                f"The {t} grants no exclusive territory.",
                f"The {t} is non-exclusive.",
                f"No exclusivity is granted under the {t}.",
                f"Under the {t}, the rights granted are not exclusive.",
                f"Question: Is the {t} exclusive? Answer: No, it is non-exclusive.",
            ]
        return [
            f"The exclusive territory of the {t} is {v}.",
            f"The rights under the {t} are exclusive in {v}.",
            f"The {t} grants exclusive rights for {v}.",
            f"{v[0].upper() + v[1:]} is the exclusive territory under the {t}.",
            f"Under the {t}, exclusivity applies in {v}.",
            f"Question: In which territory is the {t} exclusive? Answer: {v}.",
        ]
    if fld == "renewal" and v == "no automatic renewal":
        return [
            f"The {t} does not renew automatically.",
            f"The {t} has no automatic renewal.",
            f"There is no automatic renewal under the {t}; an extension needs a written agreement.",
            f"The {t} expires after its initial term unless the parties agree to extend it.",
            f"Automatic renewal does not apply to the {t}.",
            f"Question: Does the {t} renew automatically? Answer: No.",
        ]
    if fld == "renewal":
        return [
            f"The {t} renews automatically for periods of {v}.",
            f"After its initial term, the {t} is automatically renewed for {v} at a time.",
            f"The automatic renewal period of the {t} is {v}.",
            f"Each automatic renewal of the {t} lasts {v}.",
            f"Unless a party objects, the {t} is extended by {v} each time.",
            f"Question: For how long does the {t} renew automatically? Answer: {v}.",
        ]
    orig = "originally " if original else ""
    sentences = [
        f"{pre}the {noun} of the {t} is {v}.",
        f"{pre}under the {t}, the {noun} is {v}.",
        f"{v} is the {noun} {orig}set by the {t}.",
        f"{pre}the {t} provides for {article(noun)} {noun} of {v}.",
        f"In the {t}, the parties {orig}agreed on {article(noun)} {noun} of {v}.",
        f"Question: What {'was the original' if original else 'is the'} {noun} of the {t}? Answer: {v}.",
    ]
    return [s[0].upper() + s[1:] for s in sentences]


def agreement_facts(agreements: list[Agreement], amendments: list[Amendment]) -> list[tuple[str, list[str]]]:
    out = []
    amended = {(am.agreement.doc_id, am.field) for am in amendments}
    for ag in agreements:
        t, d = ag.title, ag.doc_id
        ra, rb = ag.roles
        out.append((d, [
            f"The {t} is {article(ag.type_name)} {ag.type_name.lower()} in which {ag.a.name} is the {ra} and {ag.b.name} is the {rb}.",
            f"{ag.a.name} and {ag.b.name} are the parties to the {t}.",
            f"In the {t}, {ag.a.name} acts as {ra} and {ag.b.name} acts as {rb}.",
            f"{ag.b.name} is the {rb} and {ag.a.name} the {ra} under the {t}.",
            f"The parties of the {t} are {ag.a.name} ({ra}) and {ag.b.name} ({rb}).",
            f"Question: Who are the parties to the {t}? Answer: {ag.a.name} and {ag.b.name}.",
        ]))
        for fld in FIELDS:
            value = {"effective": fmt_date(ag.effective, 0)}.get(fld)
            raw = {"effective": ag.effective, "term": ag.term_months, "renewal": ag.renewal_years,
                   "notice": ag.notice_days, "law": ag.law, "payment": ag.payment_days, "fee": ag.fee,
                   "cap": ag.cap, "territory": ag.territory, "conf": ag.conf_years}[fld]
            if fld in ("payment", "fee", "cap") and raw is None:
                continue
            if fld == "territory" and not ag.has_exclusivity:
                continue
            value = value or value_text(fld, raw)
            out.append((d, _field_sentences(t, fld, value, ag, original=(d, fld) in amended)))
        for who, p in ((ag.a.name, ag.sign_a), (ag.b.name, ag.sign_b)):
            out.append((d, [
                f"{p.name} signed the {t} on behalf of {who}.",
                f"The {t} was signed for {who} by {p.name}, its {p.title}.",
                f"On behalf of {who}, the signatory of the {t} is {p.name}.",
                f"{possessive(who)} signature on the {t} is that of {p.name} ({p.title}).",
                f"{p.name} is the signatory of the {t} for {who}.",
                f"Question: Who signed the {t} on behalf of {who}? Answer: {p.name}.",
            ]))
    for am in amendments:
        t, d = am.agreement.title, am.doc_id
        noun = FIELDS[am.field][0]
        new = value_text(am.field, am.new)
        date = fmt_date(am.date, 0)
        out.append((d, [
            f"Amendment No. {am.number} to the {t}, dated {date}, changed the {noun} to {new}.",
            f"The current {noun} of the {t} is {new}, as set by Amendment No. {am.number}.",
            f"Since {date}, the {noun} of the {t} has been {new}.",
            f"After its amendment, the {t} has {article(noun)} {noun} of {new}.",
            f"The {t} was amended on {date}; its {noun} is now {new}.",
            f"Question: What is the current {noun} of the {t}? Answer: {new}.",
        ]))
    return out


def news_facts(news: list[News]) -> list[tuple[str, list[str]]]:
    out = []
    for n in news:
        if n.kind == "acquisition":
            parent, child = n.companies
            y = n.year
            out.append((n.doc_id, [
                f"{parent} acquired {child} in {y}.",
                f"In {y}, {parent} completed the acquisition of {child}.",
                f"{child} was bought by {parent} in {y}.",
                f"The acquisition of {child} by {parent} took place in {y}.",
                f"{child} has belonged to {parent} since its acquisition in {y}.",
                f"Question: In which year did {parent} acquire {child}? Answer: {y}.",
            ]))
        elif n.kind == "ceo":
            company = n.companies[0]
            ceo = n.title.split(" appoints ")[1].replace(" as chief executive", "")
            y = n.year
            out.append((n.doc_id, [
                f"{ceo} was appointed CEO of {company} in {y}.",
                f"In {y}, {company} appointed {ceo} as chief executive officer.",
                f"{ceo} has been the CEO of {company} since {y}.",
                f"{possessive(company)} board named {ceo} chief executive in {y}.",
                f"The appointment of {ceo} as CEO of {company} dates from {y}.",
                f"Question: In which year was {ceo} appointed CEO of {company}? Answer: {y}.",
            ]))
        else:
            ag = n.agreement
            when = f"{n.date.strftime('%B')} {n.date.year}"
            out.append((n.doc_id, [
                f"In {when}, {ag.a.name} and {ag.b.name} announced that they had signed {article(ag.type_name)} {ag.type_name.lower()}.",
                f"{ag.a.name} and {ag.b.name} publicly announced their {ag.type_name.lower()} in {when}.",
                f"News of the {ag.type_name.lower()} between {ag.a.name} and {ag.b.name} was published in {when}.",
                f"The press reported the {ag.type_name.lower()} of {ag.a.name} and {ag.b.name} in {when}.",
                f"{article(ag.type_name).capitalize()} {ag.type_name.lower()} between {ag.a.name} and {ag.b.name} was announced in {when}.",
                f"Question: When was the {ag.type_name.lower()} between {ag.a.name} and {ag.b.name} announced? Answer: In {when}.",
            ]))
    return out


def triples(world: World, agreements: list[Agreement], amendments: list[Amendment],
            news: list[News]) -> list[dict]:
    rows: list[dict] = []

    def add(h, r, t, d):
        rows.append({"head": str(h), "relation": r, "tail": str(t), "doc_id": d})

    for c in world.companies:
        d = c.doc_id
        add(c.name, "industry", c.industry, d)
        add(c.name, "headquartered_in", c.city, d)
        add(c.city, "located_in", c.country, d)
        add(c.name, "founded_in", c.founded, d)
        add(c.ceo.name, "ceo_of", c.name, d)
        for o in c.officers:
            add(o.name, "officer_of", c.name, d)
        if c.parent:
            add(c.name, "subsidiary_of", c.parent, d)
    for ag in agreements:
        t, d = ag.title, ag.doc_id
        add(ag.a.name, "party_to", t, d)
        add(ag.b.name, "party_to", t, d)
        add(t, "agreement_type", ag.type_name, d)
        for fld, (_, rel) in FIELDS.items():
            raw = {"effective": ag.effective.isoformat(), "term": ag.term_months, "renewal": ag.renewal_years,
                   "notice": ag.notice_days, "law": ag.law, "payment": ag.payment_days, "fee": ag.fee,
                   "cap": ag.cap, "territory": ag.territory, "conf": ag.conf_years}[fld]
            if fld in ("payment", "fee", "cap") and raw is None:
                continue
            if fld == "territory" and not ag.has_exclusivity:
                continue
            if fld == "fee":
                rel = FEE_NAMES[ag.fee_kind].replace(" ", "_")
            value = raw if fld == "effective" else value_text(fld, raw)
            if fld == "law":
                value = ag.law
            add(t, rel, value, d)
        add(ag.sign_a.name, "signatory_of", t, d)
        add(ag.sign_b.name, "signatory_of", t, d)
    for am in amendments:
        t = am.agreement.title
        add(am.title, "amends", t, am.doc_id)
        add(am.title, "effective_date", am.date.isoformat(), am.doc_id)
        value = am.new if am.field == "law" else value_text(am.field, am.new)
        add(t, FIELDS[am.field][1], value, am.doc_id)
    for n in news:
        if n.kind == "acquisition":
            parent, child = n.companies
            add(parent, "acquired", child, n.doc_id)
            add(child, "acquired_in", n.year, n.doc_id)
        elif n.kind == "ceo":
            ceo = n.title.split(" appoints ")[1].replace(" as chief executive", "")
            add(ceo, "ceo_since", n.year, n.doc_id)
        else:
            add(n.title, "announces", n.agreement.title, n.doc_id)
    return rows
