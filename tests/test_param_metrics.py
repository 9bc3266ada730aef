"""Path Not Taken metrics on small matrices with known answers."""

import math

import pandas as pd
import pytest
import torch

from rldynamics.core.errors import InputError
from rldynamics.decompose.param_metrics import (
    MetricSettings,
    base_share,
    changed_mask,
    concat_tables,
    fraction_threshold,
    largest_principal_angle,
    low_magnitude_mask,
    mask_overlap,
    matrix_metrics,
    metrics_frame,
    normalized_spectral_shift,
    principal_mask,
    reference_matrix_metrics,
    spectrum,
    threshold_mask,
    top_fraction_mask,
    update_sparsity,
)


def values(rows, metric, k=None):
    return [r["value"] for r in rows if r["metric"] == metric and (k is None or r["k"] == k)]


def test_identical_weights_have_sparsity_one_and_zero_angles_and_drift():
    w = torch.randn(12, 8, generator=torch.Generator().manual_seed(0)).bfloat16()
    rows = matrix_metrics(
        w, w.clone(), MetricSettings(angle_ranks=(1, 3)), "model.layers.4.mlp.up_proj.weight"
    )
    assert values(rows, "update_sparsity") == [1.0]
    angles = values(rows, "principal_angle_left_max_deg") + values(
        rows, "principal_angle_right_max_deg"
    )
    assert len(angles) == 4 and max(angles) < 1e-4
    assert values(rows, "spectral_shift_nss") == [0.0]
    assert all(math.isnan(v) for v in values(rows, "changed_in_principal_mask"))
    assert {r["layer"] for r in rows} == {4} and {r["type"] for r in rows} == {"up_proj"}


def test_sparsity_counts_changes_beyond_the_relative_tolerance():
    w0 = torch.ones(4, 5)
    w1 = w0.clone()
    w1[0, 0] = 1.0005  # within η = 1e-3 of max(|w|, |ŵ|): unchanged
    w1[1, 1] = 1.01  # changed
    w1[2, 2] = -1.0  # changed
    assert update_sparsity(w0, w1) == pytest.approx(1 - 2 / 20)
    assert update_sparsity(w0, w1, eta=0.0) == pytest.approx(1 - 3 / 20)
    # bf16: a step below half an ulp does not survive storage, so the entry is unchanged.
    base = torch.full((3, 3), 0.02).bfloat16()
    assert update_sparsity(base, (base.float() + 1e-6).bfloat16()) == 1.0


def test_rotation_by_a_known_angle_is_measured():
    theta = math.radians(7.0)
    m, n = 6, 4
    w0 = torch.zeros(m, n, dtype=torch.float64)
    w0[0, 0], w0[1, 1], w0[2, 2] = 3.0, 2.0, 1.0  # U = e1, e2, e3; V = e1, e2, e3
    rotation = torch.eye(m, dtype=torch.float64)  # rotate e1 towards e5 by θ (left side)
    rotation[0, 0] = rotation[4, 4] = math.cos(theta)
    rotation[4, 0], rotation[0, 4] = math.sin(theta), -math.sin(theta)
    w1 = rotation @ w0
    rows = matrix_metrics(w0.float(), w1.float(), MetricSettings(angle_ranks=(1, 2, 9)))
    assert values(rows, "principal_angle_left_max_deg", 1)[0] == pytest.approx(7.0, abs=1e-3)
    assert values(rows, "principal_angle_left_max_deg", 2)[0] == pytest.approx(7.0, abs=1e-3)
    assert values(rows, "principal_angle_right_max_deg", 1)[0] == pytest.approx(0.0, abs=1e-3)
    assert values(rows, "principal_angle_left_max_deg", 9) == []  # k > min(m, n): left out
    assert values(rows, "spectral_shift_nss")[0] == pytest.approx(0.0, abs=1e-6)  # a rotation


def test_largest_principal_angle_of_orthogonal_and_equal_spaces():
    eye = torch.eye(5)
    assert largest_principal_angle(eye[:, :2], eye[:, 2:4]) == pytest.approx(math.pi / 2)
    assert largest_principal_angle(eye[:, :2], eye[:, [1, 0]]) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(InputError, match="equal shape"):
        largest_principal_angle(eye[:, :2], eye[:, :3])


