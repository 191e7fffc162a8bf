"""Preference training (DPO/KTO with LoRA on the champion) and the loop of lab 06, on the tiny random model."""
from __future__ import annotations

import warnings

import pytest

from labsutil.config import ParameterError
from labsutil.data import ControlItem, QAItem
from labsutil.feedback import preference
from labsutil.feedback.annotator import SimulatedAnnotator
from labsutil.feedback.loop import FeedbackLoop, serve_batches
from labsutil.feedback.preference import PreferenceTrainingFlat, reward_summary, train_preference
from labsutil.feedback.registry import GatePolicy
from labsutil.feedback.store import Store
from labsutil.rag.retrieval import Chunk, Hit

FAST = {"max_steps": 2, "batch_size": 2, "max_length": 64, "learning_rate": 1e-2}


def _messages(role, text):
    return [{"role": role, "content": text}]


def dpo_data(identical: bool = False):
    from datasets import Dataset

    rows = [("Capital of Portugal?", "Lisbon", "Madrid"), ("Notice period?", "90 days", "two weeks"),
            ("Who signs?", "The CFO", "Nobody"), ("Colour of the logo?", "Teal", "Red")]
    return Dataset.from_list([{"prompt": _messages("user", q), "chosen": _messages("assistant", good),
                               "rejected": _messages("assistant", good if identical else bad)}
                              for q, good, bad in rows])


def kto_data():
    from datasets import Dataset

    return Dataset.from_list([{"prompt": r["prompt"], "completion": r[c], "label": c == "chosen"}
                              for r in dpo_data() for c in ("chosen", "rejected")])


# --------------------------------------------------------------------------- hyperparameters and flags

@pytest.mark.parametrize("method, overrides, name", [
    ("ppo", {}, "method"), ("dpo", {"learning_rate": -1.0}, "learning_rate"),
    ("kto", {"batch_size": 1}, "batch_size"), ("dpo", {"lora_r": 0}, "lora_r"), ("dpo", {"betta": 0.1}, "betta"),
])
def test_a_bad_preference_hyperparameter_is_named(method, overrides, name):
    with pytest.raises(ParameterError, match=name):
        preference.check(method, **overrides)


def test_kto_defaults_to_twice_the_dpo_learning_rate():
    assert preference.check("kto").learning_rate == preference.KTO_RATE_FACTOR * preference.check("dpo").learning_rate
    assert preference.check("kto", learning_rate=1e-4).learning_rate == 1e-4  # an explicit rate is kept


def test_reward_summary_flags_a_run_stuck_at_chance_and_not_one_that_learned():
    stuck = [{"step": s, "rewards/margins": 0.0, "rewards/accuracies": a} for s, a in ((1, 0.0), (2, 0.5), (3, 0.5))]
    learned = [{"step": s, "rewards/margins": 0.1 * s, "rewards/accuracies": a}
               for s, a in ((1, 0.0), (2, 0.75), (3, 1.0))]
    assert reward_summary("dpo", stuck)["flagged"] and "0.55" in reward_summary("dpo", stuck)["flag_reason"]
    # at chance, single small batches land at 0.75 now and then: the flag reads the last third, not the best step
    noisy = [{"step": s, "rewards/margins": 0.0, "rewards/accuracies": a}
             for s, a in enumerate((0.0, 0.75, 0.25, 0.5, 0.25, 0.5), start=1)]
    assert reward_summary("dpo", noisy)["flagged"]
    summary = reward_summary("dpo", learned)
    assert not summary["flagged"] and summary["reward_accuracy"] == 1.0 and summary["reward_margin"] == 0.3
    assert reward_summary("kto", [{"step": 1, "rewards/margins": 0.0}, {"step": 2, "rewards/margins": -0.1}])["flagged"]
    assert reward_summary("dpo", [])["flagged"]
    one = reward_summary("dpo", stuck[:1])
    assert not one["flagged"] and "too short" in one["flag_reason"]


# --------------------------------------------------------------------------- training on the tiny model

