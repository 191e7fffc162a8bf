"""The vLLM CPU engine behind the course's LLM: a stand-in worker checks the client; the real engine runs where
`make vllm` installed it."""
import json
import sys
from pathlib import Path

import pytest

from labsutil import vllm_cpu
from labsutil.llm import LLM, BackendUnavailable

STAND_IN = Path(__file__).with_name("stand_in_vllm.py")


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """LABS_VLLM_PYTHON points at a script that runs the stand-in worker; returns its log reader."""
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STAND_IN}" "$@"\n')
    python.chmod(0o755)
    log = tmp_path / "stand_in.jsonl"
    monkeypatch.setenv("LABS_VLLM_PYTHON", str(python))
    monkeypatch.setenv("STAND_IN_LOG", str(log))
    monkeypatch.setenv("LABS_CACHE_DIR", str(tmp_path / "cache"))
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


def test_the_worker_gets_every_core_and_no_network():
    command = vllm_cpu.worker_command(Path("py"), Path("/m"), "bfloat16", 0.25)
    assert command[:2] == ["py", str(vllm_cpu.WORKER)] and vllm_cpu.WORKER.is_file()
    assert command[command.index("--dtype") + 1] == "bfloat16"
    env = vllm_cpu.worker_environment()
    assert env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0" and env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"  # all prompts queued before the first step: reproducible
    assert env["VLLM_CPU_OMP_THREADS_BIND"].split(",") == [str(c) for c in vllm_cpu._usable_cpus()]


def test_the_worker_script_imports_nothing_from_labsutil():
    """It runs in .venv-vllm, where labsutil is not installed."""
    source = vllm_cpu.WORKER.read_text()
    assert "labsutil" not in "".join(line for line in source.splitlines() if line.startswith(("import", "from")))


def test_llm_sends_all_prompts_as_token_ids_in_one_request(stand_in, tiny_model_dir):
    llm = LLM(str(tiny_model_dir), backend="vllm-cpu", dtype="float32", batch_size=2)
    try:
        prompts = ["one", "a longer second prompt", "three"]
        gens = llm.generate(prompts, max_new_tokens=5, system="Be brief.")
    finally:
        llm.close()
    requests = [e["request"] for e in stand_in() if "request" in e]
    assert len(requests) == 1  # batch_size 2 is ignored: the engine schedules all three itself
    sent = requests[0]
    expected = [llm.tokenizer(llm.format(p, system="Be brief."), add_special_tokens=False)["input_ids"]
                for p in prompts]
    assert sent["prompts"] == expected and sent["max_tokens"] == 5 and sent["temperature"] == 0.0
    assert [g.text for g in gens] == [f"n={len(ids)}" for ids in expected]  # the prompts' order, stripped
    assert [g.tokens_in for g in gens] == [len(ids) for ids in expected]
    assert [g.tokens_out for g in gens] == [1, 2, 3] and all(g.finish_reason == "stop" for g in gens)
    assert llm._backend.engine.process.poll() is not None  # close() stopped the worker


