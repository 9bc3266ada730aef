"""The decomposition engine against the exact SVD on planted spectra, and its accuracy guard."""

import math

import pytest
import torch

from rldynamics.core.errors import InputError
from rldynamics.decompose.lowrank import (
    Guard,
    SubspaceCheck,
    Workspace,
    check_guard,
    exact_fallback,
    exact_top_k,
    extend_image,
    guard_estimates,
    krylov_start,
    matrix_seed,
    next_krylov_block,
    randomized_top_k,
    resolve_device,
    ritz_pairs,
    ritz_residuals,
    ritz_triplets,
    top_k,
)
from tests.conftest import planted, rl_like_spectrum


def assert_close_to_exact(result, A, k, sigma_tol=1e-4, cos_tol=0.9999):
    exact = exact_top_k(A.double(), k)
    rel = ((result.S.double() - exact.S).abs() / exact.S).max().item()
    assert rel <= sigma_tol, f"σ relative error {rel:.2e}"
    cos_u = abs(torch.dot(result.U[:, 0].double(), exact.U[:, 0])).item()
    cos_v = abs(torch.dot(result.V[:, 0].double(), exact.V[:, 0])).item()
    assert cos_u >= cos_tol and cos_v >= cos_tol, (cos_u, cos_v)
    # The returned bases are orthonormal.
    eye = torch.eye(k, dtype=torch.float64)
    assert torch.allclose(result.U.double().T @ result.U.double(), eye, atol=1e-5)
    assert torch.allclose(result.V.double().T @ result.V.double(), eye, atol=1e-5)


@pytest.mark.parametrize(
    "m, n, spectrum",
    [
        (600, 200, rl_like_spectrum(200)),  # dominant direction, 1/i tail
        (200, 600, rl_like_spectrum(200, decay=0.5)),  # wide, slower tail
        (300, 300, [0.9**i for i in range(300)]),  # geometric decay
        (500, 256, rl_like_spectrum(256, dominance=1.5, decay=1.5)),
    ],
)
def test_randomized_matches_exact_on_planted_spectra(m, n, spectrum):
    A = planted(m, n, spectrum, seed=m + n)
    result = top_k(A, 8, "randomized", Guard(), seed=1)
    assert result.method == "randomized", result.info
    assert result.sigma_err <= Guard().sigma_tol and result.angle <= Guard().vector_tol
    assert_close_to_exact(result, A, 8)
    # The planted values themselves, to float32 accuracy.
    planted_top = torch.tensor(sorted(spectrum, reverse=True)[:8])
    assert torch.allclose(result.S, planted_top, rtol=1e-4)


def test_guard_spends_more_steps_on_a_flatter_spectrum():
    steep = top_k(planted(400, 300, [0.7**i for i in range(300)], 1), 8, seed=3)
    gentle = top_k(planted(400, 300, [0.97**i for i in range(300)], 1), 8, seed=3)
    assert steep.method == gentle.method == "randomized"
    assert gentle.steps > steep.steps


def test_guard_falls_back_to_exact_on_a_flat_spectrum():
    gen = torch.Generator().manual_seed(5)
    A = torch.randn(400, 300, generator=gen)  # Marchenko–Pastur: no gap at the top
    result = top_k(A, 8, "randomized", Guard(max_steps=3), seed=0)
    assert result.method == "exact-fallback"
    assert "guard not met after 3" in result.info["reason"]
    assert result.record()["method"] == "exact-fallback" and "reason" in result.record()
    exact = exact_top_k(A, 8)
    assert torch.allclose(result.S, exact.S)


@pytest.mark.parametrize("shape", [(300, 200), (200, 300)])
def test_exactly_low_rank_update_converges_with_zero_tail(shape):
    A = planted(*shape, [5.0, 2.0])  # rank 2, asked for 8
    result = top_k(A, 8, "randomized", Guard(), seed=0)
    assert result.method == "randomized" and result.steps == 2  # K holds v1, v2 at step 2
    assert result.S[:2].tolist() == pytest.approx([5.0, 2.0], rel=1e-5)
    assert result.S[2:].abs().max().item() < 1e-5
    # The zero-level directions are completed to orthonormal bases on both sides.
    eye = torch.eye(8, dtype=torch.float64)
    for basis in (result.U, result.V):
        assert torch.allclose(basis.double().T @ basis.double(), eye, atol=1e-5)
    exact = exact_top_k(A.double(), 2)
    assert abs(torch.dot(result.U[:, 0].double(), exact.U[:, 0])).item() > 1 - 1e-6


