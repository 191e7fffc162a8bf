import math

import pytest

from labsutil.llm import LLM, BackendUnavailable

PROMPTS = ["Hi", "What is the governing law of the agreement?", "Count: one two three four five six",
           "x", "Explain a liability cap in one sentence please.", "?"]


@pytest.fixture(scope="module")
def llm(tiny_model_dir):
    return LLM(str(tiny_model_dir), batch_size=4)


def test_batched_greedy_equals_one_by_one(llm):
    batched = llm.generate(PROMPTS, max_new_tokens=12, batch_size=4)
    single = [llm.generate(p, max_new_tokens=12)[0] for p in PROMPTS]
    assert [b.text for b in batched] == [s.text for s in single]
    assert [b.tokens_out for b in batched] == [s.tokens_out for s in single]
    assert [b.tokens_in for b in batched] == [s.tokens_in for s in single]


def test_length_bucketing_keeps_order_and_answers(llm):
    """Batches of similar length pad less; the answers come back in the prompts' order, unchanged (greedy fp32)."""
    order = llm._length_order(PROMPTS)
    lengths = [llm.count_tokens(llm.format(PROMPTS[i])) for i in order]
    assert lengths == sorted(lengths) and sorted(order) == list(range(len(PROMPTS)))
    bucketed = llm.generate(PROMPTS, max_new_tokens=10, batch_size=3, bucket=True)
    plain = llm.generate(PROMPTS, max_new_tokens=10, batch_size=3, bucket=False)
    assert [g.text for g in bucketed] == [g.text for g in plain]
    assert [g.tokens_in for g in bucketed] == [llm.count_tokens(llm.format(p)) for p in PROMPTS]


def test_token_counts_and_latency(llm):
    gen = llm.generate("Hello there", max_new_tokens=5)[0]
    assert gen.tokens_in == llm.count_tokens(llm.format("Hello there"))
    assert 1 <= gen.tokens_out <= 5 and gen.latency_s > 0
    assert gen.finish_reason in ("stop", "length")


def test_min_new_tokens_forces_length(llm):
    gens = llm.generate(PROMPTS[:3], max_new_tokens=6, min_new_tokens=6)
    assert all(g.tokens_out == 6 for g in gens)


def test_sampling_is_seeded(llm):
    a = llm.generate(PROMPTS[:2], max_new_tokens=8, temperature=1.0, seed=11)
    b = llm.generate(PROMPTS[:2], max_new_tokens=8, temperature=1.0, seed=11)
    assert [g.text for g in a] == [g.text for g in b]


def test_chat_template_and_system(llm):
    text = llm.format("Hi", system="Be brief.")
    assert "Be brief." in text and "Hi" in text and text != "Hi"
    assert llm.format("raw", chat=False) == "raw"


def test_stop_strings_cut_text(llm):
    gen = llm.generate("Hi", max_new_tokens=12, min_new_tokens=12)[0]
    if len(gen.text) > 2:
        cut = llm.generate("Hi", max_new_tokens=12, min_new_tokens=12, stop=[gen.text[1:3]])[0]
        assert cut.text == gen.text[: gen.text.find(gen.text[1:3])].strip()


