"""The simulated bench, assembled by the command line from :mod:`hardware_sim`.

Only the command line imports the simulator: it builds the simulated camera,
balance, rig and operator (or the light simulated rig) and hands a ready
:class:`~labmnn.protocol.bench.Bench` (or a factory of one) to the protocol
runner and the window.

- ``devices.py``: ``open_camera`` / ``open_balance`` with a ``sim`` flag.
- ``calibration.py``: the simulated rig's calibration (shipped, else made and cached).
- ``bench.py``: ``open_sim_bench`` (the full simulated rig), ``light_sim_bench``,
  and the window's ``sim_context`` / ``full_sim_context``.
"""