def test_workspace_reuse_gives_the_same_factors_and_keeps_its_buffers():
    workspace = Workspace()
    tall = planted(400, 200, rl_like_spectrum(200), seed=1)
    wide = planted(200, 400, rl_like_spectrum(200), seed=2)
    first = top_k(tall, 8, seed=3, workspace=workspace)
    buffers = {key: value.data_ptr() for key, value in workspace._buffers.items()}
    top_k(wide, 8, seed=3, workspace=workspace)  # the same short side: the same buffers
    again = top_k(tall, 8, seed=3, workspace=workspace)
    fresh = top_k(tall, 8, seed=3)
    assert {key: value.data_ptr() for key, value in workspace._buffers.items()} == buffers
    for result in (again, fresh):
        assert torch.equal(result.U, first.U) and torch.equal(result.S, first.S)
        assert torch.equal(result.V, first.V)


def test_zero_update_gives_zero_factors():
    result = top_k(torch.zeros(70, 90), 3)
    assert result.method == "zero" and torch.equal(result.S, torch.zeros(3))
    assert torch.equal(result.U, torch.eye(70, 3)) and torch.equal(result.V, torch.eye(90, 3))


def test_small_matrix_full_rank_and_exact_method_use_the_svd():
    A = planted(300, 200, rl_like_spectrum(200))
    assert top_k(A[:40], 8).method == "exact"  # too small for Krylov blocks of 16
    assert top_k(A, 8, "exact").method == "exact"
    assert top_k(A[:30, :20], None).S.shape == (20,)


def test_same_seed_same_factors_and_seed_depends_on_the_name():
    A = planted(400, 200, rl_like_spectrum(200))
    one, two = top_k(A, 4, seed=7), top_k(A, 4, seed=7)
    assert torch.equal(one.U, two.U) and torch.equal(one.S, two.S)
    assert matrix_seed("a.weight") != matrix_seed("b.weight")
    assert matrix_seed("a.weight", 1) != matrix_seed("a.weight", 2)


def test_guard_estimates_known_values():
    ritz = torch.tensor([10.0, 5.0, 4.0])
    residual = torch.tensor([1e-3, 1e-3]) * 2**0.5  # η = 1e-3
    sigma_err, angle = guard_estimates(ritz, residual, 2, 1e-5)
    # σ1: min(η, η²/5)/10 = 2e-8; σ2: min(η, η²/1)/5 = 2e-7. Angle: η/(10 − 5).
    assert sigma_err == pytest.approx(2e-7)
    assert angle == pytest.approx(2e-4)


def test_bad_inputs_are_named():
    with pytest.raises(InputError, match="layer.q.*rank 9 exceeds"):
        top_k(torch.randn(8, 5), 9, name="layer.q")
    with pytest.raises(InputError, match="method"):
        top_k(torch.randn(8, 5), 2, method="lanczos")
    with pytest.raises(InputError, match="device"):
        resolve_device("tpu")
    with pytest.raises(InputError, match="positive"):
        Guard(block=0)
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(InputError, match="CUDA is not available"):
            resolve_device("cuda")


def _max_angle_deg(P, Q):
    from rldynamics.decompose.param_metrics import largest_principal_angle

    return math.degrees(largest_principal_angle(P, Q))


def test_subspace_guard_holds_every_checked_top_k_subspace():
    # σ_i = i^-0.5: the top-32 subspace converges more slowly than u1 (gap 1.5 % at k = 32).
    A = planted(2400, 800, [i**-0.5 for i in range(1, 801)], seed=1)
    exact = exact_top_k(A.double(), 32)
    check = SubspaceCheck(ranks=(1, 8, 32), tol=1e-4)
    guarded = randomized_top_k(A, 32, Guard(block=48), 3, subspace=check, exact_below=0)
    assert guarded.method == "randomized"
    assert set(guarded.info["subspace_bounds"]) == {1, 8, 32}
    assert max(guarded.info["subspace_bounds"].values()) <= check.tol
    for k in (1, 8, 32):
        assert _max_angle_deg(guarded.U[:, :k], exact.U[:, :k]) < 0.005
        assert _max_angle_deg(guarded.V[:, :k], exact.V[:, :k]) < 0.005
    # The u1 guard alone stops earlier, with the top-32 subspace still off by more.
    plain = randomized_top_k(A, 32, Guard(block=48), 3, exact_below=0)
    assert plain.steps < guarded.steps
    assert _max_angle_deg(plain.V, exact.V) > 0.01


