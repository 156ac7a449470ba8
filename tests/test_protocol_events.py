"""Every event the engine emits and every record it writes matches its documented type."""

import json
import sys
from pathlib import Path
from typing import get_args, get_type_hints

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from protocol_fakes import fake_bench  # noqa: E402

from labmnn.model.network import Network  # noqa: E402
from labmnn.protocol import events as ev  # noqa: E402
from labmnn.protocol.engine import Engine  # noqa: E402
from labmnn.protocol.operator import AutoOperator  # noqa: E402
from labmnn.protocol.recorder import Session, read_log  # noqa: E402
from labmnn.protocol.spec import load_protocol  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _by_tag(union, field: str) -> dict:
    """The union's TypedDicts, keyed by the value(s) of their Literal ``field``."""
    out = {}
    for cls in get_args(union):
        for sub in get_args(cls) or (cls,):
            for value in get_args(get_type_hints(sub)[field]):
                out[value] = sub
    return out


EVENTS = _by_tag(ev.EngineEvent, "type")
RECORDS = {k: c for k, c in _by_tag(ev.LogRecord, "kind").items() if k != "event"}
EVENT_RECORDS = _by_tag(ev.EventRecord, "name")


def _conforms(payload: dict, cls, extra_ok: bool = False) -> None:
    missing = cls.__required_keys__ - payload.keys()
    unknown = payload.keys() - cls.__required_keys__ - cls.__optional_keys__
    assert not missing, (cls.__name__, missing)
    assert extra_ok or not unknown, (cls.__name__, unknown)


def _run(tmp_path, name, hook=None):
    spec = load_protocol(ROOT / "protocols" / f"{name}.toml")
    spec.repeats = 1
    net = Network.open(spec.network)
    bench = fake_bench(net)
    seen = []
    eng = Engine(spec, Session.create(tmp_path, spec.name), bench,
                 AutoOperator(bench.sim_operator, hook=hook and (lambda ins: hook(eng, ins))), listener=seen.append)
    return eng, eng.run(), seen


def test_tables_cover_every_kind():
    assert set(EVENTS) == {"step", "progress", "image", "tracking", "gradient", "plan", "warning", "state", "train"}
    assert set(RECORDS) == {"start", "step", "stop"}
    assert {"checks", "instruction", "warning", "pause", "resume_after_pause", "resumed", "device_fault",
            "image", "orphan_image", "capture", "weighed", "rejected", "partial_file",
            "results_rebuilt", "condition"} == set(EVENT_RECORDS)
    assert set(get_args(ev.EventName)) == set(EVENT_RECORDS)


@pytest.mark.parametrize("name", ["gradient", "train"])
def test_a_run_emits_and_records_only_documented_shapes(tmp_path, name):
    armed = []

    def camera_fault(eng, ins):
        if ins.kind == "hang" and not armed:
            armed.append(ins)
            eng.bench.camera.inject("disconnect", count=1)

    eng, outcome, seen = _run(tmp_path, name, hook=camera_fault)
    assert outcome.status == "success" and outcome["status"] == "success"
    for event in seen:
        _conforms(event, EVENTS[event["type"]])
    kinds = {e["type"] for e in seen}
    assert {"step", "progress", "image", "tracking", "gradient", "plan", "warning", "state"} <= kinds
    assert ("train" in kinds) == (name == "train")
    records = read_log(eng.session.log_path)
    for rec in records:
        if rec["kind"] == "event":
            _conforms(rec, EVENT_RECORDS[rec["name"]])
        else:
            _conforms(rec, RECORDS[rec["kind"]], extra_ok=rec["kind"] == "start")
    names = {r.get("name") for r in records}
    assert {"checks", "instruction", "image", "capture", "weighed", "device_fault", "warning"} <= names
    for rec in records:
        if rec["kind"] == "step" and rec["key"].endswith("/reference"):
            _conforms(rec["data"], ev.ReferenceData)
        elif rec["kind"] == "step" and "/forward/" in rec["key"]:
            _conforms(rec["data"], ev.LoadingData)


def test_events_are_plain_dicts_and_records_keep_their_bytes(tmp_path):
    event = ev.WarningEvent(type="warning", text="x")
    assert type(event) is dict and json.dumps(event) == '{"type": "warning", "text": "x"}'
    s = Session.create(tmp_path, "bytes")
    s.event("weighed", step="a", node=3, nominal_g=10.0, mass_g=10.01)
    line = s.log_path.read_text().splitlines()[0]
    rec = json.loads(line)
    assert list(rec) == ["seq", "time", "kind", "name", "step", "node", "nominal_g", "mass_g"]
    assert line.endswith('"kind": "event", "name": "weighed", "step": "a", "node": 3, "nominal_g": 10.0, '
                         '"mass_g": 10.01}')


def test_run_outcome_reads_like_the_former_dict():
    out = ev.RunOutcome("abort", "aborted by the operator", {}, "sessions/x")
    assert out["status"] == "abort" and out.get("reason") == "aborted by the operator"
    assert out.get("summary", {"no": 1}) == {} and out.get("missing", 7) == 7
    assert "session" in out and "missing" not in out
    assert out.to_dict() == {"status": "abort", "reason": "aborted by the operator", "summary": {},
                             "session": "sessions/x"}
    with pytest.raises(KeyError):
        out["missing"]
