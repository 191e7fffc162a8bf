"""The thread-contention bench: every setting quiet and busy, the busy process cleaned up (timings faked)."""
from labsutil import contention


def test_every_setting_is_timed_quiet_and_beside_a_busy_process_that_is_then_killed(monkeypatch):
    started = []
    real_enter = contention.BusyCore.__enter__

    def enter(self):
        started.append(real_enter(self))
        return self

    fake = {("default", False): 10.0, ("default", True): 40.0, ("OMP_WAIT_POLICY=PASSIVE", False): 10.5,
            ("labsutil's choice", False): 10.0, ("labsutil's choice", True): 20.0,
            ("OMP_WAIT_POLICY=PASSIVE", True): 20.0, ("1 thread", False): 16.0, ("1 thread", True): 17.0}
    names = {id(env): name for name, env, _ in contention.SETTINGS}

    def run_setting(env, threads, prompts, tokens, batch_size):
        busy = bool(started) and started[-1].process.poll() is None
        return fake[(names[id(env)], busy)]

    monkeypatch.setattr(contention.BusyCore, "__enter__", enter)
    monkeypatch.setattr(contention, "_run_setting", run_setting)
    rows = contention.measure(repeats=1)
    assert len(rows) == 2 * len(contention.SETTINGS) and len(started) == len(contention.SETTINGS)
    assert all(b.process.poll() is not None for b in started)  # every busy process is gone
    by = {(r["setting"], r["busy"]): r for r in rows}
    assert by[("default", True)]["vs_quiet_default"] == 4.0 and by[("1 thread", False)]["vs_quiet_default"] == 1.6
    frame = contention.table(rows)
    assert list(frame.index) == [s for s, _, _ in contention.SETTINGS]
    assert frame.loc["OMP_WAIT_POLICY=PASSIVE", "one core busy (s)"] == 20.0


def test_a_busy_machine_at_import_makes_openmp_wait_passively_and_a_quiet_one_changes_nothing(monkeypatch):
    import sys

    from labsutil import paths

    monkeypatch.delitem(sys.modules, "torch", raising=False)  # restored after the test
    for key in ("OMP_WAIT_POLICY", "LABS_CONTENTION", "LABS_CONTENTION_CHECK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(paths, "other_processes_cores", lambda: 0.1)
    paths._yield_cores_when_busy()
    assert "OMP_WAIT_POLICY" not in paths.os.environ
    monkeypatch.setattr(paths, "other_processes_cores", lambda: 1.0)
    paths._yield_cores_when_busy()
    assert paths.os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and "1.0 core" in paths.os.environ["LABS_CONTENTION"]
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's own value wins
    paths._yield_cores_when_busy()
    assert paths.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_other_processes_cores_is_a_share_of_the_machine():
    from labsutil import paths

    assert 0.0 <= paths.other_processes_cores(0.05) <= (paths.os.cpu_count() or 1)