def test_loglikelihood_matches_manual_sum(llm):
    import torch

    prompt, conts = "2 + 2 =", ["4", "five"]
    scores = llm.loglikelihood(prompt, conts)
    context = llm.format(prompt)
    for cont, score in zip(conts, scores):
        ctx_ids = llm.tokenizer(context, add_special_tokens=False)["input_ids"]
        ids = ctx_ids + llm.tokenizer(cont, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(llm.model(torch.tensor([ids])).logits[0], -1)
        manual = sum(logp[t - 1, ids[t]].item() for t in range(len(ctx_ids), len(ids)))
        assert math.isclose(score, manual, rel_tol=1e-4, abs_tol=1e-4)


def test_adapter_loads_on_top(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    with_adapter = LLM(str(tiny_model_dir), adapter=tmp_path / "adapter")
    plain = LLM(str(tiny_model_dir))
    a = with_adapter.loglikelihood("Hi", ["there"])[0]
    b = plain.loglikelihood("Hi", ["there"])[0]
    assert a != pytest.approx(b)


def test_vllm_without_cuda_stops_at_once(tiny_model_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(BackendUnavailable, match="transformers"):
        LLM(str(tiny_model_dir), backend="vllm")


def test_unknown_backend(tiny_model_dir):
    with pytest.raises(ValueError, match="'transformers', 'vllm'"):
        LLM(str(tiny_model_dir), backend="onnx")


def test_loglikelihood_many_matches_one_prompt_at_a_time(llm):
    """Batching multiple-choice scoring across questions changes the speed, not the scores."""
    requests = [("What is the capital of France?", ["Paris", "Rome", "a long answer here"]),
                ("Pick one", ["x", "y"]), ("Q", ["only"])]
    many = llm.loglikelihood_many(requests, batch_size=4)
    single = [llm.loglikelihood(p, c) for p, c in requests]
    assert [len(m) for m in many] == [3, 2, 1]
    for a, b in zip(many, single):
        assert all(abs(x - y) < 1e-3 for x, y in zip(a, b)), (a, b)
    from labsutil import evaluate

    items = [(p, c) for p, c in requests]
    assert evaluate.choose_many(llm, items) == [evaluate.choose(llm, p, c) for p, c in items]


def test_shared_context_scoring_equals_scoring_each_sequence(llm):
    """Scoring options on top of their context's KV cache (the default path) gives the log-likelihoods of scoring
    every (context, option) sequence whole: contexts and options of different lengths, one-token options (no
    second pass), an empty option, and batches that split between contexts."""
    backend = llm._backend
    tok = llm.tokenizer
    requests = [("What is the capital of France?", [" Paris", " Rome", " a much longer continuation here", ""]),
                ("Hi", [" A", " B"]), ("Pick the colour of the sky on a clear day", [" blue", " green", " red"])]
    contexts = [tok(c)["input_ids"] for c, _ in requests]
    options = [[tok(o, add_special_tokens=False)["input_ids"] for o in opts] for _, opts in requests]
    whole = backend._score_each(contexts, options, batch_size=32)
    for batch_size in (32, 4, 1):
        shared = backend.loglikelihood_many(requests, add_special_tokens=True, batch_size=batch_size)
        assert [len(s) for s in shared] == [4, 2, 3]
        for a, b in zip(shared, whole):
            assert all(abs(x - y) < 1e-3 for x, y in zip(a, b)), (batch_size, a, b)
    assert whole[0][3] == 0.0  # an empty continuation has probability 1
    one_token = backend._score_shared([contexts[1]], [options[1]])  # " A"/" B": the first pass alone
    assert all(abs(x - y) < 1e-3 for x, y in zip(one_token[0], whole[1]))


def test_tail_scoring_equals_scoring_every_position(llm):
    """Left padding + logits_to_keep (the fast path) gives the log-likelihoods of the plain right-padded forward."""
    backend = llm._backend
    tok = llm.tokenizer
    seqs, spans = [], []
    for context, cont in [("What is the capital of France?", " Paris"), ("Hi", " a much longer continuation here"),
                          ("Q", " x")]:
        c, n = tok(context)["input_ids"], tok(cont, add_special_tokens=False)["input_ids"]
        seqs.append(c + n)
        spans.append((len(c), len(c) + len(n)))
    fast, full = backend._score_tail(seqs, spans), backend._score_full(seqs, spans)
    assert all(abs(a - b) < 1e-3 for a, b in zip(fast, full)), (fast, full)


def test_auto_dtype_is_bf16_only_on_a_cpu_with_native_bf16(monkeypatch):
    from labsutil import llm as llm_mod, speed

    monkeypatch.setattr(speed, "native_bf16", lambda: (True, "CPU flags avx512_bf16"))
    assert llm_mod.resolve_dtype("auto", "cpu") == "bfloat16"
    monkeypatch.setattr(speed, "native_bf16", lambda: (False, "no avx512_bf16 / amx_bf16 CPU flag"))
    assert llm_mod.resolve_dtype("auto", "cpu") == "float32"  # emulated bf16 is slower than fp32
    assert llm_mod.resolve_dtype("auto", "cuda") == "auto"  # a GPU keeps the checkpoint's dtype
    assert llm_mod.resolve_dtype("float32", "cpu") == "float32"


def test_precision_follows_the_answering_dtype(monkeypatch):
    """Training is in bf16 mixed precision exactly where answering is in bf16; rows and the printed note say so."""
    from types import SimpleNamespace

    from labsutil import llm as llm_mod, speed
    from labsutil.tuning import hparams

    cfg = SimpleNamespace(train_steps=3, train_batch_size=2, max_length=64, seed=0, lora_alpha_ratio=2.0,
                          virtual_tokens=4, dtype="auto")
    monkeypatch.setattr(speed, "native_bf16", lambda: (True, "CPU flags avx512_bf16"))
    assert llm_mod.training_bf16("auto") and llm_mod.training_bf16("bfloat16")
    assert llm_mod.precision_params("auto") == {"precision": "bfloat16", "train_bf16": True}
    assert "bfloat16 answering, bf16 mixed-precision training (CPU flags avx512_bf16)" in llm_mod.precision_note("auto")
    assert llm_mod.precision_note("auto", trains=False).endswith("bfloat16 answering (CPU flags avx512_bf16)")
    assert hparams.for_lab(cfg, "lora", rank=4)["bf16"] is True
    monkeypatch.setattr(speed, "native_bf16", lambda: (False, "no avx512_bf16 / amx_bf16 CPU flag"))
    assert not llm_mod.training_bf16("auto") and not llm_mod.training_bf16("float32")
    assert llm_mod.precision_params("auto") == {"precision": "float32", "train_bf16": False}
    assert "float32 answering, fp32 training" in llm_mod.precision_note("auto")
    assert hparams.for_lab(cfg, "lora", rank=4)["bf16"] is False


def test_a_lora_adapter_merged_in_memory_answers_like_the_unmerged_one(tiny_model_dir, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))  # random B: the adapter changes the outputs
    lora.save_pretrained(tmp_path / "adapter")
    prompts = ["Capital of Portugal?", "Notice period?", "Who signs the contract?"]
    unmerged = LLM(str(tiny_model_dir), adapter=tmp_path / "adapter", batch_size=3)
    merged = LLM(str(tiny_model_dir), adapter=tmp_path / "adapter", batch_size=3, merge_adapter=True)
    assert isinstance(unmerged.model, PeftModel) and not isinstance(merged.model, PeftModel)
    texts = [g.text for g in unmerged.generate(prompts, max_new_tokens=8)]
    assert texts == [g.text for g in merged.generate(prompts, max_new_tokens=8)]
    # multiple choice through the adapter (the shared-context path calls the peft-wrapped decoder directly)
    backend = unmerged._backend
    requests = [(unmerged.format(p), [" yes", " no, not at all"]) for p in prompts]
    contexts = [backend.tokenizer(c)["input_ids"] for c, _ in requests]
    options = [[backend.tokenizer(o, add_special_tokens=False)["input_ids"] for o in opts] for _, opts in requests]
    shared = backend.loglikelihood_many(requests, add_special_tokens=True)
    whole = backend._score_each(contexts, options, batch_size=8)
    assert all(abs(x - y) < 1e-3 for a, b in zip(shared, whole) for x, y in zip(a, b)), (shared, whole)
    plain = LLM(str(tiny_model_dir), batch_size=3)
    assert texts != [g.text for g in plain.generate(prompts, max_new_tokens=8)]  # the adapter did change them
