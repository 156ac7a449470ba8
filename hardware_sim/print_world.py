"""The print world: what a printed network has and the bar model lacks.

A :class:`PrintWorld` stands for one printer, one material and one design
family.  :meth:`PrintWorld.reprint` makes a new print of some bar widths;
:meth:`PrintWorld.measure` hangs forces on the current print and returns the
joint displacements the camera would track, in the *fast measurement mode*:
the exact (large-rotation) equilibrium of the print's true stiffness plus
calibrated noise, no rendering.  :meth:`PrintWorld.truth` is the same response
without noise or weight errors (scoring only; it costs no bench time).

What the print has (every default is listed in :class:`PrintWorldParams` with
its source or the assumption behind it):

- a per-bond stiffness error that belongs to the printer and the design
  layout, the same on every print (``stiffness_error``);
- fresh per-bond variation on every reprint (``reprint_variation``);
- bending stiffness of the printed joints: the bars are Euler-Bernoulli beams
  joined rigidly (``joint_fixity`` = 1) instead of the model's pin joints; the
  joint rotations are condensed out, leaving a linear stiffness on the joint
  displacements that adds to the exact axial bar forces;
- creep: the modulus drifts down with the print's time on the bench,
  ``1 - creep_per_decade * log10(1 + age / creep_onset_s)``;
- mass errors of the hung weights (fresh draw per loading);
- tracking noise on every joint coordinate.

The equilibrium is solved by Newton's method, batched over loadings, with
dense matrices: meant for bench-sized networks (up to a few hundred nodes).

Example
-------
>>> from labmnn.model.network import Network
>>> net = Network.example("paper-triangle-n4")
>>> world = PrintWorld(net, PrintWorldParams(stiffness_error=0.0, reprint_variation=0.0, joint_fixity=0.0,
...                    creep_per_decade=0.0, mass_error=0.0, tracking_noise_m=0.0))
>>> world.reprint(net.width)
>>> F = np.zeros((1, 14, 2)); F[0, 12, 1] = -0.098
>>> round(float(world.measure(F)[0, 13, 1]) * 1e3, 3)
-0.784
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from hardware_sim.mechanics import NoEquilibrium
from hardware_sim.printing import design_stiffness
from labmnn.errors import InputError


@dataclass(frozen=True)
class PrintWorldParams:
    """The print world's parameters (SI units).

    Attributes
    ----------
    stiffness_error : float
        Half-width of the uniform per-bond stiffness error (true / design - 1)
        that is the same on every print of this world: 0.10, the +-10 % of the
        issue's scratch study.  Assumption: a printer's dimensional bias on a
        2 mm bar (+-0.05-0.1 mm on FDM / PolyJet parts) plus local modulus
        variation; the CLI's ``--mismatch`` sets it.
    reprint_variation : float
        Standard deviation of the fresh per-bond factor each print adds:
        0.005.  Assumption: a printer repeats the same G-code much better than
        it reaches the nominal size (repeatability ~0.01 mm on 2 mm bars).
    joint_fixity : float
        0 = pin joints (the bar model), 1 = rigid printed joints; scales the
        bars' bending stiffness E t w^3 / 12 (Euler-Bernoulli).  Default 1:
        the joints are printed discs, monolithic with the bars.  For the paper
        network (w / L = 2 / 16) a bar's end-to-end transverse stiffness is
        (w / L)^2 = 1.6 % of its axial stiffness.
    creep_per_decade : float
        Modulus lost per decade of bench time (viscoelastic creep): 0.01.
        Assumption (not measured here): elastomeric photopolymers at low
        stress creep by about a percent per decade of time.
    creep_onset_s : float
        Time scale of the creep law, s: 60.
    mass_error : float
        Relative standard deviation of a hung stack's true mass: 0.003, the
        simulated weight set's (:class:`hardware_sim.weights.SimWeightSet`);
        OIML R111 class M2/M3 pieces of 1-10 g are allowed 0.1-1 %.
    tracking_noise_m : float
        Standard deviation of each tracked joint coordinate: 1e-6 m, as
        measured for the simulated rig's tracker (docs/metrology.md: 1.1 um
        RMS on bond elongations).
    seconds_per_loading : float
        Bench time of one loading (hang, settle, photograph, unhang) used to
        age the print: 60 s, a stated estimate for weights hung by hand.
    score_age_s : float
        Age at which :meth:`PrintWorld.truth` scores a print: 600 s, a print
        in use that has settled (about ten loadings); training sees ages from
        0 to the time between reprints.
    """

    stiffness_error: float = 0.10
    reprint_variation: float = 0.005
    joint_fixity: float = 1.0
    creep_per_decade: float = 0.01
    creep_onset_s: float = 60.0
    mass_error: float = 0.003
    tracking_noise_m: float = 1e-6
    seconds_per_loading: float = 60.0
    score_age_s: float = 600.0

    def __post_init__(self):
        if not 0.0 <= self.stiffness_error <= 0.5:
            raise InputError("--mismatch", "", f"must be in [0, 0.5], found {self.stiffness_error!r}")
        for f in fields(self):
            v = getattr(self, f.name)
            if not np.isfinite(v) or v < 0:
                raise InputError("print world", f.name, f"must be a finite number >= 0, found {v!r}")
        if self.reprint_variation >= 0.3 or self.joint_fixity > 1 or self.creep_per_decade >= 0.5:
            raise InputError("print world", "", f"parameters out of range: {self!r}")
        if self.creep_onset_s <= 0:
            raise InputError("print world", "creep_onset_s", f"must be > 0, found {self.creep_onset_s!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class PrintWorld:
    """Prints of one design family on one printer, measured on a simulated bench.

    Parameters
    ----------
    design : Network
        The design (geometry, modulus, thickness); its widths are replaced on
        every :meth:`reprint`.
    params : PrintWorldParams
    seed : int
        Fixes the systematic per-bond error of this world; reprints and
        measurements draw from streams derived from it.

    Attributes
    ----------
    prints : int
        Prints made so far.
    current : int
        Number of the mounted print (1 = the first; earlier prints stay on the shelf, :meth:`remount`).
    loadings : int
        Loadings measured so far (calls of :meth:`truth` are not counted).
    age_s : float
        Bench time of the current print, s.
    """

    def __init__(self, design, params: PrintWorldParams | None = None, seed: int = 0):
        self.params = params or PrintWorldParams()
        self.seed = int(seed)
        self.net = design.copy()
        m = self.net.n_bonds
        p = self.params
        self.systematic = 1.0 + p.stiffness_error * np.random.default_rng([self.seed, 13, 1]).uniform(-1, 1, m)
        self._noise = np.random.default_rng([self.seed, 13, 3])
        self.prints = 0
        self.current = 0
        self.loadings = 0
        self.age_s = 0.0
        self.fresh = np.ones(m)
        self._bending = None
        self._shelf: dict[int, tuple] = {}  # print number -> (widths, fresh factors, bench age)

    # ------------------------------------------------------------- printing
    def reprint(self, widths) -> None:
        """Print the design with ``widths`` (m) and mount it; the new print starts fresh (no creep)."""
        w = np.asarray(widths, dtype=float)
        if w.shape != (self.net.n_bonds,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise InputError("print", "widths", f"need {self.net.n_bonds} positive widths, found shape {w.shape}")
        self._shelve()
        self.net.set_widths(w)
        self.prints += 1
        self.current = self.prints
        rng = np.random.default_rng([self.seed, 13, 2, self.prints])
        self.fresh = 1.0 + self.params.reprint_variation * rng.standard_normal(self.net.n_bonds)
        self.age_s = 0.0
        self._bending = None

    def _shelve(self) -> None:
        if self.prints:
            self._shelf[self.current] = (self.net.width.copy(), self.fresh.copy(), self.age_s)

    def remount(self, number: int) -> None:
        """Mount print ``number`` (1 = the first) again: the same object, its age carried on, nothing printed."""
        if number == self.current:
            return
        if number not in self._shelf:
            raise InputError("print world", "remount", f"there is no print {number} (made: {self.prints})")
        self._shelve()
        w, self.fresh, self.age_s = self._shelf.pop(number)
        self.net.set_widths(w)
        self.current = number
        self._bending = None

    def wait(self, seconds: float) -> None:
        """Leave the mounted print unloaded for ``seconds``: it ages (creeps on), nothing is measured."""
        s = float(seconds)
        if not np.isfinite(s) or s < 0:
            raise InputError("print world", "wait", f"must be a finite number of seconds >= 0, found {seconds!r}")
        if self.prints == 0:
            raise InputError("print world", "", "nothing is printed yet: reprint(widths) first")
        self.age_s += s

    @property
    def factor(self) -> np.ndarray:
        """True / design stiffness per bond of the current print (creep not included)."""
        return self.systematic * self.fresh

    def creep_factor(self, age_s) -> np.ndarray:
        """Modulus factor after ``age_s`` seconds on the bench."""
        p = self.params
        return 1.0 - p.creep_per_decade * np.log10(1.0 + np.asarray(age_s, dtype=float) / p.creep_onset_s)

    def true_stiffness(self, age_s: float | None = None) -> np.ndarray:
        """Axial stiffness per bond (N/m) of the current print at ``age_s`` (default: its age now)."""
        age = self.age_s if age_s is None else age_s
        return design_stiffness(self.net) * self.factor * float(self.creep_factor(age))

    # ------------------------------------------------------------ measuring
    def _check(self, forces) -> np.ndarray:
        if self.prints == 0:
            raise InputError("print world", "", "nothing is printed yet: reprint(widths) first")
        F = np.asarray(forces, dtype=float)
        if F.ndim != 3 or F.shape[1:] != (self.net.n_nodes, 2):
            raise ValueError(f"forces must have shape (S, {self.net.n_nodes}, 2), got {F.shape}")
        return F

    def measure(self, forces) -> np.ndarray:
        """Hang each of ``forces`` (S, n, 2) N in turn; tracked displacements (S, n, 2) m.

        Every row is one loading: it costs ``seconds_per_loading`` of bench
        time (the print creeps meanwhile), its stacks weigh what their pieces
        weigh, and the tracker adds its noise.
        """
        F = self._check(forces)
        p = self.params
        S = len(F)
        ages = self.age_s + p.seconds_per_loading * np.arange(S)
        k = (design_stiffness(self.net) * self.factor)[None] * self.creep_factor(ages)[:, None]
        mass = 1.0 + p.mass_error * self._noise.standard_normal((S, self.net.n_nodes, 1))
        U = self._solve(F * mass, k)
        U = U + p.tracking_noise_m * self._noise.standard_normal(U.shape)
        self.loadings += S
        self.age_s += p.seconds_per_loading * S
        return U

    def truth(self, forces) -> np.ndarray:
        """Noise-free displacements (S, n, 2) of the current print, settled (``score_age_s``); not counted."""
        F = self._check(forces)
        k = np.broadcast_to(self.true_stiffness(self.params.score_age_s), (len(F), self.net.n_bonds))
        return self._solve(F, k)

    # ------------------------------------------------------------ mechanics
    def bending_matrix(self) -> np.ndarray:
        """(2n, 2n) stiffness of the joints' bending on the joint displacements (rotations condensed)."""
        if self._bending is None:
            self._bending = bending_stiffness(self.net, self.params.joint_fixity, self.factor)
        return self._bending

    def _solve(self, F: np.ndarray, k: np.ndarray) -> np.ndarray:
        return equilibrium(self.net, F, k, self.bending_matrix())


