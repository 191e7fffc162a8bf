from labsutil import speed
from labsutil.llm import LLM


def test_environment_report_has_the_essentials():
    info = speed.environment()
    for key in ("python", "torch threads", "memory total (GiB)", "GPU", "version transformers"):
        assert info[key]


def test_decode_throughput_counts_fixed_length(tiny_model_dir):
    llm = LLM(str(tiny_model_dir))
    result = speed.decode_throughput(llm, batch_size=3, new_tokens=5)
    assert result["tokens_out"] == 15 and result["tokens_per_s"] > 0


def test_native_bf16_answers_with_evidence():
    native, why = speed.native_bf16()
    assert isinstance(native, bool) and why


def test_bench_compares_paths_on_the_same_prompts(tiny_model_dir, tiny_dataset, tmp_path, monkeypatch):
    from labsutil import config, ledger

    monkeypatch.setenv("LABS_CACHE_DIR", str(tmp_path / "cache"))  # the tiny corpus gets its own index
    paths = (("today_fp32_b8", "float32", 8, False), ("fp32_b2", "float32", 2, True))
    rows = speed.bench_answering(tiny_dataset, n=1, repeats=1, max_new_tokens=4, model=str(tiny_model_dir),
                                 paths=paths, include_bf16=False, engines=False)
    assert [r["path"] for r in rows] == ["today_fp32_b8", "fp32_b2"]
    assert rows[0]["speedup_vs_today"] == 1.0 and rows[1]["answers_per_s"] > 0
    assert rows[1]["identical_to_today"].value == 1.0  # greedy fp32: the path changes speed, not answers
    cfg = config.setup("00", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path / "run"))
    speed.bench_ledger_rows(cfg, rows)
    recorded = {r["variant"]: r["metrics"] for r in ledger.read(cfg.run_dir, lab="00")}
    assert set(recorded) == {"bench/today_fp32_b8", "bench/fp32_b2"}
    assert {"answers_per_s", "accuracy", "n", "ci_low", "ci_high", "vs_today_diff"} <= set(recorded["bench/fp32_b2"])


def _bench_row(path, dtype, rate, today_correct, correct, reproducible=True):
    from labsutil import stats

    return {"path": path, "dtype": dtype, "answers_per_s": rate, "bf16_evidence": "CPU flags avx512_bf16",
            "vs_today": stats.paired_binary(today_correct, correct), "reproducible": reproducible,
            "identical_to_today": stats.proportion([1, 0])}


def test_recommend_dtype_needs_speed_accuracy_and_reproducibility():
    same = [1, 0] * 50
    fp32 = _bench_row("today_fp32_b8", "float32", 1.0, same, same)
    assert speed.recommend_dtype([fp32])[0] == "float32"
    fast = _bench_row("bf16_b32", "bfloat16", 3.0, same, same)
    assert speed.recommend_dtype([fp32, fast])[0] == "bfloat16"
    worse = _bench_row("bf16_b32", "bfloat16", 3.0, same, [0] * 100)  # loses 50 points: the interval says so
    dtype, why = speed.recommend_dtype([fp32, worse])
    assert dtype == "float32" and "loses accuracy" in why
    flaky = _bench_row("bf16_b32", "bfloat16", 3.0, same, same, reproducible=False)
    assert "do not reproduce" in speed.recommend_dtype([fp32, flaky])[1]
    slow = _bench_row("bf16_b32", "bfloat16", 0.5, same, same)
    assert "not faster" in speed.recommend_dtype([fp32, slow])[1]


def test_bench_ceiling_times_reading_the_prompts_per_dtype(tiny_model_dir, tiny_dataset, tmp_path, monkeypatch):
    from labsutil import config, ledger

    monkeypatch.setenv("LABS_CACHE_DIR", str(tmp_path / "cache"))
    paths = (("today_fp32_b8", "float32", 8, False), ("fp32_b2", "float32", 2, True))
    rows = speed.bench_answering(tiny_dataset, n=2, repeats=1, max_new_tokens=4, model=str(tiny_model_dir),
                                 paths=paths, include_bf16=False, ceiling=True, engines=False)
    floors = {r["prefill_seconds"] for r in rows}
    assert len(floors) == 1 and floors.pop() > 0  # one dtype, one floor shared by its paths
    assert all(r["ceiling_speedup_vs_today"] == round(rows[0]["seconds"] / r["prefill_seconds"], 3) for r in rows)
    assert "ceiling (prefill only)" in speed.bench_table(rows).columns
    cfg = config.setup("00", profile="smoke", dataset_dir=str(tiny_dataset), run_dir=str(tmp_path / "run"))
    speed.bench_ledger_rows(cfg, rows)
    recorded = {r["variant"]: r["metrics"] for r in ledger.read(cfg.run_dir, lab="00")}
    assert {"prefill_seconds", "ceiling_speedup_vs_today"} <= set(recorded["bench/fp32_b2"])


def test_prefill_reads_every_prompt_once_per_batch(tiny_model_dir, monkeypatch):
    llm = LLM(str(tiny_model_dir))
    seen = []
    monkeypatch.setattr(llm._backend, "prefill", lambda texts, add_special_tokens: seen.append(len(texts)))
    llm.prefill(["a", "bb", "ccc", "dddd", "eeeee"], batch_size=2)
    assert seen == [2, 2, 1]


def test_prefill_runs_the_model_without_generating(tiny_model_dir):
    llm = LLM(str(tiny_model_dir))
    assert speed.prefill_seconds(llm, ["What is an NDA?", "Explain governing law."], batch_sizes=(1, 2),
                                 repeats=1)["batch_size"] in (1, 2)


def test_prefill_says_which_backend_cannot(tiny_model_dir):
    import pytest

    llm = LLM(str(tiny_model_dir))
    llm._backend = object()
    llm.backend_name = "vllm"
    with pytest.raises(NotImplementedError, match="vllm"):
        llm.prefill(["hello"])
