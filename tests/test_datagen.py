"""The seeded dataset generator and the shipped data it produced (issue: course dataset)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from labsutil.data import QA_TYPES, SPLITS, load_control, load_dataset

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
CONTRACTS = DATA / "contracts"
CONTROL = DATA / "control"


@pytest.fixture(scope="module")
def ds():
    return load_dataset(CONTRACTS)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _build(out: Path, hashseed: str, seed: int = 0) -> None:
    code = "import sys; from labsutil.datagen import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    subprocess.run([sys.executable, "-c", code, "--seed", str(seed), "--out", str(out / "contracts")],
                   check=True, env=env, cwd=ROOT, capture_output=True)


def test_rebuild_is_byte_identical_across_processes(tmp_path):
    """Two processes with different string-hash seeds write the same bytes as the shipped data."""
    _build(tmp_path / "a", "1")
    _build(tmp_path / "b", "2")
    for sub in ("contracts", "control"):
        a, b = _files(tmp_path / "a" / sub), _files(tmp_path / "b" / sub)
        assert a == b, f"{sub}: two builds differ"
        shipped = _files(DATA / sub)
        assert sorted(shipped) == sorted(a), f"{sub}: file lists differ"
        for name in a:
            assert shipped[name] == a[name], f"data/{sub}/{name} differs from a fresh build with seed 0"


def test_another_seed_gives_another_world(tmp_path):
    _build(tmp_path / "s1", "0", seed=1)
    assert _files(tmp_path / "s1" / "contracts")["corpus.jsonl"] != (CONTRACTS / "corpus.jsonl").read_bytes()


def test_files_are_utf8_jsonl_with_unix_newlines():
    for path in sorted(CONTRACTS.rglob("*.jsonl")) + [CONTROL / "control.jsonl"]:
        raw = path.read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        for line in raw.decode("utf-8").splitlines():
            json.loads(line)


def test_data_folder_under_5_mb():
    size = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert size < 5 * 1024 * 1024, size


# ---------------------------------------------------------------- the world and its documents

def test_world_size_and_documents(ds):
    kinds = Counter(d.metadata["kind"] for d in ds.corpus)
    assert 45 <= kinds["company_profile"] <= 55
    assert 90 <= kinds["agreement"] <= 110
    assert kinds["amendment"] >= 10 and kinds["news"] >= 5
    for d in ds.corpus:
        if d.metadata["kind"] == "agreement":
            assert 1000 <= len(d.text) <= 4000, d.doc_id
            assert re.search(r"(^|\n)(1\. |Section 1 )", d.text), d.doc_id  # numbered clauses


def test_company_names_are_distinct():
    from labsutil.datagen.world import _levenshtein

    names = [d.metadata["company"] for d in load_dataset(CONTRACTS).corpus if d.metadata["kind"] == "company_profile"]
    stems = [n.split()[0].lower() for n in names]
    assert len(set(stems)) == len(stems)
    assert len({s[:3] for s in stems}) == len(stems)
    for i, a in enumerate(stems):
        for b in stems[i + 1:]:
            assert _levenshtein(a, b) >= 3, (a, b)


def test_ownership_chains_of_three_levels(ds):
    parent = {t.head: t.tail for t in ds.triples if t.relation == "subsidiary_of"}
    depth = {c: 1 + (1 if parent.get(p) else 0) for c, p in parent.items()}
    assert max(depth.values()) == 2  # company -> parent -> grandparent
    assert sum(1 for v in depth.values() if v == 2) >= 5


def test_clause_order_and_wording_vary(ds):
    positions, openings = Counter(), Counter()
    for d in ds.corpus:
        if d.metadata["kind"] != "agreement":
            continue
        paragraphs = d.text.split("\n\n")
        openings[paragraphs[1][:20]] += 1
        for para in paragraphs:
            m = re.match(r"(?:Section )?(\d+)", para)
            if m and re.search(r"\blaws? of\b", para):
                positions[int(m.group(1))] += 1
                break
    assert sum(positions.values()) == sum(1 for d in ds.corpus if d.metadata["kind"] == "agreement")
    assert len(positions) >= 5  # the governing-law clause sits at many different numbers
    assert len(openings) >= 3


# ---------------------------------------------------------------- questions

def test_question_counts_types_and_splits(ds):
    n = len(ds.qa)
    assert n >= 400
    share = Counter(q.type for q in ds.qa)
    targets = {"single_hop": 0.3, "multi_hop": 0.3, "comparison": 0.3, "aggregation": 0.05, "global": 0.025,
               "unanswerable": 0.025}
    for t, target in targets.items():
        assert abs(share[t] / n - target) <= 0.03, (t, share[t])
    for t in ("single_hop", "multi_hop", "comparison"):  # enough for an interval of about +-10 points per type
        assert sum(q.split == "test" and q.type == t for q in ds.qa) >= 100, t
    for t in QA_TYPES:  # every type in every split
        assert {q.split for q in ds.qa if q.type == t} == set(SPLITS)
    assert len({q.question for q in ds.qa}) == n


def test_second_draw_repeats_no_first_draw_question(ds):
    first, second = ds.qa[:500], ds.qa[500:]
    assert [q.qid for q in second] == [f"q{k:03d}" for k in range(501, len(ds.qa) + 1)]
    first_comparisons = {(q.question.split(":")[0], tuple(sorted(q.doc_ids))) for q in first if q.type == "comparison"}
    for q in second:
        assert q.type in ("single_hop", "multi_hop", "comparison"), q.qid
        if q.type == "comparison":
            assert (q.question.split(":")[0], tuple(sorted(q.doc_ids))) not in first_comparisons, q.qid
    for t in ("single_hop", "multi_hop", "comparison"):  # each draw is split 35/15/50 within the type
        drawn = [q for q in second if q.type == t]
        assert sum(q.split == "test" for q in drawn) == round(0.35 * len(drawn)), t


def test_choices_where_required(ds):
    for q in ds.qa:
        if q.type in ("global", "unanswerable"):
            assert q.choices is None, q.qid
            continue
        assert q.choices is not None and len(q.choices) == 4, q.qid
        assert len(set(q.choices)) == 4
        assert q.choices[q.answer_index] == q.answer
        norm = {a.lower() for a in q.answers}
        assert sum(c.lower() in norm for c in q.choices) == 1, q.qid  # no distractor is an alias
    positions = Counter(q.answer_index for q in ds.qa if q.choices)
    assert min(positions.values()) > 0.15 * sum(positions.values())


def test_unanswerable_convention(ds):
    for q in ds.questions(types="unanswerable"):
        assert q.answer == "unanswerable" and q.doc_ids == () and q.aliases


def test_single_hop_answers_are_stated_in_the_gold_document(ds):
    from labsutil.evaluate import contains_answer

    for q in ds.questions(types="single_hop"):
        assert len(q.doc_ids) == 1
        assert contains_answer(ds.doc(q.doc_ids[0]).text, q.answer, q.aliases), q.qid


def test_amended_terms_answer_the_current_value(ds):
    from labsutil.evaluate import contains_answer

    amended = [q for q in ds.qa if " current" in q.question or "currently" in q.question]
    assert len(amended) >= 10
    for q in amended:
        assert q.type == "multi_hop"
        agreement, amendment = (ds.doc(d) for d in q.doc_ids)
        assert amendment.metadata["amends"] == agreement.doc_id
        assert contains_answer(amendment.text, q.answer, q.aliases), q.qid
        original = [c for c in q.choices if c != q.answer]
        assert any(contains_answer(agreement.text, c, []) for c in original), q.qid  # old value is a distractor


def test_multi_hop_and_aggregation_cite_several_documents(ds):
    for q in ds.questions(types=["multi_hop", "comparison"]):
        assert len(q.doc_ids) >= 2, q.qid
    for q in ds.questions(types="aggregation"):
        if q.answer.isdigit():
            assert len(q.doc_ids) >= int(q.answer) >= 1, q.qid


# ---------------------------------------------------------------- triples, facts, tasks

def test_triples_and_facts(ds):
    relations = {t.relation for t in ds.triples}
    for rel in ("party_to", "signatory_of", "subsidiary_of", "ceo_of", "headquartered_in", "governed_by",
                "industry", "amends"):
        assert rel in relations
    assert all(len(f.paraphrases) >= 5 for f in ds.facts)
    assert {f.doc_id for f in ds.facts} == {d.doc_id for d in ds.corpus}
    assert len({f.text for f in ds.facts}) == len(ds.facts)


def test_task_data(ds):
    from labsutil.datagen.tasks import CLAUSE_LABELS, EXTRACTION_FIELDS

    assert {c.label for c in ds.clause_classification} == set(CLAUSE_LABELS)
    assert {c.split for c in ds.clause_classification} == set(SPLITS)
    by_doc = {}
    for c in ds.clause_classification:
        by_doc.setdefault(c.doc_id, set()).add(c.split)
        assert c.text in ds.doc(c.doc_id).text
    assert all(len(s) == 1 for s in by_doc.values())  # splits are by agreement
    for e in ds.field_extraction:
        assert list(e.fields) == EXTRACTION_FIELDS
        assert e.text == ds.doc(e.doc_id).text
        assert e.fields["party_a"] in e.text and e.fields["governing_law"] in e.text
        assert by_doc[e.doc_id] == {e.split}


def test_control_set():
    items = load_control(CONTROL)
    assert 90 <= len(items) <= 120
    assert all(len(it.choices) == 4 and len(set(it.choices)) == 4 for it in items)
    assert {it.category for it in items} == {"geography", "science", "arithmetic", "general"}
    assert (CONTROL / "README.md").is_file()


# ---------------------------------------------------------------- DATASET.md

def _tables(markdown: str) -> dict[str, list[list[str]]]:
    """### heading -> rows of its first table (header and separator excluded)."""
    out: dict[str, list[list[str]]] = {}
    heading = None
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = line[4:].strip() if line.startswith("### ") else None
            if heading:
                out[heading] = []
        elif heading and line.startswith("|") and not line.startswith("|---"):
            out[heading].append([c.strip() for c in line.strip("|").split("|")])
    return {h: rows[1:] for h, rows in out.items()}  # drop the header row


