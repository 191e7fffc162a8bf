"""DATASET.md: how the data was made, its schema, license, and statistics counted from the files."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .questions import QA_TYPES

SPLITS = ("train", "dev", "test")
FILES = ["corpus.jsonl", "qa.jsonl", "triples.jsonl", "facts.jsonl", "tasks/clause_classification.jsonl",
         "tasks/field_extraction.jsonl"]

# Measured with `python -m labsutil check-data data/contracts` on the seed-0 build
# (SmolLM2-135M-Instruct, CPU, greedy). Not recomputed by the generator: rerun the
# command after changing the generator and update these lines.
MEASURED = """\
| check | n | result |
|---|---|---|
| closed-book multiple choice, test split (log-likelihood of each option; chance 25%) | {mc_n} | {mc} |
| control set, multiple choice (log-likelihood) | {ctl_n} | {ctl} |
| gold document in the prompt, free-text answer contains the answer or an alias (single-hop, test) | {gold_n} | {gold} |
"""
MEASURED_VALUES = {"mc_n": "335", "mc": "26.6% (89 correct; single-hop 28.3%, multi-hop 23.8%, comparison 25.5%, aggregation 38.9%)",
                   "ctl_n": "100", "ctl": "60.0% (geography 80%, science 64%, arithmetic 32%, general 64%)",
                   "gold_n": "106", "gold": "70.8% (75 of 106; prompt: the document, the question, \"Answer briefly.\"; greedy, 32 new tokens)"}


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def statistics(out: Path) -> str:
    corpus = _read(out / "corpus.jsonl")
    qa = _read(out / "qa.jsonl")
    triples = _read(out / "triples.jsonl")
    facts = _read(out / "facts.jsonl")
    clauses = _read(out / "tasks/clause_classification.jsonl")
    extraction = _read(out / "tasks/field_extraction.jsonl")
    parts = []

    kinds: dict[str, list[int]] = {}
    for d in corpus:
        kinds.setdefault(d["metadata"]["kind"], []).append(len(d["text"]))
    rows = [[k, len(v), min(v), round(sum(v) / len(v)), max(v)] for k, v in kinds.items()]
    all_len = [len(d["text"]) for d in corpus]
    rows.append(["total", len(corpus), min(all_len), round(sum(all_len) / len(all_len)), max(all_len)])
    parts.append("### Corpus (`corpus.jsonl`)\n\n" + _table(
        ["kind", "documents", "min chars", "mean chars", "max chars"], rows))

    counts = Counter((q["type"], q["split"]) for q in qa)
    with_choices = Counter(q["type"] for q in qa if "choices" in q)
    rows = []
    for t in QA_TYPES:
        total = sum(counts[(t, s)] for s in SPLITS)
        rows.append([t, *(counts[(t, s)] for s in SPLITS), total, f"{100 * total / len(qa):g}%", with_choices[t]])
    rows.append(["total", *(sum(counts[(t, s)] for t in QA_TYPES) for s in SPLITS), len(qa), "100%",
                 sum(with_choices.values())])
    parts.append("### Questions (`qa.jsonl`) by type and split\n\n" + _table(
        ["type", "train", "dev", "test", "total", "share", "with choices"], rows))

    rel = Counter(t["relation"] for t in triples)
    rows = [[r, n] for r, n in sorted(rel.items())] + [["total", len(triples)]]
    parts.append("### Gold graph edges (`triples.jsonl`) by relation\n\n" + _table(["relation", "edges"], rows))

    n_para = [len(f["paraphrases"]) for f in facts]
    rows = [["facts", len(facts)], ["paraphrases", sum(n_para)], ["min paraphrases per fact", min(n_para)],
            ["documents with facts", len({f["doc_id"] for f in facts})]]
    parts.append("### Facts (`facts.jsonl`)\n\n" + _table(["count", "value"], rows))

    c_split = Counter((c["label"], c["split"]) for c in clauses)
    labels = list(dict.fromkeys(c["label"] for c in clauses))
    rows = [[lab, *(c_split[(lab, s)] for s in SPLITS), sum(c_split[(lab, s)] for s in SPLITS)] for lab in labels]
    rows.append(["total", *(sum(c_split[(lab, s)] for lab in labels) for s in SPLITS), len(clauses)])
    parts.append("### Clause classification (`tasks/clause_classification.jsonl`) by label and split\n\n" + _table(
        ["label", "train", "dev", "test", "total"], rows))

    e_split = Counter(e["split"] for e in extraction)
    rows = [["agreements", *(e_split[s] for s in SPLITS), len(extraction)]]
    parts.append("### Field extraction (`tasks/field_extraction.jsonl`) by split\n\n" + _table(
        ["records", "train", "dev", "test", "total"], rows))

    sizes = [[f"`{f}`", (out / f).stat().st_size] for f in FILES]
    parts.append("### File sizes (bytes)\n\n" + _table(["file", "bytes"], sizes))
    return "\n\n".join(parts)


CARD = """# Contracts: a fictional dataset of agreements between companies

