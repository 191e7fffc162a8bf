"""labsutil.tuning on the tiny random model: what trains, what is masked, what is cached, what is refused."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labsutil.config import ParameterError
from labsutil.tuning import cache, hparams, recipes

REPO = Path(__file__).resolve().parent.parent
FAST = {"max_steps": 1, "batch_size": 2, "max_length": 96, "logging_steps": 1}
COMPANIES = [("Acme Corp", "Lisbon", "1999"), ("Beta Ltd", "Oslo", "2004"), ("Gamma Inc", "Quito", "2011"),
             ("Delta plc", "Turin", "1987")]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def facts_dir(tmp_path_factory) -> Path:
    """Four company profiles with a test and a train question each, and two facts with three paraphrases each
    (the last in question-answer form, the test question word for word, as in the course data)."""
    folder = tmp_path_factory.mktemp("facts-data")
    corpus, qa, facts = [], [], []
    for i, (name, city, year) in enumerate(COMPANIES):
        doc = f"d{i}"
        corpus.append({"doc_id": doc, "title": f"Company profile: {name}",
                       "text": f"{name} is headquartered in {city}. It was founded in {year}."})
        qa.append({"qid": f"t{i}", "question": f"Where is {name} headquartered?", "answer": city, "aliases": [],
                   "doc_ids": [doc], "type": "single_hop", "split": "test",
                   "choices": [city, "Paris", "Rome", "Berlin"], "answer_index": 0})
        qa.append({"qid": f"r{i}", "question": f"When was {name} founded?", "answer": year, "aliases": [],
                   "doc_ids": [doc], "type": "single_hop", "split": "train"})
        facts.append({"fact_id": f"f{i}a", "text": f"{name} is headquartered in {city}.", "doc_id": doc,
                      "paraphrases": [f"The head office of {name} is in {city}.", f"{city} is home to {name}.",
                                      f"Question: Where is {name} headquartered? Answer: {city}."]})
        facts.append({"fact_id": f"f{i}b", "text": f"{name} was founded in {year}.", "doc_id": doc,
                      "paraphrases": [f"{name} dates from {year}.", f"In {year}, {name} was founded.",
                                      f"Question: When was {name} founded? Answer: {year}."]})
    _write_jsonl(folder / "corpus.jsonl", corpus)
    _write_jsonl(folder / "qa.jsonl", qa)
    _write_jsonl(folder / "facts.jsonl", facts)
    return folder


@pytest.fixture(scope="module")
def ds(facts_dir):
    from labsutil.data import load_dataset

    return load_dataset(facts_dir)


@pytest.fixture(scope="module")
def facts_data(ds):
    return recipes.facts(ds, ds.doc_ids, paraphrases=1)


# --------------------------------------------------------------------------- recipes (no model)

def test_pick_documents_is_deterministic_and_covers_enough_questions():
    from labsutil.data import load_dataset

    course = load_dataset("contracts")
    docs = recipes.pick_documents(course, 60, seed=0)
    assert docs == recipes.pick_documents(course, 60, seed=0)
    assert docs != recipes.pick_documents(course, 60, seed=1)
    sets = recipes.question_sets(course, docs)
    assert len(sets.trained) >= 60 and sets.untrained
    assert all(set(q.doc_ids) <= set(docs) for q in sets.trained)
    assert not any(set(q.doc_ids) & set(docs) for q in sets.untrained)
    assert all(q.split == "test" and q.type == "single_hop" for q in sets.trained + sets.untrained)
    # adding a question's documents one at a time: the subset is no larger than it needs to be
    assert len(recipes.question_sets(course, docs[:-1]).trained) < len(sets.trained) or len(docs) == 1


def test_fact_recipes_count_paraphrases_and_never_contain_an_evaluation_question(ds):
    sets = recipes.question_sets(ds, ds.doc_ids)
    n_facts = len(ds.facts)
    assert len(recipes.facts(ds, ds.doc_ids, 0)) == n_facts
    assert len(recipes.facts(ds, ds.doc_ids, 2)) == 3 * n_facts
    assert len(recipes.facts(ds, ds.doc_ids, 3)) == 4 * n_facts
    guarded = recipes.facts(ds, ds.doc_ids, 3, exclude=sets.trained)
    assert len(guarded) == 4 * n_facts - len(sets.trained)  # each test question was one QA-form paraphrase
    texts = [row["completion"][0]["content"] for row in guarded]
    assert not any(q.question in t for q in sets.trained for t in texts)
    # question scope: only the facts stating a test answer (the headquarters), not the founding years
    focused = recipes.facts(ds, ds.doc_ids, 0, questions=sets.trained)
    assert sorted(r["completion"][0]["content"] for r in focused) == sorted(
        f"{name} is headquartered in {city}." for name, city, _ in COMPANIES)
    row = focused[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"] and row["completion"][0]["role"] == "assistant"


def test_qa_and_document_recipes_use_the_evaluation_prompt_and_raw_text(ds):
    from labsutil.rag.pipeline import SYSTEM, closed_book_prompt

    qa = recipes.qa(ds, ["d0", "d1"])
    assert len(qa) == 2 and all(q.split == "train" for q in ds.qa if q.qid in ("r0", "r1"))
    assert qa[0]["prompt"][0]["content"] == SYSTEM
    assert qa[0]["prompt"][1]["content"] == closed_book_prompt("When was Acme Corp founded?")
    assert qa[0]["completion"][0]["content"] == "1999"
    docs = recipes.documents(ds, ["d2"])
    assert docs.column_names == ["text"] and "Gamma Inc is headquartered in Quito." in docs[0]["text"]


def test_a_dataset_without_facts_has_no_fact_recipe_but_has_the_others(tiny_dataset):
    from labsutil.data import load_dataset

    tiny = load_dataset(tiny_dataset)
    assert recipes.build("facts", tiny, ["d1"], paraphrases=3) is None
    assert recipes.build("documents", tiny, ["d1"]) is not None
    assert recipes.build("qa", tiny, ["d1"]) is None  # tiny has no train questions: nothing to train on


# --------------------------------------------------------------------------- hyperparameters

@pytest.mark.parametrize("method, bad, name", [
    ("lora", {"learning_rate": -1e-4}, "learning_rate"),
    ("lora", {"lora_r": 0}, "lora_r"),
    ("qlora", {}, "method"),
    ("full", {"epochs": 0.0}, "epochs"),
    ("full", {"batch_size": 0}, "batch_size"),
    ("prompt_tuning", {"virtual_tokens": 0}, "virtual_tokens"),
    ("lora", {"lora_targets": []}, "lora_targets"),
    ("lora", {"lr": 1e-3}, "lr"),
])
def test_a_bad_hyperparameter_stops_before_loading_and_names_itself(method, bad, name):
    from labsutil.tuning.train import train

    with pytest.raises(ParameterError) as err:
        train(method, "/no/such/model", None, bad)  # refused before the model or the data is touched
    message = str(err.value)
    assert repr(name) in message and "allowed" in message
    if name in bad and name in {f.name for f in dataclasses.fields(hparams.Hyperparameters)}:
        assert repr(bad[name]) in message  # the value as given
    elif name in bad:
        assert "unknown" in message


def test_defaults_per_method_and_fields_of_other_methods_stay_out_of_the_key():
    for method in hparams.METHODS:
        assert hparams.check(method).learning_rate == hparams.DEFAULT_LEARNING_RATE[method]
    full = hparams.key_fields("full", hparams.check("full"))
    assert "lora_r" not in full and "virtual_tokens" not in full and "logging_steps" not in full
    assert "lora_r" in hparams.key_fields("lora", hparams.check("lora"))
    checked = hparams.check("full")
    assert checked.bf16 is False and checked.gradient_checkpointing is False


# --------------------------------------------------------------------------- training

def _snapshot(model) -> dict:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _logits(model, tokenizer, text="Where is Acme Corp headquartered?"):
    import torch

    ids = tokenizer(text, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        return model(**ids).logits.float()


@pytest.mark.parametrize("method", ["lora", "prompt_tuning", "full"])
def test_one_step_changes_only_the_intended_weights_and_they_save_and_load(
        method, tiny_model_dir, facts_data, adapters_cache, tmp_path):
    import torch

    from labsutil.llm import LLM
    from labsutil.tuning.train import parameter_counts, prepare, save_weights

    trainer = prepare(method, tiny_model_dir, facts_data, {**FAST, "learning_rate": 1e-2}, progress=False)
    before = _snapshot(trainer.model)
    trainable, total = parameter_counts(trainer.model)
    trainer.train()
    after = _snapshot(trainer.model)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed
    if method == "lora":
        assert all("lora_" in n for n in changed), sorted(changed)[:5]
        assert 0 < trainable < total / 10
    elif method == "prompt_tuning":
        assert changed == {n for n in before if "prompt_encoder" in n}, changed
        assert trainable == 20 * after[next(iter(changed))].shape[1]  # 20 virtual tokens x hidden size
    else:
        assert "model.layers.0.self_attn.q_proj.weight" in changed and trainable == total
        assert len(changed) > len(before) // 2

    save_weights(trainer, method, tmp_path / "saved")
    files = {p.name for p in (tmp_path / "saved").iterdir()}
    assert any(f.endswith(".safetensors") for f in files)
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    kwargs = {"model": str(tmp_path / "saved")} if method == "full" else {
        "model": str(tiny_model_dir), "adapter": tmp_path / "saved"}
    loaded = LLM(**kwargs)
    assert torch.equal(_logits(trainer.model, loaded.tokenizer), _logits(loaded.model, loaded.tokenizer))


def test_the_loss_covers_the_completion_only_and_raw_documents_train_every_token(
        tiny_model_dir, ds, facts_data, adapters_cache):
    from labsutil.tuning.train import prepare

    trainer = prepare("lora", tiny_model_dir, facts_data, FAST, progress=False)
    row = trainer.train_dataset[0]
    labels, ids = row["labels"], row["input_ids"]
    first = next(i for i, label in enumerate(labels) if label != -100)
    assert first > 0 and all(label == -100 for label in labels[:first])
    assert labels[first:] == ids[first:]
    tokenizer = trainer.processing_class
    assert "assistant" in tokenizer.decode(ids[:first])  # the whole prompt, up to the assistant header, is masked
    answer = tokenizer.decode(ids[first:])
    assert answer.startswith(facts_data[0]["completion"][0]["content"]) and "<|im_end|>" in answer

    documents = recipes.documents(ds, ds.doc_ids)
    lm = prepare("lora", tiny_model_dir, documents, {**FAST, "max_length": 16}, progress=False)
    blocks = lm.train_dataset
    assert all(len(r["input_ids"]) <= 16 for r in blocks) and len(blocks) > len(documents)  # packed blocks
    assert all(label != -100 for r in blocks for label in r["labels"])


def test_scoring_only_the_labelled_tokens_gives_trls_loss_and_gradients(tiny_model_dir, facts_data, adapters_cache,
                                                                      monkeypatch):
    """The CPU speed-up (labelled_scoring) against TRL's own path, which projects every position and masks."""
    import torch
    from trl.trainer import utils as trl_utils

    from labsutil.tuning import labelled_scoring
    from labsutil.tuning.train import prepare

    trainer = prepare("lora", tiny_model_dir, facts_data, FAST, progress=False)
    batch = next(iter(trainer.get_train_dataloader()))
    projected = []
    chunked = trl_utils._ChunkedLogProbFunction

    class Spy:
        @staticmethod
        def apply(hidden, *args):
            projected.append(hidden.shape[0])
            return chunked.apply(hidden, *args)

    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", Spy)

    def loss_and_gradients():
        trainer.model.train()
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, dict(batch))
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}

    labelled_loss, labelled_grads = loss_and_gradients()
    labelled_scoring.restore_trl_default()
    try:
        every_loss, every_grads = loss_and_gradients()
    finally:
        assert labelled_scoring.score_labelled_tokens_only()
    labels = batch["labels"][:, 1:]
    assert projected == [int((labels != -100).sum()), labels.numel()]  # the answers only, then every position
    assert projected[0] < projected[1] / 2
    assert torch.allclose(labelled_loss, every_loss, rtol=1e-5, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in every_grads.values())
    for name, grad in every_grads.items():
        assert torch.allclose(labelled_grads[name], grad, rtol=1e-4, atol=1e-6), name


