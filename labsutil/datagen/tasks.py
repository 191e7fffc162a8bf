"""Task data for the prompting lab: clause classification and field extraction."""
from __future__ import annotations

import random

from .agreements import Agreement
from .fields import answer_of

CLAUSE_LABELS = ["scope", "term", "renewal", "termination", "payment", "liability", "exclusivity",
                 "confidentiality", "governing_law", "assignment", "notices", "force_majeure",
                 "entire_agreement", "severability", "signatures"]
TASK_SHARES = (("test", 0.3), ("dev", 0.2))  # by agreement; the rest is train
EXTRACTION_FIELDS = ["agreement_type", "party_a", "party_b", "effective_date", "initial_term",
                     "termination_notice_days", "governing_law", "payment_term_days", "liability_cap",
                     "exclusive_territory", "confidentiality_years"]


def agreement_splits(rng: random.Random, agreements: list[Agreement]) -> dict[str, str]:
    ids = [ag.doc_id for ag in agreements]
    rng.shuffle(ids)
    n = len(ids)
    n_test, n_dev = round(n * TASK_SHARES[0][1]), round(n * TASK_SHARES[1][1])
    return {d: ("test" if k < n_test else "dev" if k < n_test + n_dev else "train") for k, d in enumerate(ids)}


def clause_rows(agreements: list[Agreement], splits: dict[str, str]) -> list[dict]:
    rows = []
    for ag in agreements:
        for label, text in ag.clauses:
            rows.append({"id": f"clause-{len(rows) + 1:04d}", "doc_id": ag.doc_id, "text": text, "label": label,
                         "split": splits[ag.doc_id]})
    return rows


def extraction_fields(ag: Agreement) -> dict:
    """The fields as written in the agreement itself (amendments are not applied)."""
    return {
        "agreement_type": ag.type_name,
        "party_a": ag.a.name,
        "party_b": ag.b.name,
        "effective_date": ag.effective.isoformat(),
        "initial_term": answer_of("term", ag.term_months)[0],
        "termination_notice_days": ag.notice_days,
        "governing_law": ag.law,
        "payment_term_days": ag.payment_days,
        "liability_cap": answer_of("cap", ag.cap)[0] if ag.cap else None,
        "exclusive_territory": ag.territory,
        "confidentiality_years": ag.conf_years,
    }


def extraction_rows(agreements: list[Agreement], splits: dict[str, str]) -> list[dict]:
    return [{"id": f"extract-{k:03d}", "doc_id": ag.doc_id, "text": ag.text, "fields": extraction_fields(ag),
             "split": splits[ag.doc_id]} for k, ag in enumerate(agreements, 1)]
