"""Conditioning a newly mounted print before its first loading (``condition_s``).

A fresh print creeps fastest in its first minutes on the bench; the simulated
methods (:mod:`labmnn.training.methods`) let every new print wait
``condition_s`` unloaded before it is first loaded, and a session on the rig
does the same: one checkpointed step, ``condition`` (a load series: before
its reference photo) or ``t<k>/condition`` (a ``train`` session: after design
``k`` is mounted, before its reference photo).

The step logs a ``condition`` event with the mount time the first time it is
reached, then tells the operator until when to leave the print alone and waits
for the confirmation (the operator's ``confirm``, as every prompt: the engine
thread blocks there, the GUI does not).  A session resumed after kill -9 finds
the event and counts the wait from the recorded mount time, so a wait already
(partly) done is not started again.  The automatic simulated operator does not
wait: the step records the time it would have waited as ``simulated_s``, which
:func:`labmnn.protocol.task_protocol.session_timing` adds to the bench hours
(the rendered rig models no creep, so nothing else changes).

Recorded step data: ``seconds`` (asked), ``mounted`` (epoch s), ``waited_s``
(by the clock, from the mount to the confirmation), ``simulated_s`` and
``short_s`` (what the operator confirmed too early; a warning says so).
"""

from __future__ import annotations

import time

from labmnn.protocol.operator import AutoOperator, Instruction

clock = time.time  # the lab's clock (tests replace it)


def condition_step(eng, prefix: str, label: str, seconds: float, mounted_by: str | None = None) -> dict | None:
    """Condition the mounted print (step ``<prefix>condition``); its data, or None when nothing is to do.

    Parameters
    ----------
    eng : Engine
    prefix : str
        ``""`` (a load series) or ``"t<k>/"`` (design ``k`` of a ``train`` session).
    label : str
        The step's label (shown to the operator).
    seconds : float
        ``condition_s`` (0: no conditioning, no step).
    mounted_by : str, optional
        Key of the step that mounted the print: its recorded time is the mount
        time (default, or before that step is recorded: when this step is first
        reached).  Looked up only when the wait starts, not at every call.

    Nothing is done either when the print has been loaded already, which a
    session recorded before conditioning existed shows on resumption.
    """
    key = f"{prefix}condition"
    if seconds <= 0:
        return None
    if key not in eng._done and any(k.startswith(f"{prefix}r") for k in eng._done):
        return None  # this design was measured already: too late to condition it
    return eng.step(key, label, lambda: _wait(eng, key, label, float(seconds), mounted_by))


def _step_time(eng, key: str) -> float | None:
    """The recorded time of step ``key`` (epoch s), or None before it is recorded."""
    return next((float(r["time"]) for r in eng.session.records if r.get("kind") == "step" and r.get("key") == key
                 and isinstance(r.get("time"), (int, float))), None)


def _wait(eng, key: str, label: str, seconds: float, mounted_by: str | None) -> dict:
    rec = next((r for r in eng.session.records if r.get("kind") == "event" and r.get("name") == "condition"
                and r.get("key") == key), None)
    if rec is None:
        mounted = _step_time(eng, mounted_by) if mounted_by else None
        mounted = clock() if mounted is None else mounted
        eng.session.event("condition", key=key, mounted=mounted, seconds=seconds)
    else:  # resumed: the wait runs from the recorded mount
        mounted = float(rec["mounted"])
    left = seconds - (clock() - mounted)
    simulated = 0.0
    if left > 0:
        until = time.strftime("%H:%M:%S", time.localtime(mounted + seconds))
        eng.ask(Instruction(label, "info", f"Condition the newly mounted print: leave it unloaded until {until} "
                                           f"(another {left:.0f} s of {seconds:g} s against creep), then confirm."))
        if isinstance(eng.operator, AutoOperator):  # the simulated operator does not wait: recorded, not slept
            simulated = max(0.0, seconds - (clock() - mounted))
    waited = clock() - mounted
    short = max(0.0, seconds - waited - simulated)
    if short > 0:
        eng.warn(f"the print was conditioned {waited:.0f} s of {seconds:g} s: its first loadings may still creep")
    return {"seconds": seconds, "mounted": mounted, "waited_s": waited, "simulated_s": simulated, "short_s": short}
