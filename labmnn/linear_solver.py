"""Sparse symmetric positive-definite factorisations, fastest available first.

The stiffness matrix of a rigid bar network restricted to its free degrees of
freedom is symmetric positive definite.  One factorisation serves the forward
solve, the adjoint solve and every sample of a batch.

Backends, tried in order (``LABMNN_SOLVER`` forces one):

``cholmod``
    SuiteSparse CHOLMOD through scikit-sparse: supernodal Cholesky with a
    fill-reducing ordering.  The fastest here on large lattices.
``pardiso``
    Intel MKL PARDISO through pypardiso.
``scipy``
    SuperLU from SciPy in symmetric mode with a minimum-degree ordering on
    A + A^T: always present, slower on large networks.

Example
-------
>>> import scipy.sparse as sp, numpy as np
>>> A = sp.csc_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]]))
>>> f = factorize(A)
>>> np.allclose(A @ f.solve(np.ones(2)), 1.0)
True
"""

from __future__ import annotations

import os
import warnings
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


class SingularMatrix(Exception):
    """The factorisation met a zero or negative pivot (the network has zero modes)."""


@dataclass
class Factor:
    """A factorised matrix: ``solve(b)`` returns ``A^-1 b`` for b of shape (n,) or (n, k)."""

    backend: str
    n: int
    _solve: Callable[[np.ndarray], np.ndarray]

    def solve(self, b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=float)
        if b.shape[0] != self.n:
            raise ValueError(f"right-hand side has {b.shape[0]} rows, matrix has {self.n}")
        return self._solve(b)


def _cholmod(A: sp.csc_matrix, cache: dict | None = None) -> Factor:
    from sksparse.cholmod import CholmodNotPositiveDefiniteError, analyze

    # The symbolic analysis (AMD ordering) depends only on the sparsity pattern:
    # keep it in the caller's cache and redo only the numeric factorisation.
    # SciPy drops entries that cancel to exactly zero, so the pattern can change with
    # the values: key the cache on the pattern itself, not just its size.
    key = ("cholmod", A.shape, A.nnz, zlib.crc32(A.indptr.tobytes()), zlib.crc32(A.indices.tobytes()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            symbolic = cache.get(key) if cache is not None else None
            if symbolic is None:
                symbolic = analyze(A, ordering_method="amd")
                if cache is not None:
                    cache.clear()
                    cache[key] = symbolic
            fac = symbolic.cholesky(A)  # numeric factorisation, reusing the analysis
    except (CholmodNotPositiveDefiniteError, Warning) as exc:
        raise SingularMatrix(str(exc)) from None
    return Factor("cholmod", A.shape[0], fac)


def _dense(A, cache: dict | None = None) -> Factor:
    import scipy.linalg

    A = A.toarray() if sp.issparse(A) else np.asarray(A)
    try:
        c = scipy.linalg.cho_factor(A, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise SingularMatrix(str(exc)) from None
    if not np.all(np.diag(c[0]) > 1e-7 * np.sqrt(np.abs(np.diag(A)).max())):
        raise SingularMatrix("near-zero pivot")
    return Factor("dense", A.shape[0], lambda b: scipy.linalg.cho_solve(c, b, check_finite=False))


def _pardiso(A: sp.csc_matrix, cache: dict | None = None) -> Factor:
    import pypardiso

    solver = pypardiso.PyPardisoSolver()
    Ar = sp.csr_matrix(A)
    solver.factorize(Ar)

    def solve(b: np.ndarray) -> np.ndarray:
        return solver.solve(Ar, b)

    return Factor("pardiso", A.shape[0], solve)


def _scipy(A: sp.csc_matrix, cache: dict | None = None) -> Factor:
    try:
        lu = spla.splu(
            sp.csc_matrix(A), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
    except RuntimeError as exc:  # "Factor is exactly singular"
        raise SingularMatrix(str(exc)) from None
    return Factor("scipy", A.shape[0], lu.solve)


_BACKENDS = {"cholmod": _cholmod, "pardiso": _pardiso, "scipy": _scipy, "dense": _dense}
_MODULES = {"cholmod": "sksparse.cholmod", "pardiso": "pypardiso", "scipy": "scipy"}
DENSE_BELOW = 400  # systems smaller than this are solved densely (faster than any sparse call)


def available_backends() -> list[str]:
    """Names of the backends importable here, fastest first."""
    import importlib.util

    out = []
    for name, mod in _MODULES.items():
        try:
            if importlib.util.find_spec(mod.split(".")[0]) is not None:
                if name == "cholmod":
                    import sksparse.cholmod  # noqa: F401  (libcholmod may be missing)
                out.append(name)
        except Exception:
            continue
    return out


def default_backend() -> str:
    """The backend used when none is asked for (``LABMNN_SOLVER`` overrides)."""
    forced = os.environ.get("LABMNN_SOLVER")
    if forced:
        if forced not in _BACKENDS:
            raise ValueError(f"LABMNN_SOLVER={forced!r}: choose one of {sorted(_BACKENDS)}")
        return forced
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = available_backends()[0]
    return _DEFAULT


_DEFAULT: str | None = None


def factorize(A: sp.spmatrix, backend: str | None = None, cache: dict | None = None) -> Factor:
    """Factorise the symmetric positive-definite sparse matrix ``A``.

    Parameters
    ----------
    A : scipy.sparse matrix, shape (n, n)
        Symmetric positive definite.
    backend : str, optional
        ``"cholmod"``, ``"pardiso"``, ``"scipy"`` or ``"dense"``; default: dense below
        ``DENSE_BELOW`` unknowns, else the fastest sparse backend available.
    cache : dict, optional
        Kept by the caller between calls on matrices of one sparsity pattern, so
        the symbolic analysis is done once (training refactorises every step).

    Returns
    -------
    Factor
        Reusable for any number of right-hand sides.

    Raises
    ------
    SingularMatrix
        When the backend detects that ``A`` is singular.
    """
    if backend is None and (not sp.issparse(A) or (
            os.environ.get("LABMNN_SOLVER") is None and A.shape[0] < DENSE_BELOW)):
        backend = "dense"
    name = backend or default_backend()
    if name == "dense":
        return _dense(A, cache)
    return _BACKENDS[name](sp.csc_matrix(A), cache)
