"""Path Not Taken metrics on small matrices with known answers."""

import math

import pandas as pd
import pytest
import torch

from rldynamics.errors import InputError
from rldynamics.param_metrics import (
    MetricSettings,
    changed_mask,
    concat_tables,
    largest_principal_angle,
    low_magnitude_mask,
    mask_overlap,
    matrix_metrics,
    metrics_frame,
    normalized_spectral_shift,
    principal_mask,
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
