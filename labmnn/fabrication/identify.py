"""Stiffness identification: fit the printed network's stiffness to measured load series.

A printed prototype differs from its design: the material's modulus is not the
datasheet's, and every bar comes out a little wider or thinner.  From measured
load cases (forces hung, joint displacements tracked) this module fits

1. the effective Young's modulus, one number: displacements scale as 1/E, so
   the least-squares factor has a closed form;
2. per-bond stiffness corrections ``k_b = c * k_b0 * exp(theta_b)``, by
   minimising the mean squared displacement misfit plus a Tikhonov penalty
   ``lam * mean(theta**2)`` (pulling corrections toward 1) with L-BFGS-B.  The
   gradient is the exact adjoint one: :meth:`Network.gradient` with the misfit
   as loss gives dL/dk, and dL/dtheta = k * dL/dk.  The weight ``lam`` is
   chosen by K-fold cross-validation over load cases.

Load cases set aside (``holdout``) are never fitted; the prediction error on
them, before and after identification, is what :class:`Identification` reports.

``mechanics="nonlinear"`` fits the exact (large-rotation) bar model
(:mod:`labmnn.model.nonlinear`) instead of the linear one.  Displacements then no
longer scale as 1/E, so the modulus is refined by Gauss-Newton from the linear
closed form (du/dlog c = -K_t^-1 F at the equilibrium), and the Jacobian of the
per-bond fit is the tangent one, du/dk_b = -K_t^-1 C(u)^T e_b (l_b - L_b).
A linear fit checks its own residuals against the exact-minus-linear
prediction: when they follow it (:data:`STRUCTURE_CORRELATION`), the linear
model has folded the rotations into the stiffness, and the report says so
(:attr:`Identification.nonlinear_structure`).

Example
-------
>>> net = Network.example("paper-triangle-n4")
>>> F = np.zeros((3, net.n_nodes, 2)); F[0, 12, 1] = F[1, 13, 1] = F[2, 9, 1] = -0.098
>>> U = net.solve(F, stiffness=net.stiffness * 0.8).displacements
>>> cases = [LoadCase(F[s], U[s], None, f"c{s}") for s in range(3)]
>>> ident = identify(net, cases, per_bond=False, holdout=0)
>>> round(ident.modulus_factor, 3)
0.8
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labmnn.errors import InputError
from labmnn.fabrication.load_series import LoadCase, as_load_cases, stack_cases
from labmnn.model.network import Network, check_mechanics
from labmnn.model.nonlinear import NoEquilibrium, NonlinearStatics, bar_state

__all__ = ["LoadCase", "Identification", "identify", "prediction_errors", "residual_structure"]

DEFAULT_LAMBDAS = tuple(10.0 ** np.arange(-5.0, 1.01, 0.5))
LOG_BOUND = np.log(4.0)  # corrections stay within x0.25 .. x4
STRUCTURE_CORRELATION = 0.5  # linear-fit residuals this correlated with (exact - linear) show unmodelled rotation ...
STRUCTURE_FLOOR = 1e-3  # ... when that part of them is at least this fraction of the measured displacements (RMS)


@dataclass
class ModelErrors:
    """Displacement prediction errors of one model (metres), on fitted and held-out cases."""

    fit_rms: float
    fit_max: float
    heldout_rms: float | None
    heldout_max: float | None

    def as_dict(self) -> dict:
        um = lambda v: None if v is None else float(v) * 1e6  # noqa: E731
        return {"fit_rms_um": um(self.fit_rms), "fit_max_um": um(self.fit_max),
                "heldout_rms_um": um(self.heldout_rms), "heldout_max_um": um(self.heldout_max)}


@dataclass
class Identification:
    """Result of :func:`identify`.

    Attributes
    ----------
    network : Network
        The identified network: ``youngs_modulus`` set to the effective modulus and
        ``stiffness_override`` to the identified stiffnesses (saved as ``stiffness_n_per_m``).
    youngs_modulus_pa : float
        Effective Young's modulus (nominal modulus times ``modulus_factor``).
    modulus_factor : float
        Fitted global stiffness factor c.
    corrections : ndarray (m,)
        Per-bond factors exp(theta) on top of c (all 1 without ``per_bond``).
    stiffness_n_per_m : ndarray (m,)
        Identified stiffness per bond.
    regularization : float
        The Tikhonov weight used.
    scan : list of (float, float)
        (weight, cross-validated RMS error in metres) for each weight tried.
    errors : dict of str -> ModelErrors
        ``"nominal"`` (the design as given), ``"modulus"`` (effective modulus only) and
        ``"identified"``.
    improvement : float or None
        Held-out RMS error of the nominal model over that of the identified model.
    fit_labels, heldout_labels : list of str
    mechanics : {"linear", "nonlinear"}
        The bar model fitted.
    nonlinear_structure : dict or None
        Linear fits only: how the fit's residuals on the fitted cases line up with
        the exact-minus-linear prediction of the identified model
        (``correlation``, ``residual_rms_um``, ``exact_minus_linear_rms_um``,
        ``structured``: correlation >= :data:`STRUCTURE_CORRELATION`).
    """

    network: Network
    youngs_modulus_pa: float
    modulus_factor: float
    corrections: np.ndarray
    stiffness_n_per_m: np.ndarray
    regularization: float
    scan: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)
    improvement: float | None = None
    improvement_over_modulus: float | None = None
    fit_labels: list = field(default_factory=list)
    heldout_labels: list = field(default_factory=list)
    refit_all: bool = False
    mechanics: str = "linear"
    nonlinear_structure: dict | None = None
    uncertainty: np.ndarray | None = None

    @property
    def structured_residuals(self) -> bool:
        """Whether a linear fit's residuals follow the rotation it does not model."""
        return bool(self.nonlinear_structure and self.nonlinear_structure.get("structured"))

    def summary(self) -> dict:
        """A JSON-ready digest (micrometres for errors)."""
        return {
            "mechanics": self.mechanics,
            "youngs_modulus_pa": self.youngs_modulus_pa,
            "modulus_factor": self.modulus_factor,
            "corrections": {"min": float(self.corrections.min()), "max": float(self.corrections.max()),
                            "rms_log": float(np.sqrt(np.mean(np.log(self.corrections) ** 2)))},
            "regularization": self.regularization,
            "regularization_scan": [[float(a), float(b) * 1e6] for a, b in self.scan],
            "errors": {k: v.as_dict() for k, v in self.errors.items()},
            "heldout_improvement": self.improvement,
            "heldout_improvement_over_modulus_only": self.improvement_over_modulus,
            "fit_cases": list(self.fit_labels),
            "heldout_cases": list(self.heldout_labels),
            "written_model_refit_on_all_cases": self.refit_all,
            "linear_residual_structure": self.nonlinear_structure,
            "per_bond": [{"bond": b, "nodes": [int(i), int(j)], "identified_n_per_m": float(k),
                          "correction": float(c), "uncertainty_n_per_m": None if u is None else float(u * k)}
                         for b, ((i, j), k, c, u) in enumerate(zip(self.network.bonds, self.stiffness_n_per_m,
                                                                    self.corrections, self._relative_uncertainty()))],
        }

    def _relative_uncertainty(self) -> list:
        if self.uncertainty is None:
            return [None] * len(self.corrections)
        return [float(u) for u in self.uncertainty]


