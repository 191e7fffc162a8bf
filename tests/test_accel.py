"""labsutil.accel on a tiny random model: pruning against torch's own, distillation's loss against the definition,
students that train and cache, the harness's measurements, engines that agree with transformers."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from labsutil.accel import distill, engines, harness, lab, prune, quantize
from labsutil.llm import LLM


@pytest.fixture(scope="module")
def four_layers(tiny_model_dir, tmp_path_factory):
    """The tiny model's architecture with 4 layers (so that halving and dropping layers leave some)."""
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    config = AutoConfig.from_pretrained(tiny_model_dir)
    config.num_hidden_layers = 4
    torch.manual_seed(1)
    model = LlamaForCausalLM(config).eval()
    out = tmp_path_factory.mktemp("tiny4")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def llm4(four_layers):
    return LLM(str(four_layers), batch_size=2)


TEXTS = ["Acme Corp is headquartered in Lisbon and was founded in 1999.",
         "The supply agreement renews every 12 months unless terminated with 90 days notice."]


def test_magnitude_pruning_zeroes_the_share_asked_and_leaves_embeddings(llm4):
    model = llm4.model
    pruned = prune.magnitude(model, 0.5)
    assert prune.sparsity(model) == 0.0
    assert prune.sparsity(pruned) == pytest.approx(0.5, abs=0.01)
    assert torch.equal(pruned.get_input_embeddings().weight, model.get_input_embeddings().weight)
    with pytest.raises(ValueError, match="pruned share"):
        prune.magnitude(model, 1.0)


def test_wanda_with_uniform_activations_is_per_row_magnitude_pruning_as_torch_computes_it():
    from torch.nn.utils import prune as torch_prune

    torch.manual_seed(0)
    weight = torch.randn(6, 10)
    mask = prune.wanda_mask(weight, torch.ones(10), 0.3)
    for r in range(6):  # torch's own L1 pruning of one row at a time
        row = torch.nn.Linear(10, 1, bias=False)
        row.weight.data = weight[r:r + 1].clone()
        torch_prune.l1_unstructured(row, "weight", amount=3)
        assert torch.equal(mask[r], row.weight_mask[0].bool())


def test_wanda_keeps_small_weights_on_loud_inputs():
    weight = torch.tensor([[0.1, 1.0, 0.9, 0.8]])
    loud_first = torch.tensor([100.0, 1.0, 1.0, 1.0])
    mask = prune.wanda_mask(weight, loud_first, 0.25)
    assert mask.tolist() == [[True, True, True, False]]  # magnitude alone would drop the 0.1


def test_wanda_prunes_every_decoder_linear_with_real_calibration(llm4):
    pruned = prune.wanda(llm4.model, llm4.tokenizer, TEXTS, 0.5)
    assert prune.sparsity(pruned) == pytest.approx(0.5, abs=0.01)
    assert prune.sparsity(llm4.model) == 0.0  # a copy: the original is untouched


def test_keeping_every_layer_changes_nothing_and_dropping_layers_still_generates(llm4):
    ids = llm4.tokenizer(TEXTS[0], return_tensors="pt")["input_ids"]
    same = prune.keep_layers(llm4.model, [0, 1, 2, 3])
    with torch.inference_mode():
        assert torch.allclose(same(input_ids=ids).logits, llm4.model(input_ids=ids).logits)
    smaller, removed = prune.drop_layers(llm4.model, llm4.tokenizer, TEXTS, 0.5)
    assert len(removed) == 2 and smaller.config.num_hidden_layers == 2
    gens = llm4.with_model(smaller).generate(["Hello"], max_new_tokens=4, min_new_tokens=4)
    assert gens[0].tokens_out == 4


