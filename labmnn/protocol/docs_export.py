"""A session as Bluesky event-model documents, for databroker, tiled and friends.

One run per session: a ``start`` document (protocol, network, bench, labmnn
version), one ``descriptor`` per step kind (a stream: ``reference``,
``forward``, ``forward_half``, ``adjoint_plan``, ``adjoint``, ``gradient``,
...; plus ``weighings``, every stack weighed on the balance), one ``event`` per
checkpointed step, and a ``stop`` document with the session's exit status
(``success``, ``abort``, ``fail``; a session without a stop record, cut off and
not resumed, is exported as ``fail`` with that reason).

Each descriptor declares its fields (``data_keys``): ``dtype`` (``number``,
``integer``, ``boolean``, ``string``, ``array``), ``shape``, ``source``
(``labmnn:<step>``), ``dtype_numpy`` for arrays (``|b1`` for booleans) and
``units`` read from the field name's unit suffix (``displacements_mm``: mm).
A step's nested tables are flattened with ``_`` (``plan_scale``); a field is
kept in a stream when it has one type and shape in every event of the stream
(lists of tables, such as a loading's stacks, stay in the session's log).
Identifiers are derived from the session (the same session always gives the
same documents).

The output is JSON lines, one ``[name, document]`` pair per line (the layout
of ``suitcase-jsonl``, read by databroker's ``BlueskyJSONLCatalog``).  Every
document is checked against event-model's schemas when it is installed
(``pip install 'labmnn[interop]'``).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from labmnn.errors import InputError
from labmnn.protocol.recorder import read_records
from labmnn.protocol.results import units_of

NAMESPACE = uuid.UUID("6c0a3a56-9d1e-4b8f-a5f1-1a3e1b0c4d2e")  # labmnn's namespace for document uids
EXIT_STATUS = {"success": "success", "abort": "abort", "fail": "fail"}


@dataclass
class Field:
    """One data key of a stream: its event-model ``dtype``, shape and numpy dtype."""

    dtype: str
    shape: list
    dtype_numpy: str = ""


def stream_of(step_key: str) -> str:
    """The stream (step kind) of a step key: repeat prefix and loading index dropped.

    >>> stream_of("r0/forward-half/0"), stream_of("r2/gradient"), stream_of("reference")
    ('forward_half', 'gradient', 'reference')
    """
    parts = [p for p in step_key.split("/") if not re.fullmatch(r"r?\d+", p)]
    return "_".join(parts or ["step"]).replace("-", "_").replace(".", "_")


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in data.items():
        name = f"{prefix}{k}".replace("/", "_").replace(".", "_")
        if isinstance(v, dict):
            out.update(_flatten(v, name + "_"))
        else:
            out[name] = v
    return out


def _field(value) -> Field | None:
    """The data key a value needs, or None when event documents cannot carry it as a plain field."""
    if isinstance(value, bool):
        return Field("boolean", [])
    if isinstance(value, int):
        return Field("integer", [])
    if isinstance(value, float):
        return Field("number", [])
    if isinstance(value, str):
        return Field("string", [])
    if isinstance(value, list):
        shape, flat = _shape(value)
        if shape is None or not flat:
            return None
        kinds = {type(x) for x in flat}
        if kinds == {bool}:
            return Field("array", shape, "|b1")
        if kinds == {int}:
            return Field("array", shape, "<i8")
        if kinds <= {int, float}:
            return Field("array", shape, "<f8")
        if kinds == {str}:
            return Field("array", shape, "<U" + str(max(len(x) for x in flat) or 1))
    return None


def _shape(value) -> tuple[list | None, list]:
    """Shape and flat items of a rectangular nested list of scalars (None when ragged or nested tables)."""
    if not isinstance(value, list):
        if isinstance(value, (bool, int, float, str)):
            return [], [value]
        return None, []
    if not value:
        return [0], []
    subs = [_shape(v) for v in value]
    first = subs[0][0]
    if first is None or any(s != first for s, _ in subs):
        return None, []
    return [len(value), *first], [x for _, flat in subs for x in flat]


def _uid(*parts) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def session_documents(folder: str | Path) -> list[tuple[str, dict]]:
    """The session in ``folder`` as ``(name, document)`` pairs, in order: start, descriptors and events, stop.

    Raises
    ------
    InputError
        When ``folder`` holds no session log with a start record.
    """
    folder = Path(folder)
    log = folder / "log.jsonl"
    if not folder.is_dir():
        raise InputError(str(folder), "", "no such session folder")
    records = read_records(log)
    start = next((r for r in records if r.get("kind") == "start"), None)
    if start is None:
        raise InputError(str(log), "", "holds no start record: not a labmnn session")
    run_uid = _uid(folder.name, start.get("time"), start.get("pid"))
    start_doc = {"uid": run_uid, "time": float(start["time"]), "plan_name": str(start.get("protocol_kind", "")),
                 "protocol": str(start.get("protocol", "")), "session": folder.name,
                 "network": str(start.get("network", "")), "labmnn_version": str(start.get("labmnn_version", "")),
                 "bench": start.get("bench", {}), "overrides": start.get("overrides", {}),
                 "source": "labmnn"}

    rows: dict[str, list[tuple[float, str, dict]]] = {}
    for r in records:
        if r.get("kind") == "step":
            rows.setdefault(stream_of(r["key"]), []).append(
                (float(r["time"]), r["key"], {"step": r["key"], **_flatten(r.get("data", {}))}))
        elif r.get("kind") == "event" and r.get("name") == "weighed":
            data = {k: r[k] for k in ("step", "node", "nominal_g", "mass_g") if k in r}
            rows.setdefault("weighings", []).append((float(r["time"]), "weighed", data))

    docs: list[tuple[str, dict]] = [("start", start_doc)]
    counts = {}
    for stream, events in rows.items():
        data_keys = _data_keys(stream, [d for _, _, d in events])
        desc_uid = _uid(run_uid, "descriptor", stream)
        docs.append(("descriptor", {"uid": desc_uid, "run_start": run_uid, "time": events[0][0], "name": stream,
                                    "data_keys": data_keys, "object_keys": {"labmnn": sorted(data_keys)},
                                    "configuration": {}, "hints": {}}))
        for seq, (t, _key, data) in enumerate(events, start=1):
            kept = {k: data[k] for k in data_keys}
            docs.append(("event", {"uid": _uid(desc_uid, seq), "descriptor": desc_uid, "seq_num": seq, "time": t,
                                   "data": kept, "timestamps": dict.fromkeys(kept, t), "filled": {}}))
        counts[stream] = len(events)

    stop = next((r for r in reversed(records) if r.get("kind") == "stop"), None)
    if stop is not None:
        status = EXIT_STATUS.get(str(stop.get("status")), "fail")
        reason = str(stop.get("reason") or "")
        t_stop = float(stop["time"])
    else:
        status, reason = "fail", "incomplete: the session has no stop record (labmnn resume continues it)"
        t_stop = float(records[-1]["time"])
    docs.append(("stop", {"uid": _uid(run_uid, "stop"), "run_start": run_uid, "time": t_stop,
                          "exit_status": status, "reason": reason, "num_events": counts}))
    return docs


def _data_keys(stream: str, events: list[dict]) -> dict:
    """The fields every event of the stream carries with one type and shape, declared event-model's way."""
    keys = {}
    for name in events[0]:
        fields = [_field(e.get(name)) if name in e else None for e in events]
        first = _common(fields)
        if first is None:
            continue
        key = {"dtype": first.dtype, "shape": first.shape, "source": f"labmnn:{stream}"}
        if first.dtype_numpy:
            key["dtype_numpy"] = first.dtype_numpy
        units = units_of(name)
        if units and first.dtype in ("number", "integer", "array"):
            key["units"] = units
        keys[name] = key
    return keys