class _Misfit:
    """Mean squared displacement misfit over the measured free components, as a loss.

    Called as a loss by :meth:`Network.gradient` (which averages over the batch), so
    each sample's value is scaled by S / N to make the batch mean the mean over all
    N measured components.
    """

    def __init__(self, measured: np.ndarray, weight: np.ndarray):
        self.measured = measured
        self.weight = weight
        self.scale = len(measured) / max(weight.sum(), 1.0)

    def __call__(self, u):
        r = (u - self.measured) * self.weight
        value = self.scale * np.sum(r * r, axis=(1, 2))
        return value, 2.0 * self.scale * r


def _weights(net: Network, V: np.ndarray) -> np.ndarray:
    """(S, n, 2) 0/1 weights: valid measurements on free nodes."""
    free = np.ones(net.n_nodes, dtype=bool)
    free[net.fixed_nodes] = False
    return np.repeat((V & free)[..., None], 2, axis=-1).astype(float)


def prediction_errors(net: Network, stiffness: np.ndarray, F, U, W,
                      mechanics: str = "linear") -> tuple[float, float]:
    """RMS and largest displacement error (metres) of the model over the weighted components."""
    if len(F) == 0 or W.sum() == 0:
        return float("nan"), float("nan")
    r = (net.solve(F, stiffness=stiffness, mechanics=mechanics).displacements - U) * W
    dist = np.hypot(r[..., 0], r[..., 1])
    return float(np.sqrt(np.sum(r * r) / W.sum())), float(dist.max())


