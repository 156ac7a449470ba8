"""Small fakes of the rig, camera, balance, operator and tracker for the protocol tests.

The fake camera writes a JSON "photo" of the joint positions (plus noise); the
fake tracker reads it back.  The physics is the linear bar model, so a
noiseless run must reproduce the model's gradient to rounding.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from labmnn.devices import CameraSettings, Capture, Reading
from labmnn.errors import DeviceError
from labmnn.model.network import GRAVITY
from labmnn.protocol.bench import Bench


class FakeRig:
    def __init__(self, net):
        self.net = net
        self.loads: dict[int, np.ndarray] = {}
        self.pan_mass_g = 0.0
        self.quadratic = 0.0  # response u_lin (1 + quadratic * |F| / N): a mild nonlinearity

    def hang(self, node, grams, direction=(0.0, -1.0)):
        f = np.asarray(direction, float) * grams * 1e-3 * GRAVITY
        self.loads[node] = self.loads.get(node, np.zeros(2)) + f

    def clear(self):
        self.loads = {}

    def positions_m(self):
        F = np.zeros((self.net.n_nodes, 2))
        for n, f in self.loads.items():
            F[n] += f
        u = self.net.solve(F).displacements
        return self.net.nodes + u * (1 + self.quadratic * np.linalg.norm(F))


class FakeCamera:
    def __init__(self, rig, noise_mm=0.0, seed=0):
        self.rig = rig
        self.noise_mm = noise_mm
        self.rng = np.random.default_rng(seed)
        self.faults: dict[str, int] = {}
        self.connected = False
        self.n = 0

    def inject(self, kind, count=1):
        self.faults[kind] = self.faults.get(kind, 0) + count

    def _fault(self):
        for kind in ("disconnect", "timeout"):
            if self.faults.get(kind, 0) > 0:
                self.faults[kind] -= 1
                self.connected = False
                raise DeviceError(f"camera {kind}: -7 I/O error (fake)")

    def connect(self):
        self.connected = True

    def close(self):
        self.connected = False

    def get_settings(self):
        return CameraSettings(iso="800", aperture="5", image_format="JPEG")

    def set_settings(self, **values):
        return self.get_settings()

    def capture(self, folder):
        self._fault()
        self.n += 1
        pos = self.rig.positions_m() * 1e3 + self.rng.normal(0, self.noise_mm, (self.rig.net.n_nodes, 2))
        path = Path(folder) / f"IMG_{self.n:04d}.fake"
        path.write_text(json.dumps({"positions_mm": pos.tolist()}))
        return Capture(path=path, time=0.0, settings=self.get_settings(), truth={"positions_m": self.rig.positions_m()})

    def preview(self):
        return np.zeros((4, 4, 3), np.uint8)


class FakeBalance:
    def __init__(self, mass_fn):
        self.mass_fn = mass_fn
        self.timeouts = 0

    def connect(self):
        pass

    def close(self):
        pass

    def read_stable(self):
        if self.timeouts > 0:
            self.timeouts -= 1
            raise DeviceError("balance: no stable reading within 2 s (timeout)")
        return Reading(self.mass_fn(), True)

    def read_immediate(self):
        return Reading(self.mass_fn(), False)

    def zero(self):
        pass

    def tare(self):
        pass


class FakeSimOperator:
    def __init__(self, rig, rel_error=0.003, seed=1):
        self.rig = rig
        self.rng = np.random.default_rng(seed)
        self.rel_error = rel_error
        self.last = 0.0

    def put_on_balance(self, nominal):
        self.last = nominal * (1 + self.rng.normal(0, self.rel_error))
        self.rig.pan_mass_g = self.last
        return self.last

    def take_off_balance(self):
        self.rig.pan_mass_g = 0.0

    def apply(self, node, grams, direction=(0.0, -1.0)):
        assert grams in (1, 2, 5, 10, 20) or grams == round(grams), "nominal grams expected"
        self.rig.hang(node, self.last, direction)

    def clear(self):
        self.rig.clear()


class FakeTracker:
    lose_next: list = []  # node lists to report lost, one per call

    def __init__(self, ref_path, net, settings, joints_px=None):
        self.net = net
        self.ref = np.array(json.loads(Path(ref_path).read_text())["positions_mm"])

    def track(self, path):
        pos = np.array(json.loads(Path(path).read_text())["positions_mm"])
        u = pos - self.ref
        d = pos[self.net.bonds[:, 1]] - pos[self.net.bonds[:, 0]]
        e = np.hypot(d[:, 0], d[:, 1]) - self.net.lengths * 1e3
        lost = np.zeros(self.net.n_nodes, bool)
        if FakeTracker.lose_next:
            lost[FakeTracker.lose_next.pop(0)] = True
        return SimpleNamespace(displacements_network_mm=u, elongations_mm=e,
                               confidence=np.where(lost, 0.1, 0.99), lost=lost)


def fake_bench(net, noise_mm=0.0, seed=0):
    rig = FakeRig(net)
    cam = FakeCamera(rig, noise_mm, seed)
    op = FakeSimOperator(rig, seed=seed + 1)
    bal = FakeBalance(lambda: rig.pan_mass_g)
    def install(new_net):
        rig.net = new_net.copy()

    bench = Bench(camera=cam, balance=bal, make_tracker=FakeTracker, sim_operator=op, install_network=install)
    bench.rig = rig
    return bench


def use_fake_bench(monkeypatch) -> None:
    """Make ``--on rig --sim`` open :func:`fake_bench` instead of the rendered simulated rig (far slower)."""
    import labmnn.cli.sim.bench as sim_bench

    monkeypatch.setattr(sim_bench, "open_sim_bench", lambda spec, net, **kw: fake_bench(net))