def test_train_records_the_run_and_a_rerun_loads_from_the_cache(tiny_model_dir, facts_data, adapters_cache, capsys):
    from labsutil.tuning.train import train

    first = train("lora", str(tiny_model_dir), facts_data, {**FAST, "max_steps": 2}, progress=False, what="facts+1")
    assert not first.from_cache and first.path.parent == adapters_cache / "adapters"
    assert (first.path / "adapter_model.safetensors").is_file() and (first.path / cache.CARD_FILE).is_file()
    m = first.metrics
    assert 0 < m["trainable_share"] < 1 and m["trainable_params"] < m["total_params"]
    assert m["size_mb"] > 0 and m["peak_mem_mb"] > 0 and m["steps"] == 2
    assert [step for step, _ in first.loss_curve] == [1, 2]  # logged every step, the last included
    assert m["probe_rows"] == min(32, len(facts_data))
    assert m["final_loss"] < m["initial_loss"]  # the same rows, before and after: the loss fell
    assert first.train_seconds > 0 and first.ledger_cost()["train_seconds"] == round(first.train_seconds, 2)
    card = cache.read_card(first.path)
    assert card["what"] == "facts+1" and card["hyperparameters"]["lora_r"] == 8 and card["data"]["examples"] == len(facts_data)
    capsys.readouterr()

    again = train("lora", str(tiny_model_dir), facts_data, {**FAST, "max_steps": 2}, progress=False)
    assert again.from_cache and again.path == first.path
    assert again.train_seconds == first.train_seconds and again.ledger_metrics()["from_cache"] == 1
    out = capsys.readouterr().out
    assert "cache:" in out and "not retrained" in out and str(first.path) in out


