"""Per-lab assertions on the ledger rows a notebook wrote: `labchecks/labNN.py` defines `check(rows, run_dir)`."""
