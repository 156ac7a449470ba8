"""From photographs to joint displacements and bond elongations.

:class:`JointTracker` locates every joint precisely in the reference photo
(disc fit, :mod:`.discs`), then follows it in each new photo: an integer search
in a predicted window (:mod:`.coarse`) seeds a sub-pixel masked-ZNSSD IC-GN
refinement on the disc's edge with the bar sectors removed (:mod:`.correlation`).
Joint pixels are undistorted as points and mapped to sample-plane millimetres;
displacements are given in the plane frame and, through a Procrustes fit of the
reference joints onto the network's nodes, in the network frame (y up).
Elongations are geometric: the change of the distance between joint centres.

A joint is reported lost (``lost[i]``, ``confidence[i] = 0``, ``reasons[i]``)
when its window leaves the frame, the search peak lies on the window's edge or
is weak, the refinement does not converge or wanders off, or the match is poor
(occlusion, a thread across it).  Lost joints carry NaN, never a wrong number.

Example
-------
>>> tracker = JointTracker(cal, net, "ref.jpg", joints_px=clicks)     # doctest: +SKIP
>>> res = tracker.track("load1.jpg")                                   # doctest: +SKIP
>>> res.elongations_mm, res.lost                                        # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from labmnn.errors import InputError
from labmnn.metrology.calibration import Calibration
from labmnn.metrology.coarse import CoarseSearch
from labmnn.metrology.correlation import ReferenceSubsets, annulus_geometry
from labmnn.metrology.discs import fit_discs
from labmnn.metrology.frames import Procrustes, fit_procrustes
from labmnn.metrology.images import as_grey

DEFAULTS = dict(
    search_px=60,        # half-size of the search window around the prediction, pixels
    margin_deg=3.0,      # angle removed on each side of a bar beyond its predicted rotation, degrees
    zncc_min=0.90,       # below: lost (poor match)
    inliers_min=0.5,     # robust weight share below: lost (occluded)
    coarse_min=0.5,      # search peak NCC below: lost
    wander_px=3.0,       # refinement moving further than this from the search: lost
    predict="previous",  # "previous" (last good position) or "reference"
    max_strain=0.2,      # a bond changing length by more than this is implausible: its joint is suspect
    sigma_max_px=0.05,   # noise-propagated uncertainty above this: lost (too little edge seen)
    plane_residual_max_mm=1.0,  # a reference joint further than this from the network's shape: suspect
    scale_check_max=0.1,  # |plane-to-network scale - 1| above this: every joint suspect (bad calibration)
)

# Allowed range of each numeric setting: (low, high), both inclusive.
_RANGES = dict(search_px=(1, 10_000), margin_deg=(0.0, 90.0), zncc_min=(0.0, 1.0),
               inliers_min=(0.0, 1.0), coarse_min=(0.0, 1.0), wander_px=(0.0, 10_000.0),
               max_strain=(0.0, 10.0), sigma_max_px=(0.0, 100.0), plane_residual_max_mm=(0.0, 1e3),
               scale_check_max=(0.0, 10.0))
_PREDICT = ("previous", "reference")


def check_settings(settings: dict, source: str = "tracker settings", prefix: str = "") -> dict:
    """Check tracker settings by name, type and range; return them unchanged.

    Parameters
    ----------
    settings : dict
        Keys of ``DEFAULTS`` with their new values.
    source, prefix : str
        Where the settings came from (a file or ``--set``) and the key prefix
        (e.g. ``"tracking."``), for the error message.

    Raises
    ------
    InputError
        Naming the setting and the value: unknown key, wrong type, out of range.

    Example
    -------
    >>> check_settings({"search_px": 80})
    {'search_px': 80}
    """
    for key, value in settings.items():
        where = f"{prefix}{key}"
        if key not in DEFAULTS:
            raise InputError(source, where, f"is not a tracker setting (known: {', '.join(sorted(DEFAULTS))})")
        if key == "predict":
            if value not in _PREDICT:
                raise InputError(source, where, f"must be one of {', '.join(_PREDICT)}, found {value!r}")
            continue
        lo, hi = _RANGES[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
        if not ok or not lo <= value <= hi:
            raise InputError(source, where, f"must be a number in [{lo:g}, {hi:g}], found {value!r}")
    return settings


@dataclass
class Reference:
    """Joints in the reference photo.

    Attributes
    ----------
    joints_px : ndarray (n, 2)
        Disc centres, distorted image pixels (x, y).
    joints_mm : ndarray (n, 2)
        The same in the sample plane, mm.
    radii_px : ndarray (n,)
    fit_rms_px : ndarray (n,)
        RMS of the disc-edge points about the fitted circle.
    """

    joints_px: np.ndarray
    joints_mm: np.ndarray
    radii_px: np.ndarray
    fit_rms_px: np.ndarray


@dataclass
class TrackResult:
    """Tracking of one photo against the reference.

    Attributes
    ----------
    joints_px : ndarray (n, 2)
        Joint centres, distorted image pixels (NaN where lost).
    joints_mm : ndarray (n, 2)
        Joint centres in the sample plane, mm.
    displacements_mm : ndarray (n, 2)
        From the reference, plane frame.
    displacements_network_mm : ndarray (n, 2)
        From the reference, network frame (y up).
    elongations_mm : ndarray (m,)
        Change of each bond's joint-to-joint distance (NaN if a joint is lost).
    confidence : ndarray (n,)
        0..1 (0 where lost).
    lost : ndarray bool (n,)
    reasons : list of str
        Why each lost joint was lost ("" when tracked).
    sigma_px : ndarray (n,)
        Standard uncertainty of each joint's position from image noise, pixels.
    seconds : float
        Tracking time (after decoding).
    """

    joints_px: np.ndarray
    joints_mm: np.ndarray
    displacements_mm: np.ndarray
    displacements_network_mm: np.ndarray
    elongations_mm: np.ndarray
    confidence: np.ndarray
    lost: np.ndarray
    reasons: list = field(default_factory=list)
    sigma_px: np.ndarray | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict:
        def js(a):
            return [None if not np.isfinite(v) else float(v) for v in a] if np.ndim(a) == 1 else \
                   [js(r) for r in a]
        return {"joints_px": js(self.joints_px), "joints_mm": js(self.joints_mm),
                "displacements_mm": js(self.displacements_mm),
                "displacements_network_mm": js(self.displacements_network_mm),
                "elongations_mm": js(self.elongations_mm),
                "confidence": [round(float(c), 4) for c in self.confidence],
                "lost": [bool(v) for v in self.lost],
                "lost_reasons": {str(i): r for i, r in enumerate(self.reasons) if r},
                "sigma_px": js(self.sigma_px) if self.sigma_px is not None else None}


class JointTracker:
    """Follow a network's joints from a reference photo through loaded photos.

    Parameters
    ----------
    calibration : Calibration or None
        Camera calibration; with a plane homography joints are mapped to plane
        mm.  Without one (or with ``None``), the plane scale comes from a
        similarity fit of the reference joints onto the network's nominal nodes.
    network : labmnn.Network
    reference_image : path or ndarray
        The unloaded photo.
    joints_px : array (n, 2), optional
        Rough joint positions in the reference (a few px off is fine), node order;
        found automatically when omitted.
    **settings
        See ``DEFAULTS``: ``search_px``, ``margin_deg``, ``zncc_min``, ``inliers_min``,
        ``coarse_min``, ``wander_px``, ``predict``.

    Example
    -------
    >>> tracker = JointTracker(None, net, ref_image, joints_px=rough)       # doctest: +SKIP
    >>> tracker.track(image).displacements_network_mm                       # doctest: +SKIP
    """

    def __init__(self, calibration: Calibration | None, network, reference_image,
                 joints_px=None, **settings):
        check_settings(settings)
        self.settings = {**DEFAULTS, **settings}
        self.calibration = calibration
        self.network = network
        ref = as_grey(reference_image)
        self.image_shape = ref.shape
        if calibration is not None and tuple(calibration.image_size) != (ref.shape[1], ref.shape[0]):
            raise InputError("--reference", "", f"image is {ref.shape[1]}x{ref.shape[0]} px but the calibration "
                                                f"is for {calibration.image_size[0]}x{calibration.image_size[1]}")
        if joints_px is None:
            from labmnn.metrology.autojoints import find_joints
            joints_px = find_joints(ref, network)
        rough = np.asarray(joints_px, float)
        if rough.shape != (network.n_nodes, 2):
            raise InputError("joints", "", f"expected {network.n_nodes} joints (x, y), got shape {rough.shape}")
        h, w = ref.shape[:2]
        outside = np.flatnonzero(~(np.isfinite(rough).all(axis=1) & (rough[:, 0] >= 0) & (rough[:, 0] < w)
                                   & (rough[:, 1] >= 0) & (rough[:, 1] < h)))
        if outside.size:
            i = int(outside[0])
            raise InputError("joints", f"node {i}", f"({rough[i, 0]:g}, {rough[i, 1]:g}) px is outside the "
                                                    f"{w}x{h} px reference photo (a lost decimal point?)")
        fit = fit_discs(ref, rough)
        moved = np.linalg.norm(fit.centres - rough, axis=1)
        bad = np.flatnonzero(~fit.ok | (moved > 0.8 * np.nan_to_num(fit.radii, nan=1e9)))
        if bad.size:
            raise InputError("--reference", f"node {int(bad[0])}",
                             f"no dark joint disc found near ({rough[bad[0], 0]:.0f}, {rough[bad[0], 1]:.0f}) px"
                             + (f" (nor for nodes {bad[1:].tolist()})" if bad.size > 1 else ""))
        radius = float(np.median(fit.radii))
        width = np.maximum(4.0, 0.25 * fit.radii)
        half = int(np.ceil(np.max(fit.radii + width))) + 1
        self._half = half
        ring, bar_deg = annulus_geometry(fit.centres, fit.radii, fit.bar_rays, half)
        self._subsets = ReferenceSubsets(ref, fit.centres, (ring & (bar_deg > 0)).astype(float), bar_deg)
        self._coarse = CoarseSearch(ref, fit.centres, half, factor=max(1, int(round(radius / 7))))
        self._plane_fallback: Procrustes | None = None
        nodes_mm = np.asarray(network.nodes, float) * 1e3
        if calibration is None or not calibration.has_plane:
            und = self._undistort(fit.centres)
            self._plane_fallback = fit_procrustes(und * [1, -1], nodes_mm, with_scale=True)
        joints_mm = self.to_plane_mm(fit.centres)
        self.reference = Reference(fit.centres.copy(), joints_mm, fit.radii.copy(), fit.rms_px.copy())
        self.plane_to_network = fit_procrustes(joints_mm, nodes_mm)
        self.scale_check = fit_procrustes(joints_mm, nodes_mm, with_scale=True).scale
        self.suspects = self._plane_suspects(joints_mm, nodes_mm)
        if self.suspects and len(self.suspects) < len(nodes_mm):  # fit again without them
            keep = np.array([i not in self.suspects for i in range(len(nodes_mm))])
            if self._plane_fallback is not None:
                self._plane_fallback = fit_procrustes(und[keep] * [1, -1], nodes_mm[keep], with_scale=True)
                joints_mm = self.to_plane_mm(fit.centres)
                self.reference = Reference(fit.centres.copy(), joints_mm, fit.radii.copy(), fit.rms_px.copy())
            self.plane_to_network = fit_procrustes(joints_mm[keep], nodes_mm[keep])
            self.scale_check = fit_procrustes(joints_mm[keep], nodes_mm[keep], with_scale=True).scale
        bonds = np.asarray(network.bonds, int)
        self._bonds = bonds
        self._bar_geometry(fit)
        bond_px = np.linalg.norm(fit.centres[bonds[:, 1]] - fit.centres[bonds[:, 0]], axis=1)
        self._retry_px = int(max(4, 0.3 * np.min(bond_px)))
        self._ref_lengths = np.linalg.norm(joints_mm[bonds[:, 1]] - joints_mm[bonds[:, 0]], axis=1)
        self._last_shift = np.zeros_like(fit.centres)

    def _plane_suspects(self, joints_mm, nodes_mm) -> dict[int, str]:
        """Joints whose reference position contradicts the network's shape: ``{node: reason}``.

        The reference joints, mapped to the sample plane, must be the network's nodes
        rigidly moved (moved and scaled when the plane's scale comes from these joints,
        without a calibrated plane).  The joint furthest from the fit is dropped and the
        fit repeated until every residual is below ``plane_residual_max_mm`` (a swapped
        or mistyped row of joints.csv); without a consistent majority, or with a scale
        check of the calibrated plane off by more than ``scale_check_max`` (a wrong
        calibration), every joint is suspect.
        """
        s = self.settings
        n = len(nodes_mm)
        self.suspect_mm: dict[int, float] = {}
        keep = np.ones(n, dtype=bool)
        out: dict[int, str] = {}
        similar = self._plane_fallback is not None  # the plane's scale itself came from these joints
        while True:
            fit = fit_procrustes(joints_mm[keep], nodes_mm[keep], with_scale=similar)
            resid = np.linalg.norm(fit.apply(joints_mm) - nodes_mm, axis=1)
            worst = int(np.argmax(np.where(keep, resid, -1.0)))
            if resid[worst] <= s["plane_residual_max_mm"]:
                break
            if keep.sum() <= max(3, n // 2):  # no consistent majority: the mapping itself is wrong
                why = (f"the reference joints do not match the network's shape (plane fit RMS "
                       f"{self.plane_to_network.rms:.3g} mm, scale check {self.scale_check:.4g})")
                if not similar and abs(self.scale_check - 1.0) > s["scale_check_max"]:
                    why = (f"plane-to-network scale check {self.scale_check:.4g} (1 expected; plane fit RMS "
                           f"{self.plane_to_network.rms:.3g} mm): the calibration (distortion, plane) does "
                           "not fit this network")
                self.suspect_mm = {}
                return dict.fromkeys(range(n), why)
            keep[worst] = False
            out[worst] = (f"off the network's shape in the reference by more than "
                          f"{s['plane_residual_max_mm']:g} mm (a wrong or swapped row of joints.csv?)")
            self.suspect_mm[worst] = float(resid[worst])
        scale = fit_procrustes(joints_mm[keep], nodes_mm[keep], with_scale=True).scale
        if not similar and (not np.isfinite(scale) or abs(scale - 1.0) > s["scale_check_max"]):
            why = (f"plane-to-network scale check {scale:.4g} (1 expected): the calibration "
                   "(distortion, plane) does not fit this network")
            self.suspect_mm = {}
            return dict.fromkeys(range(n), why)
        return out

    # ------------------------------------------------------------ mappings
    def _undistort(self, px):
        if self.calibration is None:
            return np.asarray(px, float)
        return self.calibration.undistort_points(px)

    def to_plane_mm(self, px) -> np.ndarray:
        """Distorted pixels (n, 2) -> sample-plane mm (plane frame)."""
        px = np.asarray(px, float)
        if self._plane_fallback is None:
            assert self.calibration is not None  # without a calibration the plane fallback is always set
            return self.calibration.to_plane_mm(px)
        return self._plane_fallback.apply(self._undistort(px) * [1, -1])

    def predict_px(self, displacements_network_mm) -> np.ndarray:
        """Where joints displaced by ``displacements_network_mm`` (n, 2) appear in a photo, pixels.

        The model's predicted displacements (network frame, y up, mm) are turned
        into the plane frame and mapped into distorted image pixels by inverting
        the pixel -> plane mapping about each reference joint (two Newton steps on
        its local Jacobian: sub-pixel over a few mm).  Pass the result as
        ``track(image, predicted_px=...)`` so each joint's search is centred where
        the load being hung should have taken it (DLTdv-style prediction).
        """
        d_net = np.asarray(displacements_network_mm, float).reshape(-1, 2)
        target = self.reference.joints_mm + d_net @ self.plane_to_network.rotation
        px = self.reference.joints_px.copy()
        h = 0.5
        for _ in range(2):
            mm0 = self.to_plane_mm(px)
            jx = (self.to_plane_mm(px + [h, 0.0]) - mm0) / h
            jy = (self.to_plane_mm(px + [0.0, h]) - mm0) / h
            J = np.stack([jx, jy], axis=-1)  # (n, 2 mm, 2 px)
            px = px + np.linalg.solve(J, (target - mm0)[..., None])[..., 0]
        return px

    @property
    def plane_source(self) -> str:
        return "calibration" if self._plane_fallback is None else "network-similarity"

    def describe(self) -> dict:
        """What result.json records about the reference and the frames."""
        return {"joints_px": self.reference.joints_px.tolist(),
                "joints_mm": self.reference.joints_mm.tolist(),
                "radii_px": self.reference.radii_px.tolist(),
                "plane_source": self.plane_source,
                "plane_to_network": {**self.plane_to_network.to_dict(), "scale_check": self.scale_check}}

    # ------------------------------------------------------------ tracking
    def _attempt(self, img, pred, search_px):
        """Search and refine every joint; the loss checks of one attempt."""
        s = self.settings
        n = len(pred)
        coarse = self._coarse.search(img, pred, search_px, s["coarse_min"])
        fine = self._subsets.refine(img, coarse.shift, margin_deg=s["margin_deg"],
                                    keep=self._keep_for(coarse.shift))
        wander = np.linalg.norm(fine.shift - coarse.shift, axis=1)
        checks = [
            (coarse.status == "outside", "search window leaves the frame"),
            (coarse.status == "edge", "joint not inside the search window (moved too far?)"),
            (coarse.status == "weak", "joint not recognised in the search window"),
            (~fine.inside, "joint too close to the frame's edge"),
            (~fine.converged, "sub-pixel refinement did not converge"),
            (wander > s["wander_px"], "sub-pixel refinement wandered off"),
            (fine.zncc < s["zncc_min"], "poor match (occluded or changed)"),
            (fine.inlier_fraction < s["inliers_min"], "partly covered (a thread or object across it)"),
            (~(fine.sigma_px <= s["sigma_max_px"]), "too little of the disc's edge visible (bars turned?)"),
        ]
        lost = np.zeros(n, bool)
        reasons = [""] * n
        for mask, why in checks:
            for i in np.flatnonzero(mask & ~lost):
                reasons[i] = why
            lost |= mask
        return coarse, fine, lost, reasons

    def _inconsistent(self, shift, lost, expected=None) -> np.ndarray:
        """Joints whose bonds changed length by more than ``max_strain`` (implausible for the
        network), found greedily: the joint with the most such bonds is set aside, then the
        bonds are counted again, until no implausible bond is left.  ``expected`` shifts (a
        model's prediction) replace the reference as the lengths the bonds should have."""
        b = self._bonds
        c0 = self.reference.joints_px
        c1 = c0 + shift
        if expected is not None:
            c0 = c0 + expected
        L0 = np.linalg.norm(c0[b[:, 1]] - c0[b[:, 0]], axis=1)
        L1 = np.linalg.norm(c1[b[:, 1]] - c1[b[:, 0]], axis=1)
        implausible = ~(np.abs(L1 / L0 - 1) <= self.settings["max_strain"])
        n = len(c0)
        out = np.zeros(n, bool)
        gone = lost.copy()
        while True:
            wrong = implausible & ~gone[b[:, 0]] & ~gone[b[:, 1]]
            if not wrong.any():
                return out
            count = np.bincount(b[wrong].ravel(), minlength=n)
            worst = int(np.argmax(count))
            out[worst] = gone[worst] = True

    def _next_prediction(self, shift, lost) -> np.ndarray:
        """Shifts to search around next time: tracked joints where they are; a lost joint
        where its tracked neighbours (by bond) moved on average, else where it was last seen."""
        b = self._bonds
        good = np.where(lost[:, None], 0.0, shift)
        total = np.zeros_like(shift)
        count = np.zeros(len(shift))
        for a, c in ((0, 1), (1, 0)):
            np.add.at(total, b[:, a], good[b[:, c]])
            np.add.at(count, b[:, a], (~lost)[b[:, c]])
        neighbours = total / np.maximum(count, 1)[:, None]
        fallback = np.where((count > 0)[:, None], neighbours, self._last_shift)
        return np.where(lost[:, None], fallback, shift)

    def _bar_geometry(self, fit) -> None:
        """Per joint, its bonds (slots padded with -1), their directions in the reference
        and the angular half-width of each bar where it meets the disc (degrees)."""
        b = self._bonds
        n = len(fit.centres)
        ends = np.concatenate([b[:, 0], b[:, 1]])
        others = np.concatenate([b[:, 1], b[:, 0]])
        bond_ids = np.concatenate([np.arange(len(b))] * 2)
        order = np.argsort(ends, kind="stable")
        ends, others, bond_ids = ends[order], others[order], bond_ids[order]
        count = np.bincount(ends, minlength=n)
        slot = np.arange(len(ends)) - np.repeat(np.cumsum(count) - count, count)
        B = max(int(count.max()), 1)
        self._slot_bond = np.full((n, B), -1)
        self._slot_bond[ends, slot] = bond_ids
        self._slot_sign = np.zeros((n, B))
        self._slot_sign[ends, slot] = 1.0
        d = fit.centres[others] - fit.centres[ends]
        phi = np.full((n, B), np.nan)
        phi[ends, slot] = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
        # half-width: flagged rays within 30 degrees of the bar's direction, contiguous with it
        k = fit.bar_rays.shape[1]
        ray_deg = np.arange(k) * 360.0 / k
        gap = np.abs((ray_deg[None, None, :] - np.nan_to_num(phi)[:, :, None] + 180.0) % 360.0 - 180.0)
        near = (gap <= 30.0) & fit.bar_rays[:, None, :]
        hw = np.where(near, gap, 0.0).max(axis=2) + 360.0 / k
        self._slot_phi = phi
        self._slot_hw = np.where(np.isfinite(phi), hw, 0.0)

    def _keep_for(self, shift) -> np.ndarray:
        """Packed pixels to keep in this image: those outside every bar's sector swept from
        its reference direction to its direction predicted from the search's shifts."""
        c = self.reference.joints_px
        b = self._bonds
        d0 = c[b[:, 1]] - c[b[:, 0]]
        d1 = d0 + shift[b[:, 1]] - shift[b[:, 0]]
        turn = np.degrees(np.arctan2(d0[:, 0] * d1[:, 1] - d0[:, 1] * d1[:, 0], np.sum(d0 * d1, 1)))
        turn = np.nan_to_num(turn, nan=0.0)
        has = self._slot_bond >= 0
        theta = np.where(has, turn[np.maximum(self._slot_bond, 0)], 0.0)      # (n, B) signed degrees
        lo = np.where(theta < 0, theta, 0.0)
        hi = np.where(theta > 0, theta, 0.0)
        ang = self._subsets.angle_p[:, :, None]                               # (n, L, 1)
        rel = (ang - np.nan_to_num(self._slot_phi)[:, None, :] + 180.0) % 360.0 - 180.0
        # angular distance from each pixel to the swept arc [lo, hi]
        dist = np.maximum(np.maximum(lo[:, None, :] - rel, rel - hi[:, None, :]), 0.0)
        blocked = has[:, None, :] & (dist <= self._slot_hw[:, None, :] + self.settings["margin_deg"])
        return ~blocked.any(axis=2)

    def track(self, image, predicted_px=None, from_model: bool = False) -> TrackResult:
        """Track every joint in ``image`` (path or array).

        Parameters
        ----------
        image : path or ndarray
        predicted_px : array (n, 2), optional
            Where the joints are expected (e.g. :meth:`predict_px` of the model's
            displacements under the load hung); default: their last good
            positions (``predict="previous"``) or the reference.
        from_model : bool
            ``predicted_px`` comes from a mechanical model of the load hung: bonds
            are then judged implausible (``max_strain``) against the predicted
            lengths, not the reference's, so a load that really stretches bars
            far (the whole weight set) is not taken for a mismatch.
        """
        img = as_grey(image)
        t0 = time.perf_counter()
        s = self.settings
        n = self.network.n_nodes
        reasons = [""] * n
        if img.shape != self.image_shape:
            raise InputError("IMAGE", "", f"image is {img.shape[1]}x{img.shape[0]} px, the reference "
                                          f"{self.image_shape[1]}x{self.image_shape[0]}")
        expected = None
        if predicted_px is not None:
            pred = np.asarray(predicted_px, float) - self.reference.joints_px
            if from_model:
                expected = pred
        elif s["predict"] == "previous":
            pred = self._last_shift
        else:
            pred = np.zeros((n, 2))
        coarse, fine, lost, reasons = self._attempt(img, pred, s["search_px"])
        bad = self._inconsistent(fine.shift, lost, expected)
        if bad.any():
            # second chance for joints that disagree with their neighbours (a neighbour's
            # look-alike caught in a wide window): search again, near where the neighbours went
            retry_pred = np.where(bad[:, None], self._next_prediction(fine.shift, lost | bad), fine.shift)
            c2, f2, l2, r2 = self._attempt(img, retry_pred, min(s["search_px"], self._retry_px))
            take = bad & ~l2
            coarse.shift[take], fine.shift[take] = c2.shift[take], f2.shift[take]
            for name in ("zncc", "inlier_fraction", "sigma_px"):
                getattr(fine, name)[take] = getattr(f2, name)[take]
            still = self._inconsistent(fine.shift, lost | (bad & l2), expected)
            for i in np.flatnonzero(bad & (l2 | still)):
                lost[i] = True
                reasons[i] = "disagrees with its neighbours (a look-alike was matched?)"
        for j, why in self.suspects.items():
            lost[j] = True
            reasons[j] = why
        conf_match = np.clip((fine.zncc - s["zncc_min"]) / (1 - s["zncc_min"]), 0, 1)
        conf_cover = np.clip((fine.inlier_fraction - s["inliers_min"]) / (1.0 - s["inliers_min"]), 0, 1)
        confidence = np.where(lost, 0.0, np.sqrt(conf_match) * conf_cover)
        px = self.reference.joints_px + fine.shift
        px[lost] = np.nan
        mm = np.full_like(px, np.nan)
        if (~lost).any():
            mm[~lost] = self.to_plane_mm(px[~lost])
        disp = mm - self.reference.joints_mm
        disp_net = self.plane_to_network.rotate(disp)
        b = self._bonds
        elong = np.linalg.norm(mm[b[:, 1]] - mm[b[:, 0]], axis=1) - self._ref_lengths
        self._last_shift = self._next_prediction(fine.shift, lost)
        sigma = np.where(lost, np.nan, fine.sigma_px)
        return TrackResult(px, mm, disp, disp_net, elong, confidence, lost, reasons, sigma,
                           time.perf_counter() - t0)