**Everything in this dataset is fictional.** The companies, people, agreements,
amendments and news items were invented by a seeded program; any resemblance to real
companies or persons is accidental. Cities and countries are real places, used only as
settings. A base model therefore cannot know the answers: any gain measured on this data
after retrieval, a knowledge graph or fine-tuning is knowledge the method injected.

The domain mirrors the legal-contract data (CUAD) of the KDD 2024 tutorial on
domain-driven LLM development: agreements between companies, with clauses on term,
renewal, termination, governing law, payment, liability, exclusivity and confidentiality.

- **License:** data CC-BY-4.0; the generator code (`labsutil/datagen/`) Apache-2.0.
- **Regenerate:** `python -m labsutil build-data --seed {seed} --out data/contracts`
  (byte-identical output for the same seed; also writes `data/control/`).
- **Validate:** `python -m labsutil validate-data data/contracts`.
- **Load:** `labsutil.data.load_dataset("data/contracts")`.

## How it was generated
1. **World** (`world.py`): 50 companies with invented, syllable-based names (pairwise
   edit distance >= 3, distinct first three letters), an industry, a headquarters city and
   country, a founding year, a CEO and two other officers. Six investment holdings own
   14 subsidiaries, which own 9 more: ownership chains of two and three levels.
2. **Agreements** (`agreements.py`): 100 agreements of 8 types (supply, license,
   services, distribution, non-disclosure, lease, manufacturing, consulting) between pairs
   of companies (some pairs sign several), each 1-2.5k characters with numbered clauses.
   Every clause has several phrasings (each keeps the field's name, e.g. "termination
   notice period", so that a question can use the document's words), headings and
   numbering styles vary, numbers are written as digits or as "ninety (90) days", dates in
   three styles, the effective date sits in the preamble or in the term clause, and the
   clause order is shuffled, so position alone does not locate a fact.
3. **Amendments**: 16 agreements are amended once; each amendment changes one term
   (initial term, notice period, payment term, liability cap, confidentiality period or
   governing law). The current value is the amended one.
4. **News** (`documents.py`): acquisitions (the only source of acquisition years),
   CEO appointments (the only source of appointment years) and deal announcements.
5. **Questions** (`questions.py`), **triples and facts** (`knowledge.py`), **task data**
   (`tasks.py`) are derived from the same structured records, so every answer is checked
   against the generator's ground truth, not against text.

## Files and schema
All files are JSON lines (UTF-8, one object per line, `\\n` line endings).

- `corpus.jsonl`: `doc_id`, `title`, `text`, `metadata` (`kind`: `company_profile`,
  `agreement`, `amendment` or `news`; plus `company`, `agreement_type`, `parties`,
  `date`, `amends`, `companies` depending on the kind). Document ids: `company-NN`,
  `agreement-NNN`, `amendment-NN`, `news-NN`.
- `qa.jsonl`: `qid`, `question`, `answer`, `aliases` (other accepted spellings: date
  formats, "ninety (90) days", "laws of X", surnames...), `doc_ids` (every document
  needed to answer), `type`, `split`, and for multiple choice `choices` (4 options) and
  `answer_index` (`choices[answer_index] == answer`).
- `triples.jsonl`: `head`, `relation`, `tail`, `doc_id` (the document stating the edge).
  Agreements are nodes named by their title ("Supply Agreement between A and B").
- `facts.jsonl`: `fact_id`, `text`, `paraphrases` (at least 5, the last one in
  question-answer form), `doc_id`.
- `tasks/clause_classification.jsonl`: `id`, `doc_id`, `text` (one clause of an
  agreement, without its number and heading), `label` (one of `scope`, `term`,
  `renewal`, `termination`, `payment`, `liability`, `exclusivity`, `confidentiality`,
  `governing_law`, `assignment`, `notices`, `force_majeure`, `entire_agreement`,
  `severability`, `signatures`), `split`. A term clause may also state the renewal rule
  (then it is labelled `term`).
- `tasks/field_extraction.jsonl`: `id`, `doc_id`, `text` (the whole agreement),
  `fields` (the JSON to extract: `agreement_type`, `party_a`, `party_b`,
  `effective_date` (ISO), `initial_term` (e.g. "3 years", "18 months"),
  `termination_notice_days` (int), `governing_law` (country), `payment_term_days` (int or
  null), `liability_cap` (e.g. "EUR 2,500,000" or null), `exclusive_territory` (str or
  null: non-exclusive or no exclusivity clause), `confidentiality_years` (int)), `split`.
  Values are those written in the agreement itself; amendments are not applied.
  Task splits are by agreement (30% test, 20% dev, 50% train), so no test agreement
  appears in a training example.

## Question types and conventions
- `single_hop` (30%): one document, short literal answer (a country, a date, a number of
  days, a person, an amount). Questions reuse the document's words ("governing law",
  "initial term", "liability cap").
