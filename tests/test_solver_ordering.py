"""Nested-dissection ordering and the sparse backends that use it."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from labmnn import ZeroModeError
from labmnn.model import losses
from labmnn.model import solver as linear_solver
from labmnn.model.lattice import triangular_lattice
from labmnn.model.ordering import dof_order, nested_dissection

SPARSE = ["pardiso", "cholmod", "scipy"]


def _fill(D):
    lu = spla.splu(D, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return lu.L.nnz


def test_nested_dissection_is_a_permutation_that_cuts_fill():
    net = triangular_lattice(40, 40)
    order = nested_dissection(net.nodes, net.bonds)
    assert np.array_equal(np.sort(order), np.arange(net.n_nodes))
    dofs = dof_order(order, net._dof_to_free)
    assert np.array_equal(np.sort(dofs), np.arange(net.free_dofs.size))
    D = net.reduced_stiffness_matrix().tocsc()
    row_major = _fill(D)  # the lattice's own numbering is a banded order
    nested = _fill(D[dofs][:, dofs].tocsc())
    assert nested < 0.75 * row_major


def test_separator_is_numbered_after_the_halves_it_separates():
    # A path: the cut node must come after both pieces, so eliminating the pieces
    # first never couples them.
    pts = np.stack([np.arange(9.0), np.zeros(9)], axis=1)
    edges = np.stack([np.arange(8), np.arange(1, 9)], axis=1)
    order = nested_dissection(pts, edges, leaf_size=3)
    pos = np.empty(9, dtype=int)
    pos[order] = np.arange(9)
    last = order[-1]
    left, right = np.arange(last), np.arange(last + 1, 9)
    assert left.size and right.size
    assert pos[left].max() < pos[last] and pos[right].max() < pos[last]


def test_coincident_points_still_give_a_permutation():
    pts = np.zeros((100, 2))
    edges = np.stack([np.arange(99), np.arange(1, 100)], axis=1)
    order = nested_dissection(pts, edges, leaf_size=4)
    assert np.array_equal(np.sort(order), np.arange(100))


@pytest.mark.parametrize("backend", SPARSE)
@pytest.mark.parametrize("ordered", [True, False])
def test_factorize_solves_one_and_many_right_hand_sides(backend, ordered):
    if backend not in linear_solver.available_backends():
        pytest.skip(f"{backend} not installed")
    net = triangular_lattice(15, 12)
    D = net.ordered_stiffness_matrix() if ordered else net.reduced_stiffness_matrix()
    rng = np.random.default_rng(4)
    B = rng.normal(size=(D.shape[0], 3))
    f = linear_solver.factorize(D, backend=backend, ordered=ordered)
    assert f.backend == backend
    X = f.solve(B)
    assert X.shape == B.shape
    assert np.allclose(D @ X, B, rtol=1e-9, atol=1e-9 * np.abs(B).max())
    x = f.solve(B[:, 1])
    assert x.shape == (D.shape[0],) and np.allclose(x, X[:, 1], rtol=1e-10, atol=0)


def _dense_reference_gradient(net, F, loss, k):
    """The adjoint gradient with a dense solve in the network's own numbering."""
    D = net.reduced_stiffness_matrix(k).toarray()
    free = net.free_dofs
    u = np.zeros(2 * net.n_nodes)
    u[free] = np.linalg.solve(D, F.reshape(-1)[free])
    _, dL_du = loss(u.reshape(-1, 2))
    ua = np.zeros(2 * net.n_nodes)
    ua[free] = np.linalg.solve(D, -np.asarray(dL_du).reshape(-1)[free])
    C = net.compatibility_matrix
    return (C @ ua) * (C @ u)