def _lora_and_base_weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def test_dpo_trains_a_lora_adapter_on_the_champion_and_a_rerun_loads_it(tiny_model_dir, adapters_cache, capsys):
    learn = {**FAST, "max_steps": 6}
    result = train_preference("dpo", str(tiny_model_dir), dpo_data(), learn, progress=False)
    assert not result.from_cache and result.method == "dpo"
    weights = _lora_and_base_weights(result.path)
    assert weights and all("lora_" in name for name in weights)  # only the adapter is saved: the base is frozen
    m = result.metrics
    assert m["steps"] == 6 and m["examples"] == 4 and 0 < m["trainable_share"] < 1
    # four distinct pairs, six steps at a large rate: the policy comes to prefer every chosen answer
    assert not result.flagged and m["reward_accuracy"] > 0.5 and m["reward_margin"] > 0
    assert result.train_seconds > 0 and m["size_mb"] > 0
    assert result.llm_kwargs() == {"model": str(tiny_model_dir), "adapter": str(result.path)}
    again = train_preference("dpo", str(tiny_model_dir), dpo_data(), learn, progress=False)
    assert again.from_cache and again.train_seconds == result.train_seconds and again.key == result.key
    assert "not retrained" in capsys.readouterr().out
    other = preference.cache_key("dpo", str(tiny_model_dir), dpo_data(), preference.check("dpo", learn, beta=0.5))
    assert other != result.key


def test_bf16_mixed_precision_trains_keeps_fp32_adapter_weights_and_has_its_own_cache_key(tiny_model_dir,
                                                                                         adapters_cache):
    import torch

    learn = {**FAST, "max_steps": 4}
    result = train_preference("dpo", str(tiny_model_dir), dpo_data(), {**learn, "bf16": True}, progress=False)
    assert result.metrics["steps"] == 4 and result.card["hyperparameters"]["bf16"] is True
    assert {w.dtype for w in _lora_and_base_weights(result.path).values()} == {torch.float32}  # master weights
    fp32_key = preference.cache_key("dpo", str(tiny_model_dir), dpo_data(), preference.check("dpo", learn))
    assert fp32_key != result.key


def test_identical_chosen_and_rejected_teach_nothing_and_the_run_is_flagged(tiny_model_dir, adapters_cache):
    with pytest.warns(PreferenceTrainingFlat, match="FLAGGED DPO"):
        result = train_preference("dpo", str(tiny_model_dir), dpo_data(identical=True), FAST, progress=False)
    assert result.flagged and result.metrics["reward_margin"] == 0.0


def test_kto_trains_on_thumbs(tiny_model_dir, adapters_cache):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreferenceTrainingFlat)  # 2 steps of a random model may or may not move
        result = train_preference("kto", str(tiny_model_dir), kto_data(), FAST, progress=False)
    assert result.method == "kto" and result.metrics["steps"] == 2 and result.metrics["reward_margin"] is not None
    assert result.reward_accuracy is None  # KTO has no pairs: its signal is the margin


def test_an_empty_dataset_or_prompts_too_long_for_max_length_are_refused(tiny_model_dir, adapters_cache):
    from labsutil.feedback.convert import to_dataset

    with pytest.raises(ValueError, match="no DPO examples"):
        train_preference("dpo", str(tiny_model_dir), to_dataset([], "dpo"), FAST, progress=False)
    with pytest.raises(ValueError, match="4 of 4 DPO examples have a prompt of max_length=16"):
        train_preference("dpo", str(tiny_model_dir), dpo_data(), {**FAST, "max_length": 16}, progress=False)


# --------------------------------------------------------------------------- the loop

class OneChunkIndex:
    """Retrieval stand-in: each question's own document (the loop only needs `search`)."""

    def __init__(self, questions):
        self.by_question = {q.question: q for q in questions}

    def search(self, queries, k):
        return [[Hit(Chunk(f"{self.by_question[q].doc_ids[0]}#0", self.by_question[q].doc_ids[0], "Doc",
                           f"The answer is {self.by_question[q].answer}."), 1.0)] for q in queries]


def _questions(prefix, n, split):
    return [QAItem(qid=f"{prefix}{i}", question=f"What is item {prefix}{i}?", answer=f"value {i}", aliases=(),
                   doc_ids=(f"doc{i}",), type="single_hop", split=split) for i in range(n)]


def _control(n):
    return [ControlItem(qid=f"c{i}", question=f"Is {i} even?", answer="yes" if i % 2 == 0 else "no",
                        choices=("yes", "no"), answer_index=i % 2) for i in range(n)]


def _loop(store, tiny_model_dir, served, heldout, **kw):
    # min_gain -1: any challenger passes the accuracy check, so the promotion (and merge) path always runs
    return FeedbackLoop(store, OneChunkIndex(served + heldout), base_model=str(tiny_model_dir), heldout=heldout,
                        control=_control(4), policy=GatePolicy(floor=0.0, max_control_drop=1.0, min_gain=-1.0),
                        hp=preference.PreferenceHyperparameters(**{**FAST, "max_length": 256}), max_new_tokens=4, batch_size=4,
                        min_labels=4, progress=False, **kw)


