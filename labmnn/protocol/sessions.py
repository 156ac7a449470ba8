"""Finding session folders and summarising their state (for ``labmnn sessions``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from labmnn.errors import InputError
from labmnn.protocol.recorder import LOG, Session


@dataclass
class SessionInfo:
    """One line of the session list."""

    folder: Path
    protocol: str
    kind: str
    status: str
    started: float | None
    steps: int
    images: int
    reason: str

    def line(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started)) if self.started else "?"
        why = f"  ({self.reason})" if self.reason and self.status != "success" else ""
        return (f"{self.folder.name:40s} {self.status:10s} {when:16s} {self.kind:11s} "
                f"{self.steps:4d} steps {self.images:4d} images{why}")


def list_sessions(root: str | Path) -> list[SessionInfo]:
    """Every session below ``root`` (folders holding a ``log.jsonl``), oldest first."""
    root = Path(root)
    out = []
    for log in sorted(root.glob(f"**/{LOG}")):
        try:
            s = Session(log.parent)
        except InputError as exc:  # e.g. a symbolic link in place of the log: listed, never followed
            out.append(SessionInfo(folder=log.parent, protocol="?", kind="?", status="refused", started=None,
                                   steps=0, images=0, reason=exc.one_line()))
            continue
        start = s.start_record()
        stops = [r for r in s.records if r.get("kind") == "stop"]
        out.append(SessionInfo(
            folder=log.parent, protocol=str(start.get("protocol", "?")),
            kind=str(start.get("protocol_kind", "?")), status=s.status(), started=start.get("time"),
            steps=len(s.completed_steps()), images=len(s.images()),
            reason=str(stops[-1].get("reason", "")) if stops else "interrupted (no stop record)"))
    out.sort(key=lambda i: i.started or 0)
    return out