def test_nss_of_a_scaled_spectrum():
    s0 = torch.tensor([4.0, 2.0, 1.0])
    assert normalized_spectral_shift(s0, 1.1 * s0) == pytest.approx(0.1)
    w0 = torch.randn(9, 7, generator=torch.Generator().manual_seed(2))
    rows = matrix_metrics(w0, 0.8 * w0, MetricSettings(angle_ranks=(2,)))
    assert values(rows, "spectral_shift_nss")[0] == pytest.approx(0.2, rel=1e-5)
    assert values(rows, "principal_angle_left_max_deg")[0] == pytest.approx(0.0, abs=1e-2)


def test_masks_and_their_overlap_with_the_changed_entries():
    # W0 of rank 1: its rank-1 reconstruction is W0, so M_princ is the top-α of |W0|.
    u = torch.tensor([4.0, 3.0, 2.0, 1.0])
    v = torch.tensor([5.0, 1.0, 0.5, 0.25, 0.1])
    w0 = torch.outer(u, v)  # 20 entries, largest at [0, 0], [1, 0], [2, 0]
    U, S, Vh = torch.linalg.svd(w0, full_matrices=False)
    princ = principal_mask(U, S, Vh.T, rank=1, fraction=0.15)  # 3 entries
    assert princ.sum() == 3 and princ[0, 0] and princ[1, 0] and princ[2, 0]
    low = low_magnitude_mask(w0, 0.1)  # 2 entries: [3, 4] = 0.1 and [2, 4] = 0.2
    assert low.sum() == 2 and low[3, 4] and low[2, 4]
    w1 = w0.clone()
    w1[0, 0] += 1.0  # in M_princ
    w1[3, 4] += 1.0  # in M_low
    w1[1, 2] += 1.0  # in neither
    w1[3, 3] += 1.0  # in neither
    changed = changed_mask(w0, w1)
    assert mask_overlap(changed, princ) == pytest.approx(0.25)
    assert mask_overlap(changed, low) == pytest.approx(0.25)
    rows = matrix_metrics(w0, w1, MetricSettings(angle_ranks=(1,), mask_fraction=0.15, mask_rank=1))
    assert values(rows, "changed_in_principal_mask", 1) == [pytest.approx(0.25)]
    assert values(rows, "mask_random_baseline") == [0.15]


def test_tidy_frame_and_gathering():
    w0 = torch.randn(6, 5, generator=torch.Generator().manual_seed(3))
    rows = matrix_metrics(
        w0, w0 + 0.1, MetricSettings(angle_ranks=(1,)), "model.layers.0.self_attn.q_proj.weight"
    )
    one = metrics_frame(rows, "toy", 20)
    two = metrics_frame(rows, "toy", 10)
    table = concat_tables([one, two])
    assert list(table.columns) == [
        "run",
        "step",
        "param",
        "layer",
        "type",
        "rows",
        "cols",
        "metric",
        "k",
        "value",
    ]
    assert table["step"].iloc[0] == 10 and set(table["run"]) == {"toy"}
    with pytest.raises(InputError, match="no parameter-metric rows"):
        concat_tables([pd.DataFrame()])


def test_bad_settings_are_named():
    with pytest.raises(InputError, match="mask fraction"):
        MetricSettings(mask_fraction=1.5)
    with pytest.raises(InputError, match="angle ranks"):
        MetricSettings(angle_ranks=(0,))


# --- the fast path against the full-SVD reference ---------------------------------------