def _common(fields: list[Field | None]) -> Field | None:
    """The one field type of all events (integers and numbers mix as numbers), or None."""
    known = [f for f in fields if f is not None]
    if len(known) < len(fields):
        return None
    widen = {"integer": "number", "<i8": "<f8"}
    if len({(f.dtype, str(f.shape), f.dtype_numpy) for f in known}) > 1:
        known = [Field(widen.get(f.dtype, f.dtype), f.shape, widen.get(f.dtype_numpy, f.dtype_numpy))
                 for f in known]
    first = known[0]
    return first if all(f == first for f in known) else None


def validate(docs: list[tuple[str, dict]]) -> int:
    """Check every document against event-model's JSON schemas; returns how many were checked.

    Raises
    ------
    ImportError
        When event-model is not installed.
    jsonschema.ValidationError
        On the first document that does not follow its schema.
    """
    from event_model import DocumentNames, schema_validators

    for name, doc in docs:
        schema_validators[DocumentNames[name]].validate(doc)
    return len(docs)


def write_jsonl(docs: list[tuple[str, dict]], path: str | Path) -> Path:
    """Write ``[name, document]`` per line (suitcase-jsonl's layout)."""
    from labmnn.text_files import replacing

    path = Path(path)
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for name, doc in docs:
            f.write(json.dumps([name, doc]) + "\n")
    return path