def _modulus_factor(net: Network, k0: np.ndarray, F, U, W, source: str = "load series",
                    mechanics: str = "linear") -> float:
    """Least-squares global factor c of the stiffness.

    Linear: closed form with u = u0 / c (displacements scale as 1/stiffness).
    Nonlinear: Gauss-Newton on log c from there, du/dlog c = -K_t^-1 F.
    """
    u0 = net.solve(F, stiffness=k0).displacements * W
    a = np.sum(u0 * U * W) / max(np.sum(u0 * u0), 1e-300)
    if not a > 0:
        raise InputError(source, "displacements_mm",
                         "measured displacements do not follow the model (they point against the loads)")
    c = 1.0 / a
    if mechanics == "linear":
        return c
    for _ in range(30):
        statics = NonlinearStatics(net, c * k0)
        Uc, state = statics.solve(F)
        r = (Uc - U) * W
        d = statics.adjoint(state, -F) * W  # du/dlog c
        step = -float(np.sum(r * d)) / max(float(np.sum(d * d)), 1e-300)
        step = float(np.clip(step, -0.5, 0.5))
        c *= np.exp(step)
        if abs(step) < 1e-12:
            break
    return c


GAUSS_NEWTON_MAX_ENTRIES = 2e7  # Jacobian entries (measurements x bonds) for the Gauss-Newton path


def _fit_log_corrections(net, k_ref, F, U, W, lam, theta0=None, method="auto", mechanics="linear"):
    """Minimise misfit(k_ref * exp(theta)) / s0 + lam * mean(theta^2) over theta.

    ``method`` "gauss-newton" (Levenberg-Marquardt steps, exact Jacobian; the default
    when the Jacobian fits in memory) or "lbfgs" (L-BFGS-B on the adjoint gradient only,
    for large networks).  Both use :meth:`Network.gradient` for the gradient.
    """
    if method == "auto":
        n_meas = np.count_nonzero(W)
        method = "gauss-newton" if n_meas * net.n_bonds <= GAUSS_NEWTON_MAX_ENTRIES else "lbfgs"
    loss = _Misfit(U, W)
    s0 = max(np.mean(loss(net.solve(F, stiffness=k_ref, mechanics=mechanics).displacements)[0]), 1e-300)
    x0 = np.zeros(net.n_bonds) if theta0 is None else np.asarray(theta0, dtype=float)
    if method == "lbfgs":
        return _fit_lbfgs(net, k_ref, F, loss, s0, lam, x0, mechanics=mechanics)
    if method == "gauss-newton":
        return _fit_gauss_newton(net, k_ref, F, U, W, loss, s0, lam, x0, mechanics=mechanics)
    raise ValueError(f"method must be 'auto', 'gauss-newton' or 'lbfgs', not {method!r}")


def _objective(net, k_ref, F, loss, s0, lam, theta, mechanics="linear"):
    """Value and exact gradient (adjoint) of the regularised objective in theta."""
    m = net.n_bonds
    k = k_ref * np.exp(theta)
    res = net.gradient(F, loss, stiffness=k, return_details=True, mechanics=mechanics)
    value = res.loss / s0 + lam * np.mean(theta ** 2)
    grad = res.gradient * k / s0 + 2.0 * lam * theta / m
    return value, grad, res


def _fit_lbfgs(net, k_ref, F, loss, s0, lam, x0, max_iter=500, mechanics="linear"):
    import scipy.optimize  # only this fit needs it: importing labmnn.fabrication.identify stays light

    m = net.n_bonds
    out = scipy.optimize.minimize(lambda th: _objective(net, k_ref, F, loss, s0, lam, th, mechanics)[:2], x0,
                                  jac=True,
                                  method="L-BFGS-B", bounds=[(-LOG_BOUND, LOG_BOUND)] * m,
                                  options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-9})
    return out.x


