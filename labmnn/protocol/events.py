"""What a protocol run reports and records: one typed schema for every message.

Three families live here (see ``docs/events.md`` for samples):

- **Events** go from the :class:`~labmnn.protocol.engine.Engine` (and the GUI's
  workers) to a ``listener`` callable while a run goes on.  Each is a plain
  dict whose ``type`` field names its kind; they are never written to disk.
- **Records** are the lines of a session's ``log.jsonl``
  (:class:`~labmnn.protocol.recorder.Session`).  Each has ``seq``, ``time`` and
  a ``kind`` (``start``, ``step``, ``event``, ``stop``); an ``event`` record
  also has a ``name`` telling which event it is.
- :class:`RunOutcome` is what :meth:`Engine.run` returns.

Events and records are :class:`~typing.TypedDict` classes, so they stay plain
dicts at run time: listener payloads and the JSON on disk are the same bytes as
before the types existed, and sessions written by older versions read back
unchanged.  Units follow the field names (``_g`` grams, ``_mm`` millimetres,
``_n`` newtons, ``_px`` pixels, ``_s`` seconds); ``time`` is Unix seconds.

Example
-------
>>> ev = StepEvent(type="step", key="r0/reference", label="repeat 1/1: reference", index=0, total=9)
>>> ev["type"], isinstance(ev, dict)
('step', True)
>>> RunOutcome("abort", "aborted by the operator", {}, "sessions/x")["status"]
'abort'
"""

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

# Optional keys are declared in ``total=False`` subclasses rather than with
# ``typing.NotRequired``: that name only exists from Python 3.11 and the package
# supports 3.10 (``requires-python``), without a ``typing_extensions`` dependency.

State = Literal["idle", "running", "paused", "done", "aborted", "failed"]
Status = Literal["success", "abort", "fail"]


# ------------------------------------------------------------------ events
class StepEvent(TypedDict):
    """A checkpointed step starts (the checks too, with key ``"checks"``).

    Fields: ``key`` (step key, e.g. ``"r0/forward/0"``), ``label`` (what the
    operator reads), ``index`` (steps already in the log), ``total`` (steps the
    run is expected to have).
    """

    type: Literal["step"]
    key: str
    label: str
    index: int
    total: int


class ProgressEvent(TypedDict):
    """A step was completed and logged.

    Fields: ``done`` and ``total`` (steps), ``key`` (the completed step),
    ``eta_s`` (seconds left at this run's rate so far).
    """

    type: Literal["progress"]
    done: int
    total: int
    key: str
    eta_s: float


class ImageEvent(TypedDict):
    """A photo was taken and filed.

    Fields: ``path`` (the filed photo, session folder included), ``role``
    (``"reference"`` or the step key with ``/`` as ``_``), ``key`` (the step).
    """

    type: Literal["image"]
    path: str
    role: str
    key: str


class TrackingEvent(TypedDict):
    """A loading photo was tracked against its reference photo.

    Fields: ``key`` (the step), ``image`` (photo path relative to the session),
    ``lost`` (indices of joints not found), ``confidence_min`` (lowest joint
    confidence, 0..1), ``max_displacement_mm`` (largest joint displacement
    component, mm).
    """

    type: Literal["tracking"]
    key: str
    image: str
    lost: list[int]
    confidence_min: float
    max_displacement_mm: float


class GradientEvent(TypedDict):
    """One repeat's gradient was assembled.

    Fields: ``key`` (the gradient step), ``measured`` and ``simulated`` (dL/dk
    per bond, loss units per N/m), ``relative_error`` (|g - g_sim| / |g_sim|),
    ``cosine`` (between the two).
    """

    type: Literal["gradient"]
    key: str
    measured: list[float]
    simulated: list[float]
    relative_error: float
    cosine: float


class PlanEvent(TypedDict):
    """A loading plan was made (predicted at the checks, or for a repeat's adjoint).

    Fields: ``role`` (``"adjoint"`` or ``"adjoint (predicted)"``), ``lines``
    (the plan as text), ``predicted_error`` (relative gradient error from
    rounding to the weight set).
    """

    type: Literal["plan"]
    role: str
    lines: list[str]
    predicted_error: float


class WarningEvent(TypedDict):
    """Something the operator should know; the run goes on. Field: ``text``."""

    type: Literal["warning"]
    text: str


class StateEvent(TypedDict):
    """The engine's state changed.

    Fields: ``state`` (idle, running, paused, done, aborted, failed) and
    ``reason`` (why it paused, aborted or failed; empty otherwise).
    """

    type: Literal["state"]
    state: State
    reason: str


class _TrainEventRequired(TypedDict):
    type: Literal["train"]
    step: int
    loss: float


class TrainEvent(_TrainEventRequired, total=False):
    """A training step's Adam update was logged.

    Fields: ``step`` (1-based training step), ``loss`` (mean over its repeats),
    ``accuracy`` (only when a task reports one).
    """

    accuracy: float


class _JointsEventRequired(TypedDict):
    type: Literal["joints"]
    image: str
    joints_px: Any


