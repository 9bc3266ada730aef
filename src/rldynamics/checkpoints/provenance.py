"""What a run was made from: package versions, the validated config and input checksums."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd

from rldynamics.core.grading import GRADER_VERSION
from rldynamics.core.io import ModelWeights, sha256_file, write_text

PACKAGES = [
    "rldynamics",
    "torch",
    "transformers",
    "tokenizers",
    "trl",
    "lm_eval",
    "math-verify",
    "safetensors",
    "numpy",
    "scikit-learn",
    "pandas",
    "snakemake",
]


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _base_origin(base_dir: Path) -> dict | None:
    origin = base_dir / "provenance.json"
    return json.loads(origin.read_text()) if origin.exists() else None


def write_provenance(config_json: str, manifest: str | Path, base_dir: str | Path, out) -> dict:
    """Record versions, the config's sha256 and the checksums of base and checkpoints."""
    config = json.loads(config_json)
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    base = ModelWeights(base_dir)
    record = {
        "python": platform.python_version(),
        "packages": package_versions(),
        # The answer-reading rule that scored the run (rldynamics.core.grading).
        "grader_version": GRADER_VERSION,
        "config_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
        "config": config,
        "base": {str(p.name): sha256_file(p) for p in base.weight_files()},
        # Where an imported base came from (a GGUF file: its sha256 and quantization).
        "base_origin": _base_origin(Path(base_dir)),
        "checkpoints": pd.read_csv(manifest)[["step", "file", "sha256"]].to_dict("records"),
    }
    write_text(out, json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record
