"""Knowledge-graph extraction from text, three ways, and its quality against gold triples.

    triples = extract.rule_extract(ds.corpus)                      # regexes over the templated sentences
    extract.score_triples(triples, ds.triples)                    # precision / recall / F1, overall and per relation
    llm_triples, report = extract.llm_extract(llm, docs, relations=extract.RELATIONS)

A triple is (head, relation, tail, doc_id), the `labsutil.data.Triple` of the data contract. Values are
written in one canonical form (ISO dates, "3 years", "90 days", "EUR 750,000", no leading "the") so that
triples from the text, from an LLM and from the gold file compare as equal when they say the same thing.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from ..data import Triple
from ..evaluate import normalize_answer
from ..prompting.structured import FieldScore, _as_date

# The relations of the course dataset (data/contracts/triples.jsonl). Other datasets bring their own in
# their triples.jsonl; the LLM extractor is told whichever list it is given.
RELATIONS = (
    "industry", "headquartered_in", "located_in", "founded_in", "ceo_of", "officer_of", "subsidiary_of",
    "party_to", "agreement_type", "effective_date", "initial_term", "renewal_period", "termination_notice",
    "governed_by", "payment_term", "liability_cap", "exclusive_territory", "confidentiality_period",
    "minimum_annual_purchase_commitment", "royalty_rate", "annual_service_fee", "monthly_rent",
    "annual_minimum_order_value", "monthly_retainer", "signatory_of", "amends", "acquired", "acquired_in",
    "ceo_since", "announces",
)

# --------------------------------------------------------------------------- canonical values

_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_WORDS.update({w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
               if w != "_"})
_MONTHS = "January February March April May June July August September October November December".split()
_DURATION = re.compile(r"^(?:[a-z\- ]+\()?(\d+)\)?\s*-?\s*(day|month|year)s?$", re.I)
_DAY_OF = re.compile(r"^(?:the )?(\d{1,2})(?:st|nd|rd|th) day of (\w+),? (\d{4})$", re.I)
_AMOUNT = re.compile(r"^(EUR|USD|GBP|CHF|JPY|CAD)\s*([\d,]+)$")


def _number(text: str) -> int | None:
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    total = 0
    for part in text.split("-"):
        if part not in _WORDS:
            return None
        total += _WORDS[part]
    return total


def canonical_value(text: str) -> str:
    """One spelling per value: 'ninety (90) days' -> '90 days', '24 months' -> '2 years',
    'the 3rd day of May, 2021' / '3 May 2021' / 'May 3, 2021' -> '2021-05-03', 'the Netherlands' -> 'Netherlands',
    'EUR 750000' -> 'EUR 750,000'. Anything else comes back stripped."""
    text = " ".join(str(text).split()).strip(" .;:,\"'")
    m = _DURATION.match(text)
    if not m:  # "three years" (a number word without digits)
        words = re.match(r"^([a-z\-]+)\s+(day|month|year)s?$", text, re.I)
        if words and _number(words.group(1)) is not None:
            m = re.match(r"(\d+) (\w+)", f"{_number(words.group(1))} {words.group(2)}")
    if m:
        n, unit = int(m.group(1)), m.group(2).lower()
        if unit == "month" and n % 12 == 0:
            n, unit = n // 12, "year"
        return f"{n} {unit}" + ("s" if n != 1 else "")
    m = _DAY_OF.match(text)
    if m and m.group(2).capitalize() in _MONTHS:
        return f"{m.group(3)}-{_MONTHS.index(m.group(2).capitalize()) + 1:02d}-{int(m.group(1)):02d}"
    if re.search(r"\d{4}", text) and re.search(r"[A-Za-z]", text):
        iso = _as_date(text)
        if iso:
            return iso
    m = _AMOUNT.match(text)
    if m:
        return f"{m.group(1)} {int(m.group(2).replace(',', '')):,}"
    if text.lower().startswith("the ") and len(text) > 4:
        text = text[4:]
    return text


def triple_key(t: Triple, *, with_doc: bool = True) -> tuple:
    """What makes two triples the same: normalised canonical head and tail, relation, (document)."""
    key = (normalize_answer(canonical_value(t.head)), t.relation, normalize_answer(canonical_value(t.tail)))
    return key + ((t.doc_id,) if with_doc else ())


# --------------------------------------------------------------------------- rule-based extraction

_DATE = r"(?:the \d{1,2}(?:st|nd|rd|th) day of [A-Z][a-z]+, \d{4}|\d{1,2} [A-Z][a-z]+ \d{4}|[A-Z][a-z]+ \d{1,2}, \d{4})"
_DUR = r"(?:[a-z][a-z\- ]*? \(\d+\) |\d+ )(?:day|month|year)s?"
_MONEY = r"(?:EUR|USD|GBP|CHF|JPY|CAD) [\d,]+"
_NAME = r"[A-Z][\w\-]*(?: [A-Z][\w\-]*)*"
_PLACE = r"(?:the )?[A-Z][\w\-]*(?: [A-Za-z][\w\-]*)*?"

# relation -> patterns over an agreement's (or an amendment's) text; group 1 is the value
AGREEMENT_PATTERNS: dict[str, list[str]] = {
    "initial_term": [rf"initial term (?:of this Agreement |of the Agreement )?(?:is|of) (?:now )?({_DUR})"],
    "renewal_period": [rf"renewal periods? (?:is|of) ({_DUR})"],
    "termination_notice": [rf"termination notice period (?:is|of) ({_DUR})",
                           rf"termination notice period under the Agreement is changed to ({_DUR})"],
    "payment_term": [rf"payment term (?:is|of) ({_DUR})", rf"within ({_DUR}) after the invoice date \(the payment term\)",
                     rf"payment term under the Agreement is changed to ({_DUR})"],
    "liability_cap": [rf"liability cap (?:of each party )?(?:is|of) ({_MONEY})", rf"limited to ({_MONEY}) \(the liability cap\)",
                      rf"liability cap under the Agreement is increased to ({_MONEY})"],
    "confidentiality_period": [rf"confidentiality period(?: is| of|, which lasts)(?: changed to)? ({_DUR})",
                               rf"confidentiality period under the Agreement is changed to ({_DUR})"],
    "governed_by": [rf"laws? of ({_PLACE})(?: govern|[,.]| and any| without)"],
    "exclusive_territory": [rf"exclusive territory is ({_PLACE})\.", rf"are exclusive in ({_PLACE}) \(the exclusive territory\)",
                            rf"exclusive territory of the [\w ]+? is ({_PLACE}):"],
    "minimum_annual_purchase_commitment": [rf"minimum annual purchase commitment of ({_MONEY})",
                                           rf"at least ({_MONEY}) in each contract year"],
    "royalty_rate": [r"royalty (?:rate is |of )([\d.]+%)"],
    "annual_service_fee": [rf"annual service fee of ({_MONEY})"],
    "monthly_rent": [rf"monthly rent (?:of|for the Premises is) ({_MONEY})"],
    "annual_minimum_order_value": [rf"at least ({_MONEY}) per year \(the annual minimum order value\)",
                                   rf"annual minimum order value is ({_MONEY})"],
    "monthly_retainer": [rf"monthly retainer of ({_MONEY})"],
}
_NON_EXCLUSIVE = re.compile(r"non-exclusive|any exclusive rights or exclusive territory")
_NO_RENEWAL = re.compile(r"does not renew automatically|no automatic renewal")
_EFFECTIVE = [rf"as of ({_DATE}) \(the \"Effective Date\"\)", rf"made on ({_DATE}) \(the \"Effective Date\"\)",
              rf"Effective [Dd]ate: ({_DATE})", rf"effective date of this Agreement is ({_DATE})",
              rf"takes effect on ({_DATE}) \(the effective date\)"]
_SIGNED = [rf"Signed on behalf of ({_NAME}): ({_NAME}),", rf"Signed on behalf of ({_NAME}) by ({_NAME}) \(",
           rf"On behalf of ({_NAME}), signed by ({_NAME}),"]


def _first(patterns: Iterable[str], text: str) -> str | None:
    for p in patterns:
        m = re.search(p, text)
        if m:
            return m.group(1)
    return None


def _profile(doc) -> list[tuple[str, str, str]]:
    text = doc.text
    name = re.sub(r"^(Company profile|COMPANY PROFILE|About):?\s*", "", doc.title).strip()
    out = []
    m = re.search(rf"(?:{re.escape(name)}|it) operates in the ([a-z ]+?) industry", text)
    if m:
        out.append((name, "industry", m.group(1)))
    m = re.search(rf"(?:{re.escape(name)} is headquartered in|The headquarters of {re.escape(name)} are in) "
                  rf"({_NAME}), ({_PLACE})\.", text)
    if m:
        out += [(name, "headquartered_in", m.group(1)), (m.group(1), "located_in", m.group(2))]
    m = re.search(rf"(?:{re.escape(name)}|The company) was founded in (\d{{4}})", text)
    if m:
        out.append((name, "founded_in", m.group(1)))
    m = re.search(rf"The CEO (?:\(chief executive officer\) )?of {re.escape(name)} is ({_NAME})\.", text)
    if m:
        out.append((m.group(1), "ceo_of", name))
    for m in re.finditer(rf"The ((?:Chief|General|Head|Commercial)[\w ]+?) of {re.escape(name)} is ({_NAME})\.", text):
        out.append((m.group(2), "officer_of", name))
    m = re.search(rf"The parent company of {re.escape(name)} is ({_NAME})", text)
    if m:
        out.append((name, "subsidiary_of", m.group(1)))
    return out


def _agreement_values(head: str, text: str) -> list[tuple[str, str, str]]:
    out = []
    for rel, patterns in AGREEMENT_PATTERNS.items():
        value = _first(patterns, text)
        if value:
            out.append((head, rel, value))
    return out


def _agreement(doc) -> list[tuple[str, str, str]]:
    text = doc.text
    kind = text.strip().splitlines()[0].strip().title()  # "DISTRIBUTION AGREEMENT" -> "Distribution Agreement"
    signed = [m for p in _SIGNED for m in re.finditer(p, text)]
    parties = [m.group(1) for m in signed]
    if len(parties) < 2:
        return []
    title = f"{kind} between {parties[0]} and {parties[1]}"
    out = [(p, "party_to", title) for p in parties[:2]] + [(title, "agreement_type", kind)]
    date = _first(_EFFECTIVE, text)
    if date:
        out.append((title, "effective_date", date))
    out += _agreement_values(title, text)
    if not any(r == "renewal_period" for _, r, _ in out) and _NO_RENEWAL.search(text):
        out.append((title, "renewal_period", "no automatic renewal"))
    if not any(r == "exclusive_territory" for _, r, _ in out) and _NON_EXCLUSIVE.search(text):
        out.append((title, "exclusive_territory", "non-exclusive"))
    out += [(m.group(2), "signatory_of", title) for m in signed[:2]]
    return out


def _amendment(doc) -> list[tuple[str, str, str]]:
    text = doc.text
    m = re.search(rf"This Amendment No\. (\d+) is made on ({_DATE}) between ({_NAME}) and ({_NAME}) and amends the "
                  rf"([\w\- ]+? Agreement) between them", text)
    if not m:
        return []
    agreement = f"{m.group(5)} between {m.group(3)} and {m.group(4)}"
    title = f"Amendment No. {m.group(1)} to the {agreement}"
    body = text[m.end():]
    return [(title, "amends", agreement), (title, "effective_date", m.group(2))] + _agreement_values(agreement, body)


def _news(doc) -> list[tuple[str, str, str]]:
    text, title = doc.text, doc.title
    m = re.match(rf"({_NAME}) completes acquisition of ({_NAME})$", title)
    if m:
        year = re.search(rf"acquired {re.escape(m.group(2))} in (\d{{4}})", text)
        return [(m.group(1), "acquired", m.group(2))] + ([(m.group(2), "acquired_in", year.group(1))] if year else [])
    m = re.match(rf"({_NAME}) appoints ({_NAME}) as chief executive$", title)
    if m:
        year = re.search(rf"{re.escape(m.group(2))} (?:was appointed Chief Executive Officer |as CEO)[^.]*?(\d{{4}})|"
                         rf"In [A-Z][a-z]+ (\d{{4}}), the board", text)
        return [(m.group(2), "ceo_since", year.group(1) or year.group(2))] if year else []
    m = re.match(rf"({_NAME}) and ({_NAME}) sign ([a-z\- ]+ agreement)$", title)
    if m:
        return [(title, "announces", f"{m.group(3).title()} between {m.group(1)} and {m.group(2)}")]
    return []


def _kind(doc) -> str:
    meta = getattr(doc, "metadata", None) or {}
    if meta.get("kind"):
        return meta["kind"]
    return doc.doc_id.split("-")[0]


_EXTRACTORS = {"company_profile": _profile, "company": _profile, "agreement": _agreement, "amendment": _amendment,
               "news": _news}


def rule_extract(corpus: Sequence) -> list[Triple]:
    """Regular expressions over the sentences the course's generator writes (see labsutil/datagen).

    They know the templates, which is the point and the limit of rules: near-perfect on text written
    this way, nothing on text written any other way (documents of an unknown kind give no triples).
    """
    out: list[Triple] = []
    for doc in corpus:
        extractor = _EXTRACTORS.get(_kind(doc))
        for head, rel, tail in (extractor(doc) if extractor else []):
            out.append(Triple(canonical_value(head), rel, canonical_value(tail), doc.doc_id))
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- quality against gold

def score_triples(predicted: Sequence[Triple], gold: Sequence[Triple], *, doc_ids: Iterable[str] | None = None,
                  with_doc: bool = True) -> dict:
    """Micro precision / recall / F1 of predicted triples against gold ones, overall and per relation.

    Two triples match when their canonical, normalised head, relation and tail are equal (and their
    document, with `with_doc`). `doc_ids` restricts both sides to some documents (e.g. those an LLM read).
    """
    if doc_ids is not None:
        keep = set(doc_ids)
        predicted = [t for t in predicted if t.doc_id in keep]
        gold = [t for t in gold if t.doc_id in keep]
    pred_keys = {triple_key(t, with_doc=with_doc) for t in predicted}
    gold_keys = {triple_key(t, with_doc=with_doc) for t in gold}
    per_relation = {}
    for rel in sorted({k[1] for k in pred_keys | gold_keys}):
        p = {k for k in pred_keys if k[1] == rel}
        g = {k for k in gold_keys if k[1] == rel}
        per_relation[rel] = FieldScore(len(p & g), len(p - g), len(g - p))
    total = FieldScore(len(pred_keys & gold_keys), len(pred_keys - gold_keys), len(gold_keys - pred_keys))
    return {"precision": round(total.precision, 4), "recall": round(total.recall, 4), "f1": round(total.f1, 4),
            "n_predicted": len(pred_keys), "n_gold": len(gold_keys),
            "per_relation": {r: {"precision": round(s.precision, 4), "recall": round(s.recall, 4), "f1": round(s.f1, 4),
                                 "n_gold": s.tp + s.fn} for r, s in per_relation.items()}}


def per_relation_frame(scores: dict[str, dict]):
    """{extractor name: score_triples(...)} -> a table: one row per relation, F1 of each extractor."""
    import pandas as pd

    rels = sorted({r for s in scores.values() for r in s["per_relation"]})
    rows = []
    for rel in rels:
        row = {"relation": rel}
        for name, s in scores.items():
            pr = s["per_relation"].get(rel)
            row[f"f1_{name}"] = pr["f1"] if pr else None
        row["n_gold"] = max((s["per_relation"].get(rel, {}).get("n_gold", 0) for s in scores.values()), default=0)
        rows.append(row)
    return pd.DataFrame(rows).set_index("relation")


# --------------------------------------------------------------------------- LLM extraction

EXTRACT_SYSTEM = "You extract facts from business documents as triples."
EXTRACT_INSTRUCTION = ("List the facts of the document, one per line, as: head | relation | tail\n"
                       "Use only these relations: {relations}.")
# Few-shot examples, written for this purpose (their names occur nowhere in the course data).
EXTRACT_EXAMPLES = [
    ("Company profile: Norvale Foods",
     "Norvale Foods\n\nThe headquarters of Norvale Foods are in Ghent, Belgium. Norvale Foods operates in the food "
     "processing industry. The CEO of Norvale Foods is Ada Lindqvist. The parent company of Norvale Foods is "
     "Bexmoor Holdings.",
     [("Norvale Foods", "headquartered_in", "Ghent"), ("Ghent", "located_in", "Belgium"),
      ("Norvale Foods", "industry", "food processing"), ("Ada Lindqvist", "ceo_of", "Norvale Foods"),
      ("Norvale Foods", "subsidiary_of", "Bexmoor Holdings")]),
    ("Supply Agreement between Norvale Foods and Cortex Works",
     "SUPPLY AGREEMENT\n\nThis Supply Agreement is made on 4 March 2020 between Norvale Foods and Cortex Works.\n"
     "1. Term. The initial term is 2 years.\n2. Governing Law. This Agreement is governed by the laws of Italy.\n"
     "Signed on behalf of Norvale Foods by Ada Lindqvist (Chief Executive Officer).",
     [("Norvale Foods", "party_to", "Supply Agreement between Norvale Foods and Cortex Works"),
      ("Cortex Works", "party_to", "Supply Agreement between Norvale Foods and Cortex Works"),
      ("Supply Agreement between Norvale Foods and Cortex Works", "effective_date", "4 March 2020"),
      ("Supply Agreement between Norvale Foods and Cortex Works", "initial_term", "2 years"),
      ("Supply Agreement between Norvale Foods and Cortex Works", "governed_by", "Italy"),
      ("Ada Lindqvist", "signatory_of", "Supply Agreement between Norvale Foods and Cortex Works")]),
]


def extraction_messages(doc, relations: Sequence[str], *, shots: int = 1, max_chars: int = 1800) -> list[dict]:
    """A few-shot chat: each example is a user turn (a document) and an assistant turn (its triples).
    With one shot, the example of the document's kind (a profile for a profile, else the agreement)."""
    instruction = EXTRACT_INSTRUCTION.format(relations=", ".join(relations))
    examples = list(EXTRACT_EXAMPLES)
    if _kind(doc) in ("company_profile", "company"):
        examples.reverse()  # the matching example last, next to the document
    messages = [{"role": "system", "content": EXTRACT_SYSTEM}]
    for title, text, triples in examples[len(examples) - min(shots, len(examples)):]:
        messages.append({"role": "user", "content": f"Document: {title}\n{text}\n\n{instruction}"})
        messages.append({"role": "assistant", "content": "\n".join(" | ".join(t) for t in triples)})
    messages.append({"role": "user", "content": f"Document: {doc.title}\n{doc.text[:max_chars]}\n\n{instruction}"})
    return messages