class JointsEvent(_JointsEventRequired, total=False):
    """GUI only (:class:`~labmnn.gui.workers.TrackerTap`): where the tracker found the joints.

    Fields: ``image`` (photo path), ``joints_px`` ((n, 2) pixel positions),
    ``confidence`` (per joint, loading photos only).
    """

    confidence: Any


class RestartEvent(TypedDict):
    """GUI only (:class:`~labmnn.gui.workers.EngineRunner`): the engine is restarted
    on the same session to repeat a step.  Field: ``reason``."""

    type: Literal["restart"]
    reason: str


EngineEvent = (StepEvent | ProgressEvent | ImageEvent | TrackingEvent | GradientEvent | PlanEvent | WarningEvent
               | StateEvent | TrainEvent)
"""Anything :meth:`Engine.emit` sends to its listener."""

GuiEvent = EngineEvent | JointsEvent | RestartEvent
"""Anything the main window's event slot receives."""


# ----------------------------------------------------------------- records
class StartRecord(TypedDict):
    """First line of a session: what ran, where, with which settings.

    Fields (besides ``seq``, ``time``): ``labmnn_version``, ``host``, ``pid``,
    ``protocol`` (its name), ``protocol_kind`` (gradient, load_series, train),
    ``protocol_file``, ``network`` (its name), ``bench`` (how the devices were
    opened, e.g. ``{"sim": true, "seed": 0}``), ``overrides`` (protocol
    settings changed at the start, re-applied on resume), plus any field the
    caller put in ``Engine.start_meta``.
    """

    seq: int
    time: float
    kind: Literal["start"]
    labmnn_version: str
    host: str
    pid: int
    protocol: str
    protocol_kind: str
    protocol_file: str
    network: str
    bench: dict
    overrides: dict


class StepRecord(TypedDict):
    """A completed checkpointed step; ``data`` is reused as is on resume.

    Fields: ``key`` (e.g. ``"r0/reference"``, ``"r0/forward/0"``,
    ``"r0/adjoint-plan"``, ``"r0/gradient"``, ``"t0/update"``) and ``data``
    (see :class:`ReferenceData`, :class:`LoadingData`; plans, gradients and
    updates are described in ``docs/events.md``).
    """

    seq: int
    time: float
    kind: Literal["step"]
    key: str
    data: dict


class StopRecord(TypedDict):
    """The run ended. Fields: ``status`` (success, abort, fail) and ``reason``."""

    seq: int
    time: float
    kind: Literal["stop"]
    status: Status
    reason: str


class _Event(TypedDict):
    seq: int
    time: float
    kind: Literal["event"]


class ChecksRecord(_Event):
    """The checks passed. Fields: ``camera`` (settings as reported), ``plan``
    (the predicted plans as text), ``predicted_error`` (of the adjoint plan)."""

    name: Literal["checks"]
    camera: dict
    plan: list[str]
    predicted_error: float


class InstructionRecord(_Event):
    """An instruction shown to the operator (logged before the answer).

    Fields: ``step`` (label), ``instruction`` (hang, remove, weigh, capture,
    info), ``text``, ``node``, ``grams`` (nominal, g) and ``direction`` (unit
    pull vector); the last three are null unless a stack is involved.
    """

    name: Literal["instruction"]
    step: str
    instruction: str
    text: str
    node: int | None
    grams: float | None
    direction: list[float] | None


class WarningRecord(_Event):
    """A warning as the operator saw it. Field: ``text``."""

    name: Literal["warning"]
    text: str


class PauseRecord(_Event):
    """The run paused at a step boundary (``pause``) or went on (``resume_after_pause``)."""

    name: Literal["pause", "resume_after_pause"]


class ResumedRecord(_Event):
    """A later process took the session up. Fields: ``pid``, ``steps_done``."""

    name: Literal["resumed"]
    pid: int
    steps_done: int


class DeviceFaultRecord(_Event):
    """A device failed and the operator was asked to fix it. Fields: ``device``
    (camera, balance), ``error`` (one line)."""

    name: Literal["device_fault"]
    device: str
    error: str


class ImageRecord(_Event):
    """A photo was filed in ``raw/``. Fields: ``path`` (relative to the session),
    ``sha256``, ``bytes``, ``role``, ``key`` (``"orphan"`` for adopted files)."""

    name: Literal["image"]
    path: str
    sha256: str
    bytes: int
    role: str
    key: str


class OrphanImageRecord(_Event):
    """A file found in ``raw/`` that no image record names. Fields: ``path``, ``sha256``, ``bytes``."""

    name: Literal["orphan_image"]
    path: str
    sha256: str
    bytes: int


class CaptureRecord(_Event):
    """How a photo was taken. Fields: ``key``, ``path``, ``settings`` (camera),
    ``exif`` (tag -> text), ``truth`` (simulated rig only: e.g. ``joints_px``)."""

    name: Literal["capture"]
    key: str
    path: str
    settings: dict
    exif: dict
    truth: dict


class WeighedRecord(_Event):
    """A stack on the balance. Fields: ``step`` (label), ``node``, ``nominal_g``, ``mass_g`` (read, g)."""

    name: Literal["weighed"]
    step: str
    node: int
    nominal_g: float
    mass_g: float