- `multi_hop` (30%): two or three documents: the parent company's CEO or city, the
  ultimate owner through two ownership levels, the governing law of the agreement signed
  by a company's CEO (profile + agreement), the counterparty's CEO or city, the acquirer's
  CEO (news + profile), and the **current value of an amended term** (`doc_ids` = the
  agreement and its amendment; the superseded value is one of the distractors).
- `comparison` (30%): four companies or agreements named in the question; the choices
  are those four.
- `aggregation` (5%): counts and lists over many documents (agreements of a company or
  a pair, agreements of a type under a governing law, subsidiaries, companies per
  country, agreements signed by a person). `doc_ids` are all the counted documents.
- `global` (2.5%): corpus-wide themes (most common governing law, agreement type,
  industry, notice period...), answered in a few words; `doc_ids` are all the documents
  the answer depends on; no `choices`.
- `unanswerable` (2.5%): plausible questions the corpus does not answer (revenue,
  employees, founders, agreements that do not exist, a liability cap in an NDA, which has
  none). `answer` is `"unanswerable"`, `aliases` list refusals ("not stated", "no
  information"...), `doc_ids` is empty, no `choices`.
- Distractors are values of the same field from other agreements or companies (drawn in
  proportion to how often they occur), so a model without the documents is at chance.
- Splits: within each type, 35% test, 15% dev, 50% train (seeded shuffle).
- Two draws. The first 500 questions (`q001`-`q500`: 250 single-hop, 100 multi-hop, 50 each
  comparison and aggregation, 25 each global and unanswerable) are the first release. A second
  draw from its own random stream appends 50 single-hop, 200 multi-hop and 250 comparison
  questions (`q501`-`q1000`), none repeating a first-draw question (same wording, or a
  comparison of the same template over the same items), split 35/15/50 within each type like
  the first. It gives single-hop, multi-hop and comparison at least 100 test questions each,
  enough for a 95% interval of about +-10 points per type; every other file is unchanged by it.

## Statistics
Counted from the files by the generator (a test recounts them).

{stats}

## Measured with the default model
{measured}
Command: `python -m labsutil check-data data/contracts` (about 4 minutes on a quiet 2-core CPU:
80 s, 14 s and 129 s for the three checks; `--n 40` for a quicker sample). Closed book, the model is within 3 points of chance, so
nothing in the data is guessable from general knowledge; with the gold document it
finds the answer most of the time, so retrieval has something to gain.

## Known limits
- The prose is template-based: several phrasings per clause, but far less varied than
  real contracts; there are no cross-references, schedules or defined-term chains.
- Questions are generated from templates; the single-hop ones deliberately reuse the
  documents' words so that a 135M model can answer them with the gold document (an
  earlier draft, whose clauses paraphrased the field names away, scored 54.5% on the
  gold-document check instead of 71.6%, both on the first release's 88 single-hop test questions). Lexical retrieval (BM25) is therefore easy on
  single-hop questions; the multi-hop, comparison and aggregation questions are not.
- Company profiles state each fact as one literal sentence and are repetitive.
- Aliases make free-text scoring lenient (e.g. a bare number "90" counts for "90 days").
- Global answers are short strings; judging free-text global answers needs a human or
  an LLM judge.
- Invented names were not checked against every company register; if one is real, it
  is a coincidence.
"""


def dataset_card(out: Path, seed: int) -> str:
    return CARD.format(seed=seed, stats=statistics(Path(out)), measured=MEASURED.format(**MEASURED_VALUES))
