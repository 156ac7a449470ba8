"""The package layout's import rules, checked on the source (AST scan of every import).

- Only ``labmnn/cli/`` imports ``hardware_sim`` (in any form, also inside functions).
- ``hardware_sim`` imports, of labmnn, only the kernel (errors, devices, text_files,
  resources), ``labmnn.model`` and ``labmnn.instruments.mtsics``.
- Imports flow one way: kernel <- model <- training, fabrication, paper, metrology;
  devices <- instruments; all of those <- protocol <- gui <- cli.
- At most 8 modules lie loose at ``labmnn/``'s top.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL = {"labmnn", "errors", "devices", "text_files", "resources", "checks"}
# layer of each part of labmnn (its top-level module or sub-package); a part imports only
# from its own layer or lower ones (kernel modules only from the kernel)
LAYER = {**{k: 0 for k in KERNEL}, "model": 1, "training": 2, "fabrication": 2, "paper": 2, "metrology": 2,
         "instruments": 2, "protocol": 3, "gui": 4, "cli": 5, "__main__": 5}
SIM_MAY_IMPORT = ("labmnn.errors", "labmnn.devices", "labmnn.text_files", "labmnn.resources", "labmnn.checks",
                  "labmnn.model",
                  "labmnn.instruments.mtsics")
MAX_LOOSE = 8


def imports(path: Path, package: str):
    """(line, absolute module name) of every import in ``path`` (a module of ``package``)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            if module in ("labmnn", "hardware_sim"):  # from labmnn import errors -> labmnn.errors
                for alias in node.names:
                    yield node.lineno, f"{module}.{alias.name}"
            else:
                yield node.lineno, module
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def modules(root: Path, top: str):
    """(path, package, part) of every module of package ``top`` under ``root``."""
    for path in sorted((root / top).rglob("*.py")):
        rel = path.relative_to(root).with_suffix("").parts
        package = ".".join(rel if path.name == "__init__.py" else rel[:-1])
        part = rel[1] if len(rel) > 1 else rel[0]
        if part == "__init__":
            part = "labmnn" if top == "labmnn" else part
        yield path, package.removesuffix(".__init__"), part


def is_under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path) -> list[str]:
    """Every broken rule, as 'FILE:LINE imports MODULE (rule)'."""
    found = []
    for path, package, part in modules(root, "labmnn"):
        where = path.relative_to(root).as_posix()
        layer = LAYER.get(part)
        if layer is None:
            found.append(f"{where}: part {part!r} has no place in the layering (tests/test_layout.py LAYER)")
            continue
        for line, module in imports(path, package):
            if is_under(module, "hardware_sim") and part != "cli":
                found.append(f"{where}:{line} imports {module} (only labmnn/cli/ may import hardware_sim)")
            if not is_under(module, "labmnn"):
                continue
            target = module.split(".")[1] if "." in module else "labmnn"
            if target.startswith("__") and target != "__main__":  # labmnn.__version__ and the like
                target = "labmnn"
            if target not in LAYER:  # e.g. ``from labmnn import GRAVITY``: the package's lazy names
                target = "model" if target[:1].isupper() or target == "losses" else "labmnn"
            if LAYER[target] > layer:
                found.append(f"{where}:{line} imports {module} ({part} may not import {target})")
    for path, package, _part in modules(root, "hardware_sim"):
        where = path.relative_to(root).as_posix()
        for line, module in imports(path, package):
            if is_under(module, "labmnn") and not any(is_under(module, ok) for ok in SIM_MAY_IMPORT):
                found.append(f"{where}:{line} imports {module} (hardware_sim may import only "
                             f"{', '.join(SIM_MAY_IMPORT)})")
    loose = sorted(p.name for p in (root / "labmnn").glob("*.py"))
    if len(loose) > MAX_LOOSE:
        found.append(f"labmnn/ has {len(loose)} loose modules (at most {MAX_LOOSE}): {', '.join(loose)}")
    return found


def test_the_package_keeps_its_import_rules():
    found = violations(ROOT)
    assert not found, "\n".join(found)


def test_the_scan_names_each_broken_rule(tmp_path):
    """The checker itself: a small tree with one break of each rule."""
    files = {
        "labmnn/__init__.py": "",
        "labmnn/errors.py": "",
        "labmnn/model/__init__.py": "",
        "labmnn/model/net.py": "from labmnn.training import loop\n",
        "labmnn/protocol/__init__.py": "",
        "labmnn/protocol/bench.py": "def f():\n    from hardware_sim.rig import SimRig\n",
        "labmnn/protocol/run.py": "from ..gui import window\n",
        "labmnn/gui/ok.py": "import importlib\nimportlib.import_module('hardware_sim')\n",
        "labmnn/cli/sim.py": "import hardware_sim.rig\nfrom labmnn.gui import window\n",
        "hardware_sim/__init__.py": "",
        "hardware_sim/rig.py": "from labmnn.model.network import Network\nfrom labmnn import protocol\n",
        "hardware_sim/cam.py": "from labmnn.instruments.gphoto2_errors import advice\n",
    }
    for i in range(MAX_LOOSE):
        files[f"labmnn/loose{i}.py"] = ""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(tmp_path)
    expected = [
        "labmnn/gui/ok.py:2 imports hardware_sim (only labmnn/cli/ may import hardware_sim)",
        "labmnn/model/net.py:1 imports labmnn.training (model may not import training)",
        "labmnn/protocol/bench.py:2 imports hardware_sim.rig (only labmnn/cli/ may import hardware_sim)",
        "labmnn/protocol/run.py:1 imports labmnn.gui (protocol may not import gui)",
        "hardware_sim/cam.py:1 imports labmnn.instruments.gphoto2_errors",
        "hardware_sim/rig.py:2 imports labmnn.protocol",
        "labmnn/ has 10 loose modules",
        "labmnn/loose0.py: part 'loose0' has no place in the layering",
    ]
    for want in expected:
        assert any(line.startswith(want) for line in found), (want, found)
    unexpected = [line for line in found if not any(line.startswith(w) for w in expected)
                  and not line.startswith("labmnn/loose")]
    assert not unexpected and len(found) == len(expected) - 1 + MAX_LOOSE, "\n".join(found)