class RejectedRecord(_Event):
    """A loading photo not used because joints were lost. Fields: ``key``, ``image``, ``lost_nodes``."""

    name: Literal["rejected"]
    key: str
    image: str
    lost_nodes: list[int]


class PartialFileRecord(_Event):
    """An unfinished download (``.part``...) set aside, never a photo. Fields: ``path`` (where it
    was), ``kept_as`` (under ``.partial/``), ``bytes``."""

    name: Literal["partial_file"]
    path: str
    kept_as: str
    bytes: int


class ResultsRebuiltRecord(_Event):
    """Damaged ``results.*`` written again from the log. Fields: ``reason``, ``files``."""

    name: Literal["results_rebuilt"]
    reason: str
    files: list[str]


class ConditionRecord(_Event):
    """A newly mounted print started its conditioning (logged once, when its ``condition`` step is first
    reached). Fields: ``key`` (the step), ``mounted`` (epoch s: the install step's record, else now) and
    ``seconds`` (the wait asked for); a resumed session counts the wait from ``mounted``."""

    name: Literal["condition"]
    key: str
    mounted: float
    seconds: float


EventRecord = (ChecksRecord | InstructionRecord | WarningRecord | PauseRecord | ResumedRecord | ConditionRecord
               | DeviceFaultRecord
               | ImageRecord | OrphanImageRecord | CaptureRecord | WeighedRecord | RejectedRecord
               | PartialFileRecord | ResultsRebuiltRecord)
"""A ``kind = "event"`` line of the log, told apart by ``name``."""

EventName = Literal["checks", "instruction", "warning", "pause", "resume_after_pause", "resumed", "condition",
                    "device_fault", "image", "orphan_image", "capture", "weighed", "rejected",
                    "partial_file", "results_rebuilt"]

LogRecord = StartRecord | StepRecord | StopRecord | EventRecord
"""Any line of ``log.jsonl``.  A :class:`ReadOnlySession` keeps records without ``seq`` and ``time``."""


# -------------------------------------------------------------- step data
class _ReferenceDataRequired(TypedDict):
    image: str
    sha256: str


class ReferenceData(_ReferenceDataRequired, total=False):
    """``data`` of a reference step. Fields: ``image``, ``sha256``, ``joints_px``
    ((n, 2) pixels where the tracker found the joints, when it says)."""

    joints_px: list[list[float]]


class LoadingData(TypedDict):
    """``data`` of a loading step.

    Fields: ``masses_g`` (weighed, per stack), ``image``, ``sha256``,
    ``reference`` (its reference photo), ``rejected`` (photos retaken),
    ``loading`` (the planned stacks), ``displacements_mm`` ((n, 2)),
    ``elongations_geo_mm`` ((m,)), ``confidence`` ((n,), 0..1), ``lost`` ((n,) bool).
    """

    masses_g: list[float]
    image: str
    sha256: str
    reference: str
    rejected: list[str]
    loading: dict
    displacements_mm: list[list[float]]
    elongations_geo_mm: list[float]
    confidence: list[float]
    lost: list[bool]


class IncrementData(LoadingData):
    """``data`` of an adjoint increment step (``mechanics = "nonlinear"``).

    The :class:`LoadingData` fields describe the photo with the increment
    added to the forward load (``masses_g`` the increment's stacks, ``loading``
    with its ``held`` forward stacks); besides them: ``held_masses_g`` (the
    re-hung forward stacks, weighed), ``base_image``, ``base_sha256``,
    ``base_displacements_mm`` ((n, 2)), ``base_elongations_geo_mm`` ((m,)) and
    ``base_lost`` ((n,) bool) of the forward-only photo taken just before.
    """

    held_masses_g: list[float]
    base_image: str
    base_sha256: str
    base_displacements_mm: list[list[float]]
    base_elongations_geo_mm: list[float]
    base_lost: list[bool]


# ---------------------------------------------------------------- outcome
@dataclass
class RunOutcome:
    """How :meth:`Engine.run` ended.

    Attributes
    ----------
    status : {"success", "abort", "fail"}
    reason : str
        Why it aborted or failed (empty on success).
    summary : dict
        The results summary (``summary["files"]`` names the result files);
        empty unless successful.
    session : str
        The session folder (empty when the run failed before one existed).

    The outcome also reads like the dict it used to be (``outcome["status"]``,
    ``outcome.get("summary", {})``), so callers written for that keep working.
    """

    status: Status
    reason: str = ""
    summary: dict = field(default_factory=dict)
    session: str = ""

    def to_dict(self) -> dict:
        """``{"status", "reason", "summary", "session"}`` (the summary itself, not a copy)."""
        return {k: getattr(self, k) for k in _OUTCOME_FIELDS}

    def __getitem__(self, key: str):
        if key not in _OUTCOME_FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default=None):
        """Dict-style read: the field ``key``, or ``default`` if there is no such field."""
        return getattr(self, key) if key in _OUTCOME_FIELDS else default

    def __contains__(self, key: object) -> bool:
        return key in _OUTCOME_FIELDS


_OUTCOME_FIELDS = ("status", "reason", "summary", "session")
