MIN_BATCH_SPEEDUP = 2.5  # the workshop run shows >= 3x; smoke decodes fewer tokens and CI machines are noisy


def check(rows, run_dir):
    by_variant = {r["variant"]: r for r in rows}
    batched = [v for v in by_variant if v.startswith("decode_batch") and v != "decode_batch1"]
    assert {"model_load", "decode_batch1", "closed_book_probe"} <= set(by_variant) and len(batched) == 1
    load = by_variant["model_load"]["metrics"]
    assert load["load_s"] < 3.0, load
    if load.get("conversion_s") is not None:  # the default model: its first conversion is measured
        assert load["conversion_s"] < 30.0, load
    one = by_variant["decode_batch1"]["metrics"]["tokens_per_s"]
    many = by_variant[batched[0]]["metrics"]
    assert many["speedup_vs_batch1"] == round(many["tokens_per_s"] / one, 2)
    assert many["speedup_vs_batch1"] >= MIN_BATCH_SPEEDUP, many
    probe = by_variant["closed_book_probe"]["metrics"]
    assert 0.0 <= probe["accuracy"] <= 1.0 and probe["n"] >= 1
    assert probe["accuracy"] < 0.5, "closed book, the base model should not know the fictional domain"
    assert (run_dir / "plots" / "00_decode_throughput.png").is_file()