@dataclass
class ExtractionReport:
    """What the LLM wrote and what survived parsing and validation."""

    docs: list[str] = field(default_factory=list)
    lines: int = 0  # non-empty lines written
    parsed: int = 0  # lines of the form head | relation | tail
    known_relation: int = 0  # ... whose relation is one of the allowed ones
    grounded: int = 0  # ... whose head and tail occur in the document (valid triples)
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    raw: list[str] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)

    def metrics(self) -> dict:
        return {"lines_per_doc": round(self.lines / max(1, len(self.docs)), 2),
                "parse_rate": round(self.parsed / self.lines, 4) if self.lines else 0.0,
                "valid_rate": round(self.grounded / self.lines, 4) if self.lines else 0.0,
                "valid_triples_per_doc": round(self.grounded / max(1, len(self.docs)), 2),
                "n_docs": len(self.docs)}


def _occurs(value: str, text_norm: str, canon_values: set[str]) -> bool:
    norm = normalize_answer(value)
    return bool(norm) and (f" {norm} " in text_norm or canonical_value(value) in canon_values)


def parse_triples(text: str, doc, relations: Sequence[str], report: ExtractionReport | None = None) -> list[Triple]:
    """Lines 'head | relation | tail' -> validated triples: the relation must be allowed, the head and
    the tail must occur in the document's title or text (a value may be written differently: '2 years' for
    'two (2) years')."""
    report = report if report is not None else ExtractionReport()
    allowed = set(relations)
    source = f"{doc.title}\n{doc.text}"
    text_norm = f" {normalize_answer(source)} "
    canon_values = {canonical_value(m.group(0)) for p in (_DATE, _DUR, _MONEY) for m in re.finditer(p, source)}
    out = []
    for line in text.splitlines():
        line = line.strip().strip("-*• ").strip()
        if not line:
            continue
        report.lines += 1
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not all(parts):
            report.rejected["not head | relation | tail"] += 1
            continue
        report.parsed += 1
        head, rel, tail = parts
        rel = rel.lower().replace(" ", "_")
        if rel not in allowed:
            report.rejected["unknown relation"] += 1
            continue
        report.known_relation += 1
        if not (_occurs(head, text_norm, canon_values) and _occurs(tail, text_norm, canon_values)):
            report.rejected["head or tail not in the document"] += 1
            continue
        report.grounded += 1
        out.append(Triple(canonical_value(head), rel, canonical_value(tail), doc.doc_id))
    return list(dict.fromkeys(out))


