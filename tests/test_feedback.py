"""labsutil.feedback without a model: conversion rules, the simulated annotator, the pairwise judge (with a
scripted fake LLM), the gate and registry, and the widget's logic (clicks simulated in Python)."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from labsutil.data import QAItem
from labsutil.feedback import convert
from labsutil.feedback.annotator import SimulatedAnnotator, pair_truth
from labsutil.feedback.judge import JudgeItem, PairwiseJudge, agreement, parse_verdict
from labsutil.feedback.registry import GatePolicy, Registry, RegistryError, paired_comparison
from labsutil.feedback.store import Store
from labsutil.feedback.widget import FeedbackWidget, NotEnoughLabels, PairItem, require_labels
from labsutil.llm import Generation

REPO = Path(__file__).resolve().parent.parent


def qa(qid, answer, qtype="single_hop", doc="d1"):
    return QAItem(qid, f"Question {qid}?", answer, (), (doc,), qtype, "train")


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "feedback.sqlite") as store:
        store.add_model_version("v0", base_model="tiny", status="champion")
        store.add_model_version("v1", base_model="tiny", parent_id="v0")
        yield store


def pair(store, qid, champion_answer, challenger_answer, round=1, system="Answer briefly."):
    a = store.log_interaction("v0", qid, f"Question {qid}?", champion_answer, system=system, round=round)
    b = store.log_interaction("v1", qid, f"Question {qid}?", challenger_answer, system=system, round=round)
    return a, b


# --------------------------------------------------------------------------- conversion rules

def test_conversion_of_a_hand_made_round(store):
    a1, b1 = pair(store, "q1", "Lisbon", "Porto")          # A better, plus thumbs and an edit
    a2, b2 = pair(store, "q2", "1999", "1999.")            # tie; identical-ish answers
    a3, b3 = pair(store, "q3", "Paris", "Rome")            # both wrong, gold answer known
    a4, b4 = pair(store, "q4", "red", "blue")              # both wrong, no gold, no edit
    a5, b5 = pair(store, "q5", "cat", "dog")               # both wrong, but edited
    a6, b6 = pair(store, "q6", "same", "same")             # "B better" on identical answers
    rows = [
        dict(interaction_id=a1, other_interaction_id=b1, kind="pairwise", value="a"),
        dict(interaction_id=a1, kind="thumbs", value="up"),
        dict(interaction_id=b1, kind="thumbs", value="down"),
        dict(interaction_id=b1, kind="edit", value="Lisbon, Portugal"),
        dict(interaction_id=a2, other_interaction_id=b2, kind="pairwise", value="tie"),
        dict(interaction_id=a3, other_interaction_id=b3, kind="pairwise", value="both_wrong"),
        dict(interaction_id=a4, other_interaction_id=b4, kind="pairwise", value="both_wrong"),
        dict(interaction_id=a5, other_interaction_id=b5, kind="pairwise", value="both_wrong"),
        dict(interaction_id=a5, kind="edit", value="mouse"),
        dict(interaction_id=b5, kind="edit", value="mouse"),
        dict(interaction_id=b5, kind="thumbs", value="down"),   # the same KTO negative as "both wrong": kept once
        dict(interaction_id=b6, other_interaction_id=a6, kind="pairwise", value="b"),
        dict(interaction_id=a2, kind="rating", value=5),
        dict(interaction_id=b2, kind="rating", value=3),
        dict(interaction_id=a4, kind="rating", value=1),
        dict(interaction_id=a1, kind="edit", value=" Lisbon "),  # unchanged up to spacing: SFT, no pair
    ]
    store.add_feedback_many(rows)
    result = convert.convert(store.records(), gold={"q3": "Madrid"})
    report = result.report
    assert report.rows_in == len(rows) == sum(report.fates.values())  # every row has a fate: none silent
    assert dict(report.fates) == {
        "pairwise_decisive": 1, "thumbs_up": 1, "thumbs_down": 2, "edit": 3, "edit_unchanged": 1, "tie": 1,
        "both_wrong_gold_sft": 1, "both_wrong_no_correction": 1, "both_wrong_edited": 1,
        "pairwise_identical_answers": 1, "rating_good": 1, "rating_neutral": 1, "rating_bad": 1}
    sft = [e["messages"][-1]["content"] for e in result.sft]
    assert sorted(sft) == sorted(["Lisbon", "Lisbon, Portugal", "Madrid", "mouse", "1999", " Lisbon "])
    assert report.duplicates_removed["sft"] == 1  # "mouse" edited on both answers: one SFT example
    dpo = [(e["chosen"][0]["content"], e["rejected"][0]["content"]) for e in result.dpo]
    assert sorted(dpo) == sorted([("Lisbon", "Porto"), ("Lisbon, Portugal", "Porto"), ("mouse", "cat"),
                                  ("mouse", "dog")])
    kto = sorted((e["completion"][0]["content"], e["label"]) for e in result.kto)
    assert kto == sorted([("Lisbon", True), ("Porto", False), ("Paris", False), ("Rome", False), ("red", False),
                          ("blue", False), ("cat", False), ("dog", False), ("1999", True)])
    assert report.duplicates_removed["kto"] == 2  # "dog" thumbs down, and "red" rated 1, repeat "both wrong"
    assert result.dpo[0]["prompt"] == [{"role": "system", "content": "Answer briefly."},
                                       {"role": "user", "content": "Question q1?"}]
    flat = report.as_dict()
    assert flat["dpo_pairs"] == 4 and flat["fate_tie"] == 1 and flat["kto_undesirable"] == 7


def test_unpaired_preferences_feed_kto_and_rounds_are_reported_apart(store):
    a1, b1 = pair(store, "q1", "Lisbon", "Porto", round=1)
    a2, b2 = pair(store, "q2", "1999", "2001", round=2)
    store.add_feedback_many([dict(interaction_id=a1, other_interaction_id=b1, kind="pairwise", value="a"),
                             dict(interaction_id=a2, other_interaction_id=b2, kind="pairwise", value="b"),
                             dict(interaction_id=a2, other_interaction_id=b2, kind="pairwise", value="tie")])
    plain = convert.convert(store.records())
    unpaired = convert.convert(store.records(), unpair_preferences=True)
    assert len(plain.kto) == 0 and len(unpaired.dpo) == len(plain.dpo) == 2
    assert sorted((e["completion"][0]["content"], e["label"]) for e in unpaired.kto) == [
        ("1999", False), ("2001", True), ("Lisbon", True), ("Porto", False)]
    table = convert.report_by_round(store.records())
    assert table["round"].tolist() == [1, 2]
    assert table["dpo_pairs"].tolist() == [1, 1] and table["fate_tie"].tolist() == [0, 1]


# --------------------------------------------------------------------------- simulated annotator

QUESTIONS = [qa(f"q{i}", answer) for i, answer in enumerate(["Lisbon", "Porto", "1999", "Madrid", "Oslo"])]


def test_annotator_without_noise_judges_against_gold():
    annotator = SimulatedAnnotator(QUESTIONS)
    assert annotator.thumbs("q0", "It is Lisbon [d1].").value == "up"
    assert annotator.thumbs("q0", "Porto").value == "down"
    assert annotator.judge_pair("q0", "Porto", "Lisbon").value == "b"
    assert annotator.judge_pair("q0", "Lisbon", "Lisbon.").value == "tie"
    assert annotator.judge_pair("q0", "Rome", "Porto").value == "both_wrong"
    assert annotator.stats["flipped"] == 0 and annotator.stats["judgements"] == 5


@pytest.mark.parametrize("noise", [0.1, 0.3, 0.5])
def test_annotator_noise_rate_is_close_to_the_parameter(noise):
    annotator = SimulatedAnnotator(QUESTIONS, noise=noise, seed=3)
    answers = ["Lisbon", "Porto", "1999", "no idea", "Madrid [d2]"]
    n, disagree = 3000, 0
    for k in range(n):
        q = QUESTIONS[k % len(QUESTIONS)]
        first, second = answers[k % 5], answers[(k * 7 + 1) % 5]
        truth = pair_truth(first == q.answer or q.answer in first, second == q.answer or q.answer in second)
        disagree += annotator.judge_pair(q.qid, first, second).value != truth
    sd = (noise * (1 - noise) / n) ** 0.5
    assert abs(disagree / n - noise) < 4 * sd  # within 4 standard errors of the binomial rate
    assert annotator.stats["flipped"] == disagree  # every disagreement is a reported flip, nothing else
    one, two = (SimulatedAnnotator(QUESTIONS, noise=noise, seed=9) for _ in range(2))
    same_seed = [(one.thumbs("q1", "Porto").value, two.thumbs("q1", "Porto").value) for _ in range(200)]
    assert all(a == b for a, b in same_seed) and len({a for a, _ in same_seed}) == 2  # seeded, and noisy


def test_flip_mode_inverts_every_judgement_and_edits_wrong(store):
    honest, corrupt = SimulatedAnnotator(QUESTIONS, seed=1), SimulatedAnnotator(QUESTIONS, flip=True, seed=1)
    a, b = pair(store, "q0", "Lisbon [d1]", "Porto")
    honest_rows, corrupt_rows = honest.label_pair(store.interaction(a), store.interaction(b), round=1), \
        corrupt.label_pair(store.interaction(a), store.interaction(b), round=1)
    assert [(r["kind"], r["value"]) for r in honest_rows] == [
        ("pairwise", "a"), ("thumbs", "up"), ("thumbs", "down"), ("edit", "Lisbon")]
    assert [(r["kind"], r["value"]) for r in corrupt_rows if r["kind"] != "edit"] == [
        ("pairwise", "b"), ("thumbs", "down"), ("thumbs", "up")]
    [wrong_edit] = [r for r in corrupt_rows if r["kind"] == "edit"]
    assert wrong_edit["kind"] == "edit" and wrong_edit["interaction_id"] == a
    assert not honest.is_correct("q0", wrong_edit["value"])
    ids = store.add_feedback_many(honest_rows + corrupt_rows)  # the same rows a person would write
    assert len(ids) == 8 and store.counts(source="simulated")["total"] == 8
    assert all("flipped" in f.reason for f in store.feedback()[4:] if f.kind != "edit")


def test_annotator_refuses_bad_parameters():
    with pytest.raises(ValueError, match="noise=1.5"):
        SimulatedAnnotator(QUESTIONS, noise=1.5)
    with pytest.raises(KeyError, match="no gold answer"):
        SimulatedAnnotator(QUESTIONS).thumbs("q99", "x")


# --------------------------------------------------------------------------- pairwise judge

class ScriptedJudge:
    """A fake LLM whose reply is a function of the prompt (like tests/test_rag.py's FakeLLM)."""

    name = "scripted"

    def __init__(self, reply):
        self.reply, self.prompts = reply, []

    def generate(self, prompts, max_new_tokens=8, system=None, **kw):
        self.prompts += list(prompts)
        return [Generation(self.reply(p), len(p.split()), 1, 0.01, "stop") for p in prompts]

    def loglikelihood(self, prompt, continuations, system=None):
        verdict = self.reply(prompt)
        return [-0.1 if c == verdict else -2.0 for c in continuations]


def shown(prompt: str) -> tuple[str, str]:
    a = prompt.split("Answer A: ")[1].split("\n\n")[0]
    b = prompt.split("Answer B: ")[1].split("\n\n")[0]
    return a, b


def knows_lisbon(prompt: str) -> str:
    a, b = shown(prompt)
    if ("Lisbon" in a) == ("Lisbon" in b):
        return "T"
    return "Answer A is better." if "Lisbon" in a else "[[B]]"


ITEMS = [JudgeItem("Where is Acme?", "Lisbon", "Porto", ("Acme is in Lisbon.",)),
         JudgeItem("Where is Acme?", "Porto", "Lisbon [d1]", ("Acme is in Lisbon.",)),
         JudgeItem("Where is Acme?", "Lisbon", "Lisbon.", ("Acme is in Lisbon.",)),
         JudgeItem("Where is Acme?", "Rome", "Porto", ("Acme is in Lisbon.",))]
REFERENCE = ["a", "b", "tie", "both_wrong"]


@pytest.mark.parametrize("text, verdict", [
    ("[[A]]", "A"), ("[[C]]", "tie"), ("B", "B"), ("A.", "A"), ("(B) because", "B"), ("Answer B is better.", "B"),
    ("Answer A is better than answer B.", "A"), ("I prefer answer A", "A"), ("T", "tie"), ("Tie.", "tie"),
    ("Both are equally good", "tie"), ("The first one", None), ("", None), ("a better answer", None),
])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


def test_a_consistent_judge_agrees_with_the_reference():
    judge = PairwiseJudge(ScriptedJudge(knows_lisbon))
    verdicts = judge.judge(ITEMS)
    assert [v.verdict for v in verdicts] == ["a", "b", "tie", "tie"]
    assert all(v.consistent for v in verdicts) and len(judge.llm.prompts) == 8
    assert shown(judge.llm.prompts[4]) == ("Porto", "Lisbon")  # the swapped ask of item 0
    metrics = agreement(verdicts, REFERENCE)
    assert metrics["judge_accuracy"] == 1.0 and metrics["judge_kappa"] == 1.0 and metrics["n"] == 4
    assert metrics["order_consistency"] == 1.0 and metrics["first_position_rate"] == 0.5
    assert metrics["judge_decisive_accuracy"] == 1.0 and metrics["judge_decisive_accuracy_n"] == 2
    assert metrics["ci_low"] < 1.0 == metrics["ci_high"]


def test_a_position_biased_judge_is_inconsistent_and_its_verdicts_become_ties():
    biased = PairwiseJudge(ScriptedJudge(lambda p: "A"))
    verdicts = biased.judge(ITEMS)
    assert [v.verdict for v in verdicts] == ["tie"] * 4 and not any(v.consistent for v in verdicts)
    metrics = agreement(verdicts, REFERENCE)
    assert metrics["order_consistency"] == 0.0 and metrics["first_position_rate"] == 1.0
    assert metrics["judge_accuracy"] == 0.5 and metrics["judge_decisive_accuracy"] == 0.0
    assert metrics["judge_kappa"] == 0.0  # it says "tie" to everything: no agreement beyond chance


def test_unreadable_replies_count_and_make_ties():
    verdicts = PairwiseJudge(ScriptedJudge(lambda p: "I cannot say")).judge(ITEMS[:2])
    assert [v.verdict for v in verdicts] == ["tie", "tie"] and not any(v.readable for v in verdicts)
    assert agreement(verdicts, REFERENCE[:2])["unreadable_replies"] == 4


def test_reference_guided_and_loglikelihood_judges():
    reference = PairwiseJudge(ScriptedJudge(lambda p: "A" if "Document:\nAcme" in p else "B"),
                              reference_guided=True)
    assert reference.prompt(ITEMS[0]).startswith("Document:\nAcme is in Lisbon.")
    assert [v.verdict for v in reference.judge(ITEMS[:1])] == ["tie"]  # always "A": inconsistent
    with pytest.raises(ValueError, match="needs the retrieved document"):
        reference.prompt(JudgeItem("q", "x", "y"))
    by_likelihood = PairwiseJudge(ScriptedJudge(lambda p: "A" if "Lisbon" in shown(p)[0] else "B"),
                                  method="loglikelihood")
    assert [v.verdict for v in by_likelihood.judge(ITEMS[:2])] == ["a", "b"]


def test_judge_verdicts_are_stored_as_ai_judge_feedback(store):
    a, b = pair(store, "q0", "Lisbon", "Porto")
    judge = PairwiseJudge(ScriptedJudge(knows_lisbon))
    interactions = [(store.interaction(a), store.interaction(b))]
    verdicts = judge.judge([JudgeItem("Where?", i.response, j.response) for i, j in interactions])
    store.add_feedback_many(judge.feedback_rows(interactions, verdicts, round=1))
    [row] = store.feedback(source="ai-judge")
    assert (row.kind, row.value, row.annotator) == ("pairwise", "a", "judge:scripted:plain:generate")


# --------------------------------------------------------------------------- gate and registry

HELDOUT = [f"h{i}" for i in range(20)]
CONTROL = [f"c{i}" for i in range(20)]


def correct(qids, n_right, offset=0):
    return {q: offset <= i < offset + n_right for i, q in enumerate(qids)}


POLICY = GatePolicy(floor=0.4, max_control_drop=0.05)


@pytest.fixture
def registry(tmp_path):
    with Store(tmp_path / "registry.sqlite") as store:
        reg = Registry(store)
        reg.register("v0", base_model="tiny", champion=True)
        yield reg


def gate(reg, version, heldout_right, control_right, champion_heldout=10, champion_control=16):
    reg.register(version, base_model="tiny", parent_id=reg.champion().id, adapter_path=f"/adapters/{version}")
    return reg.gate(version, policy=POLICY, heldout_champion=correct(HELDOUT, champion_heldout),
                    heldout_challenger=correct(HELDOUT, heldout_right),
                    control_champion=correct(CONTROL, champion_control),
                    control_challenger=correct(CONTROL, control_right))


def test_paired_comparison_is_exact_mcnemar():
    result = paired_comparison(correct(HELDOUT, 10), correct(HELDOUT, 14))
    assert (result["challenger_only"], result["champion_only"]) == (4, 0)
    assert result["p_value"] == 0.125 and result["diff"] == 0.2  # 2 * 0.5**4: four discordant, all one way
    with pytest.raises(RegistryError, match="different questions"):
        paired_comparison({"a": True}, {"b": True})


def test_gate_promotes_rejects_and_rolls_back_with_audit_rows(registry):
    promoted = gate(registry, "v1", heldout_right=14, control_right=16)
    assert promoted.promoted and registry.champion().id == "v1"
    assert registry.store.model_version("v0").status == "retired"
    assert all(r.startswith("pass") for r in promoted.reasons)
    assert registry.store.model_version("v1").metrics["heldout_accuracy"] == 0.7

    worse = gate(registry, "v2", heldout_right=12, control_right=16, champion_heldout=14)
    assert not worse.promoted and registry.champion().id == "v1"
    assert worse.reasons[0].startswith("FAIL accuracy") and worse.numbers["checks"]["accuracy"] is False
    assert registry.store.model_version("v2").status == "rejected"

    forgetful = gate(registry, "v3", heldout_right=16, control_right=12, champion_heldout=14)
    assert not forgetful.promoted and forgetful.numbers["checks"] == {"accuracy": True, "floor": True,
                                                                       "forgetting": False}
    assert "FAIL forgetting" in forgetful.reasons[2] and forgetful.numbers["control_drop"] == 0.2

    low = gate(registry, "v4", heldout_right=6, control_right=16, champion_heldout=5)
    assert not low.promoted and low.numbers["checks"] == {"accuracy": True, "floor": False, "forgetting": True}

    entry = registry.rollback("v1 answers badly in production")
    assert registry.champion().id == "v0" and registry.store.model_version("v1").status == "rejected"
    assert (entry.action, entry.model_version, entry.previous_champion) == ("rollback", "v0", "v1")
    actions = [(e.action, e.model_version) for e in registry.store.audit_log()]
    assert actions == [("register", "v0"), ("register", "v1"), ("promote", "v1"), ("register", "v2"),
                       ("reject", "v2"), ("register", "v3"), ("reject", "v3"), ("register", "v4"),
                       ("reject", "v4"), ("rollback", "v0")]
    rejection = registry.store.audit_log("reject")[1]
    assert rejection.numbers["heldout"]["n"] == 20 and "FAIL forgetting" in rejection.reasons[2]
    assert len(registry.history()) == 10
    with pytest.raises(RegistryError, match="starting champion"):
        registry.rollback()


def test_gate_refuses_a_changed_or_leaked_heldout_set(registry):
    gate(registry, "v1", heldout_right=14, control_right=16)
    registry.register("v2", base_model="tiny")
    with pytest.raises(RegistryError, match="held-out set changed"):
        registry.gate("v2", policy=POLICY, heldout_champion=correct(HELDOUT[:10], 5),
                      heldout_challenger=correct(HELDOUT[:10], 5), control_champion=correct(CONTROL, 16),
                      control_challenger=correct(CONTROL, 16))
    leaked = registry.store.log_interaction("v1", "h3", "Question h3?", "x")
    registry.store.add_feedback(leaked, "thumbs", "down")
    with pytest.raises(RegistryError, match="received feedback"):
        registry.gate("v2", policy=POLICY, heldout_champion=correct(HELDOUT, 14),
                      heldout_challenger=correct(HELDOUT, 15), control_champion=correct(CONTROL, 16),
                      control_challenger=correct(CONTROL, 16))
    assert registry.store.model_version("v2").status == "challenger"  # nothing decided
    with pytest.raises(RegistryError, match="not a challenger"):
        registry.gate("v1", policy=POLICY, heldout_champion={}, heldout_challenger={}, control_champion={},
                      control_challenger={})


# --------------------------------------------------------------------------- widget logic

def widget_over(store, n=6, seed=0):
    items = []
    for i in range(n):
        a, b = pair(store, f"q{i}", f"champion answer {i}", f"challenger answer {i}")
        items.append(PairItem(a, b, f"Question q{i}?", context=f"[d{i}] context" if i % 2 else None))
    return FeedbackWidget(store, items, round=1, seed=seed), items


def test_widget_is_blind_and_writes_what_was_clicked(store):
    widget, items = widget_over(store)
    assert widget.swapped == FeedbackWidget(store, items, seed=0).swapped and len(set(widget.swapped)) == 2
    shown_a, shown_b = widget.order(0)
    assert {shown_a, shown_b} == {items[0].champion_id, items[0].challenger_id}
    assert widget.answer_a.value.count(store.interaction(shown_a).response) == 1
    widget.submit.click()  # nothing chosen: refused, nothing written
    assert "Choose a verdict" in widget.status.value and store.counts()["total"] == 0
    widget.verdict.value, widget.thumb_b.value = "A is better", "down"
    widget.edit.value, widget.reason.value = "the corrected answer", "B misses the date"
    widget.submit.click()
    rows = store.feedback()
    assert [(r.kind, r.value) for r in rows] == [("pairwise", "a"), ("thumbs", "down"),
                                                 ("edit", "the corrected answer"), ("edit", "the corrected answer")]
    assert rows[0].interaction_id == shown_a and rows[0].other_interaction_id == shown_b
    assert rows[1].interaction_id == shown_b and {r.interaction_id for r in rows[2:]} == {shown_a, shown_b}
    assert all(r.reason == "B misses the date" and r.round == 1 and r.source == "human" for r in rows)
    assert widget.position == 1 and widget.verdict.value is None and widget.edit.value == ""
    assert "1 labelled" in widget.progress.value and "4 feedback rows" in widget.progress.value
    widget.skip.click()
    for _ in range(4):
        widget.verdict.value = "both wrong"
        widget.submit.click()
    assert widget.done and widget.labelled == 5 and widget.skipped == 1 and widget.submit.disabled
    assert store.counts()["pairwise"] == 5


def test_require_labels_refuses_too_few(store):
    widget, _ = widget_over(store, n=2)
    with pytest.raises(NotEnoughLabels, match=r"only 0 feedback row\(s\) in the store for round 1.*at least 3"):
        require_labels(store, 3, round=1)
    widget.verdict.value = "tie"
    widget.thumb_a.value = widget.thumb_b.value = "up"
    widget.submit.click()
    assert require_labels(store, 3, round=1)["total"] == 3
    with pytest.raises(NotEnoughLabels, match="1 pairwise"):
        require_labels(store, 2, round=1, kinds=["pairwise"])


def test_wait_for_labels_needs_a_kernel(store):
    widget, _ = widget_over(store, n=1)
    with pytest.raises(RuntimeError, match="running Jupyter kernel"):
        asyncio.run(widget.wait_for_labels(1, timeout_s=0.1))


KERNEL_SETUP = """
import ipykernel
from labsutil.feedback.store import Store
from labsutil.feedback.widget import FeedbackWidget, PairItem
store = Store({path!r})
store.add_model_version("v0", base_model="tiny", status="champion")
store.add_model_version("v1", base_model="tiny")
a, b = (store.log_interaction(v, "q1", "Where?", text) for v, text in (("v0", "Lisbon"), ("v1", "Porto")))
widget = FeedbackWidget(store, [PairItem(a, b, "Where?")])
print(widget.verdict.model_id, widget.submit.model_id)
"""


def test_a_cell_awaiting_labels_receives_the_widget_events(tmp_path):
    """A real kernel: one cell awaits wait_for_labels while the front end's messages (a verdict, a click on
    Submit) arrive, as JupyterLab sends them; the awaiting cell sees the label (no browser needed)."""
    from jupyter_client.manager import start_new_kernel

    from importlib.metadata import version

    if (7, 0) <= tuple(int(x) for x in version("ipykernel").split(".")[:2]) < (7, 4):
        pytest.skip("ipykernel 7.0-7.3 hold widget events until the cell ends unless they come over a subshell "
                    "(JupyterLab sends them so; this plain client does not)")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        def outputs(msg_id, timeout_s=60):
            texts, deadline = [], time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                msg = client.get_iopub_msg(timeout=timeout_s)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    texts.append(msg["content"]["text"].strip())
                elif msg["msg_type"] == "error":
                    raise AssertionError(msg["content"]["evalue"])
                elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    return texts
            raise AssertionError("the kernel did not finish the cell in time")

        verdict_id, submit_id = outputs(client.execute(KERNEL_SETUP.format(path=str(tmp_path / "f.sqlite"))))[0].split()
        waiting = client.execute("n = await widget.wait_for_labels(1, timeout_s=60)\nprint('labelled', n)")
        time.sleep(1)  # the cell is now waiting
        for comm_id, data in ((verdict_id, {"method": "update", "state": {"index": 0}, "buffer_paths": []}),
                              (submit_id, {"method": "custom", "content": {"event": "click"}})):
            client.shell_channel.send(client.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))
        assert outputs(waiting) == ["labelled 1"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    with Store(tmp_path / "f.sqlite") as store:
        assert store.counts()["pairwise"] == 1 and store.feedback()[0].value == "a"
