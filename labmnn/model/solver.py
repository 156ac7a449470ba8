"""Sparse symmetric positive-definite factorisations, fastest available first.

The stiffness matrix of a rigid bar network restricted to its free degrees of
freedom is symmetric positive definite.  One factorisation serves the forward
solve, the adjoint solve and every sample of a batch.

Backends, tried in order (``LABMNN_SOLVER`` forces one):

``pardiso``
    Intel MKL PARDISO (the library that pypardiso installs), called directly in
    symmetric positive-definite mode on the upper triangle.  The fastest here.
``cholmod``
    SuiteSparse CHOLMOD through scikit-sparse: supernodal Cholesky.
``scipy``
    SuperLU from SciPy in symmetric mode: always present, slower.

Every backend either computes its own fill-reducing ordering (METIS, AMD or
minimum degree) or, with ``ordered=True``, takes the matrix as already ordered
(for instance by :func:`labmnn.model.ordering.nested_dissection`) and factorises it
as it stands, which skips the costly ordering step.

Example
-------
>>> import scipy.sparse as sp, numpy as np
>>> A = sp.csc_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]]))
>>> f = factorize(A)
>>> np.allclose(A @ f.solve(np.ones(2)), 1.0)
True
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
import time
import warnings
import weakref
import zlib
from collections.abc import Callable
from dataclasses import dataclass

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
    native: object = None  # the backend's own factor object (the PARDISO handle: phases, analysis())

    def solve(self, b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=float)
        if b.shape[0] != self.n:
            raise ValueError(f"right-hand side has {b.shape[0]} rows, matrix has {self.n}")
        return self._solve(b)


def _pattern_key(name: str, A: sp.csc_matrix) -> tuple:
    """The cache key of a sparsity pattern: checksums of the index arrays, read in place (no copy)."""
    return (name, A.shape, A.nnz, zlib.crc32(np.ascontiguousarray(A.indptr).data),
            zlib.crc32(np.ascontiguousarray(A.indices).data))


def _cholmod(A: sp.csc_matrix, cache: dict | None = None, ordered: bool = False) -> Factor:
    from sksparse.cholmod import CholmodNotPositiveDefiniteError, analyze

    # The symbolic analysis (AMD ordering) depends only on the sparsity pattern:
    # keep it in the caller's cache and redo only the numeric factorisation.
    # SciPy drops entries that cancel to exactly zero, so the pattern can change with
    # the values: key the cache on the pattern itself, not just its size.
    key = _pattern_key("cholmod-natural" if ordered else "cholmod", A)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            symbolic = cache.get(key) if cache is not None else None
            if symbolic is None:
                symbolic = analyze(A, ordering_method="natural" if ordered else "amd")
                if cache is not None:
                    cache.clear()
                    cache[key] = symbolic
            fac = symbolic.cholesky(A)  # numeric factorisation, reusing the analysis
    except (CholmodNotPositiveDefiniteError, Warning) as exc:
        raise SingularMatrix(str(exc)) from None
    return Factor("cholmod", A.shape[0], fac)


def _dense(A, cache: dict | None = None, ordered: bool = False) -> Factor:
    import scipy.linalg

    A = A.toarray() if sp.issparse(A) else np.asarray(A)
    try:
        c = scipy.linalg.cho_factor(A, check_finite=False)
    except np.linalg.LinAlgError as exc:
        raise SingularMatrix(str(exc)) from None
    if not np.all(np.diag(c[0]) > 1e-7 * np.sqrt(np.abs(np.diag(A)).max())):
        raise SingularMatrix("near-zero pivot")
    return Factor("dense", A.shape[0], lambda b: scipy.linalg.cho_solve(c, b, check_finite=False))


_MKL = None


def _mkl_runtime_path() -> str:
    """Where the MKL runtime library is: ``PYPARDISO_MKL_RT``, the ``mkl`` wheel, or the system."""
    import ctypes.util
    import importlib.metadata

    path = os.environ.get("PYPARDISO_MKL_RT")
    if path:
        return path
    try:
        for f in importlib.metadata.files("mkl") or []:
            name = f.name.lower()
            if name.startswith(("libmkl_rt.so", "libmkl_rt.dylib", "mkl_rt")) and not name.endswith(".py"):
                return str(f.locate())
    except importlib.metadata.PackageNotFoundError:
        pass
    path = ctypes.util.find_library("mkl_rt") or ctypes.util.find_library("mkl_rt.1")
    if path is None:
        raise ImportError("MKL runtime (mkl_rt) not found; `pip install pypardiso` provides it")
    return path


def _mkl_pardiso():
    """The ``pardiso`` entry point of the MKL runtime (as installed with pypardiso)."""
    global _MKL
    if _MKL is None:
        fn = ctypes.CDLL(_mkl_runtime_path()).pardiso
        i32 = ctypes.POINTER(ctypes.c_int32)
        fn.argtypes = [ctypes.POINTER(ctypes.c_int64)] + [i32] * 5 + [ctypes.c_void_p, i32, i32, i32, i32, i32, i32,
                                                                   ctypes.c_void_p, ctypes.c_void_p, i32]
        fn.restype = None
        lib = ctypes.CDLL(_mkl_runtime_path())
        _MKL = fn
        global _BLAS_LIBS
        _BLAS_LIBS = None  # MKL is a BLAS too: take stock again before the next small solve
        _MKL.set_local_threads = lib.MKL_Set_Num_Threads_Local  # returns the previous setting
    return _MKL


PHASE_CALLS: dict[int, int] = {}  # PARDISO phase -> calls made in this process (benchmarks show reuse)
PARALLEL_ABOVE = 50_000  # unknowns: from here PARDISO takes a thread per idle core (see docs/physics.md)


def solver_threads(n: int) -> int:
    """Threads for a PARDISO analysis of ``n`` unknowns.

    ``LABMNN_SOLVER_THREADS`` if set (0: MKL's default, all cores); else one
    below ``PARALLEL_ABOVE``; else one plus each core that other processes
    leave idle at this moment (:func:`labmnn.model.threads.busy_elsewhere_now`).
    """
    forced = os.environ.get("LABMNN_SOLVER_THREADS")
    if forced:
        return max(0, int(forced))
    if n < PARALLEL_ABOVE:
        return 1
    from labmnn.model import threads

    return threads.threads_for(n, threads.busy_elsewhere_now(), os.cpu_count() or 1, PARALLEL_ABOVE)


class _Pardiso:
    """One MKL PARDISO handle holding the factor of a real SPD matrix (mtype 2)."""

    ERRORS = {-1: "input inconsistent", -2: "not enough memory", -3: "reordering problem",
              -4: "zero pivot", -7: "diagonal matrix is singular", -8: "32-bit integer overflow"}

    def __init__(self, n, data, indptr, indices, perm, settings: dict | None = None, threads: int | None = None):
        self.n = n
        # PARDISO fixes its parallel layout in the analysis: later phases run on the same
        # number of threads (fewer crashes MKL's numeric factorisation; more are not used).
        self.threads = solver_threads(n) if threads is None else threads
        self.other_choices = 0  # factorisations in a row that chose another thread count (_keeps_threads)
        self.pt = np.zeros(64, dtype=np.int64)  # PARDISO's opaque handle
        self.iparm = np.zeros(64, dtype=np.int32)
        ip = self.iparm
        ip[0] = 1  # our own settings below, zero for the rest (defaults)
        ip[1] = 2  # METIS when no ordering is given
        ip[4] = 1 if perm is not None else 0  # use the given fill-reducing order
        ip[9] = 8  # pivot perturbation 1e-8 (only used if a pivot is tiny)
        ip[34] = 1  # zero-based indices
        self.arrays = (np.ascontiguousarray(data, dtype=np.float64), np.asarray(indptr, dtype=np.int32),
                       np.asarray(indices, dtype=np.int32),
                       np.zeros(n, np.int32) if perm is None else np.asarray(perm, dtype=np.int32))
        for i, v in (settings or {}).items():  # extra iparm entries (benchmarks try variants)
            ip[i] = v
        ip[17] = -1  # report the factor's non-zeros after the analysis (iparm[17])
        ip[18] = -1  # and the factorisation's flop count (iparm[18], MFlop)
        self.factored = False
        self.phases: dict[int, int] = {}  # phase -> calls made (how often the analysis ran, say)
        self.seconds: dict[int, float] = {}  # phase -> wall time spent in it
        self._call(11, np.zeros(n), np.zeros(n))  # symbolic analysis (ordering given or METIS)
        self.factored = True
        self._call(22, np.zeros(n), np.zeros(n))  # numeric factorisation

    def analysis(self) -> dict:
        """What PARDISO's symbolic analysis reported: factor size, flops, memory.

        ``factor_nnz`` (iparm[17]), ``factor_gflop`` (iparm[18], the numeric
        factorisation's count), ``peak_analysis_mb`` (iparm[14]), ``permanent_mb``
        (iparm[15]) and ``factor_mb`` (iparm[16], the numeric factorisation's
        double-precision memory).
        """
        ip = self.iparm
        return {"factor_nnz": int(ip[17]), "factor_gflop": float(ip[18]) / 1e3,
                "peak_analysis_mb": float(ip[14]) / 1024, "permanent_mb": float(ip[15]) / 1024,
                "factor_mb": float(ip[16]) / 1024}

    def refactor(self, data) -> None:
        """New values on the same pattern: numeric factorisation only, reusing the symbolic analysis."""
        self.arrays = (np.ascontiguousarray(data, dtype=np.float64),) + self.arrays[1:]
        self._call(22, np.zeros(self.n), np.zeros(self.n))

    def __del__(self):
        try:
            self.release()
        except Exception:  # noqa: BLE001  (interpreter shutdown: MKL may be gone already)
            pass

    def _call(self, phase, b, x, nrhs=1):
        a, ia, ja, perm = self.arrays
        self.phases[phase] = self.phases.get(phase, 0) + 1
        PHASE_CALLS[phase] = PHASE_CALLS.get(phase, 0) + 1
        err = ctypes.c_int32(0)
        c = ctypes.c_int32
        i32 = ctypes.POINTER(c)
        mkl = _mkl_pardiso()
        previous = mkl.set_local_threads(self.threads)
        t0 = time.perf_counter()
        try:
            mkl(self.pt.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), ctypes.byref(c(1)), ctypes.byref(c(1)),
                ctypes.byref(c(2)), ctypes.byref(c(phase)), ctypes.byref(c(self.n)), a.ctypes.data,
                ia.ctypes.data_as(i32), ja.ctypes.data_as(i32), perm.ctypes.data_as(i32),
                ctypes.byref(c(nrhs)), self.iparm.ctypes.data_as(i32), ctypes.byref(c(0)),
                b.ctypes.data, x.ctypes.data, ctypes.byref(err))
        finally:
            mkl.set_local_threads(previous)
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0
        if err.value:
            msg = f"PARDISO phase {phase}: error {err.value} ({self.ERRORS.get(err.value, 'see MKL manual')})"
            if err.value in (-4, -7):
                raise SingularMatrix(msg)
            raise RuntimeError(msg)

    def solve(self, b):
        b = np.asfortranarray(b, dtype=np.float64)
        x = np.empty_like(b, order="F")  # written in full by the solve (zeroing 160 MB cost 68 ms a batch)
        self._call(33, b, x, nrhs=1 if b.ndim == 1 else b.shape[1])
        return x

    def matrix(self) -> UpperSymmetric:
        """The factorised matrix as an operator (``A @ x``), from the upper triangle PARDISO holds."""
        a, ia, ja, _ = self.arrays
        return UpperSymmetric(sp.csr_matrix((a, ja, ia), shape=(self.n, self.n), copy=False))

    def release(self):
        if self.factored:
            self.factored = False
            self._call(-1, np.zeros(1), np.zeros(1))


class UpperSymmetric:
    """A symmetric matrix held as its upper triangle U: A x = U x + U^T x - diag(U) x."""

    def __init__(self, upper: sp.csr_matrix):
        self.upper = upper
        self.shape = upper.shape
        self._diagonal = None

    def __matmul__(self, x):
        if self._diagonal is None:
            self._diagonal = self.upper.diagonal()
        d = self._diagonal if np.ndim(x) == 1 else self._diagonal[:, None]
        y = self.upper @ x
        tmp = self.upper.T @ x
        y += tmp
        np.multiply(d, x, out=tmp)  # one temporary in all (at 10^6 nodes each is 16 MB a column)
        y -= tmp
        return y


def _upper_csr(A: sp.csc_matrix, cache: dict | None):
    """CSR arrays of the upper triangle of the symmetric ``A`` (its CSC arrays read as CSR)."""
    key = _pattern_key("pardiso-upper", A)
    hit = cache.get(key) if cache is not None else None
    if hit is None:
        row = np.repeat(np.arange(A.shape[0], dtype=np.int32), np.diff(A.indptr))  # CSR row of each entry
        keep = A.indices >= row
        indptr = np.concatenate([[0], np.cumsum(np.bincount(row[keep], minlength=A.shape[0]))]).astype(np.int32)
        # the mask is kept as bits (1/8 of the bytes: 3 MB instead of 26 at 10^6 nodes, where it
        # would sit beside the factor), unpacked for each new matrix of the pattern
        hit = (np.packbits(keep), indptr, A.indices[keep].astype(np.int32))
        if cache is not None:
            cache[key] = hit
    bits, indptr, indices = hit
    return A.data[np.unpackbits(bits, count=A.nnz).view(bool)], indptr, indices


def _pardiso(A: sp.csc_matrix, cache: dict | None = None, ordered: bool = False, upper: bool = False) -> Factor:
    """A PARDISO factor; with a ``cache``, the symbolic analysis of a pattern is reused.

    The cache keeps the last handle of each pattern and a weak reference to the
    factor that uses it.  Once that factor is gone (a training step replaced it,
    a Newton step moved on), the next matrix of the same pattern is factorised
    numerically only (phase 22) in the same handle; while it is alive, a new
    handle is made, so no factor anyone holds ever changes under them.  A new
    analysis is made too when the thread count chosen (:func:`solver_threads`:
    idle cores) has differed from the one the handle was analysed with for
    ``THREAD_SWITCH_AFTER`` factorisations in a row (:func:`_keeps_threads`).
    """
    data, indptr, indices = (A.data, A.indptr, A.indices) if upper else _upper_csr(A, cache)
    n = A.shape[0]
    key = _pattern_key("pardiso-handle-ordered" if ordered else "pardiso-handle", A)
    entry = cache.get(key) if cache is not None else None
    threads = solver_threads(n)
    if entry is not None and entry[1]() is None and _keeps_threads(entry[0], threads):
        handle = entry[0]
        handle.refactor(data)
    else:
        if entry is not None and entry[1]() is None:
            entry[0].release()  # its factor's memory goes before the new one is made
        handle = _Pardiso(n, data, indptr, indices, np.arange(n, dtype=np.int32) if ordered else None, None, threads)
    fac = Factor("pardiso", n, handle.solve, handle)
    if cache is not None:
        cache[key] = (handle, weakref.ref(fac))
    return fac


THREAD_SWITCH_AFTER = 3  # factorisations in a row that choose another thread count before a new analysis


def _keeps_threads(handle: _Pardiso, threads: int) -> bool:
    """Whether ``handle`` refactorises on its own thread count although ``threads`` were chosen now.

    A new thread count needs a new analysis (1.2 s at 10^6 nodes, 0.1 s at
    10^5), and the idle-core estimate flips whenever another program's work
    starts or stops.  So a handle keeps its count until ``THREAD_SWITCH_AFTER``
    factorisations in a row have chosen another one: a short burst of load (a
    camera download, a plot) costs no analysis, a lasting change costs one.
    """
    if handle.threads == threads:
        handle.other_choices = 0
        return True
    handle.other_choices += 1
    return handle.other_choices < THREAD_SWITCH_AFTER


def _scipy(A: sp.csc_matrix, cache: dict | None = None, ordered: bool = False) -> Factor:
    try:
        lu = spla.splu(
            sp.csc_matrix(A), permc_spec="NATURAL" if ordered else "MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
    except RuntimeError as exc:  # "Factor is exactly singular"
        raise SingularMatrix(str(exc)) from None
    return Factor("scipy", A.shape[0], lu.solve)


ONE_BLAS_THREAD_BELOW = 400  # unknowns: BLAS runs on one thread for systems smaller than this (= DENSE_BELOW)
_BLAS_LIBS: list | None = None
_BLAS_LIBS_AT = -1  # len(sys.modules) when the libraries were last taken stock of


def _blas_libraries() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries (numpy's, SciPy's, MKL's, ...).

    Taken stock of again whenever Python modules were imported since the last
    look (an import may load another BLAS: MKL with pypardiso, the system's
    OpenBLAS with CHOLMOD); in a training loop nothing is imported, so the list
    is reused.
    """
    global _BLAS_LIBS, _BLAS_LIBS_AT
    if _BLAS_LIBS is None or len(sys.modules) != _BLAS_LIBS_AT:
        try:
            import scipy.linalg  # noqa: F401  (load LAPACK before taking stock of the libraries)
            from threadpoolctl import ThreadpoolController

            _BLAS_LIBS = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        except Exception:  # pragma: no cover  (threadpoolctl missing or failing: run as is)
            _BLAS_LIBS = []
        _BLAS_LIBS_AT = len(sys.modules)
    return _BLAS_LIBS


class _OneBlasThread:
    """Set every BLAS library to one thread on entry and restore each one's setting on exit.

    Calls the libraries' own ``set_num_threads`` through threadpoolctl's
    controllers, found once: about 2 us a switch, against ~30 us for a
    ``threadpool_limits`` block, so it can wrap every small solve.  Libraries
    already on one thread are left untouched (nesting costs nothing).
    """

    __slots__ = ("_restore",)

    def __enter__(self):
        restore = []
        for lib in _blas_libraries():
            n = lib.get_num_threads()
            if n is not None and n != 1:
                lib.set_num_threads(1)
                restore.append((lib, n))
        self._restore = restore
        return self

    def __exit__(self, *exc):
        for lib, n in self._restore:
            lib.set_num_threads(n)
        return False


def one_blas_thread(n: int):
    """Context manager: BLAS/LAPACK on one thread for a system of ``n`` unknowns (if small).

    Below ``ONE_BLAS_THREAD_BELOW`` unknowns BLAS threads only add latency, and on
    a busy machine a lot of it: OpenBLAS splits even a 24-unknown solve with 105
    right-hand sides over its threads, which then wait for cores the other
    processes hold (0.22 ms on one thread, 32 ms on two under load; a
    180-unknown assembly + Cholesky 0.55 ms against 44 ms).  Larger systems keep
    the libraries' own setting, so big dense work still runs in parallel.
    """
    if n >= ONE_BLAS_THREAD_BELOW:
        return contextlib.nullcontext()
    return _OneBlasThread()


_BACKENDS = {"cholmod": _cholmod, "pardiso": _pardiso, "scipy": _scipy, "dense": _dense}
_MODULES = {"pardiso": "mkl", "cholmod": "sksparse.cholmod", "scipy": "scipy"}
DENSE_BELOW = 400  # systems smaller than this are solved densely (faster than any sparse call)


def available_backends() -> list[str]:
    """Names of the backends importable here, fastest first."""
    import importlib.util

    out = []
    for name, mod in _MODULES.items():
        try:
            if name == "pardiso":
                _mkl_pardiso()  # the MKL runtime library, wherever it is
                out.append(name)
            elif importlib.util.find_spec(mod.split(".")[0]) is not None:
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


def _glibc():
    """glibc, with ``malloc_trim`` and ``mallopt`` typed, or None where there is none (looked up once)."""
    if not _LIBC:
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            _LIBC.append(libc)
        except (OSError, AttributeError):
            _LIBC.append(None)
    return _LIBC[0]


def release_free_memory() -> None:
    """Give the C heap's free memory back to the system (glibc ``malloc_trim``; elsewhere nothing).

    NumPy temporaries below glibc's mmap threshold (which grows to 32 MB as big
    blocks are freed) come from the heap, and freed heap memory stays in the
    process.  After a big one-off build (the 10^6-node layout leaves ~420 MB so)
    this keeps it from sitting beside the factor made next.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


_LIBC: list = []  # glibc, or None where there is none (looked up once)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters (malloc.h)
_HEAP_DEPTH = [0]  # nesting depth of retained_heap
_HEAP_LOCK = threading.Lock()


@contextlib.contextmanager
def retained_heap():
    """Keep freed memory in the process for reuse while the block runs (glibc; elsewhere nothing).

    glibc hands every array above its mmap threshold (at most 32 MB) to the
    system when it is freed, and the next one of that size takes fresh pages,
    which the kernel zeroes at each first touch (0.2-1.3 s a GB measured on
    this VM).  A training run makes the same big arrays step after step (a
    batch's (samples x unknowns) iterates, a factor's right-hand sides), so
    inside this block large arrays come from the heap, and freed ones stay
    there for the next step; at the end the heap's free memory is given back
    (``malloc_trim``).  Measured: the exact model's 100-sample step at 10^5
    nodes, 32-33 s -> 24-26 s from the second step on (``docs/physics.md``).
    Results do not depend on it; nested blocks restore at the outermost exit.

    Examples
    --------
    >>> import numpy as np
    >>> with retained_heap():
    ...     float(np.ones(10_000_000).sum())
    10000000.0
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    with _HEAP_LOCK:
        _HEAP_DEPTH[0] += 1
        if _HEAP_DEPTH[0] == 1:
            libc.mallopt(_M_MMAP_MAX, 0)  # no mmap'd chunks: big arrays come from the heap
            libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)  # and stay there when freed
    try:
        yield
    finally:
        with _HEAP_LOCK:
            _HEAP_DEPTH[0] -= 1
            if _HEAP_DEPTH[0] == 0:
                libc.mallopt(_M_MMAP_MAX, 65536)  # glibc's defaults (the threshold stays where it grew)
                libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
                libc.malloc_trim(0)


UPPER = "_labmnn_upper_triangle"


def upper_triangle(U: sp.csr_matrix) -> sp.csr_matrix:
    """Mark ``U`` as the upper triangle of a symmetric matrix, for :func:`factorize`.

    The mark travels with the matrix, so callers that pass ``factorize``'s
    arguments along (wrappers, spies in tests) need not know of it.
    """
    setattr(U, UPPER, True)
    return U


def factorize(A: sp.spmatrix, backend: str | None = None, cache: dict | None = None,
              ordered: bool = False) -> Factor:
    """Factorise the symmetric positive-definite sparse matrix ``A``.

    A matrix marked with :func:`upper_triangle` is the upper triangle of the
    symmetric matrix (CSR, sorted indices, the diagonal present), as
    :meth:`Network.ordered_upper_stiffness` makes it: PARDISO takes its arrays
    as they are (no copy); the other backends are given the whole matrix.

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
    ordered : bool
        ``A`` is already in a fill-reducing order (rows and columns permuted):
        factorise it as it stands instead of computing an ordering.

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
    upper = getattr(A, UPPER, False)
    if upper and name == "pardiso":
        A = A if isinstance(A, sp.csr_matrix) else sp.csr_matrix(A)
        return _pardiso(A, cache, ordered, upper=True)
    if upper:
        from labmnn.model.assembly import symmetric_from_upper

        A = symmetric_from_upper(sp.csr_matrix(A))
    if name == "dense":
        return _dense(A, cache)
    A = A if isinstance(A, sp.csc_matrix) and A.has_canonical_format else sp.csc_matrix(A)
    if not A.has_canonical_format:
        A.sum_duplicates()
    return _BACKENDS[name](A, cache, ordered)
