"""``labmnn export-docs SESSION [-o FILE]``: the session as Bluesky event-model documents (JSON lines)."""

from __future__ import annotations

from pathlib import Path

from labmnn.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("export-docs", help="write a session as Bluesky event-model documents (JSON lines)",
                       description="Write the session as Bluesky event-model documents: start, one descriptor "
                                   "per step kind (fields with dtype, shape and units), one event per step, "
                                   "the balance's weighings, and stop with the exit status. One [name, document] "
                                   "pair per line, as databroker's JSONL catalog reads. Every document is "
                                   "checked against event-model's schemas (pip install 'labmnn[interop]').")
    p.add_argument("session", help="session folder")
    p.add_argument("-o", "--out", default=None, metavar="FILE",
                   help="output file (default: SESSION/documents.jsonl)")
    p.add_argument("--no-validate", action="store_true",
                   help="write without checking the schemas (when event-model is not installed)")
    p.set_defaults(func=run)


def run(args) -> int:
    from collections import Counter

    from labmnn.protocol.docs_export import session_documents, validate, write_jsonl

    docs = session_documents(args.session)
    if not args.no_validate:
        try:
            validate(docs)
        except ImportError:
            raise InputError("export-docs", "", "checking the documents needs event-model: pip install "
                                                "'labmnn[interop]' (or pass --no-validate)") from None
    out = Path(args.out) if args.out else Path(args.session) / "documents.jsonl"
    if out.is_dir():
        raise InputError(str(out), "", "is a folder; give a file name with -o")
    if not out.parent.is_dir():
        raise InputError(str(out), "", f"cannot be written: no such folder {str(out.parent)!r}")
    write_jsonl(docs, out)
    streams = Counter(d["descriptor"] for n, d in docs if n == "event")
    names = {d["uid"]: d["name"] for n, d in docs if n == "descriptor"}
    stop = docs[-1][1]
    print(f"wrote {out}: {len(docs)} documents; streams "
          + ", ".join(f"{names[u]} ({k})" for u, k in streams.items())
          + f"; exit status {stop['exit_status']}" + ("" if args.no_validate else " (checked against event-model)"))
    return 0