def llm_extract(llm, docs: Sequence, relations: Sequence[str] = RELATIONS, *, max_new_tokens: int = 128,
                batch_size: int | None = None, shots: int = 1) -> tuple[list[Triple], ExtractionReport]:
    """Few-shot triple extraction by the LLM (greedy, batched), parsed and validated (`parse_triples`)."""
    report = ExtractionReport(docs=[d.doc_id for d in docs])
    start = time.perf_counter()
    gens = llm.generate([extraction_messages(d, relations, shots=shots) for d in docs],
                        max_new_tokens=max_new_tokens, batch_size=batch_size) if docs else []
    report.seconds = round(time.perf_counter() - start, 2)
    triples: list[Triple] = []
    for doc, gen in zip(docs, gens):
        report.raw.append(gen.text)
        report.tokens_in += gen.tokens_in
        report.tokens_out += gen.tokens_out
        triples += parse_triples(gen.text, doc, relations, report)
    return triples, report


def sample_docs(corpus: Sequence, n: int, seed: int = 0) -> list:
    """n documents, as many of each kind as possible in turn (profiles, agreements, ...), seeded."""
    import random

    rng = random.Random(seed)
    groups: dict[str, list] = {}
    for doc in corpus:
        groups.setdefault(_kind(doc), []).append(doc)
    for docs in groups.values():
        rng.shuffle(docs)
    kinds = sorted(groups, key=lambda k: (-len(groups[k]), k))  # the commonest kinds first
    out = []
    while len(out) < min(n, len(corpus)):
        for kind in kinds:
            if groups[kind] and len(out) < n:
                out.append(groups[kind].pop())
    return out