@pytest.mark.parametrize("backend", SPARSE)
def test_gradient_on_a_lattice_matches_a_dense_solve(backend, monkeypatch):
    if backend not in linear_solver.available_backends():
        pytest.skip(f"{backend} not installed")
    monkeypatch.setenv("LABMNN_SOLVER", backend)
    net = triangular_lattice(24, 20)
    rng = np.random.default_rng(5)
    k = net.stiffness * rng.uniform(0.5, 2.0, net.n_bonds)
    F = np.zeros((net.n_nodes, 2))
    bottom = np.argsort(net.nodes[:, 1])[:3]
    F[bottom[0]] = [0.02, -0.098]
    loss = losses.from_spec({"kind": "mse", "targets": [
        {"node": int(bottom[1]), "axis": "y", "value": -0.025},
        {"node": int(bottom[2]), "axis": "x", "value": 0.001}]})
    for stiffness in (k, k * rng.uniform(0.9, 1.1, net.n_bonds)):  # factorisation, then refactorisation
        g = net.gradient(F, loss, stiffness=stiffness)
        ref = _dense_reference_gradient(net, F, loss, stiffness)
        assert np.linalg.norm(g - ref) < 1e-8 * np.linalg.norm(ref)
    assert net.equilibrium(k).factor.backend == backend


@pytest.mark.parametrize("backend", SPARSE)
def test_mechanism_in_a_large_network_is_diagnosed(backend, monkeypatch):
    if backend not in linear_solver.available_backends():
        pytest.skip(f"{backend} not installed")
    from labmnn.model import network

    monkeypatch.setenv("LABMNN_SOLVER", backend)
    monkeypatch.setattr(network, "RIGIDITY_CHECK_BELOW", 0)  # no up-front check: the solver must notice
    net = triangular_lattice(9, 8)
    corner = int(np.argmin(net.nodes[:, 1] - 1e-3 * net.nodes[:, 0]))  # bottom-left node
    touching = np.flatnonzero((net.bonds == corner).any(axis=1))
    weak = net.without_bonds(touching[1:])  # hangs by a single bar: one zero mode
    F = np.zeros((weak.n_nodes, 2))
    F[corner, 1] = -0.05
    with pytest.raises(ZeroModeError) as exc:
        weak.solve(F)
    assert exc.value.n_zero_modes == 1 and corner in exc.value.free_nodes


def test_pardiso_factor_is_released(monkeypatch):
    if "pardiso" not in linear_solver.available_backends():
        pytest.skip("pardiso not installed")
    D = triangular_lattice(10, 10).ordered_stiffness_matrix()
    import gc

    gc.collect()  # handles of earlier tests go first
    made, released = [], []
    real_init, real_release = linear_solver._Pardiso.__init__, linear_solver._Pardiso.release

    def init(self, *a):
        made.append(id(self))
        real_init(self, *a)

    def release(self):
        if self.factored and id(self) in made:
            released.append(id(self))
        real_release(self)

    monkeypatch.setattr(linear_solver._Pardiso, "__init__", init)
    monkeypatch.setattr(linear_solver._Pardiso, "release", release)
    f = linear_solver.factorize(D, backend="pardiso", ordered=True)
    assert np.all(np.isfinite(f.solve(np.ones(D.shape[0]))))
    del f
    gc.collect()
    assert released == made and len(made) == 1  # no cache: the factor's memory goes with the factor


def test_pardiso_reuses_the_symbolic_analysis_once_a_factor_is_dropped(monkeypatch):
    if "pardiso" not in linear_solver.available_backends():
        pytest.skip("pardiso not installed")
    net = triangular_lattice(12, 12)
    A = net.ordered_stiffness_matrix()
    A2 = net.ordered_stiffness_matrix(net.stiffness * np.linspace(0.5, 1.5, net.n_bonds))
    b = np.random.default_rng(0).normal(size=A.shape[0])
    phases = []
    real = linear_solver._Pardiso._call
    monkeypatch.setattr(linear_solver._Pardiso, "_call",
                        lambda self, phase, *a, **k: (phases.append(phase), real(self, phase, *a, **k))[1])
    cache: dict = {}
    f1 = linear_solver.factorize(A, backend="pardiso", cache=cache, ordered=True)
    f2 = linear_solver.factorize(A2, backend="pardiso", cache=cache, ordered=True)  # f1 still held: a new handle
    assert phases == [11, 22, 11, 22]  # analysis + numeric factorisation, twice
    assert np.allclose(A @ f1.solve(b), b) and np.allclose(A2 @ f2.solve(b), b)  # neither changed under us
    del f1, f2
    phases.clear()
    f3 = linear_solver.factorize(A, backend="pardiso", cache=cache, ordered=True)
    assert phases == [22]  # numeric factorisation only
    assert np.allclose(A @ f3.solve(b), b)


