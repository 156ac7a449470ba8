"""Terminal side of a protocol run: progress lines from engine events (no logic here)."""

from __future__ import annotations

import sys
import time


class ConsoleListener:
    """Prints engine events as short progress lines.

    Parameters
    ----------
    out : file
        Default stdout.
    verbose : bool
        Also print image and tracking events.
    """

    def __init__(self, out=None, verbose: bool = False):
        self.out = out or sys.stdout
        self.verbose = verbose
        self.t0 = time.perf_counter()

    def __call__(self, ev: dict) -> None:
        t = ev.get("type")
        stamp = f"[{time.perf_counter() - self.t0:6.1f} s]"
        if t == "step":
            total = ev.get("total") or 0
            where = "checks" if ev.get("key") == "checks" else f"step {ev.get('index', 0) + 1}/{total}"
            print(f"{stamp} {where}: {ev.get('label', ev.get('key'))}", file=self.out, flush=True)
        elif t == "plan":
            for line in ev.get("lines", []):
                print(f"{stamp}   {line}", file=self.out, flush=True)
        elif t == "gradient":
            print(f"{stamp}   gradient: relative error {ev['relative_error']:.2%} vs model, "
                  f"cosine {ev['cosine']:.4f}", file=self.out, flush=True)
        elif t == "warning":
            print(f"{stamp} WARNING: {ev.get('text')}", file=self.out, flush=True)
        elif t == "state" and ev.get("state") in ("paused", "aborted", "failed"):
            print(f"{stamp} {ev['state'].upper()}: {ev.get('reason', '')}", file=self.out, flush=True)
        elif t == "progress" and ev.get("eta_s") is not None and ev["done"] < ev["total"]:
            print(f"{stamp}   {ev['done']}/{ev['total']} steps done, about {ev['eta_s']:.0f} s to go",
                  file=self.out, flush=True)
        elif t == "train":
            print(f"{stamp}   training step {ev['step']}: loss {ev['loss']:.4e}", file=self.out, flush=True)
        elif self.verbose and t in ("image", "tracking"):
            print(f"{stamp}   {t}: {ev}", file=self.out, flush=True)


def run_to_end(engine) -> dict:
    """Run ``engine`` to its end, always closing its devices, and print the closing lines."""
    try:
        outcome = engine.run()
    finally:
        engine.bench.close()
    print_outcome(outcome)
    return outcome


def print_outcome(outcome: dict, out=None) -> None:
    """The closing lines of a run."""
    out = out or sys.stdout
    s = outcome.get("summary", {})
    if outcome["status"] != "success":
        print(f"{outcome['status']}: {outcome.get('reason', '')}; resume with: labmnn resume {outcome['session']}",
              file=out)
        return
    if "relative_error" in s and "gradient_measured" in s:
        print(f"measured gradient vs model: relative error {s['relative_error']:.2%}, cosine {s['cosine']:.5f} "
              f"over {s.get('repeats', 1)} repeat(s); nonlinearity (geometric vs linear elongations) "
              f"{s.get('nonlinearity_forward', 0):.1%} forward, {s.get('nonlinearity_adjoint', 0):.1%} adjoint",
              file=out)
        if s.get("load_nonlinearity_forward"):
            print(f"two-level linearisation: the loads' nonlinear response was {s['load_nonlinearity_forward']:.1%} "
                  f"(forward) and {s['load_nonlinearity_adjoint']:.1%} (adjoint) of the elongations; a single "
                  f"level would have given a relative error of {s['relative_error_single_level']:.2%}", file=out)
    if "r_squared" in s:
        print(f"load series: R^2 {s['r_squared']:.5f}, RMS error {s['rms_error_mm'] * 1e3:.1f} um, "
              f"largest {s['largest_error_mm'] * 1e3:.1f} um", file=out)
    if "history" in s:
        print(f"training: loss {s['loss_first']:.4e} -> {s['loss_last']:.4e}; design {s['design']}", file=out)
    print(f"session: {outcome['session']}", file=out)
