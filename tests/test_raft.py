"""RAFT data (lab 07): oracle and hard distractors, the oracle share, quotes, leakage checks, scoring."""
from __future__ import annotations

import pytest

from labsutil.data import Document, QAItem
from labsutil.llm import Generation
from labsutil.rag import retrieval as R
from labsutil.tuning import raft

from test_retrieval import HashEmbedder

DOCS = [Document(f"d{i}", f"Company {i}", f"Company {i} is based in City{i}. It was founded in {1990 + i}. "
                                          f"Its chief executive is Person{i}.", {}) for i in range(8)]


def q(i, split="train", qtype="single_hop", docs=None, answer=None):
    return QAItem(qid=f"{split}{i}", question=f"Where is Company {i} based?", answer=answer or f"City{i}",
                  aliases=(), doc_ids=tuple(docs or (f"d{i}",)), type=qtype, split=split)


@pytest.fixture(scope="module")
def index():
    return R.DenseIndex.build(R.chunk_corpus(DOCS, chunk_size=500, chunk_overlap=0), HashEmbedder())


def test_oracle_chunk_holds_the_answer_and_distractors_come_from_other_documents(index):
    question = q(3)
    assert [c.doc_id for c in raft.oracle_chunks(index, question)] == ["d3"]
    [distractors] = raft.hard_distractors(index, [question], 3)
    assert len(distractors) == 3 and "d3" not in {c.doc_id for c in distractors}
    assert len({c.doc_id for c in distractors}) == 3  # one chunk per document


@pytest.mark.parametrize("p, expected", [(1.0, 8), (0.0, 0)])
def test_the_oracle_share_follows_p(index, p, expected):
    rows = raft.examples(index, [q(i) for i in range(8)], p_oracle=p, distractors=2, context_chars=200)
    assert sum(r["oracle_present"] for r in rows) == expected and raft.oracle_share(rows) == expected / 8
    for r, i in zip(rows, range(8)):
        shown = r["prompt"][-1]["content"]
        assert (f"[d{i}]" in shown) == (p == 1.0)  # the oracle's header is in the prompt only when present
        assert shown.count("[d") == 3  # the oracle and 2 distractors, or 3 distractors
        assert r["completion"][0]["content"].startswith(f"City{i}")


def test_a_middle_p_is_seeded_and_cites_the_oracle_only_when_shown(index):
    rows = raft.examples(index, [q(i) for i in range(8)], p_oracle=0.5, distractors=1, context_chars=200, seed=3)
    again = raft.examples(index, [q(i) for i in range(8)], p_oracle=0.5, distractors=1, context_chars=200, seed=3)
    assert rows == again and 0 < raft.oracle_share(rows) < 1
    for r in rows:
        assert r["completion"][0]["content"].endswith("]") == r["oracle_present"]


def test_quoted_answers_quote_the_supporting_sentence_and_only_the_answer_is_scored(index):
    [row] = raft.examples(index, [q(2)], p_oracle=1.0, distractors=1, context_chars=500, quote=True)
    text = row["completion"][0]["content"]
    assert text.startswith('Quote: "Company 2 is based in City2."') and "Answer: City2 [d2]" in text
    assert raft.scored_part('Quote: "Company 2 is based in City2."\nAnswer: Lisbon', quote=True) == "Lisbon"
    assert raft.scored_part('Quote: "Company 2 is based in City2."', quote=True) == ""
    assert raft.scored_part("City2 [d2]") == "City2 [d2]"


def test_leakage_finds_a_test_question_by_id_and_by_text(index):
    train = raft.examples(index, [q(i) for i in range(3)], p_oracle=1.0, distractors=1, context_chars=100)
    test_clean = [q(5, split="test")]
    assert raft.leakage(train, test_clean)["by_id"] == 0 and raft.leakage(train, test_clean)["by_text"] == 0
    same_text = QAItem("t9", "Where is Company 1 based?", "City1", (), ("d1",), "single_hop", "test")
    same_id = QAItem("train2", "Something else entirely?", "x", (), ("d2",), "single_hop", "test")
    leak = raft.leakage(train, [same_text, same_id])
    assert leak["by_text"] == 1 and leak["by_id"] == 1
    dsf = raft.dsf_examples([q(1)])
    assert raft.leakage(dsf, [same_text])["by_text"] == 1


def test_unanswerable_questions_are_not_trained_on(index):
    none = QAItem("u1", "Who is the CTO of Company 1?", "unanswerable", ("not stated",), (), "unanswerable", "train")
    rows = raft.examples(index, [q(1), none], p_oracle=1.0, distractors=1, context_chars=100)
    assert [r["qid"] for r in rows] == ["train1"]
    assert [r["qid"] for r in raft.dsf_examples([q(1), none])] == ["train1"]


