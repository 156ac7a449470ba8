"""Each reply is matched to its command: stray, late and trickled lines never become a mass."""

import pytest
from expected_serial import expected_balance

from labmnn.devices import Reading
from labmnn.errors import DeviceError
from labmnn.instruments.balance import MAX_ASKS


def test_a_stray_line_before_the_reply_makes_the_driver_ask_again():
    bal, port = expected_balance([(b"S\r\n", b"S S 99.99 g\r\nS S 12.34 g\r\n"), (b"S\r\n", b"S S 12.34 g\r\n")])
    assert bal.read_stable() == Reading(12.34, True)
    port.assert_done()


def test_a_device_that_always_sends_two_lines_is_refused_not_read():
    bal, port = expected_balance([(b"SI\r\n", b"S S 99.99 g\r\nS S 1.00 g\r\n")] * MAX_ASKS)
    with pytest.raises(DeviceError, match="more than one line in reply to 'SI'"):
        bal.read_immediate()
    port.pending = b""
    port.assert_done()


def test_a_weight_without_unit_is_refused():
    bal, port = expected_balance([(b"S\r\n", b"S S 12.34\r\n")])
    with pytest.raises(DeviceError, match="unit ''"):
        bal.read_stable()


@pytest.fixture
def settle_s():
    return 0.0


def test_pty_stray_line_is_never_the_mass(balance, server):
    server.inject("extra", count=1)
    assert balance.read_stable() == Reading(12.3, True)
    assert server.commands == ["S", "S"]


def test_pty_late_reply_is_drained_before_the_next_command(balance, server, pan):
    server.late_s = 0.35  # after the driver's 0.3 s timeout
    server.inject("late")
    with pytest.raises(DeviceError, match="no reply"):
        balance.read_immediate()
    pan["g"] = 20.0  # the late reply says 12.3: it must not be taken for the new weighing
    assert balance.read_stable().mass_g == 20.0


def test_pty_trickled_reply_is_read_whole(balance, server):
    server.trickle_s = 0.005
    server.inject("trickle")
    assert balance.read_stable() == Reading(12.3, True)


def test_pty_vanished_device_is_an_error(balance, server):
    server.inject("close")
    with pytest.raises(DeviceError, match="stopped working|no reply"):
        balance.read_stable()
