"""Lab 06 (continuous fine-tuning from feedback): assertions on the ledger rows the notebook wrote."""

RATES = ("heldout_accuracy", "control_accuracy", "reward_accuracy", "judge_accuracy", "order_consistency")


def _in_range(variant, metrics):
    for key in RATES:
        if metrics.get(key) is not None:
            assert 0.0 <= metrics[key] <= 1.0, (variant, key, metrics[key])


def check(rows, run_dir):
    by = {r["variant"]: r for r in rows}
    params = by["start"]["params"]
    rounds = sorted((r for v, r in by.items() if v.startswith("round")), key=lambda r: r["metrics"]["round"])

    # the loop ran its rounds; every model version scored on the same held-out and control questions
    assert len(rounds) >= 3, [r["variant"] for r in rounds]
    n, control_n = by["start"]["metrics"]["n"], by["start"]["metrics"]["control_accuracy_n"]
    assert n >= 1 and control_n >= 1
    for variant, row in by.items():
        m = row["metrics"]
        _in_range(variant, m)
        if "heldout_accuracy" in m:
            assert m["n"] == n and m["control_accuracy_n"] == control_n, variant
            assert m["ci_low"] <= m["heldout_accuracy"] <= m["ci_high"], variant
            assert m["control_accuracy_ci_low"] <= m["control_accuracy"] <= m["control_accuracy_ci_high"], variant

    # every gate decision is recorded with its reasons and numbers; the corrupted round is rejected
    for r in rounds:
        m, p = r["metrics"], r["params"]
        assert p["decision"] in ("promote", "reject") and m["promoted"] == (p["decision"] == "promote")
        assert len(p["reasons"]) == 3 and all(x.startswith(("pass", "FAIL")) for x in p["reasons"])
        assert set(p["checks"]) == {"accuracy", "floor", "forgetting"}
        assert m["promoted"] == all(p["checks"].values()), r["variant"]
        assert m["labels"] >= 1 and m["steps"] >= 1 and r["cost"]["train_seconds"] > 0
        assert m["vs_champion_diff_ci_low"] <= m["vs_champion_diff"] <= m["vs_champion_diff_ci_high"]
    corrupted = [r for r in rounds if r["metrics"]["corrupted"]]
    assert corrupted, "no corrupted round: the lab must show the gate rejecting one"
    assert all(not r["metrics"]["promoted"] for r in corrupted), "the gate promoted the corrupted round"

    # the AI judge against the simulated labels, and the two side comparisons on round 1's feedback
    for variant in ("judge/plain", "judge/reference"):
        m = by[variant]["metrics"]
        assert m["n"] >= 1 and 0 <= m["unreadable_replies"] <= 2 * m["n"]
        assert m["ci_low"] <= m["judge_accuracy"] <= m["ci_high"]
        assert m["judge_kappa"] is None or -1.0 <= m["judge_kappa"] <= 1.0  # None (nan) when only one label occurs
    assert "compare/kto" in by, "KTO was not trained on the same feedback as DPO"
    assert by["compare/kto"]["params"]["method"] == "kto" and rounds[0]["params"]["method"] == "dpo"

    # the final champion against the start, paired on confirmation questions the gate never saw
    final = by["final"]["metrics"]
    assert final["vs_start_n"] == final["confirm_accuracy_n"] >= 1
    assert final["vs_start_diff_ci_low"] <= final["vs_start_diff"] <= final["vs_start_diff_ci_high"]
    assert round(final["confirm_accuracy"] - final["confirm_start_accuracy"], 4) == round(final["vs_start_diff"], 4)
    assert params["version"] == "v0" and by["final"]["params"]["roi_approach"] == "feedback_champion"
    # the precision `dtype` resolved to on this machine is recorded on every scored version
    for variant, row in by.items():
        if "heldout_accuracy" in row["metrics"]:
            p = row["params"]
            assert p["precision"] in ("float32", "bfloat16", "float16", "auto"), variant
            assert p["train_bf16"] == (p["precision"] == "bfloat16"), variant
    if params["profile"] in ("workshop", "extended"):  # extended runs lab 06 with the workshop's values  # the lab's demonstration: the gate both promotes and rejects
        assert any(r["metrics"]["promoted"] for r in rounds), "no round was promoted"
