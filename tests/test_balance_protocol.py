"""MT-SICS driver: the exact command/response exchange, fault by fault."""

import pytest
import serial
from expected_serial import expected_balance

from labmnn.devices import Balance, Reading
from labmnn.errors import DeviceError
from labmnn.instruments.mtsics import parse_reply


def run(exchange, action, **kw):
    bal, port = expected_balance(exchange, **kw)
    try:
        return action(bal)
    finally:
        port.assert_done()


def test_is_a_balance():
    bal, _ = expected_balance([])
    assert isinstance(bal, Balance)


def test_stable_reading():
    r = run([(b"S\r\n", b"S S      12.34 g\r\n")], lambda b: b.read_stable())
    assert r == Reading(mass_g=12.34, stable=True)


def test_negative_and_unpadded_weights():
    r = run([(b"S\r\n", b"S S -0.51 g\r\n")], lambda b: b.read_stable())
    assert r.mass_g == -0.51


def test_immediate_dynamic_then_stable():
    def two(b):
        return b.read_immediate(), b.read_immediate()

    dyn, sta = run([(b"SI\r\n", b"S D      11.90 g\r\n"), (b"SI\r\n", b"S S      12.00 g\r\n")], two)
    assert dyn == Reading(11.90, False) and sta == Reading(12.0, True)


def test_busy_is_retried_then_succeeds():
    r = run([(b"S\r\n", b"S I\r\n"), (b"S\r\n", b"S I\r\n"), (b"S\r\n", b"S S 5.00 g\r\n")],
            lambda b: b.read_stable())
    assert r.mass_g == 5.0


def test_busy_forever_is_bounded():
    exchange = [(b"S\r\n", b"S I\r\n")] * 3
    bal, port = expected_balance(exchange, settle_timeout=0.12)
    with pytest.raises(DeviceError, match="busy"):
        bal.read_stable()
    assert len(port.exchange) <= 1  # retried, but no more than the time allowed


@pytest.mark.parametrize("status,words", [("+", "overload"), ("-", "underload")])
def test_overload_underload(status, words):
    with pytest.raises(DeviceError, match=words):
        run([(b"S\r\n", f"S {status}\r\n".encode())], lambda b: b.read_stable())


@pytest.mark.parametrize("code,words", [("ES", "syntax"), ("ET", "transmission"), ("EL", "logical")])
def test_error_replies(code, words):
    with pytest.raises(DeviceError, match=f"{code}: {words}"):
        run([(b"SI\r\n", f"{code}\r\n".encode())], lambda b: b.read_immediate())


def test_zero_tare_tare_value_serial_number():
    def all_four(b):
        b.zero()
        return b.tare(), b.tare_value(), b.serial_number()

    out = run([(b"Z\r\n", b"Z A\r\n"), (b"T\r\n", b"T S      3.21 g\r\n"),
               (b"TA\r\n", b"TA A      3.21 g\r\n"), (b"I4\r\n", b'I4 A "B123456789"\r\n')], all_four)
    assert out == (3.21, 3.21, "B123456789")


def test_zero_out_of_range():
    with pytest.raises(DeviceError, match="empty the pan"):
        run([(b"Z\r\n", b"Z +\r\n")], lambda b: b.zero())


def test_silence_times_out_with_advice():
    with pytest.raises(DeviceError, match="no reply from the balance on FAKE.*baud rate"):
        run([(b"SI\r\n", None)], lambda b: b.read_immediate())


def test_garbage_bytes():
    with pytest.raises(DeviceError, match="unreadable"):
        run([(b"SI\r\n", b"\x87\xf3S\x9e\x00\r\n")], lambda b: b.read_immediate())


def test_garbage_without_terminator():
    with pytest.raises(DeviceError, match="no CR LF"):
        run([(b"S\r\n", b"\x00\x00\x00")], lambda b: b.read_stable())


def test_reply_to_another_command_is_refused():
    with pytest.raises(DeviceError, match="does not belong"):
        run([(b"S\r\n", b"T S 1.00 g\r\n")], lambda b: b.read_stable())


def test_vanished_port_closes_and_explains():
    bal, port = expected_balance([(b"S\r\n", serial.SerialException("device disconnected"))])
    with pytest.raises(DeviceError, match="stopped working.*unplugged"):
        bal.read_stable()
    assert port.closed


def test_port_that_cannot_open():
    from labmnn.instruments.balance import MTSICSBalance

    with pytest.raises(DeviceError, match="cannot open balance port /dev/nonexistent-balance"):
        MTSICSBalance("/dev/nonexistent-balance").connect()


def test_stale_reply_is_discarded_before_next_command():
    bal, port = expected_balance([(b"SI\r\n", None), (b"SI\r\n", b"S S 1.00 g\r\n")])
    with pytest.raises(DeviceError):
        bal.read_immediate()
    port.pending = b"S D 0.99 g\r\n"  # the late answer to the first SI arrives
    assert bal.read_immediate() == Reading(1.0, True)
    port.assert_done()


def test_units_converted_to_grams_and_others_refused():
    r = run([(b"S\r\n", b"S S 0.25 kg\r\n"), (b"SI\r\n", b"S D 1500 mg\r\n")],
            lambda b: (b.read_stable(), b.read_immediate()))
    assert r == (Reading(250.0, True), Reading(1.5, False))
    bal, port = expected_balance([(b"S\r\n", b"S S 1.00 oz\r\n")])
    with pytest.raises(DeviceError, match="unit 'oz'.*grams"):
        bal.read_stable()
    assert parse_reply("S S 1.00 kg").unit == "kg"


def test_streaming_balance_is_explained():
    with pytest.raises(DeviceError, match="continuous .auto-print. mode"):
        run([(b"S\r\n", b"S D 3.10 g\r\n")], lambda b: b.read_stable())
