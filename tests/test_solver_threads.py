"""The small dense path runs BLAS on one thread, whatever the libraries' own setting."""

import numpy as np
import pytest
import scipy.linalg

from labmnn import GRAVITY, Network
from labmnn.model import losses
from labmnn.model import solver as linear_solver

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads():
    return sorted({lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"})


def _iris_like_batch(net, samples=105):
    rng = np.random.default_rng(0)
    F = np.zeros((samples, net.n_nodes, 2))
    F[:, [13, 11, 12, 9], 1] = -rng.uniform(0.2, 1.0, size=(samples, 4)) * 0.005 * GRAVITY
    loss = losses.CrossEntropyLoss([7, 1, 2], 0, labels=rng.integers(0, 3, samples), scale=2e-4)
    return F, loss


@pytest.mark.parametrize("path", ["outputs", "per-sample"])
def test_batch_gradient_of_the_paper_network_solves_on_one_blas_thread(monkeypatch, path):
    net = Network.example("paper-triangle-n4")  # 24 unknowns, 105 right-hand sides
    F, loss = _iris_like_batch(net)
    columns = 3  # the output-space adjoint solves the 3 output components, forward and adjoint
    if path == "per-sample":  # a loss with no declared support: every sample's field
        loss, columns = (lambda u, loss=loss: loss(u)), 105
    seen = {"factor": [], "solve": []}
    real_factor, real_solve = scipy.linalg.cho_factor, scipy.linalg.cho_solve

    def factor_spy(*a, **k):
        seen["factor"].append(_blas_threads())
        return real_factor(*a, **k)

    def solve_spy(c, b, **k):
        seen["solve"].append((np.shape(b), _blas_threads()))
        return real_solve(c, b, **k)

    monkeypatch.setattr(scipy.linalg, "cho_factor", factor_spy)
    monkeypatch.setattr(scipy.linalg, "cho_solve", solve_spy)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # as numpy starts on a 2-core machine
        assert _blas_threads() == [2]
        g = net.gradient(F, loss)
        assert _blas_threads() == [2]  # restored afterwards: no global setting
    assert np.all(np.isfinite(g))
    assert seen["factor"] and all(t == [1] for t in seen["factor"])
    assert [shape for shape, _ in seen["solve"]] == [(24, columns), (24, columns)]  # forward and adjoint, one call each
    assert all(t == [1] for _, t in seen["solve"])


def test_one_blas_thread_nests_restores_and_leaves_large_systems_alone():
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with linear_solver.one_blas_thread(24):
            assert _blas_threads() == [1]
            with linear_solver.one_blas_thread(10):
                assert _blas_threads() == [1]
            assert _blas_threads() == [1]
        assert _blas_threads() == [2]
        with linear_solver.one_blas_thread(linear_solver.ONE_BLAS_THREAD_BELOW):
            assert _blas_threads() == [2]


# ------------------------------------------------ PARDISO threads by idle cores

def _reading(at, busy, total, own):
    from labmnn.model.threads import CpuReading

    return CpuReading(at, busy, total, own)


def _fake_machine(monkeypatch, clock: dict, readings: list) -> list:
    """Two cores, a clock read from ``clock["t"]`` that sleeps advance, /proc/stat giving ``readings``
    in turn, no earlier reading; returns the list of sleeps made."""
    from labmnn.model import threads

    left = iter(readings)
    slept: list = []
    monkeypatch.setattr(threads, "_LAST", None)
    monkeypatch.setattr(threads, "_ESTIMATE", None)
    monkeypatch.setattr(threads, "read_cpu", lambda: next(left))
    monkeypatch.setattr(threads.time, "sleep", lambda s: slept.append(s) or clock.update(t=clock["t"] + s))
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads, "_clock_ticks", lambda: 100)
    return slept


def test_cores_busy_elsewhere_leave_out_this_process():
    from labmnn.model.threads import others_busy

    # 1 s on 2 cores = 200 jiffies; 150 busy, of which this process used 0.5 s (50 jiffies)
    assert others_busy(_reading(0, 1000, 5000, 2.0), _reading(1, 1150, 5200, 2.5), cores=2) == pytest.approx(1.0)
    assert others_busy(_reading(0, 0, 0, 0.0), _reading(1, 100, 200, 1.0), cores=2) == 0.0  # all ours
    assert others_busy(_reading(0, 0, 0, 0.0), _reading(1, 200, 200, 0.0), cores=2) == 2.0
    assert others_busy(_reading(0, 0, 0, 0.0), _reading(0, 0, 0, 0.0), cores=2) == 0.0  # no time passed


@pytest.mark.parametrize("n,busy,cores,expected", [
    (10_000, 0.0, 2, 1),  # small: one thread whatever the load
    (200_000, 0.0, 2, 2),  # a quiet machine: the idle core is taken
    (200_000, 0.3, 2, 2),
    (200_000, 0.7, 2, 1),  # another process holds most of the second core
    (200_000, 1.0, 2, 1),
    (200_000, 2.0, 2, 1),
    (200_000, None, 2, 1),  # load unknown (no /proc/stat)
    (200_000, 0.0, 1, 1),
    (200_000, 1.0, 4, 3),
])
def test_threads_follow_the_idle_cores(n, busy, cores, expected):
    from labmnn.model.threads import threads_for

    assert threads_for(n, busy, cores, parallel_from=50_000) == expected


def test_solver_threads_reads_the_load_only_for_large_systems(monkeypatch):
    from labmnn.model import threads

    monkeypatch.delenv("LABMNN_SOLVER_THREADS", raising=False)
    monkeypatch.setattr(linear_solver.os, "cpu_count", lambda: 2)
    looked = []
    busy = {"now": 0.0}
    monkeypatch.setattr(threads, "busy_elsewhere_now", lambda: looked.append(1) or busy["now"])
    assert linear_solver.solver_threads(linear_solver.PARALLEL_ABOVE - 1) == 1 and not looked
    assert linear_solver.solver_threads(linear_solver.PARALLEL_ABOVE) == 2 and looked
    busy["now"] = 1.0
    assert linear_solver.solver_threads(linear_solver.PARALLEL_ABOVE) == 1
    monkeypatch.setenv("LABMNN_SOLVER_THREADS", "3")
    assert linear_solver.solver_threads(10) == 3


def test_idle_estimate_waits_once_then_reuses_and_measures_between_calls(monkeypatch):
    from labmnn.model import threads

    clock = {"t": 100.0}
    slept = _fake_machine(monkeypatch, clock, [_reading(100.0, 0, 0, 0.0),
                                               _reading(100.1, 20, 20, 0.0),  # first: a window of its own
                                               _reading(102.0, 30, 400, 1.0)])  # later: since the previous one
    assert threads.busy_elsewhere_now() == pytest.approx(2.0)  # both cores busy, none of it ours
    assert slept == [threads.IDLE_WINDOW_S]
    clock["t"] = 100.5
    assert threads.busy_elsewhere_now() == pytest.approx(2.0)  # reused: no reading (the iterator would say)
    clock["t"] = 102.0
    # 380 jiffies in all, 10 busy, 1 s of it (100 jiffies) ours -> nobody else busy
    assert threads.busy_elsewhere_now() == 0.0
    assert slept == [threads.IDLE_WINDOW_S]


def test_pardiso_analyses_again_when_the_thread_choice_changes(monkeypatch):
    import scipy.sparse as sp

    if "pardiso" not in linear_solver.available_backends():
        pytest.skip("pardiso not installed")
    n = 50
    A = sp.diags([-np.ones(n - 1), 4 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csc")
    choice = {"threads": 1}
    monkeypatch.setattr(linear_solver, "solver_threads", lambda n: choice["threads"])
    cache = {}
    f = linear_solver.factorize(A, backend="pardiso", cache=cache, ordered=True)
    first = f.native
    assert first.threads == 1
    del f
    f = linear_solver.factorize(A * 2, backend="pardiso", cache=cache, ordered=True)
    assert f.native is first and first.phases == {11: 1, 22: 2}  # same choice: numeric phase only
    del f
    choice["threads"] = 2
    for step in range(1, linear_solver.THREAD_SWITCH_AFTER):  # a short change: the handle keeps its count
        f = linear_solver.factorize(A * (2 + step), backend="pardiso", cache=cache, ordered=True)
        assert f.native is first and first.threads == 1 and (first.phases[11], first.phases[22]) == (1, 2 + step)
        assert np.allclose((A * (2 + step)) @ f.solve(np.ones(n)), 1.0)
        del f
    f = linear_solver.factorize(A * 7, backend="pardiso", cache=cache, ordered=True)  # a lasting one
    assert f.native is not first and f.native.threads == 2 and f.native.phases == {11: 1, 22: 1}
    assert not first.factored  # the old factor was released before the new analysis
    assert np.allclose((A * 7) @ f.solve(np.ones(n)), 1.0)


def test_pardiso_keeps_its_analysis_while_the_thread_choice_flickers(monkeypatch):
    import scipy.sparse as sp

    if "pardiso" not in linear_solver.available_backends():
        pytest.skip("pardiso not installed")
    n = 50
    A = sp.diags([-np.ones(n - 1), 4 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csc")
    choices = iter([1] + [2, 2, 1, 2, 1, 1, 2, 2, 1] * 2)  # never THREAD_SWITCH_AFTER in a row
    monkeypatch.setattr(linear_solver, "solver_threads", lambda n: next(choices))
    cache = {}
    handles = set()
    analyses = linear_solver.PHASE_CALLS.get(11, 0)
    for step in range(19):
        f = linear_solver.factorize(A * (1 + step), backend="pardiso", cache=cache, ordered=True)
        handles.add(id(f.native))
        assert f.native.threads == 1
        assert np.allclose((A * (1 + step)) @ f.solve(np.ones(n)), 1.0)
        del f
    assert len(handles) == 1 and linear_solver.PHASE_CALLS.get(11, 0) - analyses == 1  # one analysis in all


def test_open_window_lets_the_estimate_wait_only_for_what_is_missing(monkeypatch):
    from labmnn.model import threads

    clock = {"t": 50.0}
    slept = _fake_machine(monkeypatch, clock, [_reading(50.0, 0, 0, 0.0), _reading(50.1, 10, 20, 0.0),
                                               _reading(90.0, 10, 20, 0.0), _reading(90.1, 10, 40, 0.0)])
    threads.open_window()  # a reading at 50.0
    threads.open_window()  # fresh enough: no second reading (the iterator's next one is for 50.1)
    clock["t"] = 50.06  # the ordering took 0.06 s: 0.04 s of the window are missing
    assert threads.busy_elsewhere_now() == pytest.approx(1.0)  # 10 of 20 jiffies busy, none ours
    assert slept == [pytest.approx(threads.IDLE_WINDOW_S - 0.06)]
    clock["t"] = 90.0  # 39.9 s later the reading is stale: a window of its own, opened and awaited in full
    threads.open_window()
    assert threads.busy_elsewhere_now() == 0.0
    assert slept[1:] == [pytest.approx(threads.IDLE_WINDOW_S)]