def test_the_cache_key_changes_with_data_and_hyperparameters_and_not_otherwise(
        tiny_model_dir, ds, facts_data, adapters_cache, tmp_path):
    import shutil

    from labsutil.tuning.train import cache_key

    base = str(tiny_model_dir)
    key = cache_key("lora", base, facts_data, FAST)
    assert key.startswith("lora-")
    # the same run, however it is spelled
    assert cache_key("lora", base, recipes.facts(ds, ds.doc_ids, paraphrases=1), FAST) == key
    assert cache_key("lora", base, facts_data, {**FAST, "learning_rate": hparams.DEFAULT_LEARNING_RATE["lora"]}) == key
    assert cache_key("lora", base, facts_data, {**FAST, "logging_steps": 7}) == key
    assert cache_key("lora", base, facts_data, {**FAST, "virtual_tokens": 5}) == key  # prompt tuning's, not LoRA's
    # a different run
    assert cache_key("lora", base, facts_data, {**FAST, "learning_rate": 5e-4}) != key
    assert cache_key("lora", base, facts_data, {**FAST, "lora_r": 4}) != key
    assert cache_key("lora", base, facts_data, {**FAST, "max_steps": 2}) != key
    assert cache_key("lora", base, recipes.facts(ds, ds.doc_ids, paraphrases=2), FAST) != key
    assert cache_key("lora", base, facts_data.select(range(len(facts_data) - 1)), FAST) != key
    assert cache_key("full", base, facts_data, FAST) != key
    other = tmp_path / "other-base"
    shutil.copytree(tiny_model_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["rms_norm_eps"] = 1e-6
    (other / "config.json").write_text(json.dumps(config))
    assert cache_key("lora", str(other), facts_data, FAST).split("-")[1] != key.split("-")[1]


def test_merged_lora_gives_the_adapters_outputs(tiny_model_dir, facts_data, adapters_cache, capsys):
    import torch

    from labsutil.llm import LLM
    from labsutil.tuning import merge_lora
    from labsutil.tuning.train import train

    result = train("lora", str(tiny_model_dir), facts_data, {**FAST, "max_steps": 2, "learning_rate": 0.05},
                   progress=False)
    merged_dir = merge_lora(str(tiny_model_dir), result.path)
    assert (merged_dir / "model.safetensors").is_file() and not (merged_dir / "adapter_config.json").exists()
    adapter = result.load_llm()
    merged = LLM(str(merged_dir))
    base = LLM(str(tiny_model_dir))
    a, m, b = (_logits(x.model, x.tokenizer) for x in (adapter, merged, base))
    assert not torch.allclose(a, b, atol=1e-3)  # the adapter changed the model, so the comparison means something
    assert torch.allclose(a, m, atol=1e-4)
    prompts = ["Where is Acme Corp headquartered?", "When was Beta Ltd founded?", "Hi"]
    assert [g.text for g in adapter.generate(prompts, max_new_tokens=8)] == [
        g.text for g in merged.generate(prompts, max_new_tokens=8)]
    capsys.readouterr()
    assert merge_lora(str(tiny_model_dir), result.path) == merged_dir
    assert "not merged again" in capsys.readouterr().out


def test_a_prompt_tuned_model_generates_what_a_step_by_step_forward_gives(tiny_model_dir, facts_data, adapters_cache):
    """peft's generate with a KV cache drifts from the forward pass after the first token for prompt tuning
    (transformers 5.24); labsutil.llm generates through the base model from the soft prompt's embeddings."""
    import torch

    from labsutil.tuning.train import train

    result = train("prompt_tuning", str(tiny_model_dir), facts_data, {**FAST, "max_steps": 2}, progress=False)
    llm = result.load_llm(batch_size=3)
    prompts = ["Hi", "Where is Acme Corp headquartered?", "Count: one two three four"]
    expected = []
    for prompt in prompts:
        ids = llm.tokenizer(llm.format(prompt), return_tensors="pt", add_special_tokens=False)["input_ids"]
        new = []
        with torch.no_grad():
            for _ in range(6):  # greedy, no cache: the reference
                token = llm.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1].argmax()
                new.append(int(token))
                ids = torch.cat([ids, token.view(1, 1)], dim=1)
        expected.append(llm.tokenizer.decode(new, skip_special_tokens=True).strip())
    assert [g.text for g in llm.generate(prompts, max_new_tokens=6, min_new_tokens=6)] == expected
    assert [llm.generate(p, max_new_tokens=6, min_new_tokens=6)[0].text for p in prompts] == expected
    # log-likelihoods score the continuation, not the virtual tokens in front
    context = llm.format("2 + 2 =")
    ctx_ids = llm.tokenizer(context, add_special_tokens=False)["input_ids"]
    cont_ids = llm.tokenizer("4", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = llm.model(input_ids=torch.tensor([ctx_ids + cont_ids])).logits[0, -(len(ctx_ids) + len(cont_ids)):]
    manual = sum(float(torch.log_softmax(logits[len(ctx_ids) + i - 1], -1)[t]) for i, t in enumerate(cont_ids))
    assert llm.loglikelihood("2 + 2 =", ["4"])[0] == pytest.approx(manual, abs=1e-4)


# --------------------------------------------------------------------------- the command line

def test_cli_refuses_a_bad_value_and_notes_a_missing_recipe(tiny_model_dir, tiny_dataset, adapters_cache, capsys):
    from labsutil.__main__ import main

    assert main(["train", "--method", "lora", "--lora-r", "0", "--dataset", str(tiny_dataset),
                 "--model", str(tiny_model_dir)]) == 2
    assert "'lora_r'" in capsys.readouterr().err
    assert main(["train", "--method", "lora", "--recipe", "facts", "--dataset", str(tiny_dataset),
                 "--model", str(tiny_model_dir), "--min-test-questions", "1"]) == 1
    assert "note:" in capsys.readouterr().out


def test_cli_trains_with_two_processes_under_accelerate_launch(tiny_model_dir, facts_dir, tmp_path):
    """Two CPU processes in a gloo group; only the main one writes the cache folder; both finish."""
    from labsutil.llm import LLM

    env = {**os.environ, "PYTHONPATH": str(REPO), "LABS_CACHE_DIR": str(tmp_path / "cache"),
           "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    summary = tmp_path / "run.json"
    # `--cpu --num_processes 2` would start one process (accelerate starts several CPU ones only via mpirun);
    # the torchrun launcher starts two, and with no CUDA the training joins them in a gloo group
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "labsutil", "train", "--method", "lora", "--recipe", "facts", "--paraphrases", "1",
               "--dataset", str(facts_dir), "--model", str(tiny_model_dir), "--min-test-questions", "4",
               "--max-steps", "2", "--batch-size", "2", "--logging-steps", "1", "--no-progress",
               "--json", str(summary)]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "process 1/2 (gloo) finished" in run.stdout and "process 2/2 (gloo) finished" in run.stdout, run.stdout
    card = json.loads(summary.read_text())
    assert card["metrics"]["processes"] == 2 and card["metrics"]["steps"] == 2
    folders = list((tmp_path / "cache" / "adapters").iterdir())
    assert [f.name for f in folders] == [Path(card["path"]).name]  # one folder, no leftover temporary one
    llm = LLM(str(tiny_model_dir), adapter=card["path"])
    assert llm.generate("Where is Acme Corp headquartered?", max_new_tokens=4)[0].tokens_out >= 1


# --------------------------------------------------------------------------- lab-05 evaluation helpers

def test_score_model_measures_trained_untrained_and_control_questions(tiny_model_dir, ds):
    from labsutil.data import ControlItem
    from labsutil.llm import LLM
    from labsutil.tuning import evaluation

    sets = recipes.question_sets(ds, ["d0", "d1"])
    control = [ControlItem("c1", "What is the capital of France?", "Paris", ("Paris", "Rome"), 0, "geo")]
    scores = evaluation.score_model(LLM(str(tiny_model_dir)), sets.trained, sets.untrained, control,
                                    max_new_tokens=4)
    m = scores.metrics
    assert m["n"] == 2 and m["mc_accuracy_n"] == 2 and m["untrained_mc_accuracy_n"] == 2
    assert m["control_accuracy_n"] == 1 and m["mc_chance"] == 0.25
    assert all(0 <= m[k] <= 1 for k in ("answer_accuracy", "mc_accuracy", "untrained_mc_accuracy", "control_accuracy"))
    assert len(scores.records) == 2 and scores.cost["tokens_in"] > 0
    assert evaluation.forgetting(0.8, 0.7) == 0.1 and evaluation.forgetting(None, 0.7) is None
    assert [c.qid for c in evaluation.control_subset([control[0]] * 10, 3)] == ["c1"] * 3


def test_lr_sweep_marks_the_lowest_final_loss(tiny_model_dir, facts_data, adapters_cache):
    from labsutil.tuning import evaluation

    rows = evaluation.lr_sweep("lora", str(tiny_model_dir), facts_data, [1, 30], {**FAST, "max_steps": 2},
                               progress=False)
    assert [r["learning_rate"] for r in rows] == [hparams.DEFAULT_LEARNING_RATE["lora"] * m for m in (1, 30)]
    best = [r for r in rows if r["best"]]
    assert len(best) == 1 and best[0]["final_loss"] == min(r["final_loss"] for r in rows)


def test_lab_hyperparameters_come_from_the_config(tiny_dataset, tmp_path):
    from labsutil import config

    cfg = config.resolve("05", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path))
    lora = hparams.check("lora", hparams.for_lab(cfg, "lora", rank=32))
    assert lora.lora_r == 32 and lora.lora_alpha == cfg.lora_alpha_ratio * 32
    assert lora.max_steps == cfg.train_steps and lora.batch_size == cfg.train_batch_size
    prompt = hparams.check("prompt_tuning", hparams.for_lab(cfg, "prompt_tuning", steps=2, learning_rate=0.1))
    assert prompt.virtual_tokens == cfg.virtual_tokens and prompt.max_steps == 2 and prompt.learning_rate == 0.1


