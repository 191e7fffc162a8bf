"""labsutil.prompting (techniques and structured): metrics against hand-computed cases, templates, selection,
the runner on a fake model (fast, deterministic), and constrained decoding on the tiny random model."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Optional

import pytest

from labsutil.prompting import structured as S, techniques as P
from labsutil.llm import Generation

GOLD = {"agreement_type": "Supply Agreement", "effective_date": "2021-10-27", "notice_days": 90,
        "payment_days": None, "cap": "EUR 2,500,000"}


# --------------------------------------------------------------------------- field-level F1

def test_values_match_normalises_formats():
    assert S.values_match(90, "90 days") and S.values_match(90, 90) and not S.values_match(90, "60 days")
    assert S.values_match("2021-10-27", "27 October 2021") and S.values_match("2021-10-27", "October 27, 2021")
    assert not S.values_match("2021-10-27", "2021-10-28")
    assert S.values_match("EUR 2,500,000", "eur 2500000") and S.values_match("the Netherlands", "Netherlands")
    assert S.values_match(None, "null") and not S.values_match(None, "Spain")


def test_field_counts_hand_computed():
    pred = {"agreement_type": "Supply Agreement",  # right: TP
            "effective_date": "2021-11-27",  # wrong: FP + FN
            "notice_days": None,  # missing: FN
            "payment_days": 30,  # gold is null: FP
            "cap": "EUR 2,500,000",  # right: TP
            "extra": "x"}  # not in gold, has a value: FP
    s = S.field_counts(GOLD, pred)
    assert (s.tp, s.fp, s.fn) == (2, 3, 2)
    assert s.precision == pytest.approx(2 / 5) and s.recall == pytest.approx(2 / 4)
    assert s.f1 == pytest.approx(2 * 0.4 * 0.5 / 0.9)


def test_field_f1_is_micro_averaged_and_unparsed_counts_as_missing():
    perfect = dict(GOLD)
    total = S.field_f1([GOLD, GOLD], [perfect, None])
    # 4 non-null gold fields each: first all right (4 TP), second nothing parsed (4 FN)
    assert (total.tp, total.fp, total.fn) == (4, 0, 4)
    assert total.precision == 1.0 and total.recall == 0.5 and total.f1 == pytest.approx(2 / 3)
    assert S.field_f1([GOLD], [{}]).f1 == 0.0
    with pytest.raises(ValueError):
        S.field_f1([GOLD], [])


def test_field_f1_agrees_with_sklearn_on_slot_labels():
    """Each (record, field) as a multi-label item: micro F1 over non-null (field=value) labels."""
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    rng = random.Random(3)
    golds, preds = [], []
    for _ in range(20):
        g = {f: rng.choice([None, "a", "b"]) for f in "wxyz"}
        p = {f: rng.choice([None, "a", "b", g[f]]) for f in "wxyz"}
        golds.append(g)
        preds.append(p)
    to_labels = lambda d: {f"{k}={v}" for k, v in d.items() if v is not None}  # noqa: E731
    mlb = MultiLabelBinarizer().fit([to_labels(d) for d in golds + preds] + [{"w=a", "w=b"}])
    y_true = mlb.transform([to_labels(g) for g in golds])
    y_pred = mlb.transform([to_labels(p) for p in preds])
    assert S.field_f1(golds, preds).f1 == pytest.approx(f1_score(y_true, y_pred, average="micro"))


# --------------------------------------------------------------------------- schema and parsing

def test_schema_from_records_types_and_nullability():
    schema = S.schema_from_records([GOLD, {**GOLD, "payment_days": 30}])
    types = S.field_types(schema)
    assert types == {"agreement_type": "string", "effective_date": "string", "notice_days": "integer",
                     "payment_days": "integer or null", "cap": "string"}
    assert schema.model_json_schema()["properties"]["cap"]["maxLength"] == S.MAX_STRING_LENGTH


def test_parse_json_finds_validates_and_explains():
    schema = S.schema_from_records([GOLD])
    good = "Here you go:\n```json\n" + json.dumps(GOLD) + "\n```"
    parsed = S.parse_json(good, schema)
    assert parsed.valid and parsed.obj["notice_days"] == 90
    bad_type = S.parse_json(json.dumps({**GOLD, "notice_days": "ninety"}), schema)
    assert bad_type.is_json and not bad_type.valid and "notice_days" in bad_type.error
    missing = S.parse_json(json.dumps({"agreement_type": "x"}), schema)
    assert not missing.valid and "Field required" in missing.error
    assert not S.parse_json('{"a": 1,', schema).is_json
    assert S.parse_json("no json here", schema).error == "no JSON object in the reply"


# --------------------------------------------------------------------------- answers

LABELS = ("governing_law", "renewal", "term", "termination")


def test_parse_label_and_final_answer():
    assert P.parse_label("governing law", LABELS) == "governing_law"
    assert P.parse_label("Governing_Law.", LABELS) == "governing_law"
    assert P.parse_label("This is a termination clause", LABELS) == "termination"  # not "term"
    assert P.parse_label("term, then renewal", LABELS) == "term"
    assert P.parse_label("term, then renewal", LABELS, last=True) == "renewal"
    assert P.parse_label("payment", LABELS) is None
    cot = "It talks about how long it lasts, not renewal.\nAnswer: term"
    assert P.final_answer(cot) == "term" and P.classify_answer(cot, LABELS) == "term"
    assert P.final_answer("  Lisbon\nmore text") == "Lisbon"


def test_majority_vote():
    assert P.majority_vote(["a", "b", "b", None]) == "b"
    assert P.majority_vote(["a", "b"]) == "a"  # tie: earliest
    assert P.majority_vote([None, None, "c"]) == "c"
    assert P.majority_vote([None, None]) is None
    assert P.majority_vote(["Lisbon.", "lisbon", "Porto"], key=P.normalize_answer) == "Lisbon."


def test_parse_shots():
    from labsutil.config import ParameterError

    assert P.parse_shots("5, 1,3") == (1, 3, 5) and P.parse_shots("") == () and P.parse_shots([2]) == (2,)
    for bad in ("a", "0,1", "1,1", "40"):
        with pytest.raises(ParameterError, match="shots"):
            P.parse_shots(bad)


# --------------------------------------------------------------------------- tasks and plan

@dataclass(frozen=True)
class Clause:
    id: str
    text: str
    label: str
    split: str


def clause_records():
    texts = {"term": "The agreement lasts {} years.", "governing_law": "The laws of {} govern this agreement.",
             "renewal": "It renews for {} more years.", "termination": "Either party may end it on {} days notice."}
    fills = {"term": ["two", "three", "five"], "governing_law": ["Spain", "Italy", "France"],
             "renewal": ["one", "two", "four"], "termination": ["30", "60", "90"]}
    rows = []
    for i in range(32):
        label = LABELS[i % 4]
        text = texts[label].format(fills[label][(i // 4) % 3])
        rows.append(Clause(f"c{i:02d}", text, label, "test" if i % 5 == 0 else "train"))
    return rows


def test_tasks_split_eval_and_pool_disjoint():
    task = P.classification_task(clause_records(), n=5, seed=1)
    assert len(task.eval) == 5 and task.labels == tuple(sorted(LABELS))
    assert not {e.id for e in task.eval} & {e.id for e in task.pool}
    assert P.classification_task(clause_records(), n=5, seed=1).eval == task.eval  # seeded
    with pytest.raises(P.TaskDataMissing):
        P.classification_task(None)
    with pytest.raises(P.TaskDataMissing):
        P.extraction_task([])


def test_plan_per_task():
    task = P.classification_task(clause_records())
    names = [t.name for t in P.plan(task, shots=(1, 3))]
    assert names == ["zero_shot", "few_shot_random_k1", "few_shot_random_k3", "few_shot_similar_k1",
                     "few_shot_similar_k3", "role_prompt", "cot", "self_consistency"]
    task.name = P.EXTRACT
    assert [t.name for t in P.plan(task, shots=(1,), constrained=False)][-2:] == ["role_prompt", "json_retry"]
    task.pool = []
    assert "few_shot_random_k1" not in [t.name for t in P.plan(task, shots=(1,))]


# --------------------------------------------------------------------------- templates and selectors

class BagOfWords:
    """A stand-in sentence-transformers model: normalised word counts over a fixed vocabulary."""

    def encode(self, texts, **_):
        import numpy as np

        vocab = sorted({w for t in ["the agreement lasts years laws govern this renews more either party may "
                                    "end on days notice"] for w in t.split()})
        out = []
        for t in texts:
            v = np.array([t.lower().count(w) for w in vocab], dtype=float) + 1e-3
            out.append(v / np.linalg.norm(v))
        return np.array(out)


def test_few_shot_template_random_is_seeded_and_nested():
    pool = [{"input": f"Clause: c{i}", "output": LABELS[i % 4], "id": str(i)} for i in range(20)]
    sel1, sel3 = P.random_selector(pool, 1, seed=7), P.random_selector(pool, 3, seed=7)
    first = sel1.select_examples({"input": "Clause: x"})
    three = sel3.select_examples({"input": "Clause: x"})
    assert first == three[:1] and three == P.random_selector(pool, 3, seed=7).select_examples({"input": "Clause: x"})
    assert three != P.random_selector(pool, 3, seed=8).select_examples({"input": "Clause: x"})
    msgs = P.to_messages(P.build_template(sel3).format_messages(system="Sys {not a var}", input="Clause: x"))
    assert [m["role"] for m in msgs] == ["system", "user", "assistant"] * 1 + ["user", "assistant"] * 2 + ["user"]
    assert msgs[0]["content"] == "Sys {not a var}" and msgs[-1]["content"] == "Clause: x"


def test_similarity_selector_puts_nearest_last():
    runner = P.PromptRunner(FakeLLM(), BagOfWords())
    task = P.classification_task(clause_records())
    sel = runner.selector(task, P.Technique("few_shot", 3, "similar"))
    chosen = sel.select_examples({"input": "Clause: The laws of Spain govern this agreement."})
    assert [c["output"] for c in chosen][-1] == "governing_law"
    assert len(chosen) == 3


# --------------------------------------------------------------------------- the runner on a fake model

class FakeLLM:
    """Answers like a copycat: the last example's answer when there are examples, else a fixed guess;
    sampling picks a seeded random label. Tokens = words; latency = 1 ms per word."""

    batch_size = 4
    name = "fake"

    def format(self, prompt, system=None, chat=True):
        msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return "\n".join(f"{m['role']}: {m['content']}" for m in msgs)

    def count_tokens(self, text):
        return len(text.split())

    def generate(self, prompts, *, max_new_tokens=16, temperature=0.0, seed=None, batch_size=None, progress=None,
                 **_):
        out = []
        for i, p in enumerate(prompts):
            system = p[0]["content"]
            shown = [m["content"] for m in p if m["role"] == "assistant"]
            if "JSON" in system:
                text = shown[-1] if shown else '{"agreement_type": "Supply Agreement"'  # truncated JSON
                if p[-1]["content"].startswith("That reply is not valid"):
                    text = json.dumps(GOLD)
            elif temperature > 0:
                text = "Reasoning.\nAnswer: " + random.Random(f"{seed}|{i}|{p[-1]['content']}").choice(LABELS)
            elif "step by step" in system:
                text = "It is about duration.\nAnswer: term"
            else:
                text = shown[-1] if shown else "governing law"
            n_in = self.count_tokens(self.format(p))
            n_out = min(max_new_tokens, len(text.split()) + 1)
            out.append(Generation(text, n_in, n_out, 0.001 * (n_in + n_out), "stop"))
        return out


@dataclass(frozen=True)
class Record:
    id: str
    text: str
    fields: dict
    split: str


def test_runner_classification_rows_and_reproducibility():
    runner = P.PromptRunner(FakeLLM(), BagOfWords(), seed=0, sc_samples=3)
    task = P.classification_task(clause_records(), n=6, seed=0)
    results = {t.name: runner.run(task, t) for t in P.plan(task, shots=(1, 3))}
    zs = results["zero_shot"]
    assert 0 <= zs.metrics["accuracy"] <= 1 and zs.metrics["parse_rate"] == 1.0
    for name, res in results.items():
        if name.startswith("few_shot"):
            assert res.cost["tokens_in"] > zs.cost["tokens_in"], name
    # copying the nearest example's label beats copying a random one
    assert results["few_shot_similar_k1"].metrics["accuracy"] >= results["few_shot_random_k1"].metrics["accuracy"]
    sc = results["self_consistency"]
    assert sc.cost["tokens_out"] > results["cot"].cost["tokens_out"]  # 3 samples per example
    assert sc.params["sc_samples"] == 3 and len(sc.predictions) == 6
    again = P.PromptRunner(FakeLLM(), BagOfWords(), seed=0, sc_samples=3).run(task, P.Technique("self_consistency"))
    assert again.metrics == sc.metrics and [p["answer"] for p in again.predictions] == [
        p["answer"] for p in sc.predictions]


def test_runner_extraction_validate_and_retry():
    records = [Record(f"e{i}", f"Agreement text {i}", dict(GOLD), "test" if i < 3 else "train") for i in range(6)]
    task = P.extraction_task(records)
    runner = P.PromptRunner(FakeLLM(), seed=0, max_retries=1)
    plain = runner.run(task, P.Technique("zero_shot"))
    assert plain.metrics["parse_rate"] == 0.0 and plain.metrics["field_f1"] == 0.0
    retried = runner.run(task, P.Technique("json_retry"))
    assert retried.metrics["parse_rate"] == 1.0 and retried.metrics["field_f1"] == 1.0
    assert retried.cost["tokens_in"] > 2 * plain.cost["tokens_in"]  # the retry turn re-sends the conversation
    shot = runner.run(task, P.Technique("few_shot", 1, "random"))
    assert shot.metrics["parse_rate"] == 1.0  # copies the example's (valid) JSON
    no_retry = P.PromptRunner(FakeLLM(), max_retries=0).run(task, P.Technique("json_retry"))
    assert no_retry.metrics["parse_rate"] == 0.0


def test_summary_table_and_literature_check(tmp_path):
    rows = []
    for task, kind, q in [("classify", "zero_shot", 0.2), ("classify", "cot", 0.1), ("classify", "self_consistency", 0.15)]:
        rows.append({"variant": f"{task}/{kind}", "metrics": {"accuracy": q},
                     "cost": {"tokens_in": 100, "tokens_out": 10, "latency_p50_s": 0.1, "latency_p95_s": 0.2},
                     "params": {"task": task, "technique": kind, "k": 0, "selection": None, "n_items": 10}})
    table = P.summary_table(rows)
    assert table.loc[("classify", "cot"), "tokens_per_example"] == 11.0
    small = P.literature_check(rows, n_params=135_000_000)
    assert list(small["claim"]) == ["chain-of-thought beats answering directly",
                                    "self-consistency beats greedy chain-of-thought"]
    assert list(small["gain"]) == [False, True]
    # rows without per-question answers: the points alone decide nothing, whichever is higher
    assert list(small["verdict"]) == ["cannot be decided (no per-question answers to pair)"] * 2
    large = P.literature_check(rows, n_params=540_000_000_000)
    assert list(large["gain expected at this size"]) == [True, True]
    assert list(large["verdict"]) == ["cannot be decided (no per-question answers to pair)"] * 2
    fig = P.plot_quality_vs_tokens(rows)
    assert fig.axes


def test_literature_check_is_paired_when_answers_are_kept(cfg):
    """With the per-question answers in the ledger's sidecars, each claim is a paired comparison."""
    from labsutil import ledger

    def row(kind, correct):
        variant = f"classify/{kind}"
        ledger.record(cfg, variant, {"accuracy": sum(correct) / len(correct)},
                      params={"task": "classify", "technique": kind, "k": 0, "selection": None},
                      answers=[{"qid": f"c{i}", "correct": c} for i, c in enumerate(correct)])
        return {"lab": cfg.lab, "variant": variant, "metrics": {"accuracy": sum(correct) / len(correct)},
                "params": {"task": "classify", "technique": kind, "selection": None}}

    rows = [row("zero_shot", [1, 0] * 10), row("cot", [1, 0] * 9 + [1, 1])]  # one question apart, n = 20
    small = P.literature_check(rows, n_params=135_000_000, run_dir=cfg.run_dir)
    assert small.loc[0, "verdict"] == "cannot be decided" and "+5 points" in small.loc[0, "difference (95% interval)"]
    rows = [row("zero_shot", [0] * 60), row("cot", [1] * 40 + [0] * 20)]
    assert P.literature_check(rows, n_params=135_000_000, run_dir=cfg.run_dir).loc[0, "verdict"] == "disagrees"
    assert P.literature_check(rows, n_params=540e9, run_dir=cfg.run_dir).loc[0, "verdict"] == "agrees"


