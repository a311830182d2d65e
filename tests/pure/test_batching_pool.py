"""The parallel write chains of a push run on one thread pool per process."""

import threading

from services import batching


def test_chains_run_in_parallel_on_the_shared_pool_and_keep_their_order(monkeypatch):
    barrier = threading.Barrier(3, timeout=5)
    names = []

    def chain(value):
        names.append(threading.current_thread().name)
        barrier.wait()  # all three at once, or the barrier times out
        if value == 2:
            raise ValueError("item 2 refused")
        return value * 10

    outcomes = batching.run_parallel(chain, [1, 2, 3])
    assert [o.value for o in outcomes] == [10, None, 30]
    assert isinstance(outcomes[1].error, ValueError)
    assert all(name.startswith("graph-batch") for name in names)
    # The next pushes use the same pool: no executor is made for them.
    pool = batching.shared_executor()
    made = []
    monkeypatch.setattr(batching, "ThreadPoolExecutor", lambda *a, **kw: made.append(a))
    barrier.reset()
    assert [o.value for o in batching.run_parallel(chain, [4, 5, 6])] == [40, 50, 60]
    assert batching.shared_executor() is pool
    assert made == []


def test_a_single_chain_runs_in_the_calling_thread():
    outcomes = batching.run_parallel(lambda _v: threading.current_thread().name, ["only"])
    assert outcomes[0].value == threading.current_thread().name


def test_a_forked_process_gets_its_own_pool(monkeypatch):
    pool = batching.shared_executor()
    monkeypatch.setitem(batching._shared, "pid", -1)  # as if created by the parent process
    other = batching.shared_executor()
    assert other is not pool
    assert batching.shared_executor() is other