class QuotingLLM:
    """Quotes a sentence holding City1, then answers City1 for "item 1" and City7 otherwise; one answer has no mark."""

    def generate(self, prompts, **kw):
        out = []
        for p in prompts:
            answer = "City1" if "item 1?" in p else "City7"
            text = "Company 1 is based in City1." if "item 3?" in p else f'Quote: "Company 1 is based in City1."\nAnswer: {answer}'
            out.append(Generation(text, 10, 3, 0.01, "stop"))
        return out

    def format(self, prompt, system=None, chat=True):
        return prompt


def test_answer_scores_only_after_the_answer_mark_when_quoting(index):
    # every raw answer contains the gold answer City1 (in the quote); only the first one answers it
    qs = [QAItem(f"t{i}", f"Where is item {i}?", "City1", (), ("d1",), "single_hop", "test") for i in (1, 2, 3)]
    contexts = [[index.chunks[1]]] * 3
    records = raft.answer(QuotingLLM(), qs, contexts, context_chars=100, max_new_tokens=8, quote=True)
    assert [r.correct for r in records] == [True, False, False]  # the quote never counts; no mark scores nothing
    assert [r.extra["answer_mark"] for r in records] == [True, True, False]
    unquoted = raft.answer(QuotingLLM(), qs, contexts, context_chars=100, max_new_tokens=8, quote=False)
    assert all(r.correct for r in unquoted)  # scored whole, the quote would make every answer right
    metrics = raft.metrics(records)
    assert metrics["n"] == 3 and metrics["n_single_hop"] == 3 and abs(metrics["answer_accuracy"] - 1 / 3) < 1e-4


def test_the_controlled_sample_is_a_seeded_sample_of_each_type_in_order():
    from labsutil.tuning import raftlab

    kinds = ["single_hop", "multi_hop", "comparison"] * 6
    qs = [q(i, split="test", qtype=t) for i, t in enumerate(kinds)]
    picked = raftlab.sample_per_type(qs, 2, seed=0)
    assert sorted(x.type for x in picked) == sorted(["single_hop", "multi_hop", "comparison"] * 2)
    assert [qs.index(x) for x in picked] == sorted(qs.index(x) for x in picked)  # the questions' own order
    assert picked == raftlab.sample_per_type(qs, 2, seed=0) != raftlab.sample_per_type(qs, 2, seed=1)
    assert raftlab.sample_per_type(qs, None, seed=0) == qs and raftlab.sample_per_type(qs, 99, seed=0) == qs


def test_distractors_are_found_past_the_chunks_of_a_question_with_many_documents():
    # the question's own 4 documents are split into many small chunks that all rank above every other chunk
    own = [Document(f"d{i}", "alpha", " ".join(f"alpha beta gamma {j}." for j in range(8)), {}) for i in range(4)]
    other = [Document(f"o{i}", f"Other {i}", f"Other {i} makes widgets in Town{i}.", {}) for i in range(8)]
    index = R.DenseIndex.build(R.chunk_corpus(own + other, chunk_size=20, chunk_overlap=0), HashEmbedder())
    question = QAItem("t1", "alpha beta gamma?", "x", (), ("d0", "d1", "d2", "d3"), "comparison", "test")
    assert sum(c.doc_id.startswith("d") for c in index.chunks) > 20  # more own chunks than a depth of 20
    [picked] = raft.hard_distractors(index, [question], 6)
    assert len({c.doc_id for c in picked}) == 6 and all(c.doc_id.startswith("o") for c in picked)


def test_lab_tables_read_only_this_runs_profile(tmp_path):
    import json
    from types import SimpleNamespace

    from labsutil import ledger
    from labsutil.tuning import raftlab

    def row(profile, acc):
        return {"lab": "07", "variant": "base/rag", "dataset": "contracts", "model": "m", "profile": profile,
                "metrics": {"answer_accuracy": acc, "n": 10, "ci_low": 0.0, "ci_high": 1.0}, "cost": {},
                "params": {}, "timestamp": "", "labsutil_version": "0"}

    path = ledger.ledger_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in (row("workshop", 0.3), row("extended", 0.9))))
    cfg = SimpleNamespace(run_dir=tmp_path, profile="workshop", dataset_dir=tmp_path / "contracts", model="m")
    assert raftlab.table(cfg).loc["base/rag", "accuracy"] == 0.3
