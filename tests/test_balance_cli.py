"""``labmnn balance``: one reading, JSON, and one-line errors with exit code 2."""

import json
import re
import time

import pytest

from hardware_sim.balance_pty import SimBalanceServer
from labmnn.cli import main
from labmnn.cli.sim.devices import open_balance


@pytest.fixture
def server():
    srv = SimBalanceServer(lambda: 42.17, settle_s=0.05)
    srv.start()
    yield srv
    srv.stop()


def test_json_reading_over_a_real_port(server, capsys):
    assert main(["balance", "--port", server.port, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"mass_g": 42.17, "stable": True}
    assert server.commands == ["S"]


def test_plain_reading_with_sim(capsys):
    assert main(["balance", "--sim", "--sim-mass", "3.25"]) == 0
    assert capsys.readouterr().out.strip() == "3.25 g (stable)"


@pytest.mark.parametrize("fault,words", [
    ("silence", "no reply"), ("garbage", "unreadable"), ("close", "stopped working|no reply"),
    ("ES", "ES"), ("ET", "ET"), ("EL", "EL"), ("overload", "overload"),
])
def test_faults_give_one_line_and_exit_2(server, capsys, fault, words):
    server.inject(fault, count=None)
    t0 = time.monotonic()
    code = main(["balance", "--port", server.port, "--timeout", "0.4", "--json"])
    elapsed = time.monotonic() - t0
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("labmnn: error: ") and "balance" in err
    assert re.search(words, err)
    assert elapsed < 1.5  # bounded, never a hang


def test_missing_port_and_bad_options(capsys):
    assert main(["balance"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["balance", "--sim", "--timeout", "0"]) == 2
    assert "--timeout" in capsys.readouterr().err


def test_open_balance_sim_stops_its_server():
    bal = open_balance(sim=True, mass_fn=lambda: 1.5)
    port = bal.port
    assert bal.read_stable().mass_g == 1.5
    bal.close()
    import os

    assert not os.path.exists(port)


def test_end_to_end_process_exits_2_on_vanishing_port(server):
    import subprocess
    import sys
    from pathlib import Path

    server.inject("close")
    root = Path(__file__).resolve().parents[1]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "labmnn", "balance", "--port", server.port,
                           "--timeout", "1"], cwd=root, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("labmnn: error: ") and proc.stderr.count("\n") == 1
    assert time.monotonic() - t0 < 10