def _jacobian(net, k, elongations, W):
    """d(measured displacements)/d(theta), (N, m): one multi-column solve of the equilibrium."""
    S = len(elongations)
    Cf = net.compatibility_matrix[:, net.free_dofs].toarray()  # (m, n_free)
    G = Cf.T[:, None, :] * elongations[None, :, :]  # (n_free, S, m): -dF/dk_b per sample
    X = net.equilibrium(k).solve_free(G.reshape(len(Cf.T), -1)).reshape(-1, S, net.n_bonds)
    J_full = np.zeros((S, 2 * net.n_nodes, net.n_bonds))
    J_full[:, net.free_dofs] = -np.transpose(X, (1, 0, 2)) * k
    return J_full[W.reshape(S, -1) > 0]


def _jacobian_nonlinear(net, k, displacements, W):
    """d(measured displacements)/d(theta) of the exact model, (N, m).

    At the equilibrium u*, K_t du = -C(u*)^T e_b (l_b - L_b) dk_b: one multi-column
    solve of the tangent per sample, columns built from the deformed bar directions.
    """
    S, n, m = len(displacements), net.n_nodes, net.n_bonds
    statics = NonlinearStatics(net, k)
    state = bar_state(net, displacements, k)
    i, j, b = net.bonds[:, 0], net.bonds[:, 1], np.arange(m)
    pull = state.directions * state.stretch[..., None]  # (S, m, 2): C(u)^T e_b (l_b - L_b), per node
    G = np.zeros((S, 2 * n, m))
    for ax in (0, 1):
        G[:, 2 * j + ax, b] += pull[..., ax]
        G[:, 2 * i + ax, b] -= pull[..., ax]
    Gf = G[:, statics.free]
    X = np.zeros_like(Gf)
    if statics.dense:
        from labmnn.model import solver as linear_solver

        with linear_solver.one_blas_thread(statics.free.size):
            X = np.linalg.solve(statics.tangent(state), Gf)
    else:
        for s in range(S):
            fac = statics.factor(statics.tangent(state.sample(s)))
            if fac is None:
                raise NoEquilibrium(f"{net.name}: an equilibrium of the fit is unstable (the tangent stiffness "
                                    "is not positive definite)")
            X[s] = statics.solve_free(fac, Gf[s])
    J_full = np.zeros((S, 2 * n, m))
    J_full[:, statics.free] = -X * k
    return J_full[W.reshape(S, -1) > 0]


def _fit_gauss_newton(net, k_ref, F, U, W, loss, s0, lam, x0, max_iter=60, mechanics="linear"):
    """Levenberg-Marquardt on theta: gradient from the adjoint, curvature J^T J."""
    m = net.n_bonds
    n_meas = max(W.sum(), 1.0)
    theta = np.clip(x0, -LOG_BOUND, LOG_BOUND)
    value, grad, res = _objective(net, k_ref, F, loss, s0, lam, theta, mechanics)
    mu = 1e-3
    for _ in range(max_iter):
        if mechanics == "linear":
            J = _jacobian(net, k_ref * np.exp(theta), res.forward.elongations, W)
        else:
            J = _jacobian_nonlinear(net, k_ref * np.exp(theta), res.forward.displacements, W)
        H = (2.0 / (s0 * n_meas)) * (J.T @ J) + (2.0 * lam / m) * np.eye(m)
        while True:
            A = H + mu * np.diag(np.diag(H) + 1e-12)
            step = -np.linalg.solve(A, grad)
            trial = np.clip(theta + step, -LOG_BOUND, LOG_BOUND)
            try:
                t_value, t_grad, t_res = _objective(net, k_ref, F, loss, s0, lam, trial, mechanics)
            except NoEquilibrium:  # a step too far for the exact model: shorten it
                t_value, t_grad, t_res = np.inf, grad, res
            if t_value <= value or mu > 1e8:
                break
            mu *= 4.0
        if t_value > value:
            break
        done = value - t_value <= 1e-12 * max(value, 1e-300) or np.abs(trial - theta).max() < 1e-9
        theta, value, grad, res = trial, t_value, t_grad, t_res
        mu = max(mu / 3.0, 1e-9)
        if done:
            break
    return theta


