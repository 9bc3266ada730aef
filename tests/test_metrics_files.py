"""W0's share of the parameter metrics written once (``base-metrics``) and used by
``decompose --metrics-out`` and ``parameters``: the same tables as without it."""

import pandas as pd
import pytest
import torch

from rldynamics.cli import main
from rldynamics.core.errors import InputError
from rldynamics.core.settings import MetricSettings
from rldynamics.decompose.metrics_files import BaseMetrics, checkpoint_metrics, write_base_metrics
from tests.conftest import tiny_weights, write_model

SETTINGS = ["--angle-ranks", "1", "4", "--mask-fraction", "0.1", "--mask-rank", "2"]


def test_every_command_gives_the_same_table_with_and_without_the_base_metrics(model_pair, tmp_path):
    base_dir, rl_dir, _, _ = model_pair
    shares = tmp_path / "base-metrics.safetensors"
    assert main(["base-metrics", "--base", str(base_dir), "--out", str(shares), *SETTINGS]) == 0
    pair = ["--base", str(base_dir), "--checkpoint", str(rl_dir)]
    tables = {}
    for label, extra in (("own", []), ("stored", ["--base-metrics", str(shares)])):
        csv = tmp_path / f"parameters-{label}.csv"
        assert main(["parameters", *pair, "--out", str(csv), *SETTINGS, *extra]) == 0
        tables[f"parameters-{label}"] = pd.read_csv(csv)
        csv = tmp_path / f"decompose-{label}.csv"
        factors = tmp_path / f"f-{label}.safetensors"
        decompose = ["decompose", *pair, "--rank", "2", "--out", str(factors)]
        assert main([*decompose, "--metrics-out", str(csv), *SETTINGS, *extra]) == 0
        tables[f"decompose-{label}"] = pd.read_csv(csv)
    first = tables["parameters-own"]
    assert len(first) == 14 * 11 and "principal_angle_gap_rel" in set(first["metric"])
    for label, table in tables.items():
        pd.testing.assert_frame_equal(table, first, obj=label)


def test_a_stored_share_from_other_settings_or_another_base_is_refused(model_pair, tmp_path):
    base_dir, rl_dir, _, _ = model_pair
    shares = tmp_path / "base-metrics.safetensors"
    write_base_metrics(base_dir, shares, settings=MetricSettings(angle_ranks=(1, 2)))
    out = tmp_path / "m.csv"
    with pytest.raises(InputError, match="mask fraction 0.05 and mask rank 8, the metrics ask"):
        checkpoint_metrics(
            base_dir, rl_dir, out, settings=MetricSettings(mask_rank=2), base_metrics=shares
        )
    with pytest.raises(
        InputError,
        match=r"safetensors: model.layers.0.mlp.down_proj.weight: holds W0.s top 8 singular "
        r"vectors, the metrics need 10",
    ):
        # d = 12: r = min(max(angle ranks, mask rank), 12); asking for 10 needs more than 8
        checkpoint_metrics(
            base_dir, rl_dir, out, settings=MetricSettings(angle_ranks=(10,)), base_metrics=shares
        )
    other = write_model(tmp_path / "other", tiny_weights(seed=3))
    with pytest.raises(
        InputError,
        match=r"safetensors: model.layers.0.mlp.down_proj.weight: computed from another W0",
    ):
        checkpoint_metrics(other, rl_dir, out, base_metrics=shares)
    assert not out.exists()


def test_a_missing_or_foreign_file_is_named(model_pair, tmp_path):
    base_dir, _, _, _ = model_pair
    with pytest.raises(InputError, match="base-metrics file not found"):
        BaseMetrics(tmp_path / "none.safetensors", MetricSettings())
    factors = tmp_path / "f.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(factors), metadata={"kind": "factors"})
    with pytest.raises(InputError, match="not a base-metrics file"):
        BaseMetrics(factors, MetricSettings())
    shares = tmp_path / "b.safetensors"
    write_base_metrics(base_dir, shares, pattern=r".*\.q_proj\.weight")
    reader = BaseMetrics(shares, MetricSettings())
    with pytest.raises(InputError, match=r"tensor model.layers.0.mlp.up_proj.weight.spectrum is"):
        reader.share("model.layers.0.mlp.up_proj.weight", torch.zeros(20, 12))


def test_base_metrics_flag_needs_metrics_out(model_pair, tmp_path, capsys):
    base_dir, rl_dir, _, _ = model_pair
    args = ["decompose", "--base", str(base_dir), "--checkpoint", str(rl_dir), "--rank", "1"]
    code = main([*args, "--out", str(tmp_path / "f"), "--base-metrics", str(tmp_path / "b")])
    assert code == 2 and "--base-metrics is used with --metrics-out only" in capsys.readouterr().err