def test_pardiso_reports_its_analysis():
    if "pardiso" not in linear_solver.available_backends():
        pytest.skip("pardiso not installed")
    D = triangular_lattice(20, 20).ordered_stiffness_matrix()
    f = linear_solver.factorize(D, backend="pardiso", ordered=True)
    info = f.native.analysis()
    lower = D.shape[0] + (D.nnz - D.shape[0]) // 2  # the factor holds at least the matrix's triangle
    assert lower <= info["factor_nnz"] < D.shape[0] ** 2
    assert info["factor_gflop"] >= 0 and info["factor_mb"] > 0
    assert f.native.phases == {11: 1, 22: 1}


@pytest.mark.parametrize("backend", SPARSE)
def test_mechanism_is_diagnosed_in_a_batch_where_one_sample_moves_it(backend, monkeypatch):
    if backend not in linear_solver.available_backends():
        pytest.skip(f"{backend} not installed")
    from labmnn.model import network

    monkeypatch.setenv("LABMNN_SOLVER", backend)
    monkeypatch.setattr(network, "RIGIDITY_CHECK_BELOW", 0)
    net = triangular_lattice(9, 8)
    corner = int(np.argmin(net.nodes[:, 1] - 1e-3 * net.nodes[:, 0]))
    touching = np.flatnonzero((net.bonds == corner).any(axis=1))
    weak = net.without_bonds(touching[1:])
    F = np.zeros((5, weak.n_nodes, 2))
    F[:, int(np.argmax(weak.nodes[:, 1])), 1] = -0.01  # four samples leave the mechanism alone...
    F[3, corner, 1] = -0.05  # ...one pulls on it: the batch's residual check must still see it
    with pytest.raises(ZeroModeError):
        weak.solve(F)


def test_batch_solve_in_elimination_order_matches_sample_by_sample():
    net = triangular_lattice(24, 20)  # sparse path
    rng = np.random.default_rng(7)
    F = rng.normal(scale=0.01, size=(4, net.n_nodes, 2))
    batch = net.solve(F)
    for s in range(4):
        one = net.solve(F[s])
        assert np.allclose(batch.displacements[s], one.displacements, rtol=1e-12, atol=1e-18)
        # elongations are differences of displacements: rounding of ~1e-16 x max|u| (was atol=1e-18)
        assert np.allclose(batch.elongations[s], one.elongations, rtol=1e-12, atol=1e-15 * abs(one.displacements).max())


def test_ordered_matrix_pattern_does_not_depend_on_the_stiffness_values():
    # On a regular lattice, tied stiffnesses make some entries cancel to exactly zero;
    # the pattern must stay put all the same, or the factorisation cannot reuse its analysis.
    net = triangular_lattice(16, 16)
    rng = np.random.default_rng(0)
    ks = [net.stiffness, net.stiffness * rng.uniform(0.5, 1.5, net.n_bonds),
          net.stiffness * np.where(rng.random(net.n_bonds) < 0.5, 0.99, 1.01), net.stiffness]
    mats = [net.ordered_stiffness_matrix(k) for k in ks]
    uppers = [net.ordered_upper_stiffness(k) for k in ks]
    for i, (D, k) in enumerate(zip(mats, ks)):
        # one pattern from the first matrix on (uniform widths included), and the upper triangle's
        # index arrays are the very same memory every time
        assert np.array_equal(D.indptr, mats[0].indptr) and np.array_equal(D.indices, mats[0].indices)
        assert np.shares_memory(uppers[i].indices, uppers[0].indices)
        assert np.shares_memory(uppers[i].indptr, uppers[0].indptr)
        ref = net.reduced_stiffness_matrix(k)[net.elimination_order()][:, net.elimination_order()]
        assert abs(D - ref).max() <= 1e-12 * abs(ref).max()


