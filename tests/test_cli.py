import subprocess
import sys

from rldynamics.cli import main


def test_bad_input_ends_with_a_named_error_and_no_traceback(tmp_path, capsys):
    code = main(
        [
            "decompose",
            "--base",
            str(tmp_path / "nope"),
            "--checkpoint",
            str(tmp_path),
            "--rank",
            "2",
            "--out",
            str(tmp_path / "f.safetensors"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "model folder not found" in err and "nope" in err and "Traceback" not in err
    assert not (tmp_path / "f.safetensors").exists()


def test_bad_rank_is_named(model_pair, tmp_path, capsys):
    base_dir, rl_dir, _, _ = model_pair
    code = main(
        [
            "decompose",
            "--base",
            str(base_dir),
            "--checkpoint",
            str(rl_dir),
            "--rank",
            "many",
            "--out",
            str(tmp_path / "f.safetensors"),
        ]
    )
    assert code == 2 and "'many'" in capsys.readouterr().err


def test_module_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "rldynamics", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "rldynamics" in proc.stdout