def test_subspace_guard_does_not_wait_for_an_ill_conditioned_k():
    spectrum = [i**-1.0 for i in range(1, 801)]
    spectrum[8] = spectrum[7]  # σ8 = σ9: the top-8 subspace is not determined by the matrix
    A = planted(2400, 800, spectrum, seed=2)
    check = SubspaceCheck(ranks=(1, 8, 32))
    result = randomized_top_k(A, 32, Guard(block=48), 0, subspace=check, exact_below=0)
    assert result.method == "randomized"
    assert 8 not in result.info["subspace_bounds"] and 32 in result.info["subspace_bounds"]


# --- the steps of randomized_top_k ------------------------------------------------------------

F64 = torch.float64


def test_krylov_start_is_the_orthonormalized_seeded_gaussian_block():
    like = torch.zeros(1, dtype=F64)
    K = krylov_start(50, 4, 7, like)
    assert K.shape == (4, 50) and K.dtype == F64
    assert torch.allclose(K @ K.T, torch.eye(4, dtype=F64), atol=1e-12)
    omega = torch.randn(50, 4, generator=torch.Generator().manual_seed(7)).double()
    assert torch.allclose(K.T @ (K @ omega), omega, atol=1e-12)  # span{K} = span{Ω}
    assert torch.equal(K, krylov_start(50, 4, 7, like))
    assert not torch.allclose(K, krylov_start(50, 4, 8, like))


def test_extend_image_stores_the_images_and_their_gram_matrix():
    B = planted(60, 20, [4.0, 2.0, 1.0, 0.5], seed=1).double()
    basis = torch.linalg.qr(torch.randn(20, 6, generator=torch.Generator().manual_seed(2)))[0]
    basis = basis.T.double()
    image = torch.full((6, 60), float("nan"), dtype=F64)
    gram = torch.full((6, 6), float("nan"), dtype=F64)
    first = extend_image(B, basis, image, gram, 0, 3)
    second = extend_image(B, basis, image, gram, 3, 6)
    assert torch.allclose(first, B @ basis[:3].T) and torch.allclose(second, B @ basis[3:].T)
    assert torch.allclose(image, (B @ basis.T).T)
    assert torch.allclose(gram, image @ image.T)  # both triangles filled


def test_next_krylov_block_is_the_orthonormal_part_of_bt_w_off_the_basis():
    B = planted(80, 30, rl_like_spectrum(30), seed=3).double()
    K = krylov_start(30, 4, 0, B)
    block = B @ K.T
    following, coupling = next_krylov_block(B, block, K)
    assert following.shape == (30, 4) and coupling.shape == (4, 4)
    assert torch.allclose(following.T @ following, torch.eye(4, dtype=F64), atol=1e-12)
    assert (K @ following).abs().max() < 1e-12
    projected = B.T @ block - K.T @ (K @ (B.T @ block))
    assert torch.allclose(following @ coupling, projected, atol=1e-10)


def test_next_krylov_block_on_an_exhausted_space_gives_fresh_orthogonal_directions():
    B = planted(80, 30, [3.0, 1.0], seed=4)  # rank 2: its row space is K itself
    K = exact_top_k(B.double(), 2).V.T.float()
    following, coupling = next_krylov_block(B, B @ K.T, K)
    assert torch.allclose(following.T @ following, torch.eye(2), atol=1e-5)
    assert (K @ following).abs().max() < 1e-6
    assert coupling.abs().max() < 1e-4 * 3.0  # Bᵀ·W_j had nothing outside K


def test_ritz_pairs_are_descending_singular_values_and_eigenvectors_of_the_gram():
    Q = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(5)).double())[0]
    gram = Q @ torch.diag(torch.tensor([1.0, 9.0, 4.0], dtype=F64)) @ Q.T
    ritz, vectors = ritz_pairs(gram)
    assert torch.allclose(ritz, torch.tensor([3.0, 2.0, 1.0], dtype=F64))
    assert torch.allclose(gram @ vectors, vectors * ritz**2)
    assert torch.allclose(vectors.abs(), Q[:, [1, 2, 0]].abs())
    ritz, _ = ritz_pairs(torch.diag(torch.tensor([4.0, -1e-12], dtype=F64)))
    assert ritz.tolist() == [2.0, 0.0]  # a rounding-negative square is clamped, not NaN