def bending_stiffness(net, fixity: float, factor=None) -> np.ndarray:
    """Bending of rigidly joined bars, condensed onto the joint displacements, (2n, 2n).

    Each bar is an Euler-Bernoulli beam of bending stiffness
    ``fixity * factor_b * E t w^3 / 12`` between two joints that rotate freely
    (one rotation per joint, shared by its bars); the rotations carry no load
    and are eliminated exactly (static condensation).
    """
    n, m = net.n_nodes, net.n_bonds
    K = np.zeros((3 * n, 3 * n))  # translations 0..2n-1, rotations 2n..3n-1
    if fixity == 0:
        return K[:2 * n, :2 * n]
    f = np.ones(m) if factor is None else np.asarray(factor, dtype=float)
    EI = fixity * f * net.youngs_modulus * net.thickness * net.width ** 3 / 12.0
    L = net.lengths
    p = np.stack([-net.directions[:, 1], net.directions[:, 0]], axis=1)  # transverse unit vectors
    for b in range(m):
        i, j = net.bonds[b]
        c = EI[b] / L[b] ** 3
        ke = c * np.array([[12, 6 * L[b], -12, 6 * L[b]],
                           [6 * L[b], 4 * L[b] ** 2, -6 * L[b], 2 * L[b] ** 2],
                           [-12, -6 * L[b], 12, -6 * L[b]],
                           [6 * L[b], 2 * L[b] ** 2, -6 * L[b], 4 * L[b] ** 2]])
        T = np.zeros((4, 3 * n))  # local (v_i, th_i, v_j, th_j) from global DOFs
        T[0, 2 * i:2 * i + 2] = p[b]
        T[1, 2 * n + i] = 1.0
        T[2, 2 * j:2 * j + 2] = p[b]
        T[3, 2 * n + j] = 1.0
        K += T.T @ ke @ T
    Ktt, Ktr, Krr = K[:2 * n, :2 * n], K[:2 * n, 2 * n:], K[2 * n:, 2 * n:]
    return Ktt - Ktr @ np.linalg.solve(Krr, Ktr.T)


