"""labsutil.data: loading, sampling and validation of dataset folders (design.md section 6)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from labsutil import data
from labsutil.data import DatasetError, load_control, load_dataset, validate_dataset

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "data" / "contracts"
CONTROL = ROOT / "data" / "control"


# ---------------------------------------------------------------- shipped data

def test_shipped_dataset_validates():
    assert validate_dataset(CONTRACTS) == []
    assert data.validate_control(CONTROL) == []


def test_shipped_dataset_loads_into_typed_records():
    ds = load_dataset(CONTRACTS)
    assert ds.name == "contracts" and ds.path == CONTRACTS
    assert isinstance(ds.corpus[0], data.Document) and isinstance(ds.qa[0], data.QAItem)
    assert ds.triples and isinstance(ds.triples[0], data.Triple)
    assert ds.facts and isinstance(ds.facts[0], data.Fact)
    assert ds.clause_classification and ds.field_extraction
    assert ds.card and "CC-BY-4.0" in ds.card
    q = ds.questions(types="single_hop")[0]
    assert ds.doc(q.doc_ids[0]).doc_id == q.doc_ids[0]
    assert q.answer in q.answers
    with pytest.raises(KeyError, match="no document"):
        ds.doc("no-such-doc")
    assert ds.has_choices("test")
    assert set(ds.splits) == {"train", "dev", "test"}


def test_load_by_name_resolves_under_data():
    assert load_dataset("contracts").path.resolve() == CONTRACTS.resolve()


def test_questions_filter_and_stratified_sample_is_deterministic():
    ds = load_dataset(CONTRACTS)
    test = ds.questions(split="test")
    assert test and all(q.split == "test" for q in test)
    mc = ds.questions(split=["dev", "test"], with_choices=True)
    assert all(q.choices for q in mc)
    a = ds.questions(split="test", n=40, seed=3)
    b = ds.questions(split="test", n=40, seed=3)
    c = ds.questions(split="test", n=40, seed=4)
    assert [q.qid for q in a] == [q.qid for q in b] != [q.qid for q in c]
    assert len(a) == 40
    # stratified: each type gets its share (+-1) of the sample
    for t in ds.types:
        share = sum(q.type == t for q in test) / len(test)
        assert abs(sum(q.type == t for q in a) - 40 * share) <= 1
    # file order is kept
    order = {q.qid: i for i, q in enumerate(ds.qa)}
    assert [order[q.qid] for q in a] == sorted(order[q.qid] for q in a)
    with pytest.raises(ValueError, match="unknown split"):
        ds.questions(split="validation")
    with pytest.raises(ValueError, match="unknown type"):
        ds.questions(types="multihop")


def test_load_control():
    items = load_control(CONTROL)
    assert len(items) >= 90
    assert all(it.choices[it.answer_index] == it.answer for it in items)
    assert load_control()[0] == items[0]  # default: data/control


# ---------------------------------------------------------------- a minimal folder

CORPUS = [
    {"doc_id": "d1", "title": "Doc one", "text": "Acme is governed by the laws of Mars."},
    {"doc_id": "d2", "title": "Doc two", "text": "Bolt was founded in 1999.", "metadata": {"kind": "x"}},
]
QA = [
    {"qid": "q1", "question": "Which law?", "answer": "Mars", "aliases": ["laws of Mars"], "doc_ids": ["d1"],
     "type": "single_hop", "split": "test", "choices": ["Mars", "Venus", "Pluto", "Earth"], "answer_index": 0},
    {"qid": "q2", "question": "When?", "answer": "1999", "aliases": [], "doc_ids": ["d2"],
     "type": "single_hop", "split": "train"},
    {"qid": "q3", "question": "Revenue?", "answer": "unanswerable", "aliases": [], "doc_ids": [],
     "type": "unanswerable", "split": "dev"},
]


def _write(folder: Path, name: str, rows: list, raw_lines: dict[int, str] | None = None) -> None:
    lines = [json.dumps(r) for r in rows]
    for lineno, text in (raw_lines or {}).items():
        lines[lineno - 1] = text
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "mini"
    _write(d, "corpus.jsonl", CORPUS)
    _write(d, "qa.jsonl", QA)
    return d


def test_minimal_folder_loads_with_optional_parts_absent(folder):
    ds = load_dataset(folder)
    assert len(ds.corpus) == 2 and len(ds.qa) == 3
    assert ds.triples is None and ds.facts is None
    assert ds.clause_classification is None and ds.field_extraction is None and ds.card is None
    assert ds.corpus[1].metadata == {"kind": "x"} and ds.corpus[0].metadata == {}
    assert ds.qa[0].choices == ("Mars", "Venus", "Pluto", "Earth") and ds.qa[1].choices is None
    assert ds.questions(with_choices=True)[0].qid == "q1"


def _messages(folder: Path) -> list[str]:
    return [str(p) for p in validate_dataset(folder)]


def test_bad_json_is_reported_with_file_line_and_field(folder):
    rows = QA[:]
    _write(folder, "qa.jsonl", rows, {2: '{"qid": "q2", "question": "When?"'})
    msgs = _messages(folder)
    assert len(msgs) == 1
    assert msgs[0].startswith("qa.jsonl:2: <json>: invalid JSON")


def test_missing_field_is_reported(folder):
    rows = [dict(r) for r in QA]
    del rows[1]["answer"]
    _write(folder, "qa.jsonl", rows)
    assert _messages(folder) == ["qa.jsonl:2: answer: missing required field"]


def test_dangling_doc_id_is_reported(folder):
    rows = [dict(r) for r in QA]
    rows[0]["doc_ids"] = ["d1", "d9"]
    _write(folder, "qa.jsonl", rows)
    msgs = _messages(folder)
    assert len(msgs) == 1 and msgs[0].startswith("qa.jsonl:1: doc_ids: unknown doc_id 'd9'")


def test_unknown_type_and_split_are_errors(folder):
    rows = [dict(r) for r in QA]
    rows[1]["type"] = "multihop"
    rows[2]["split"] = "validation"
    _write(folder, "qa.jsonl", rows)
    msgs = _messages(folder)
    assert any(m.startswith("qa.jsonl:2: type: unknown value 'multihop'") for m in msgs)
    assert any(m.startswith("qa.jsonl:3: split: unknown value 'validation'") for m in msgs)


def test_choice_problems(folder):
    rows = [dict(r) for r in QA]
    rows[0]["answer_index"] = 1  # points to "Venus"
    rows[1]["answer_index"] = 0  # without choices
    _write(folder, "qa.jsonl", rows)
    msgs = _messages(folder)
    assert any(m.startswith("qa.jsonl:1: answer_index: choices[1] = 'Venus' is neither the answer") for m in msgs)
    assert "qa.jsonl:2: answer_index: given without choices" in msgs


def test_wrong_types_empty_values_duplicates_and_empty_doc_ids(folder):
    rows = [dict(r) for r in QA]
    rows[0]["aliases"] = "laws of Mars"
    rows[1]["doc_ids"] = []
    rows[2]["qid"] = "q1"
    rows[2]["question"] = "  "
    _write(folder, "qa.jsonl", rows)
    msgs = _messages(folder)
    assert "qa.jsonl:1: aliases: expected a list of strings, got a string" in msgs
    assert any(m.startswith("qa.jsonl:2: doc_ids: empty") for m in msgs)
    assert "qa.jsonl:3: qid: duplicate 'q1' (first on line 1)" in msgs
    assert "qa.jsonl:3: question: must not be empty" in msgs


def test_every_problem_is_listed_and_nothing_dropped(folder):
    _write(folder, "corpus.jsonl", CORPUS + [{"doc_id": "d1", "title": "dup", "text": "x"}])
    _write(folder, "qa.jsonl", QA, {1: "not json", 3: "[1, 2]"})
    _write(folder, "triples.jsonl", [{"head": "Acme", "relation": "governed_by", "tail": "Mars", "doc_id": "d7"}])
    _write(folder, "facts.jsonl", [{"fact_id": "f1", "text": "t", "paraphrases": "p", "doc_id": "d1"}])
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    msgs = [str(p) for p in err.value.problems]
    assert msgs == [
        "corpus.jsonl:3: doc_id: duplicate 'd1' (first on line 1)",
        "qa.jsonl:1: <json>: invalid JSON: Expecting value at column 1",
        "qa.jsonl:3: <json>: expected a JSON object, got a list",
        "triples.jsonl:1: doc_id: unknown doc_id 'd7': not in corpus.jsonl",
        "facts.jsonl:1: paraphrases: expected a list of strings, got a string",
    ]
    assert "5 problem(s)" in str(err.value)
    assert all(p.file and p.line and p.field for p in err.value.problems)


def test_missing_required_file(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    _write(d, "corpus.jsonl", CORPUS)
    assert _messages(d) == ["qa.jsonl:0: <file>: required file is missing"]


def test_task_files_are_checked(folder):
    _write(folder, "tasks/clause_classification.jsonl",
           [{"id": "c1", "doc_id": "d1", "text": "governed by Mars", "label": "governing_law", "split": "test"},
            {"id": "c2", "doc_id": "d3", "text": "x", "label": "term", "split": "holdout"}])
    _write(folder, "tasks/field_extraction.jsonl",
           [{"id": "e1", "doc_id": "d1", "text": "...", "fields": ["law"], "split": "train"}])
    msgs = _messages(folder)
    assert "tasks/clause_classification.jsonl:2: doc_id: unknown doc_id 'd3': not in corpus.jsonl" in msgs
    assert any(m.startswith("tasks/clause_classification.jsonl:2: split: unknown value 'holdout'") for m in msgs)
    assert "tasks/field_extraction.jsonl:1: fields: expected an object, got a list" in msgs


def test_corrupted_copy_of_shipped_data(tmp_path):
    d = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, d)
    lines = (d / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[9])
    row["doc_ids"] = ["agreement-999"]
    lines[9] = json.dumps(row)
    lines[19] = lines[19][:-5]
    (d / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    msgs = _messages(d)
    assert len(msgs) == 2
    assert msgs[0].startswith("qa.jsonl:10: doc_ids: unknown doc_id 'agreement-999'")
    assert msgs[1].startswith("qa.jsonl:20: <json>: invalid JSON")


def test_cli_exit_codes(folder, capsys):
    assert data.main([str(folder)]) == 0
    assert "OK" in capsys.readouterr().out
    _write(folder, "qa.jsonl", QA, {2: "{oops"})
    assert data.main([str(folder)]) == 1
    assert "qa.jsonl:2: <json>: invalid JSON" in capsys.readouterr().out


def test_control_problems(tmp_path):
    d = tmp_path / "control"
    _write(d, "control.jsonl", [
        {"qid": "c1", "question": "2+2?", "answer": "4", "choices": ["3", "4", "5", "6"], "answer_index": 1},
        {"qid": "c2", "question": "Capital?", "answer": "Paris", "choices": ["Rome", "Paris"], "answer_index": 0},
    ])
    msgs = [str(p) for p in data.validate_control(d)]
    assert msgs == ["control.jsonl:2: answer_index: choices[0] = 'Rome' is not the answer 'Paris'"]
    with pytest.raises(DatasetError):
        load_control(d)


# ---------------------------------------------------------------- datacheck logic (fake model, fast)

class _FakeLLM:
    """Prefers the option that appears in the prompt; answers with the prompt's first line."""

    name = "fake"

    def loglikelihood(self, prompt, continuations, system=None):
        return [0.0 if c in prompt else -1.0 - len(c) for c in continuations]

    def generate(self, prompts, max_new_tokens=32, batch_size=8):
        from types import SimpleNamespace

        return [SimpleNamespace(text=p.split("\n")[0], tokens_in=10, tokens_out=3) for p in prompts]


def test_datacheck_functions_with_a_fake_model(folder):
    from labsutil import datacheck

    ds = load_dataset(folder)
    r = datacheck.closed_book_mc(_FakeLLM(), ds.questions(with_choices=True))
    assert r["n"] == 1 and r["chance"] == 0.25 and r["accuracy"] in (0.0, 1.0)
    items = [data.ControlItem("c1", "Is it Paris?", "Paris", ("Rome", "Paris"), 1, "geo")]
    assert datacheck.control_mc(_FakeLLM(), items)["accuracy"] == 1.0
    g = datacheck.gold_containment(_FakeLLM(), ds, ds.questions(types="single_hop"), examples=5)
    # the fake answers with the document's first line, which holds the answer in both documents
    assert g["n"] == 2 and g["contains"] == 1.0
    assert datacheck.gold_prompt([ds.doc("d1")], "Which law?").endswith("Question: Which law?\nAnswer briefly.")