# --------------------------------------------------------------------------- constrained decoding (tiny model)

def test_constrained_decoding_output_fits_the_schema(tiny_model_dir):
    """Even a randomly initialised model emits schema-valid JSON under the constraint (bounded schema:
    enums and a boolean, so every output must finish well within the token budget)."""
    pytest.importorskip("lmformatenforcer")
    from typing import Literal

    from pydantic import BaseModel

    from labsutil.llm import LLM

    class Small(BaseModel):
        law: Literal["Spain", "Italy"]
        renews: bool
        size: Optional[Literal["small", "large"]]

    llm = LLM(str(tiny_model_dir), batch_size=2)
    constrainer = S.JsonConstrainer(llm, Small)
    gens = constrainer.generate(["Extract: 90 days, Spain.", "Give JSON", "x"], max_new_tokens=64)
    assert len(gens) == 3
    for g in gens:
        assert g.finish_reason == "stop" and S.parse_json(g.text, Small).valid, g.text
        assert list(json.loads(g.text)) == ["law", "renews", "size"]  # the schema's field order
    free = llm.generate(["Extract: 90 days, Spain.", "Give JSON", "x"], max_new_tokens=20)
    assert not any(S.parse_json(g.text, Small).valid for g in free)  # without the constraint: noise


def test_extraction_field_subset_and_unknown_fields():
    records = [Record(f"e{i}", f"Agreement text {i}", dict(GOLD), "test" if i < 2 else "train") for i in range(4)]
    task = P.extraction_task(records, fields="notice_days,cap")
    assert list(task.schema.model_fields) == ["notice_days", "cap"]
    assert task.eval[0].gold == {"notice_days": 90, "cap": "EUR 2,500,000"} and "payment_days" not in task.instruction
    other = P.extraction_task(records, fields="no_such_field")  # another dataset's fields: all, with a note
    assert list(other.schema.model_fields) == list(GOLD) and "no_such_field" in other.notes[0]
    from labsutil.config import ParameterError

    with pytest.raises(ParameterError, match="extract_fields"):
        P.parse_fields("cap,cap")


