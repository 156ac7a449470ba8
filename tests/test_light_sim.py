"""The light simulated rig (hardware_sim.light) as the command line assembles it into a bench."""

import numpy as np

from labmnn.cli.sim.bench import light_sim_bench
from labmnn.model.network import Network
from labmnn.protocol.bench import Bench


def test_light_bench_photographs_and_tracks_a_hung_weight(tmp_path):
    bench = light_sim_bench(Network.example("paper-triangle-n4"), width=600, height=400)
    assert isinstance(bench, Bench) and bench.sim_operator is not None
    bench.camera.connect()
    bench.balance.connect()
    ref = bench.camera.capture(tmp_path)
    tracker = bench.make_tracker(ref.path, None, {})
    bench.sim_operator.put_on_balance(10.0)
    assert abs(bench.balance.read_stable().mass_g - 10.0) < 0.2
    bench.sim_operator.apply(12, 10.0)
    loaded = bench.camera.capture(tmp_path)
    result = tracker.track(loaded.path)
    assert result.displacements_network_mm[12, 1] < -0.05  # the node sags under the weight
    assert np.abs(result.displacements_network_mm[bench.rig.net.fixed_nodes]).max() < 0.02
    bench.close()