def test_ritz_residuals_known_values():
    ritz = torch.tensor([4.0, 2.0, 1e-9, 1e-10], dtype=F64)
    coupling = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    last = torch.tensor([[0.1, 0.0, 0.0], [0.0, 0.1, 0.3]], dtype=F64)
    weighted, nonzero, residual = ritz_residuals(ritz, coupling, last, 1e-6)
    assert torch.allclose(weighted, torch.tensor([[0.1, 0.0, 0.0], [0.0, 0.2, 0.6]], dtype=F64))
    assert nonzero.tolist() == [True, True, False]
    # ρ_i = ‖C_j·y_i,last‖/σ̃_i, and 0 at zero level.
    assert residual.tolist() == pytest.approx([0.1 / 4.0, 0.2 / 2.0, 0.0])


def test_check_guard_tests_sigma_and_u1_or_the_subspace_bounds():
    ritz = torch.tensor([10.0, 5.0, 4.0])
    residual = torch.tensor([1e-3, 1e-3]) * 2**0.5  # η = 1e-3: σ error 2e-7, angle 2e-4
    weighted = torch.tensor([[1e-3, 0.0], [0.0, 1e-3]], dtype=F64)
    sigma_err, angle, bounds, met = check_guard(ritz, residual, weighted, Guard(), None)
    assert (sigma_err, angle) == (pytest.approx(2e-7), pytest.approx(2e-4))
    assert bounds is None and met
    assert not check_guard(ritz, residual, weighted, Guard(vector_tol=1e-4), None)[3]
    assert not check_guard(ritz, residual, weighted, Guard(sigma_tol=1e-7), None)[3]
    # Wedin at k = 1: ‖C_j·y_1,last/σ̃_1‖ / (σ̃_1 − σ̃_2) = (1e-3/10)/5 = 2e-5.
    check = SubspaceCheck(ranks=(1,), tol=1e-5)
    _, _, bounds, met = check_guard(ritz, residual, weighted, Guard(vector_tol=1e-4), check)
    assert bounds == {1: pytest.approx(2e-5)} and not met
    check = SubspaceCheck(ranks=(1,), tol=1e-4)
    assert check_guard(ritz, residual, weighted, Guard(vector_tol=1e-4), check)[3]


@pytest.mark.parametrize("wide", [False, True])
def test_ritz_triplets_of_a_complete_krylov_space_are_the_svd(wide):
    tall = planted(200, 40, [5.0, 2.0, 1.0], seed=6)  # rank 3, asked for 4
    A = tall.T if wide else tall
    basis = torch.eye(40)  # K spans the whole short side
    image = (tall @ basis.T).T.double()
    ritz, vectors = ritz_pairs(image @ image.T)
    nonzero = ritz[:4] > 1e-5 * ritz[0]
    assert nonzero.tolist() == [True, True, True, False]
    U, S, V = ritz_triplets(A, basis, image, ritz, vectors, nonzero, seed=0)
    assert U.shape == (A.shape[0], 4) and V.shape == (A.shape[1], 4) and S.dtype == A.dtype
    assert S.tolist() == pytest.approx([5.0, 2.0, 1.0, 0.0], abs=1e-5)
    for basis_out in (U, V):  # the zero-level direction is completed orthonormally
        assert torch.allclose(basis_out.T @ basis_out, torch.eye(4), atol=1e-5)
    assert torch.allclose((U * S) @ V.T, A, atol=1e-5)


def test_exact_fallback_is_the_exact_svd_with_the_reason():
    A = torch.randn(30, 20, generator=torch.Generator().manual_seed(8))
    result = exact_fallback(A, 3, 4, 0.5, 0.25, None)
    exact = exact_top_k(A, 3)
    assert torch.equal(result.S, exact.S) and torch.equal(result.U, exact.U)
    assert (result.method, result.steps, result.passes) == ("exact-fallback", 4, 8)
    assert result.info["reason"] == (
        "guard not met after 4 Krylov steps (estimated σ error 0.5, u1 angle 0.25)"
    )
    with_check = exact_fallback(A, 3, 4, 0.5, 0.25, SubspaceCheck(ranks=(1,)))
    assert with_check.info["reason"].endswith("u1 angle 0.25, or the subspace guard)")
