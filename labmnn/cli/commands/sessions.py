"""``labmnn sessions [ROOT]``: list recorded sessions and their status."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("sessions", help="list recorded sessions and their status",
                       description="List the session folders under ROOT with their protocol, start time, "
                                   "status (success, abort, fail, or running/interrupted) and step count.")
    p.add_argument("root", nargs="?", default=None,
                   help="folder to search (default: sessions/ and labmnn-demo/sessions/, where run and demo write)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from labmnn.errors import InputError
    from labmnn.protocol.sessions import list_sessions

    if args.root and not Path(args.root).is_dir():
        raise InputError(args.root, "", "no such folder" if not Path(args.root).exists() else
                         "is not a folder (give the folder that holds session folders)")
    roots = [args.root] if args.root else [r for r in ("sessions", "labmnn-demo/sessions") if Path(r).is_dir()]
    infos = [i for root in roots for i in list_sessions(root)]
    args.root = args.root or "sessions"
    if args.json:
        print(json.dumps([{**i.__dict__, "folder": str(i.folder)} for i in infos], indent=1))
        return 0
    if not infos:
        where = "" if Path(args.root).is_dir() else " (no such folder)"
        print(f"no sessions under {args.root}{where}; `labmnn run` writes to sessions/ unless --out is "
              f"given, `labmnn demo` to labmnn-demo/sessions/")
        return 0
    print(f"{'session':40s} {'status':10s} {'started':16s} {'kind':11s} {'steps':>10s} {'images':>11s}")
    for i in infos:
        print(i.line())
    return 0