def _folds(n_cases: int, k: int, rng) -> list[np.ndarray]:
    order = rng.permutation(n_cases)
    return [np.sort(order[i::k]) for i in range(min(k, n_cases))]


def _choose_lambda(net, k_ref, F, U, W, lambdas, n_folds, rng, method="auto", mechanics="linear"):
    """Cross-validated RMS error per weight; returns (best weight, scan)."""
    folds = _folds(len(F), n_folds, rng)
    sq = np.zeros(len(lambdas))
    count = 0.0
    for test in folds:
        train = np.setdiff1d(np.arange(len(F)), test)
        theta = None
        errs = []
        for lam in sorted(lambdas, reverse=True):  # strong to weak, warm-started
            theta = _fit_log_corrections(net, k_ref, F[train], U[train], W[train], lam, theta, method, mechanics)
            u = net.solve(F[test], stiffness=k_ref * np.exp(theta), mechanics=mechanics).displacements
            r = (u - U[test]) * W[test]
            errs.append(np.sum(r * r))
        sq += np.array(errs[::-1])
        count += W[test].sum()
    order = np.argsort(lambdas)
    lam_sorted = np.asarray(lambdas)[order]
    rms = np.sqrt(sq / max(count, 1.0))
    best = float(lam_sorted[int(np.argmin(rms))])
    return best, list(zip(lam_sorted.tolist(), rms.tolist()))


def _split(cases: list[LoadCase], holdout, rng) -> np.ndarray:
    """Boolean mask of held-out cases from a fraction, a count or a list of labels."""
    S = len(cases)
    mask = np.zeros(S, dtype=bool)
    if holdout is None or (np.isscalar(holdout) and float(holdout) == 0):  # type: ignore[arg-type]
        return mask
    if isinstance(holdout, (list, tuple, set)):
        labels = [c.label for c in cases]
        for lab in holdout:
            if lab not in labels:
                raise InputError("holdout", "", f"no load case is labelled {lab!r}")
            mask[labels.index(lab)] = True
    else:
        h = float(holdout)
        n_out = int(round(h * S)) if h < 1 else int(h)
        n_out = min(max(n_out, 1), S - 1) if S >= 2 else 0
        mask[rng.permutation(S)[:n_out]] = True
    if mask.all():
        raise InputError("holdout", "", "holds out every load case: nothing is left to fit")
    return mask


