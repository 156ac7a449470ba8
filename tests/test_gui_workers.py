"""Worker threads of the GUI: device owner, proxy, GUI operator, engine runner, session data."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")

import labmnn.gui  # noqa: F401  (PySide6 6.12 refcount workaround)
from labmnn.errors import DeviceError
from labmnn.gui.session_data import bond_results, open_session
from labmnn.gui.workers import DeviceOwner, GuiOperator, RepeatStep
from labmnn.protocol.operator import AbortRequested, Instruction


class Counter:
    """A device that records which thread called it."""

    def __init__(self):
        self.threads = set()
        self.n = 0
        self.fail = False

    def connect(self):
        self.threads.add(threading.current_thread().name)

    def close(self):
        pass

    def preview(self):
        self.threads.add(threading.current_thread().name)
        self.n += 1
        return self.n

    def capture(self, folder):
        self.threads.add(threading.current_thread().name)
        if self.fail:
            raise DeviceError("camera: -7 I/O error (test)")
        return f"photo in {folder}"


def test_owner_runs_every_call_in_its_own_thread_and_polls_between(qapp):
    dev = Counter()
    owner = DeviceOwner("camera", dev, poll="preview", period=0.005)
    owner.start()
    try:
        proxy = owner.proxy()
        proxy.connect()
        results = []
        workers = [threading.Thread(target=lambda: results.append(proxy.capture("f"))) for _ in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(5)
        assert results == ["photo in f"] * 4
        deadline = time.time() + 5
        while owner.polls < 3 and time.time() < deadline:
            owner.consumed()
            time.sleep(0.01)
        assert owner.polls >= 3
        assert dev.threads == {"labmnn-camera"}
        dev.fail = True
        with pytest.raises(DeviceError, match="I/O error"):
            proxy.capture("f")
        with pytest.raises(AttributeError):
            _ = proxy.no_such_method
    finally:
        owner.stop()


def test_owner_emits_one_poll_at_a_time(qapp, qtbot):
    dev = Counter()
    owner = DeviceOwner("camera", dev, poll="preview", period=0.0)
    got = []
    owner.polled.connect(got.append)
    owner.start()
    owner.call("connect")
    try:
        qtbot.waitUntil(lambda: len(got) == 1, timeout=5000)
        qtbot.wait(100)
        assert len(got) == 1  # nothing more until the GUI says it has shown it
        owner.consumed()
        qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    finally:
        owner.stop()


@pytest.mark.parametrize("answer, raises", [("done", None), ("abort", AbortRequested), ("repeat", RepeatStep)])
def test_gui_operator_blocks_the_engine_thread_until_answered(qapp, qtbot, answer, raises):
    acted = []

    class Actor:
        def confirm(self, ins):
            acted.append(ins.kind)

    op = GuiOperator(actor=Actor())
    shown = []
    op.asked.connect(shown.append)
    outcome = []

    def engine():
        try:
            op.confirm(Instruction("s", "hang", "Hang 10 g on node 12", node=12, grams=10.0, direction=(0.0, -1.0)))
            outcome.append("returned")
        except AbortRequested as exc:
            outcome.append(type(exc))

    t = threading.Thread(target=engine)
    t.start()
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    time.sleep(0.05)
    assert t.is_alive() and not outcome  # still waiting for the operator
    op.answer(answer)
    t.join(5)
    assert outcome == (["returned"] if raises is None else [raises])
    assert acted == (["hang"] if raises is None else [])


def test_bond_results_match_the_engine_summary(tmp_path):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from protocol_fakes import fake_bench

    from labmnn.model.network import Network
    from labmnn.protocol import AutoOperator, load_protocol
    from labmnn.protocol.engine import Engine
    from labmnn.protocol.recorder import Session

    spec = load_protocol(__import__("pathlib").Path(__file__).parents[1] / "protocols/gradient.toml")
    net = Network.open(spec.network)
    bench = fake_bench(net, noise_mm=0.002)
    out = Engine(spec, Session.create(tmp_path, spec.name), bench, AutoOperator(bench.sim_operator)).run()
    view = open_session(out["session"])
    assert view.status == "success" and view.kind == "gradient"
    mean, std = view.bonds.gradient_mean_std()
    np.testing.assert_allclose(mean, out["summary"]["gradient_measured"], rtol=1e-12)
    np.testing.assert_allclose(std, out["summary"]["gradient_measured_std"], rtol=1e-9, atol=1e-30)
    # per repeat, the product of the measured elongations is the measured gradient
    np.testing.assert_allclose(view.bonds.forward_elongation_mm * view.bonds.adjoint_elongation_mm * 1e-6,
                               view.bonds.gradient_measured, rtol=1e-9, atol=1e-30)
    assert bond_results(net, {}).repeats == 0


def test_stop_closes_the_device_in_its_own_thread(qapp):
    closed_in = []

    class Dev(Counter):
        def close(self):
            closed_in.append(threading.current_thread().name)

    owner = DeviceOwner("balance", Dev(), poll="preview", period=0.0)
    owner.start()
    owner.call("connect")
    owner.stop()
    assert closed_in == ["labmnn-balance"] and not owner._thread.is_alive()


def test_tapped_tracker_passes_the_model_prediction_through():
    """The window's tracker wrapper forwards the engine's prediction (a real tracker takes it)."""
    from labmnn.gui.workers import _TappedTracker

    seen = []

    class Tracker:
        takes_prediction = True

        def track(self, path, displacements_network_mm=None):
            seen.append(displacements_network_mm)
            return object()

    tapped = _TappedTracker(Tracker(), seen.append)
    assert tapped.takes_prediction
    tapped.track("photo.jpg", displacements_network_mm=[[0.0, -1.0]])
    assert seen == [[[0.0, -1.0]]]