def test_the_loop_serves_labels_trains_gates_and_a_promoted_challenger_is_merged(
        tiny_model_dir, adapters_cache, tmp_path):
    served, heldout = _questions("s", 4, "train"), _questions("h", 4, "test")
    store = Store(tmp_path / "fb.sqlite")
    loop = _loop(store, tiny_model_dir, served, heldout, kto_learning_rate=0.02)
    start = loop.start("v0")
    assert set(start.heldout) == {q.qid for q in heldout} and len(start.control) == 4
    assert {"heldout_accuracy", "n", "ci_low", "ci_high", "control_accuracy"} <= set(start.metrics())

    pairs = loop.serve(1, served)
    assert [p.question.qid for p in pairs] == [q.qid for q in served]
    assert all(p.a.model_version == "v0" and p.a.round == 1 and p.a.retrieved_doc_ids for p in pairs)
    written = loop.label_simulated(1, pairs, SimulatedAnnotator(served, seed=1))
    assert written == store.counts(round=1)["total"] >= 4 * 3  # a verdict and two thumbs per pair, edits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreferenceTrainingFlat)
        challenger = loop.train(1, "dpo")
    version = store.model_version(challenger)
    assert version.status == "challenger" and version.parent_id == "v0" and version.adapter_path
    assert loop.model_kwargs(challenger) == {"model": str(tiny_model_dir), "adapter": version.adapter_path}

    decision = loop.gate(challenger)
    assert decision.promoted and len(decision.reasons) == 3 and store.champion().id == challenger
    merged = loop.model_kwargs(challenger)  # a champion is served merged: no adapter left
    assert "adapter" not in merged and merged["model"].startswith(str(adapters_cache))
    assert [e.action for e in store.audit_log()][-1] == "promote"

    # KTO on the same round trains with its own learning rate (the loop's kto_learning_rate), never gated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreferenceTrainingFlat)
        side = loop.train(1, "kto", version_id="r1-kto", register=False)
    assert loop.trained[side].card["hyperparameters"]["learning_rate"] == loop.kto_learning_rate == 0.02
    assert loop.trained[challenger].card["hyperparameters"]["learning_rate"] == FAST["learning_rate"]

    # round 2 trains on the merged champion; the final comparison runs on questions the gate never saw
    pairs = loop.serve(2, served)
    assert all(p.a.model_version == challenger for p in pairs)
    confirm = _questions("c", 3, "dev")
    loop.index.by_question.update({q.question: q for q in confirm})
    assert len(loop.answer("v0", confirm)) == 3


def test_serving_a_heldout_question_and_training_on_too_few_labels_are_refused(tiny_model_dir, adapters_cache,
                                                                            tmp_path):
    from labsutil.feedback.widget import NotEnoughLabels

    served, heldout = _questions("s", 2, "train"), _questions("h", 2, "test")
    loop = _loop(Store(tmp_path / "fb.sqlite"), tiny_model_dir, served, heldout)
    loop.start()
    with pytest.raises(ValueError, match="held-out set"):
        loop.serve(1, heldout[:1])
    loop.min_labels = 100
    pairs = loop.serve(1, served)
    loop.label_simulated(1, pairs, SimulatedAnnotator(served))
    with pytest.raises(NotEnoughLabels, match="at least 100"):
        loop.train(1, "dpo")


def test_serve_batches_are_disjoint_and_seeded(capsys):
    pool = _questions("s", 10, "train")
    batches = serve_batches(pool, 3, 4, seed=1)
    assert [len(b) for b in batches] == [4, 4, 2] and "round(s) [3] get fewer" in capsys.readouterr().out
    ids = [q.qid for b in batches for q in b]
    assert len(ids) == len(set(ids)) == 10 and batches == serve_batches(pool, 3, 4, seed=1)


def test_copy_to_is_a_consistent_snapshot(tmp_path):
    store = Store(tmp_path / "a.sqlite")
    store.add_model_version("v0", base_model="m", status="champion")
    copy = store.copy_to(tmp_path / "b.sqlite")
    copy.add_model_version("v1", base_model="m")
    assert [v.id for v in store.model_versions()] == ["v0"]
    assert [v.id for v in copy.model_versions()] == ["v0", "v1"] and copy.integrity_check() == "ok"
