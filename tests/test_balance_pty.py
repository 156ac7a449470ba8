"""The real MT-SICS driver against the simulated balance on a real pseudo-terminal."""

import os
import time

import pytest

from labmnn.devices import Reading
from labmnn.errors import DeviceError
from labmnn.instruments.balance import MTSICSBalance


def test_port_is_a_real_terminal(server):
    assert server.port.startswith("/dev/") and os.path.exists(server.port)
    fd = os.open(server.port, os.O_RDWR | os.O_NOCTTY)
    try:
        assert os.isatty(fd)
    finally:
        os.close(fd)


def test_hundred_stable_readings_in_a_row(balance, server):
    readings = [balance.read_stable() for _ in range(100)]
    assert all(r.stable for r in readings)
    assert all(abs(r.mass_g - 12.3) <= 0.01 for r in readings)
    assert server.commands == ["S"] * 100


def test_settling_dynamic_before_stable(balance, pan):
    balance.read_stable()
    pan["g"] = 20.0
    first = balance.read_immediate()
    assert not first.stable and abs(first.mass_g - 20.0) > 1.0  # the display still swings
    t0 = time.monotonic()
    settled = balance.read_stable()
    assert settled.stable and settled.mass_g == pytest.approx(20.0, abs=0.01)
    assert 0.05 < time.monotonic() - t0 < 1.0


def test_zero_and_tare(balance, pan):
    with pytest.raises(DeviceError, match="zero range"):
        balance.zero()  # 12.3 g is beyond +-2 % of 220 g
    pan["g"] = 0.4  # an empty pan that drifted
    balance.zero()
    assert balance.read_stable().mass_g == pytest.approx(0.0, abs=0.01)
    pan["g"] = 5.4
    assert balance.tare() == pytest.approx(5.0, abs=0.01)
    assert balance.tare_value() == pytest.approx(5.0, abs=0.01)
    assert balance.read_stable().mass_g == pytest.approx(0.0, abs=0.01)
    assert balance.serial_number() == "SIM0000001"


def test_overload_from_mass(balance, pan):
    pan["g"] = 500.0
    with pytest.raises(DeviceError, match="overload"):
        balance.read_stable()


@pytest.mark.parametrize("fault,words", [
    ("silence", "no reply"), ("garbage", "unreadable"), ("ES", "ES: syntax"),
    ("ET", "ET: transmission"), ("EL", "EL: logical"), ("overload", "overload"),
    ("underload", "underload"),
])
def test_each_fault_then_recovery(balance, server, fault, words):
    server.inject(fault)
    with pytest.raises(DeviceError, match=words):
        balance.read_immediate()
    assert balance.read_stable() == Reading(12.3, True)  # the next command works again


def test_busy_fault_is_retried(balance, server):
    server.inject("busy", count=2)
    assert balance.read_stable() == Reading(12.3, True)
    assert server.commands == ["S", "S", "S"]


def test_busy_forever_is_bounded(server):
    server.inject("busy", count=None)
    bal = MTSICSBalance(server.port, timeout=0.3, settle_timeout=0.4)
    t0 = time.monotonic()
    with pytest.raises(DeviceError, match="busy"):
        bal.read_stable()
    assert time.monotonic() - t0 < 1.0
    bal.close()


def test_never_settling_pan_is_bounded(server, pan):
    bal = MTSICSBalance(server.port, timeout=0.3, settle_timeout=0.6)
    server.stable_wait_s = 0.2
    stop = time.monotonic() + 1.5

    def wobbling():
        return 10.0 + (time.monotonic() * 50 % 2)

    bal.read_stable()  # the first weighing: the pan had long settled
    server.mass_fn = wobbling
    with pytest.raises(DeviceError, match="busy|only once the weight is stable"):
        bal.read_stable()
    assert time.monotonic() < stop
    bal.close()


def test_port_vanishes_mid_session(balance, server):
    server.inject("close")
    with pytest.raises(DeviceError, match="stopped working|no reply"):
        balance.read_immediate()
    assert not os.path.exists(server.port)
    with pytest.raises(DeviceError, match="cannot open balance port"):
        balance.read_immediate()


def test_failing_mass_source_gives_logical_error(server, balance):
    def broken():
        raise RuntimeError("rig not ready")

    server.mass_fn = broken
    with pytest.raises(DeviceError, match="EL"):
        balance.read_immediate()
    server.mass_fn = lambda: 12.3
    assert balance.read_stable().mass_g == pytest.approx(12.3, abs=0.01)