def identify(network: Network, cases: list[LoadCase], regularization="auto", per_bond: bool = True,
             holdout=0.25, lambdas=DEFAULT_LAMBDAS, n_folds: int = 4, refit_all: bool = True,
             seed: int = 0, method: str = "auto", source: str = "load series",
             mechanics: str = "linear") -> Identification:
    """Fit the effective modulus and regularised per-bond stiffness corrections.

    Parameters
    ----------
    network : Network
        The design (nominal model) the prototype was printed from.
    cases : list of LoadCase
        Measured load cases (the reference, unloaded state excluded); the raw case
        objects of ``load_series.json`` are accepted too.
    regularization : "auto" or float
        Tikhonov weight on mean(log(correction)^2), relative to the misfit of the
        modulus-only model; ``"auto"`` picks it by K-fold cross-validation over cases.
    per_bond : bool
        Fit per-bond corrections (else only the modulus).
    holdout : float, int or list of str
        Cases kept out of the fit to measure prediction: a fraction (< 1), a count,
        or case labels.  0 holds none out.
    lambdas : sequence of float
        Weights tried by ``"auto"``.
    n_folds : int
        Folds of the cross-validation.
    refit_all : bool
        After measuring held-out errors, refit on every case for the written network.
    seed : int
        Seed of the hold-out split and the folds.
    method : {"auto", "gauss-newton", "lbfgs"}
        Optimiser of the per-bond fit: Levenberg-Marquardt with the exact Jacobian
        (default while it fits in memory) or L-BFGS-B on the adjoint gradient alone.
    mechanics : {"linear", "nonlinear"}
        The bar model fitted: the linear one, or the exact large-rotation one.

    Returns
    -------
    Identification

    Raises
    ------
    InputError
        When cases do not match the network or hold nothing to fit.
    """
    mechanics = check_mechanics(mechanics)
    rng = np.random.default_rng(seed)
    cases = as_load_cases(cases, source)
    if not cases:
        raise InputError(source, "cases", "is empty: nothing to identify")
    F, U, V = stack_cases(cases, network.n_nodes, source)
    W = _weights(network, V)
    if W.sum() == 0:
        raise InputError(source, "valid", "no valid measurement on a free node")
    out_mask = _split(cases, holdout, rng)
    fit = ~out_mask
    k0 = network.stiffness.copy()

    def fit_model(idx):
        c = _modulus_factor(network, k0, F[idx], U[idx], W[idx], source, mechanics)
        k_ref = c * k0
        lam, scan = 0.0, []
        theta = np.zeros(network.n_bonds)
        if per_bond:
            if regularization == "auto":
                if idx.sum() >= 2:
                    lam, scan = _choose_lambda(network, k_ref, F[idx], U[idx], W[idx], lambdas, n_folds, rng, method,
                                               mechanics)
                else:
                    lam = float(max(lambdas))
            else:
                lam = float(regularization)
            theta = _fit_log_corrections(network, k_ref, F[idx], U[idx], W[idx], lam, method=method,
                                         mechanics=mechanics)
        return c, theta, lam, scan

    c, theta, lam, scan = fit_model(fit)
    errors = {}
    for name, k in (("nominal", k0), ("modulus", c * k0), ("identified", c * k0 * np.exp(theta))):
        fr, fm = prediction_errors(network, k, F[fit], U[fit], W[fit], mechanics)
        hr, hm = (prediction_errors(network, k, F[out_mask], U[out_mask], W[out_mask], mechanics)
                  if out_mask.any() else (None, None))
        errors[name] = ModelErrors(fr, fm, hr, hm)
    improvement = improvement_mod = None
    nominal, modulus, identified = (errors[n].heldout_rms for n in ("nominal", "modulus", "identified"))
    if out_mask.any() and nominal is not None and modulus is not None and identified is not None \
            and identified > 0:
        improvement = nominal / identified
        improvement_mod = modulus / identified
    structure = None
    if mechanics == "linear":
        structure = residual_structure(network, c * k0 * np.exp(theta), F[fit], U[fit], W[fit])
    refit = bool(refit_all and out_mask.any())
    if refit:
        c = _modulus_factor(network, k0, F, U, W, source, mechanics)
        if per_bond:
            theta = _fit_log_corrections(network, c * k0, F, U, W, lam, theta, method, mechanics)

    k_id = c * k0 * np.exp(theta)
    used = np.ones(len(F), dtype=bool) if refit else fit
    uncertainty = (bond_uncertainty(network, c * k0, theta, F[used], U[used], W[used], lam, mechanics)
                   if per_bond else None)
    ident_net = network.copy()
    ident_net.name = network.name if network.name.endswith("-identified") else f"{network.name}-identified"
    ident_net.youngs_modulus = network.youngs_modulus * c
    ident_net.stiffness_override = k_id
    result = Identification(
        network=ident_net, youngs_modulus_pa=network.youngs_modulus * c, modulus_factor=float(c),
        corrections=np.exp(theta), stiffness_n_per_m=k_id, regularization=lam, scan=scan,
        errors=errors, improvement=improvement, improvement_over_modulus=improvement_mod,
        fit_labels=[cs.label for cs, f in zip(cases, fit) if f],
        heldout_labels=[cs.label for cs, o in zip(cases, out_mask) if o], refit_all=refit,
        mechanics=mechanics, nonlinear_structure=structure, uncertainty=uncertainty,
    )
    ident_net.extra["identification"] = {
        "from_network": network.name,
        "modulus_factor": result.modulus_factor,
        "mechanics": mechanics,
        "regularization": lam,
        "heldout_improvement": improvement,
        "n_cases": len(cases),
    }
    return result


