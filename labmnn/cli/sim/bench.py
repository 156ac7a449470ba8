"""The simulated benches, built from :mod:`hardware_sim` for the protocol runner and the window.

Example
-------
>>> import tempfile
>>> ctx = sim_context(tempfile.mkdtemp())              # the light simulator (fast, for the window)
>>> ctx.sim, type(ctx.bench.camera).__name__
(True, 'LightCamera')

``full_sim_context(root, "protocols/gradient.toml")`` gives the full rig (rendered photos).
"""

from __future__ import annotations

from pathlib import Path

from labmnn.errors import DeviceError
from labmnn.model.network import Network
from labmnn.protocol.bench import Bench, calibration_size, metrology_tracker_factory


def open_sim_bench(spec, net, seed: int = 0, calibration: Path | None = None, mechanics: str = "linear",
                   stiffness_error: float = 0.0, print_seed: int = 0) -> Bench:
    """The simulated rig, camera, balance and operator for a run.

    Parameters
    ----------
    spec : ProtocolSpec
        Balance and weight-set settings.
    net : Network
        The network the simulated rig is built from.
    seed : int
        Seed of the simulated rig, camera noise and weight set.
    calibration : Path, optional
        Overrides the protocol's calibration file (default: the simulated
        camera's own, see :func:`labmnn.cli.sim.calibration.sim_calibration`).
    mechanics : {"linear", "nonlinear"}
        The bar model, or the bars' exact large-rotation equilibrium.
    stiffness_error : float
        The "printed" part's bonds are off their design stiffness by a uniform
        random factor in ``[-stiffness_error, +stiffness_error]`` (``print_seed``
        fixes the pattern, so sessions on one print share it); for an identified
        network the errors apply to its design (``design_stiffness``).

    Raises
    ------
    DeviceError
        If the simulated rig is not installed.
    """
    from labmnn.cli.sim.devices import open_balance, open_camera

    try:
        from hardware_sim.operator import SimOperator
        from hardware_sim.printing import design_stiffness, printed_stiffness_factor
        from hardware_sim.rig import SimRig
        from hardware_sim.weights import SimWeightSet
    except ImportError as exc:
        raise DeviceError(f"the simulated rig is not available in this build ({exc})") from None
    cal = calibration or spec.calibration
    weights = SimWeightSet(dict(zip(spec.weights.sizes_g, spec.weights.counts)), seed=seed)
    rig = SimRig(net, seed=seed, weights=weights, mechanics=mechanics)
    print_factor = printed_stiffness_factor(net.n_bonds, stiffness_error, print_seed)
    if stiffness_error:
        rig.true_stiffness = design_stiffness(net) * print_factor
    op = SimOperator(rig, weights)
    cam = open_camera(sim=True, rig=rig)
    bal = open_balance(sim=True, mass_fn=lambda: rig.pan_mass_g, timeout=spec.balance.get("timeout", 2.0),
                       settle_timeout=spec.balance.get("settle_timeout", 10.0))
    if cal is None:
        from labmnn.cli.sim.calibration import sim_calibration

        cal = sim_calibration(rig, cam)
    model = rig.camera.scaled(cam.width, cam.height)

    def rest_joints_px(_reference_path):  # the simulated operator clicks the joints exactly
        return model.project_plane(rig.network_to_plane_mm(rig.network.nodes))

    bench = Bench(camera=cam, balance=bal, make_tracker=metrology_tracker_factory(cal, rest_joints_px),
                  calibration=cal, image_size=calibration_size(cal), sim_operator=op,
                  extra={"sim": True, "seed": seed, "mechanics": mechanics})
    if stiffness_error:
        bench.extra.update(stiffness_error=float(stiffness_error), print_seed=int(print_seed))

    def install(new_net):
        """Swap the printed design (in-situ training on a simulated rig)."""
        rig.network = new_net.copy()
        base = design_stiffness(rig.network) if stiffness_error else rig.network.stiffness
        rig.true_stiffness = base * print_factor   # a new print by the same printer: the same errors
        rig.clear()

    bench.install_network = install
    bench.rig = rig
    return bench


def light_sim_bench(net: Network, width: int = 3000, height: int = 2000, seed: int = 0) -> Bench:
    """A :class:`~labmnn.protocol.bench.Bench` on the light simulated rig (:mod:`hardware_sim.light`).

    The bench carries ``rig`` and ``sim_operator`` (for an AutoOperator).
    """
    from hardware_sim.light import LightBalance, LightCamera, LightOperator, LightRig, TruthTracker

    rig = LightRig(net.copy())
    cam = LightCamera(rig, width, height, seed=seed)
    bal = LightBalance(lambda: rig.pan_mass_g, seed=seed)
    op = LightOperator(rig, seed=seed + 1)

    def make_tracker(reference, network, settings, joints_px=None):
        return TruthTracker(cam, Path(reference), rig.net, seed=seed + 2)

    bench = Bench(camera=cam, balance=bal, make_tracker=make_tracker, sim_operator=op,
                  install_network=lambda new: setattr(rig, "net", new.copy()), extra={"rig": "light-sim"})
    bench.rig = rig
    return bench


def sim_context(sessions_root: str | Path, network: str = "paper-triangle-n4", width: int = 3000,
                height: int = 2000, seed: int = 0):
    """The window's light simulated rig (drawn photos, truth tracking); the window installs
    the protocol's network.

    Returns
    -------
    labmnn.gui.context.RigContext
    """
    from labmnn.gui.context import RigContext

    bench = light_sim_bench(Network.open(network), width=width, height=height, seed=seed)
    return RigContext(bench=bench, sim=True, sessions_root=Path(sessions_root), balance_port="simulated")


def full_sim_context(sessions_root: str | Path, protocol: str | Path, seed: int = 0):
    """The window's full simulated rig of ``hardware_sim``: rendered 6000x4000 photos through a
    distorting lens, the MT-SICS driver on a simulated balance (pty), the metrology
    tracker with the simulated camera's calibration.

    Returns
    -------
    labmnn.gui.context.RigContext

    Raises
    ------
    DeviceError
        If ``hardware_sim`` is not installed (use :func:`sim_context`).
    """
    from labmnn.gui.context import RigContext, calibration_rms
    from labmnn.protocol import load_protocol

    spec = load_protocol(protocol)
    net = Network.open(spec.network)
    bench = open_sim_bench(spec, net, seed=seed)
    cal = Path(bench.calibration) if bench.calibration is not None else None
    port = getattr(getattr(bench.balance, "server", None), "port", None) or "simulated (pty)"
    return RigContext(bench=bench, sim=True, sessions_root=Path(sessions_root), calibration=cal,
                      calibration_rms=calibration_rms(cal), balance_port=str(port),
                      board_rig=getattr(bench, "rig", None))
