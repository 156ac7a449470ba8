"""Fixtures for tests on the simulated MT-SICS balance behind a real pseudo-terminal.

A test module imports ``pan, server, balance`` from here and may define ``settle_s`` (how
long the simulated pan takes to settle, default 0.15 s).
"""

import pytest

from hardware_sim.balance_pty import SimBalanceServer
from labmnn.instruments.balance import MTSICSBalance


@pytest.fixture
def settle_s():
    return 0.15


@pytest.fixture
def pan():
    return {"g": 12.3}


@pytest.fixture
def server(pan, settle_s):
    srv = SimBalanceServer(lambda: pan["g"], settle_s=settle_s, stable_wait_s=1.0, seed=1)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def balance(server):
    bal = MTSICSBalance(server.port, timeout=0.3, settle_timeout=1.5)
    bal.connect()
    yield bal
    bal.close()
