"""Start-up of the command line: building the parser stays light, Ctrl-C while starting exits 130 quietly.

Each check runs in a fresh interpreter (``sys.modules`` of the test process
already holds everything).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from interrupts import interrupt_when

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
HEAVY = ["numpy", "scipy", "scipy.optimize", "matplotlib", "matplotlib.pyplot", "cv2", "h5py", "shapely",
         "PySide6", "pyqtgraph", "skimage"]


def _python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def test_build_parser_imports_no_heavy_library():
    proc = _python("import json, sys\nimport labmnn.cli\nlabmnn.cli.build_parser()\n"
                   f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_every_command_help_imports_no_heavy_library():
    proc = _python(
        "import contextlib, io, json, sys\nimport labmnn.cli as cli\n"
        "names = sorted(cli.build_parser()._subparsers._group_actions[0].choices)\n"
        "for name in names:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert cli.main([name, '--help']) == 0, name\n"
        f"print(json.dumps([len(names), sorted(m for m in {HEAVY!r} if m in sys.modules)]))")
    assert proc.returncode == 0, proc.stderr
    n_commands, loaded = json.loads(proc.stdout)
    assert n_commands >= 10
    assert loaded == []


def test_public_names_still_load_on_first_use():
    proc = _python("import sys\nimport labmnn\nassert 'numpy' not in sys.modules\n"
                   "from labmnn import Network, GRAVITY, InputError, LabmnnError, ZeroModeError, SolveResult\n"
                   "net = labmnn.Network.example('paper-triangle-n4')\n"
                   "print(net.n_nodes, GRAVITY, labmnn.losses.MSELoss.__name__, labmnn.Network is Network)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["14", "9.8", "MSELoss", "True"]


def test_unknown_public_name_is_an_attribute_error():
    import labmnn

    with pytest.raises(AttributeError, match="no_such_name"):
        labmnn.no_such_name  # noqa: B018


def test_train_help_lists_the_shipped_tasks():
    from labmnn.cli.commands.train import SHIPPED_TASKS
    from labmnn.training.tasks import TASKS_DIR

    assert SHIPPED_TASKS == TASKS_DIR
    assert any(SHIPPED_TASKS.glob("*.toml"))


# A KeyboardInterrupt raised from the import system is exactly what Ctrl-C does while a module loads.
_INTERRUPT_ON_IMPORT = """
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == {name!r}:
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
sys.argv = ["labmnn"] + {argv!r}
{entry}
"""


@pytest.mark.parametrize("module, argv", [
    ("labmnn.cli.commands.train", ["--help"]),  # while building the parser
    ("numpy", ["simulate", "paper-triangle-n4", "--grams", "13:0.5"]),  # a command loading numpy
    ("scipy.sparse", ["identify", "missing.csv", "-o", "{tmp}/identified.json"]),
])
@pytest.mark.parametrize("entry", ["from labmnn.cli import run\nrun()", "import runpy\nrunpy.run_module('labmnn', "
                                   "run_name='__main__', alter_sys=True)"], ids=["console-script", "python-m"])
def test_ctrl_c_while_loading_exits_130_with_one_line(module, argv, entry, tmp_path):
    argv = [a.format(tmp=tmp_path) for a in argv]
    proc = _python(_INTERRUPT_ON_IMPORT.format(name=module, argv=argv, entry=entry))
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.splitlines() == ["labmnn: interrupted"]
    assert proc.stdout == ""


# numpy, interrupted while its C extension loads, re-raises the Ctrl-C as an ImportError: a real SIGINT,
# delivered at a chosen import and wrapped the same way, so the outcome cannot depend on timing.
_WRAPPED_INTERRUPT = """
import os, signal, sys
class WrapsInterrupt:
    def find_spec(self, name, path=None, target=None):
        if name == {name!r}:
            try:
                os.kill(os.getpid(), signal.SIGINT)  # the handler runs before os.kill returns
            except KeyboardInterrupt:
                raise ImportError("Importing the numpy C-extensions failed") from None
sys.meta_path.insert(0, WrapsInterrupt())
sys.argv = ["labmnn"] + {argv!r}
{entry}
"""


@pytest.mark.parametrize("module, argv", [
    ("numpy", ["simulate", "paper-triangle-n4", "--grams", "13:0.5"]),  # inside a command
    ("labmnn.cli.commands.train", ["--help"]),  # while building the parser
])
@pytest.mark.parametrize("entry", ["from labmnn.cli import run\nrun()", "import runpy\nrunpy.run_module('labmnn', "
                                   "run_name='__main__', alter_sys=True)"], ids=["console-script", "python-m"])
def test_real_sigint_that_a_library_wraps_still_exits_130(module, argv, entry):
    proc = _python(_WRAPPED_INTERRUPT.format(name=module, argv=argv, entry=entry))
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.splitlines() == ["labmnn: interrupted"]
    assert proc.stdout == ""


def _numpy_is_loading(pid: int) -> bool:
    try:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see the child load numpy")
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1])
def test_real_ctrl_c_while_numpy_and_scipy_load_exits_130_quietly(delay):
    """SIGINT once the command starts loading numpy (and a little later): 130 and one line, or done already."""
    # 0.5 g keeps the load in the linear regime: no warning line, so stderr is the interrupt alone
    proc = subprocess.Popen([sys.executable, "-m", "labmnn", "simulate", "paper-triangle-n4", "--grams", "13:0.5"],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = interrupt_when(proc, lambda: _numpy_is_loading(proc.pid), delay=delay, poll_s=0.002)
    assert "Traceback" not in stderr
    if proc.returncode == 0:  # it finished before the signal
        assert stdout and not stderr
        return
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert stderr.splitlines() == ["labmnn: interrupted"]
