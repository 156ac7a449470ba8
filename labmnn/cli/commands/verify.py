"""``labmnn verify SESSION``: check a whole session against its own record."""

from __future__ import annotations

import json

EXIT_MISMATCH = 3


def register(sub) -> None:
    p = sub.add_parser("verify", help="check a session's photos, log and results files against its record",
                       description="Check every recorded photo (there, not a link, same size and SHA-256 as "
                                   "logged), the log (one start, no step or sequence number twice), the raw "
                                   "folder (every file logged) and the results files (readable, matching their "
                                   "digests and a rebuild from the log). Writes nothing. Exit 0: all match; "
                                   "3: a mismatch was found (each is listed); 2: not a session.")
    p.add_argument("session", help="session folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from labmnn.protocol.recorder import Session
    from labmnn.protocol.verify import verify_session

    owner = Session.open(args.session).lock()  # a running resume would be caught half-way: refuse it
    try:
        v = verify_session(args.session)
    finally:
        owner.close()
    if args.json:
        print(json.dumps({"session": str(v.folder), "ok": v.ok, "photos": v.photos, "records": v.records,
                          "problems": [m.line() for m in v.problems], "notes": v.notes}, indent=1))
    else:
        for m in v.problems:
            print(f"MISMATCH {m.line()}")
        for n in v.notes:
            print(f"note: {n}")
        verdict = "OK" if v.ok else f"{len(v.problems)} mismatch(es)"
        print(f"{v.folder}: {verdict} ({v.photos} photos, {v.records} log records checked)")
    return 0 if v.ok else EXIT_MISMATCH