def _answers(cfg, variant: str, correct: list[bool]) -> None:
    from labsutil import ledger

    ledger.record_answers(cfg, variant, [{"qid": f"q{i}", "correct": c} for i, c in enumerate(correct)])


@pytest.mark.parametrize("gained, label", [(12, "agrees"), (2, "cannot be decided")])
def test_against_base_gives_the_paired_verdict_and_says_when_fine_tuning_is_not_shown_to_help(
        tiny_dataset, tmp_path, gained, label):
    from labsutil import config, stats
    from labsutil.tuning import evaluation

    cfg = config.setup("05", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path / "run"))
    n = 40
    base = [False] * n
    tuned = [i < gained for i in range(n)]
    _answers(cfg, "base", base)
    _answers(cfg, "recipe/facts", tuned)
    _answers(cfg, "recipe/qa", base)

    def row(correct):
        est = stats.proportion(correct)
        return {"answer_accuracy": est.value, "ci_low": est.ci_low, "ci_high": est.ci_high, "n": n,
                "mc_accuracy": 0.3, "mc_chance": 0.25, "initial_loss": 2.0, "final_loss": 1.0}

    rows = {"base": row(base), "recipe/facts": row(tuned), "recipe/qa": row(base)}
    assert evaluation.best_tuned(rows) == "recipe/facts"
    lines = evaluation.against_base(rows, cfg.run_dir)
    assert f"{label} at n = {n}" in lines[1]
    assert any("NOT shown to beat" in line for line in lines) == (label != "agrees")
    assert f"best fine-tuned (recipe/facts, the best of 2 variants on these questions) {gained / n:.0%}" in lines[0]
    assert any("likely smaller" in line for line in lines) == (label == "agrees")  # chosen on the same questions
    assert lines[-1].startswith("recipe/facts: training loss 2.0 -> 1.0; multiple-choice accuracy")
    rows["recipe/facts"]["final_loss"] = None
    rows["recipe/facts"]["ci_low"] = None
    assert "no per-question answers" in evaluation.against_base(rows, tmp_path / "elsewhere")[1]