def bond_uncertainty(net: Network, k_ref: np.ndarray, theta: np.ndarray, F, U, W, lam: float,
                     mechanics: str = "linear") -> np.ndarray | None:
    """Relative standard uncertainty of each identified stiffness (1 sigma), or None if too large to compute.

    The Laplace approximation of the fit: with J = du/dtheta at the identified
    stiffness over the N measured components, sigma^2 the residual variance and
    the regularisation read as a Gaussian prior on theta = log(correction),
    Cov(theta) = sigma^2 (J^T J + lam N s0 / m I)^-1, s0 being the misfit of the
    modulus-only model (the objective's own scale).  Since k = k_ref exp(theta),
    sqrt(diag(Cov)) is the relative uncertainty of k.
    """
    S, m = len(F), net.n_bonds
    mask = W.reshape(S, -1) > 0
    n_meas = int(mask.sum())
    if n_meas == 0 or n_meas * m > GAUSS_NEWTON_MAX_ENTRIES:
        return None
    k = k_ref * np.exp(theta)
    res = net.solve(F, stiffness=k, mechanics=mechanics)
    r = (res.displacements - U).reshape(S, -1)[mask]
    r0 = (net.solve(F, stiffness=k_ref, mechanics=mechanics).displacements - U).reshape(S, -1)[mask]
    sigma2 = float(r @ r) / max(n_meas - 1, 1)
    s0 = max(float(np.mean(r0 * r0)), 1e-300)
    if mechanics == "linear":
        J = _jacobian(net, k, res.elongations, W)
    else:
        J = _jacobian_nonlinear(net, k, res.displacements, W)
    A = J.T @ J + (lam * n_meas * s0 / m) * np.eye(m)
    try:
        cov = sigma2 * np.linalg.inv(A)
    except np.linalg.LinAlgError:
        return None
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))


def residual_structure(net: Network, stiffness: np.ndarray, F, U, W) -> dict | None:
    """How a linear model's residuals line up with what the exact model adds to it.

    With r = measured - linear prediction and d = exact - linear prediction (same
    stiffness), over the weighted components, less the part of d that a change of
    the per-bond stiffness could mimic (its least-squares projection on the
    linear Jacobian, when that fits in memory): the (uncentred) correlation
    r.d / (|r| |d|).  Tracking noise alone gives about 1/sqrt(N); residuals that
    follow d are rotation the linear model cannot express (the part growing with
    the load squared), while the rest of it a linear fit folds into the stiffness.
    ``structured`` when the correlation is at least :data:`STRUCTURE_CORRELATION`
    and the residual's RMS along d is at least :data:`STRUCTURE_FLOOR` of the
    measured displacements' RMS (a near-perfect fit has residuals of no meaning).

    Returns None when the exact model finds no equilibrium for these loads.
    """
    if len(F) == 0 or W.sum() == 0:
        return None
    u_lin = net.solve(F, stiffness=stiffness).displacements
    try:
        u_nl = net.solve(F, stiffness=stiffness, mechanics="nonlinear").displacements
    except NoEquilibrium:
        return None
    mask = W.reshape(len(F), -1) > 0
    r = (U - u_lin).reshape(len(F), -1)[mask]
    d = (u_nl - u_lin).reshape(len(F), -1)[mask]
    n = max(r.size, 1)
    d_rms = float(np.linalg.norm(d)) / np.sqrt(n)
    if r.size * net.n_bonds <= GAUSS_NEWTON_MAX_ENTRIES:
        # the part of (exact - linear) no stiffness change can mimic: what the fit could not absorb
        J = _jacobian(net, stiffness, net.solve(F, stiffness=stiffness).elongations, W)
        coef, *_ = np.linalg.lstsq(J, d, rcond=None)
        d = d - J @ coef
    nr, nd = float(np.linalg.norm(r)), float(np.linalg.norm(d))
    corr = float(r @ d) / (nr * nd) if nr > 0 and nd > 0 else 0.0
    explained = corr * nr / np.sqrt(n)  # RMS of the residual along d, m
    floor = STRUCTURE_FLOOR * float(np.linalg.norm(U.reshape(len(F), -1)[mask])) / np.sqrt(n)
    return {"correlation": corr, "residual_rms_um": float(nr / np.sqrt(n) * 1e6),
            "exact_minus_linear_rms_um": float(d_rms * 1e6), "unabsorbable_rms_um": float(nd / np.sqrt(n) * 1e6),
            "explained_rms_um": float(explained * 1e6),
            "structured": bool(corr >= STRUCTURE_CORRELATION and explained >= floor)}