def rl_pair(m, n, decay, seed, rotate_top=0):
    """A bf16 W0 with a trained-like spectrum and its bf16 RL checkpoint (low-rank update plus
    noise). ``rotate_top``: Wt's top left singular vectors are swapped with W0's 41st.. ones,
    so that the left top-k subspaces are orthogonal (angles near 90°)."""
    gen = torch.Generator().manual_seed(seed)
    r = min(m, n)
    U = torch.linalg.qr(torch.randn(m, r, generator=gen, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(n, r, generator=gen, dtype=torch.float64))[0]
    s = torch.arange(1, r + 1, dtype=torch.float64) ** -decay
    w0 = (U * s) @ V.T
    scale = 0.02 / float(w0.square().mean().sqrt())
    w0 = (scale * w0).bfloat16()
    if rotate_top:
        order = list(range(r))
        for i in range(rotate_top):
            order[i], order[40 + i] = order[40 + i], order[i]
        w1 = scale * (U[:, order] * s) @ V.T
    else:
        du = torch.linalg.qr(torch.randn(m, 4, generator=gen, dtype=torch.float64))[0]
        dv = torch.linalg.qr(torch.randn(n, 4, generator=gen, dtype=torch.float64))[0]
        update = (du * torch.tensor([4.0, 1.0, 0.5, 0.25], dtype=torch.float64)) @ dv.T
        update += 0.1 * torch.randn(m, n, generator=gen, dtype=torch.float64) / math.sqrt(n)
        w1 = w0.double() + update * (3e-4 / float(update.square().mean().sqrt()))
    return w0, w1.bfloat16()


@pytest.fixture
def krylov_methods(monkeypatch):
    """The methods the fast path took for Wt's vectors (to check it was the Krylov one)."""
    import rldynamics.decompose.param_metrics as pm

    taken = []
    original = pm.top_k

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        taken.append(result.method)
        return result

    monkeypatch.setattr(pm, "top_k", spy)
    return taken


@pytest.mark.parametrize(
    "shape, decay, rotate_top",
    [
        ((2000, 1000), 1.0, 0),  # small RL-like update: angles near 0
        ((1000, 2000), 0.6, 0),  # wide, slower decay
        ((2000, 1000), 1.0, 8),  # Wt's top-8 left directions orthogonal to W0's: near 90°
    ],
)
def test_fast_path_equals_the_full_svd_reference(shape, decay, rotate_top, krylov_methods):
    from tests.conftest import assert_metrics_match

    w0, w1 = rl_pair(*shape, decay, seed=5, rotate_top=rotate_top)
    name = "model.layers.3.mlp.up_proj.weight"
    settings = MetricSettings()
    fast = matrix_metrics(w0, w1, settings, name, exact_below=0)
    assert krylov_methods == ["randomized"]
    reference = reference_matrix_metrics(w0, w1, settings, name)
    assert assert_metrics_match(fast, reference) == 6  # every k well separated here
    left = values(fast, "principal_angle_left_max_deg")
    if rotate_top:
        assert left[0] == pytest.approx(90.0, abs=0.01) and left[1] == pytest.approx(90, abs=0.01)
        assert values(fast, "principal_angle_right_max_deg")[0] < 0.1  # the right side kept
    else:
        assert left[0] < 0.1  # near 0 (the top direction barely moves)
    # Through a stored share: the same rows.
    share = base_share(w0, settings)
    assert matrix_metrics(w0, w1, settings, name, share, exact_below=0) == fast


def test_an_ill_conditioned_k_is_reported_with_its_gap():
    w0, w1 = rl_pair(2000, 1000, 1.0, seed=6)
    U, S, V = torch.linalg.svd(w0.double(), full_matrices=False)
    S[7] = S[8] * (1 + 1e-5)  # σ8 ≈ σ9: the top-8 subspace is ill-conditioned
    w0 = ((U * S) @ V).bfloat16()
    rows = matrix_metrics(w0, w1, MetricSettings(angle_ranks=(8,)), exact_below=0)
    assert values(rows, "principal_angle_gap_rel", 8)[0] < 1e-3


def test_spectrum_matches_a_float64_svd():
    w = rl_pair(700, 300, 0.5, seed=1)[0].float()
    exact = torch.linalg.svdvals(w.double())
    assert torch.allclose(spectrum(w), exact, rtol=1e-9, atol=1e-12 * float(exact[0]))
    assert torch.allclose(spectrum(w.T, chunk_rows=64), exact, rtol=1e-9, atol=1e-12)


def test_masks_from_stored_thresholds_are_identical_with_ties():
    scores = torch.tensor([[3.0, 1.0, 2.0, 2.0], [2.0, 0.5, 2.0, 4.0]])
    threshold, ties = fraction_threshold(scores, 0.5)  # 4 largest: 4, 3 and two of four 2s
    assert (threshold, ties) == (2.0, 2)
    mask = threshold_mask(scores, threshold, ties)
    assert mask.tolist() == [[True, False, True, True], [False, False, False, True]]
    assert torch.equal(top_fraction_mask(scores, 0.5), mask)
    low = top_fraction_mask(scores, 0.25, largest=False)  # 0.5 and 1.0
    assert low.sum() == 2 and low[1, 1] and low[0, 1]
    with pytest.raises(InputError, match="tied entries"):
        threshold_mask(scores, 2.5, 1)