def test_dataset_card_statistics_match_the_files(ds):
    card = (CONTRACTS / "DATASET.md").read_text(encoding="utf-8")
    for needle in ("fictional", "CC-BY-4.0", "Apache-2.0", "build-data --seed 0", "Known limits"):
        assert needle in card
    tables = _tables(card)

    corpus = {r[0]: r[1:] for r in tables["Corpus (`corpus.jsonl`)"]}
    kinds = Counter(d.metadata["kind"] for d in ds.corpus)
    for kind, n in kinds.items():
        lengths = [len(d.text) for d in ds.corpus if d.metadata["kind"] == kind]
        assert corpus[kind] == [str(n), str(min(lengths)), str(round(sum(lengths) / n)), str(max(lengths))]
    assert corpus["total"][0] == str(len(ds.corpus))

    qa = {r[0]: r[1:] for r in tables["Questions (`qa.jsonl`) by type and split"]}
    for t in QA_TYPES:
        counts = [sum(q.type == t and q.split == s for q in ds.qa) for s in SPLITS]
        with_choices = sum(q.type == t and q.choices is not None for q in ds.qa)
        assert qa[t][:4] == [str(c) for c in counts] + [str(sum(counts))]
        assert qa[t][5] == str(with_choices)
    assert qa["total"][3] == str(len(ds.qa))

    rel = {r[0]: int(r[1]) for r in tables["Gold graph edges (`triples.jsonl`) by relation"]}
    assert rel.pop("total") == len(ds.triples)
    assert rel == dict(Counter(t.relation for t in ds.triples))

    facts = {r[0]: int(r[1]) for r in tables["Facts (`facts.jsonl`)"]}
    assert facts["facts"] == len(ds.facts)
    assert facts["paraphrases"] == sum(len(f.paraphrases) for f in ds.facts)
    assert facts["min paraphrases per fact"] == min(len(f.paraphrases) for f in ds.facts)

    clauses = {r[0]: [int(x) for x in r[1:]] for r in
               tables["Clause classification (`tasks/clause_classification.jsonl`) by label and split"]}
    assert clauses.pop("total")[3] == len(ds.clause_classification)
    for label, row in clauses.items():
        assert row[:3] == [sum(c.label == label and c.split == s for c in ds.clause_classification) for s in SPLITS]

    extraction = tables["Field extraction (`tasks/field_extraction.jsonl`) by split"][0]
    assert [int(x) for x in extraction[1:4]] == [sum(e.split == s for e in ds.field_extraction) for s in SPLITS]

    for name, size in tables["File sizes (bytes)"]:
        assert (CONTRACTS / name.strip("`")).stat().st_size == int(size)