def test_the_worker_is_started_for_the_model_and_dtype(stand_in, tiny_model_dir):
    llm = LLM(str(tiny_model_dir), backend="vllm-cpu", dtype="bfloat16")
    llm.close()
    started = next(e for e in stand_in() if "argv" in e)
    assert started["argv"][started["argv"].index("--model") + 1] == str(tiny_model_dir)
    assert started["argv"][started["argv"].index("--dtype") + 1] == "bfloat16"
    assert started["env"]["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"


def test_an_engine_that_fails_to_start_shows_its_log(stand_in, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("STAND_IN_FAIL", "ValueError: not enough memory for the KV cache")
    with pytest.raises(BackendUnavailable, match="(?s)exited with code 3 while starting.*not enough memory"):
        LLM(str(tiny_model_dir), backend="vllm-cpu")


def test_an_error_while_answering_is_raised_not_hidden(stand_in, tiny_model_dir):
    llm = LLM(str(tiny_model_dir), backend="vllm-cpu")
    try:
        with pytest.raises(vllm_cpu.EngineUnavailable, match="max_tokens must be at least 1"):
            llm.generate(["hi"], max_new_tokens=0)
    finally:
        llm.close()


def test_a_missing_engine_says_how_to_install_it(tiny_model_dir, monkeypatch):
    monkeypatch.delenv("LABS_VLLM_PYTHON", raising=False)
    monkeypatch.setattr(vllm_cpu.paths, "repo_root", lambda: None)
    assert not vllm_cpu.available()
    with pytest.raises(BackendUnavailable, match="make vllm"):
        LLM(str(tiny_model_dir), backend="vllm-cpu")


@pytest.mark.parametrize("peft_type", ["LORA", "PROMPT_TUNING"])
def test_adapters_are_refused_with_the_merge_advice(stand_in, tiny_model_dir, tmp_path, peft_type):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": peft_type}))
    with pytest.raises(BackendUnavailable, match="Merge a LoRA adapter first"):
        LLM(str(tiny_model_dir), backend="vllm-cpu", adapter=adapter)
    assert not (tmp_path / "stand_in.jsonl").exists()  # refused before any worker started


def test_the_bench_adds_the_engine_paths(stand_in, tiny_model_dir, tiny_dataset):
    from labsutil import speed

    paths = (("today_fp32_b8", "float32", 8, False),)
    rows = speed.bench_answering(tiny_dataset, n=2, repeats=1, max_new_tokens=4, model=str(tiny_model_dir),
                                 paths=paths, include_bf16=True, engines=True)
    assert [(r["path"], r["backend"]) for r in rows] == [
        ("today_fp32_b8", "transformers"), ("vllm_cpu_fp32", "vllm-cpu"), ("vllm_cpu_bf16", "vllm-cpu")]
    engine = rows[1]
    assert engine["reproducible"] and engine["engine_start_s"] >= 0 and engine["answers_per_s"] > 0
    assert engine["identical_to_today"].n == rows[0]["n"] >= 1
    assert "ceiling_speedup_vs_today" not in engine  # torch's prefill bounds torch's paths only


def test_the_dtype_advice_is_about_torch_paths_only():
    from labsutil import speed, stats

    same = [1, 0] * 50
    row = {"answers_per_s": 1.0, "bf16_evidence": "flags", "vs_today": stats.paired_binary(same, same),
           "reproducible": True, "identical_to_today": stats.proportion([1, 0])}
    today = {**row, "path": "today_fp32_b8", "backend": "transformers", "dtype": "float32"}
    engine = {**row, "path": "vllm_cpu_bf16", "backend": "vllm-cpu", "dtype": "bfloat16", "answers_per_s": 5.0}
    dtype, why = speed.recommend_dtype([today, engine])
    assert dtype == "float32" and "not measured" in why


@pytest.mark.skipif(not vllm_cpu.available(), reason="the vLLM CPU engine is not installed (make vllm)")
def test_the_real_engine_answers_like_transformers_in_fp32(tiny_model_dir, tmp_path):
    """fp32 greedy answers of the engine equal transformers' (measured on lab 02's prompts too: 48 of 48)."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    config = AutoConfig.from_pretrained(tiny_model_dir)
    config.update({"hidden_size": 128, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 64})
    torch.manual_seed(0)  # vLLM's CPU attention needs SmolLM2's head size (64), not the tiny model's 16
    model_dir = tmp_path / "tiny-head64"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(model_dir)
    prompts = ["What is a contract?", "Name a clause.", "Who signs an agreement?", "Define liability."]
    reference = LLM(str(model_dir), dtype="float32").generate(prompts, max_new_tokens=8)
    engine = LLM(str(model_dir), backend="vllm-cpu", dtype="float32")
    try:
        answers = engine.generate(prompts, max_new_tokens=8)
    finally:
        engine.close()
    assert [a.text for a in answers] == [r.text for r in reference]


def test_the_engine_note_reports_the_engine_rows_or_how_to_install():
    from labsutil import speed, stats

    assert "make vllm" in speed.engine_note([{"backend": "transformers"}])
    row = {"backend": "vllm-cpu", "dtype": "bfloat16", "speedup_vs_today": 5.12, "reproducible": False,
           "identical_to_today": stats.proportion([1, 1, 0, 1])}
    note = speed.engine_note([row])
    assert "bfloat16 5.1x" in note and "NOT reproducible" in note and "75%" in note


def test_auto_backend_is_the_engine_where_installed(tiny_dataset, tmp_path, monkeypatch):
    from labsutil import config

    monkeypatch.setenv("LABS_VLLM_PYTHON", str(tmp_path / "python"))
    cfg = config.setup("02", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path / "run"))
    assert cfg.backend == "vllm-cpu"  # the ledger records the engine that answered, not "auto"
    monkeypatch.delenv("LABS_VLLM_PYTHON")
    monkeypatch.setattr(vllm_cpu.paths, "repo_root", lambda: None)
    cfg = config.setup("02", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path / "run"))
    assert cfg.backend == "transformers"
    assert config.setup("01", profile="smoke", dataset_dir=str(tiny_dataset),
                        run_dir=str(tmp_path / "run")).backend == "transformers"  # lab 01 needs torch's logits