def equilibrium(net, F: np.ndarray, k: np.ndarray, bending: np.ndarray, tol: float = 1e-11,
                max_iter: int = 40) -> np.ndarray:
    """See :func:`_newton`; a load Newton's method misses from rest is applied in 4, then 16 steps."""
    u, ok = _newton(net, F, k, bending, np.zeros((F.shape[0], 2 * net.n_nodes)), tol, max_iter)
    for n_steps in (4, 16):
        if ok:
            return u.reshape(F.shape)
        u = np.zeros((F.shape[0], 2 * net.n_nodes))
        for t in range(1, n_steps + 1):
            u, ok = _newton(net, F * (t / n_steps), k, bending, u, tol, max_iter)
            if not ok:
                break
    if ok:
        return u.reshape(F.shape)
    raise NoEquilibrium(f"{net.name}: the print found no equilibrium under these loads (largest force "
                        f"{float(np.abs(F).max()):.3g} N)")


def _newton(net, F, k, bending, u, tol, max_iter):
    """Exact equilibrium of bars T = k (l - L) plus a linear ``bending`` stiffness, batched.

    Parameters
    ----------
    F : ndarray (S, n, 2)
        Forces, N.
    k : ndarray (S, m)
        Axial stiffness per loading and bond, N/m.
    bending : ndarray (2n, 2n)

    Returns
    -------
    ndarray (S, n, 2)
        Displacements, m (zero on fixed nodes).

    Raises
    ------
    NoEquilibrium
        When Newton's method does not converge (collapse, snap-through).
    """
    S, n = F.shape[0], net.n_nodes
    N = 2 * n
    free = net.free_dofs
    i, j = net.bonds[:, 0], net.bonds[:, 1]
    dofs = np.stack([2 * i, 2 * i + 1, 2 * j, 2 * j + 1], axis=1)  # (m, 4)
    slot = (dofs[:, :, None] * N + dofs[:, None, :]).reshape(len(i), 16)
    offsets = (np.arange(S) * N * N)[:, None, None]
    Fd = F.reshape(S, N)
    u = u.copy()
    # accepted residual: relative to the load, floored at round-off of the stiffest bond's force
    scale = np.maximum(np.abs(Fd).max(axis=1), 100.0 * float(np.max(k * net.lengths[None])) * 1e-13 / tol)
    Kb = bending[np.ix_(free, free)]
    for _ in range(max_iter):
        U = u.reshape(S, n, 2)
        d = (net.nodes[j] - net.nodes[i])[None] + U[:, j] - U[:, i]
        length = np.hypot(d[..., 0], d[..., 1])
        if not np.all(np.isfinite(length)) or np.any(length < 1e-3 * net.lengths):
            break
        nv = d / length[..., None]
        T = k * (length - net.lengths[None])
        g = np.zeros((S, n, 2))
        pull = T[..., None] * nv
        np.add.at(g, (slice(None), i), -pull)
        np.add.at(g, (slice(None), j), pull)
        r = (Fd - g.reshape(S, N) - u @ bending.T)[:, free]
        if np.all(np.abs(r).max(axis=1) <= tol * scale):
            return u, True
        nn = nv[..., :, None] * nv[..., None, :]
        blk = k[..., None, None] * nn + (T / length)[..., None, None] * (np.eye(2) - nn)
        full = np.concatenate([np.concatenate([blk, -blk], axis=3), np.concatenate([-blk, blk], axis=3)], axis=2)
        Kt = np.bincount((slot[None] + offsets).ravel(), weights=full.reshape(S, -1, 16).ravel(),
                         minlength=S * N * N).reshape(S, N, N)
        Kf = Kt[:, free][:, :, free] + Kb[None]
        try:
            du = np.linalg.solve(Kf, r[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break
        u[:, free] += du
    return u, False
