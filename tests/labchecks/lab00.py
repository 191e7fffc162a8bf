"""Lab 00 (setup tour): assertions on the ledger rows the notebook wrote.

Times are measured and reported, not bounded here: a busy laptop loads and decodes slower, and that must not
fail the suite. What must hold on any machine is asserted: rows present, values in range, batching helps.
"""


def check(rows, run_dir):
    by_variant = {r["variant"]: r for r in rows}
    batched = [v for v in by_variant if v.startswith("decode_batch") and v != "decode_batch1"]
    assert {"model_load", "decode_batch1", "closed_book_probe"} <= set(by_variant) and len(batched) == 1
    load = by_variant["model_load"]["metrics"]
    assert load["load_s"] > 0, load
    if load.get("conversion_s") is not None:  # the default model: its first conversion is measured
        assert load["conversion_s"] > 0, load
    one = by_variant["decode_batch1"]["metrics"]["tokens_per_s"]
    many = by_variant[batched[0]]["metrics"]
    assert many["speedup_vs_batch1"] == round(many["tokens_per_s"] / one, 2)
    assert many["speedup_vs_batch1"] > 1.0, many  # a batch decodes more tokens per second than one prompt
    probe = by_variant["closed_book_probe"]["metrics"]
    assert 0.0 <= probe["ci_low"] <= probe["accuracy"] <= probe["ci_high"] <= 1.0 and probe["n"] >= 1
    assert probe["accuracy"] < 0.5, "closed book, the base model should not know the fictional domain"
    assert (run_dir / "plots" / "00_decode_throughput.png").is_file()

    bench = {v[len("bench/"):]: r for v, r in by_variant.items() if v.startswith("bench/")}
    if by_variant["model_load"]["params"]["bench_n"]:
        assert {"today_fp32_b8", "fp32_b32"} <= set(bench), sorted(bench)
        for name, r in bench.items():
            m = r["metrics"]
            assert m["answers_per_s"] > 0 and 0.0 <= m["ci_low"] <= m["accuracy"] <= m["ci_high"] <= 1.0, name
            assert m["n"] == by_variant["model_load"]["params"]["bench_n"], name
        assert bench["today_fp32_b8"]["metrics"]["speedup_vs_today"] == 1.0
        # fp32 greedy answers barely depend on the batch: the bigger batch answers (almost) the same
        assert bench["fp32_b32"]["metrics"]["identical_to_today"] >= 0.8, bench["fp32_b32"]["metrics"]
