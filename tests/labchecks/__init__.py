"""Per-lab assertions on the ledger rows a notebook wrote: `labchecks/labNN.py` defines `check(rows, run_dir)`."""


def assert_accuracies_have_intervals(rows):
    """Every accuracy in a ledger carries its n and 95% interval; an answered question's accuracy
    (`answer_accuracy`, containment) also has token F1 beside it."""
    for r in rows:
        m = r["metrics"]
        for key in ("accuracy", "answer_accuracy"):
            if m.get(key) is None:
                continue
            assert {"n", "ci_low", "ci_high"} <= set(m), f"{r['variant']}: {key} without its n and 95% interval"
            assert m["n"] > 0 and m["ci_low"] <= m[key] <= m["ci_high"], (r["variant"], key, m)
            if key == "answer_accuracy":
                assert 0 <= m.get("token_f1", -1) <= 1, f"{r['variant']}: answer_accuracy without token F1 beside it"