def test_training_steps_on_a_regular_lattice_reuse_the_analysis(monkeypatch):
    if "pardiso" not in linear_solver.available_backends():
        pytest.skip("pardiso not installed")
    monkeypatch.setenv("LABMNN_SOLVER", "pardiso")
    net = triangular_lattice(16, 16)
    F = np.zeros((net.n_nodes, 2))
    F[int(np.argmin(net.nodes[:, 1])), 1] = -0.05
    loss = losses.from_spec({"kind": "mse", "targets": [{"node": int(np.argmax(net.nodes[:, 0])), "axis": "y",
                                                           "value": -1e-4}]})
    phases = []
    real = linear_solver._Pardiso._call
    monkeypatch.setattr(linear_solver._Pardiso, "_call",
                        lambda self, phase, *a, **k: (phases.append(phase), real(self, phase, *a, **k))[1])
    rng = np.random.default_rng(1)
    for _ in range(4):  # uniform widths, then tied +-1 % changes, as Adam's first steps make
        net.gradient(F, loss, wrt="width")
        net.set_widths(net.width * np.where(rng.random(net.n_bonds) < 0.5, 0.99, 1.01))
    assert phases.count(11) == 1 and phases.count(22) == 4  # one analysis: the first pattern is the structural one


def test_layout_assembles_parallel_bonds_and_vertical_ones_like_the_product():
    # a bond given twice adds up in one block; vertical and horizontal bonds have structural zeros
    from labmnn.model.network import Network

    base = triangular_lattice(14, 12)
    vertical = np.array([[0, 2 * 14]])  # rows 0 and 2 share x: a vertical bond
    bonds = np.concatenate([base.bonds, base.bonds[:40], vertical])
    net = Network(base.nodes, bonds, 2e-3, 2e-3, 0.55e6, fixed_nodes=base.fixed_nodes[:5])
    order = net.elimination_order()
    k = net.stiffness * np.random.default_rng(3).uniform(0.5, 1.5, net.n_bonds)
    ref = net.reduced_stiffness_matrix(k)[order][:, order]
    D = net.ordered_stiffness_matrix(k)
    assert abs(D - ref).max() <= 1e-12 * abs(ref).max()
    U = net.ordered_upper_stiffness(k)
    rows = np.repeat(np.arange(U.shape[0]), np.diff(U.indptr))
    assert np.all(U.indices >= rows) and U.has_sorted_indices  # the upper triangle, as PARDISO reads it
    u = np.random.default_rng(4).normal(size=(U.shape[0], 2))
    C = net.compatibility_matrix[:, net.free_dofs[order]]
    assert np.allclose(net.ordered_layout().elongations(u), C @ u, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", ["pardiso", "cholmod"])  # the backends that keep an analysis
def test_uniform_widths_then_a_changed_stiffness_analyse_once(backend, monkeypatch):
    # The first matrix of a uniform-width lattice has entries that cancel to exactly zero; the
    # factorisation at the next stiffness must still reuse the first analysis (same pattern).
    if backend not in linear_solver.available_backends():
        pytest.skip(f"{backend} not installed")
    monkeypatch.setenv("LABMNN_SOLVER", backend)
    net = triangular_lattice(18, 16)
    F = np.zeros((net.n_nodes, 2))
    F[int(np.argmin(net.nodes[:, 1])), 1] = -0.05
    loss = losses.from_spec({"kind": "mse", "targets": [{"node": int(np.argmax(net.nodes[:, 0])), "axis": "y",
                                                           "value": -1e-4}]})
    calls = dict(linear_solver.PHASE_CALLS)
    net.gradient(F, loss)
    keys = set(net._solver_cache)
    net.set_widths(net.width * np.random.default_rng(5).uniform(0.9, 1.1, net.n_bonds))
    net.gradient(F, loss)
    assert set(net._solver_cache) == keys  # one pattern: the cache holds the first analysis only
    if backend == "pardiso":
        assert linear_solver.PHASE_CALLS.get(11, 0) - calls.get(11, 0) == 1
        assert linear_solver.PHASE_CALLS.get(22, 0) - calls.get(22, 0) == 2
