"""Build the whole dataset from one seed."""
from __future__ import annotations

import random
from pathlib import Path

from .agreements import build_agreements, build_amendments
from .card import dataset_card
from .control import build_control, control_readme
from .documents import build_news, profile_text
from .knowledge import agreement_facts, company_facts, news_facts, triples
from .questions import build_questions, extra_questions, qa_rows
from .tasks import agreement_splits, clause_rows, extraction_rows
from .util import write_jsonl, write_text
from .world import build_world


def corpus_rows(rng, world, agreements, amendments, news) -> list[dict]:
    rows = []
    for c in sorted(world.companies, key=lambda c: c.doc_id):
        rows.append({"doc_id": c.doc_id, "title": f"Company profile: {c.name}", "text": profile_text(rng, c),
                     "metadata": {"kind": "company_profile", "company": c.name}})
    for ag in agreements:
        rows.append({"doc_id": ag.doc_id, "title": ag.title, "text": ag.text,
                     "metadata": {"kind": "agreement", "agreement_type": ag.type_name,
                                  "parties": [ag.a.name, ag.b.name], "date": ag.effective.isoformat()}})
    for am in amendments:
        rows.append({"doc_id": am.doc_id, "title": am.title, "text": am.text,
                     "metadata": {"kind": "amendment", "amends": am.agreement.doc_id, "date": am.date.isoformat()}})
    for n in news:
        rows.append({"doc_id": n.doc_id, "title": n.title, "text": n.text,
                     "metadata": {"kind": "news", "date": n.date.isoformat(), "companies": n.companies}})
    return rows


def build(seed: int, out: Path, control_out: Path) -> dict[str, int]:
    """Write the contracts dataset to `out` and the control set to `control_out`; return row counts."""
    rng = random.Random(seed)
    world = build_world(rng)
    agreements = build_agreements(rng, world)
    amendments = build_amendments(rng, agreements)
    news = build_news(rng, world, agreements)
    corpus = corpus_rows(rng, world, agreements, amendments, news)
    qs = build_questions(rng, world, agreements, amendments, news)
    qa = qa_rows(qs + extra_questions(seed, world, agreements, amendments, news, qs))
    facts = []
    for doc_id, sentences in company_facts(world) + agreement_facts(agreements, amendments) + news_facts(news):
        facts.append({"fact_id": f"f{len(facts) + 1:04d}", "text": sentences[0], "paraphrases": sentences[1:],
                      "doc_id": doc_id})
    edges = triples(world, agreements, amendments, news)
    splits = agreement_splits(rng, agreements)
    clauses = clause_rows(agreements, splits)
    extraction = extraction_rows(agreements, splits)
    control = build_control(random.Random(seed + 1))

    out = Path(out)
    counts = {
        "corpus.jsonl": write_jsonl(out / "corpus.jsonl", corpus),
        "qa.jsonl": write_jsonl(out / "qa.jsonl", qa),
        "triples.jsonl": write_jsonl(out / "triples.jsonl", edges),
        "facts.jsonl": write_jsonl(out / "facts.jsonl", facts),
        "tasks/clause_classification.jsonl": write_jsonl(out / "tasks" / "clause_classification.jsonl", clauses),
        "tasks/field_extraction.jsonl": write_jsonl(out / "tasks" / "field_extraction.jsonl", extraction),
    }
    write_text(out / "DATASET.md", dataset_card(out, seed))
    control_out = Path(control_out)
    counts["control/control.jsonl"] = write_jsonl(control_out / "control.jsonl", control)
    write_text(control_out / "README.md", control_readme(control, seed))
    return counts
