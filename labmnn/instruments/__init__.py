"""Real device backends behind :mod:`labmnn.devices`: the gphoto2 camera and the
MT-SICS serial balance.  Open them through :mod:`labmnn.instruments.factory`,
which also hands out the simulated twins (``sim=True``)."""
