def check(rows, run_dir):
    by_variant = {r["variant"]: r for r in rows}
    assert {"model_load", "decode_batch1", "decode_batchN", "closed_book_probe"} <= set(by_variant)
    load = by_variant["model_load"]["metrics"]
    assert load["load_s"] < 3.0, load
    if load.get("conversion_s") is not None:  # the default model: its first conversion is measured
        assert load["conversion_s"] < 30.0, load
    one = by_variant["decode_batch1"]["metrics"]["tokens_per_s"]
    many = by_variant["decode_batchN"]["metrics"]["tokens_per_s"]
    assert 0 < one < many
    assert by_variant["decode_batchN"]["metrics"]["speedup_vs_batch1"] == round(many / one, 2)
    probe = by_variant["closed_book_probe"]["metrics"]
    assert 0.0 <= probe["accuracy"] <= 1.0 and probe["n"] >= 1
    assert (run_dir / "plots" / "00_decode_throughput.png").is_file()