def test_headline_confirmed_on_fresh_examples(tiny_dataset, tmp_path):
    from labsutil import config, ledger, stats

    cfg = config.setup("01", profile="smoke", confirm_n=10, dataset_dir=str(tiny_dataset), run_dir=str(tmp_path))
    task, full = P.classification_task(clause_records(), n=3, seed=0), P.classification_task(clause_records())
    runner = P.PromptRunner(FakeLLM(), BagOfWords(), seed=0)
    results = {r.variant: r for r in (runner.run(task, t) for t in P.plan(task, shots=(1, 3)))}
    table = P.confirm_headline(cfg, runner, task, full, results)
    fresh = [a["qid"] for a in ledger.read_answers(tmp_path, "01", "confirm/classify/zero_shot")]
    assert len(fresh) == len(full.eval) - 3 == 4 and not set(fresh) & {ex.id for ex in task.eval}
    confirm = {r["variant"] for r in ledger.read(tmp_path, lab="01")}
    assert {"confirm/classify/zero_shot", "confirm/classify/few_shot_random_k1"} <= confirm
    assert list(table["claim"]) == ["few-shot examples beat zero-shot", "similar examples beat random ones"]
    best_similar = next(v for v in confirm if v.startswith("confirm/classify/few_shot_similar_"))
    by_hand = stats.paired_binary(*[[a["correct"] for a in ledger.read_answers(tmp_path, "01", v)]
                                    for v in ("confirm/classify/zero_shot", best_similar)])
    assert table.loc[0, "n (fresh examples)"] == 4 and by_hand.difference_text().split("= ")[1] in table.loc[
        0, "difference (95% interval)"]
    assert P.rows_of(cfg) == []  # only confirmation rows were recorded, and rows_of leaves them out
    assert P.fresh_sample(full, full, 10) is None  # the main sample was the whole split: nothing fresh