def test_torchao_int8_is_smaller_and_close_to_fp32(llm4):
    q = quantize.int8_weight_only(llm4.model)
    assert engines.torch_weight_bytes(q) < engines.torch_weight_bytes(llm4.model)
    ids = llm4.tokenizer(TEXTS[1], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        a, b = llm4.model(input_ids=ids).logits.flatten(), q(input_ids=ids).logits.flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.99


def test_kd_loss_is_the_forward_kl_and_zero_for_identical_logits():
    torch.manual_seed(0)
    s, t = torch.randn(2, 5, 11), torch.randn(2, 5, 11)
    labels = torch.ones(2, 5, dtype=torch.long)
    expected = (t.softmax(-1) * (t.log_softmax(-1) - s.log_softmax(-1))).sum(-1).mean()
    assert float(distill.kd_loss(s, t, labels)) == pytest.approx(float(expected), rel=1e-5)
    assert float(distill.kd_loss(t, t, labels)) == pytest.approx(0.0, abs=1e-6)
    labels[0, :2] = -100  # masked positions are left out of the mean
    kept = (t.softmax(-1) * (t.log_softmax(-1) - s.log_softmax(-1))).sum(-1)[labels != -100].mean()
    assert float(distill.kd_loss(s, t, labels)) == pytest.approx(float(kept), rel=1e-5)


def test_half_student_keeps_every_other_layer(llm4):
    student = distill.half_student(llm4.model)
    assert student.config.num_hidden_layers == 2
    assert torch.equal(student.model.layers[1].mlp.up_proj.weight, llm4.model.model.layers[2].mlp.up_proj.weight)


def test_a_distilled_student_gets_closer_to_its_teacher_and_is_cached(llm4, adapters_cache):
    texts = TEXTS * 20
    kwargs = dict(steps=8, batch_size=2, learning_rate=5e-3, block_tokens=16, seed=0)
    before = distill.half_student(llm4.model)
    student = distill.train_student(llm4.model, llm4.tokenizer, "tiny4", texts, alpha=1.0, **kwargs)
    assert not student.from_cache and student.train_seconds > 0
    assert student.card["final_loss"] < student.card["initial_loss"]
    trained = LLM(str(student.path)).model
    assert trained.config.num_hidden_layers == 2
    blocks = distill.text_blocks(llm4.tokenizer, TEXTS, 16)
    ids = torch.tensor(blocks)
    with torch.inference_mode():
        kl = [float(distill.kd_loss(m(input_ids=ids).logits, llm4.model(input_ids=ids).logits, ids))
              for m in (before, trained)]
    assert kl[1] < kl[0]
    again = distill.train_student(llm4.model, llm4.tokenizer, "tiny4", texts, alpha=1.0, **kwargs)
    assert again.from_cache and again.train_seconds == student.train_seconds
    control = distill.train_student(llm4.model, llm4.tokenizer, "tiny4", texts, alpha=0.0, **kwargs)
    assert control.key != student.key and control.key.startswith("student-lm")


def test_next_token_agreement_of_a_model_with_itself_is_one(llm4):
    pairs = [(text[:20], text[20:]) for text in TEXTS]
    result = distill.next_token_agreement(llm4.model, llm4.model, llm4.tokenizer, pairs)
    assert result["agreement"] == 1.0 and result["positions"] > 10
    shared = distill.greedy_next_tokens(llm4.model, llm4.tokenizer, pairs)
    other = distill.half_student(llm4.model)
    assert distill.next_token_agreement(llm4.model, other, llm4.tokenizer, pairs, teacher_tokens=shared) == \
        distill.next_token_agreement(llm4.model, other, llm4.tokenizer, pairs)
    assert distill.expected_tokens_per_call(0.0, 5) == 1.0
    assert distill.expected_tokens_per_call(0.5, 1) == pytest.approx(1.5)
    assert distill.expected_tokens_per_call(1.0, 4) == 5.0
    assert distill.expected_speedup(0.0, 0.5, 3) == pytest.approx(1 / 2.5)  # every drafted token wasted
    assert distill.expected_speedup(0.9, 0.05, 4) > 2  # a cheap, usually right draft pays
    assert distill.best_draft_length(0.44, 0.57)[1] < 1  # the lab's half-depth draft cannot pay


def test_prompt_lookup_and_a_draft_model_keep_greedy_answers(llm4):
    plain = llm4.generate(TEXTS, max_new_tokens=8, batch_size=1)
    lookup = llm4.with_model(llm4.model, generate_options={"prompt_lookup_num_tokens": 4}).generate(
        TEXTS, max_new_tokens=8, batch_size=1)
    draft = llm4.with_model(llm4.model, generate_options={"assistant_model": distill.half_student(llm4.model)})
    drafted = draft.generate(TEXTS, max_new_tokens=8, batch_size=1)
    assert [g.text for g in lookup] == [g.text for g in plain] == [g.text for g in drafted]
    assert llm4.with_model(llm4.model).generate(TEXTS[0], max_new_tokens=8)[0].text == plain[0].text


def test_speed_measurement_decodes_the_fixed_length_at_the_batch_size(llm4):
    engine = engines.TorchEngine(llm4, batch_size=2)
    speed = harness.measure_speed(engine, ["a", "b", "c"], new_tokens=5, batch_size=2, repeats=1)
    assert speed["tokens_out"] == 3 * 5 and speed["prompts"] == 3
    assert speed["tokens_per_s"] > 0 and speed["ttft_s"] > 0 and speed["peak_rss_mb"] > 0
    assert speed["latency_p50_s"] <= speed["latency_p95_s"]
    assert not math.isnan(engine.perplexity(TEXTS)) and engine.perplexity(TEXTS) > 1


def test_ort_genai_export_of_the_tiny_model_answers_like_transformers(tiny_model_dir, adapters_cache):
    pytest.importorskip("onnxruntime_genai")
    folder, card = quantize.export_ort(tiny_model_dir, "fp32")
    assert card["export_seconds"] > 0 and (folder / "genai_config.json").is_file()
    again, card2 = quantize.export_ort(tiny_model_dir, "fp32")
    assert again == folder and card2 == card  # cached
    llm = LLM(str(tiny_model_dir))
    ort = engines.OrtGenaiEngine(LLM(str(tiny_model_dir), backend="ort-fp32"))
    assert ort.folder == folder
    prompts = ["Where is Acme?", "When was Beta founded?"]
    mine = engines.TorchEngine(llm, batch_size=1).generate(prompts, max_new_tokens=6)
    theirs = ort.generate(prompts, max_new_tokens=6)
    assert [g.text for g in theirs] == [g.text for g in mine]
    fixed = ort.generate(prompts[:1], max_new_tokens=6, fixed=True)
    assert fixed[0].tokens_out == 6


def test_pareto_front_keeps_the_undominated():
    frame = pd.DataFrame({"accuracy": [0.5, 0.4, 0.3, 0.5], "tokens/s": [10, 50, 40, 5]},
                         index=["fp32", "int4", "worse", "slow"])
    assert lab.pareto_front(frame) == ["fp32", "int4"]


def test_heldout_split_is_seeded_and_disjoint():
    from types import SimpleNamespace

    docs = [SimpleNamespace(doc_id=f"d{i}") for i in range(20)]
    train, held = lab.heldout_split(docs, 0.1, seed=0)
    assert len(held) == 2 and not {d.doc_id for d in train} & {d.doc_id for d in held}
    assert [d.doc_id for d in lab.heldout_split(docs, 0.1, seed=0)[1]] == [d.doc_id for d in held]


def test_llama_cpp_engine_runs_the_course_gguf_when_the_extra_is_installed(tiny_model_dir):
    pytest.importorskip("llama_cpp")
    from labsutil import models

    engine = engines.LlamaCppEngine(models.smollm2_gguf(), LLM(str(tiny_model_dir)), threads=1)
    fixed = engine.generate(["Name a colour."], max_new_tokens=5, fixed=True)[0]
    assert fixed.tokens_out == 5 and fixed.first_token_s is not None and fixed.latency_s >= fixed.first_token_s
    assert engine.weight_bytes == models.smollm2_gguf().stat().st_size


def test_phases_are_split_per_batch_from_shared_timings():
    from labsutil.llm import Generation

    # two batches of two requests: prompts of 100 tokens, 5 new tokens each
    batch1 = [Generation("a", 100, 5, 2.0, "length", 1.0)] * 2
    batch2 = [Generation("b", 100, 5, 3.0, "length", 1.0)] * 2
    phases = harness.split_phases(batch1 + batch2)
    assert phases["prefill_tokens_per_s"] == pytest.approx(400 / 2.0)
    assert phases["decode_tokens_per_s"] == pytest.approx((8 + 8) / (1.0 + 2.0), abs=0.01)  # rounded to 2 places
    assert harness.split_phases([Generation("c", 10, 2, 1.0, "stop")])["decode_tokens_per_s"] is None


def test_the_ort_backend_says_what_it_cannot_do(tiny_model_dir, adapters_cache, tmp_path):
    pytest.importorskip("onnxruntime_genai")
    from labsutil.llm import BackendUnavailable

    llm = LLM(str(tiny_model_dir), backend="ort-fp32")
    assert llm.generate("Hello", max_new_tokens=3)[0].tokens_out <= 3
    with pytest.raises(BackendUnavailable, match="generate only"):
        llm.loglikelihood("2 + 2 =", ["3", "4"])
    with pytest.raises(BackendUnavailable, match="merge the adapter"):
        LLM(str(tiny_model_dir), backend="ort-int4", adapter=str(tmp_path))
    with pytest.raises(ValueError, match="ort-int4"):
        LLM(str(tiny_model_dir), backend="onnx")


def test_the_gpu_comparison_says_it_did_not_run_without_a_gpu(cfg):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the comparison would run")
    result = lab.gpu_comparison(cfg, ["a prompt"])
    assert result["ran"] is False and "GPU" in result["why"]
