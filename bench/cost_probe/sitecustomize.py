"""Loaded by Python at start-up when bench/cost_probe is on PYTHONPATH (bench/cost.py sets it for the
`railyard dev` it starts): installs the cost recorder when BENCH_COST_PROBE_DIR names where to write."""

import os

if os.environ.get("BENCH_COST_PROBE_DIR"):
    import cost_probe_recorder

    cost_probe_recorder.install(os.environ["BENCH_COST_PROBE_DIR"])
