"""Model sources other than the toy world: a Hugging Face Hub repository at a revision, or a
local HF folder whose weights and side files are linked or copied (:func:`copy_model`,
which ``import-model`` and ``collect`` use).

Only safetensors weights, configs and tokenizer files are fetched (never pickled weights);
the access token, if any, comes from the environment (HF_TOKEN) and is never logged. The
download honours HF_HOME and HF_HUB_OFFLINE (then only the local cache is read).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from rldynamics.core.errors import InputError
from rldynamics.core.io import MODEL_SIDE_FILES, ModelWeights, atomic_path

log = logging.getLogger(__name__)

WANTED_FILES = [
    "*.safetensors",
    "*.safetensors.index.json",
    "config.json",
    "generation_config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
]


def download(repo: str, revision: str, out: str | Path) -> None:
    """Fetch ``repo`` at ``revision`` into the HF cache, then lay it out as a model folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    # The token comes from the environment only: False stops huggingface_hub from reading a
    # token file left on the machine by `huggingface-cli login`.
    token = os.environ.get("HF_TOKEN") or False
    try:
        # Interrupted downloads resume: finished files are in the cache (HF_HOME), partial
        # ones are continued from their .incomplete blob.
        snapshot = snapshot_download(
            repo_id=repo, revision=revision, allow_patterns=WANTED_FILES, token=token
        )
    except LocalEntryNotFoundError as err:
        raise InputError(
            f"{repo}@{revision}: not in the local HF cache and the Hub is unreachable or "
            "HF_HUB_OFFLINE is set"
        ) from err
    except HfHubHTTPError as err:
        raise InputError(f"{repo}@{revision}: download failed ({err})") from err
    log.info("%s@%s: snapshot %s", repo, revision, snapshot)
    copy_model(snapshot, out)


def _link_or_copy(src: Path, dst: Path) -> None:
    # Link the file itself, not a symlink to it: the HF cache's snapshot files are relative
    # symlinks into its blobs, which would dangle in the new folder.
    src = src.resolve()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_model(source: str | Path, target: str | Path) -> ModelWeights:
    """Hard-link (or copy) an HF model folder's safetensors weights and side files."""
    source = Path(source)
    names = [p.name for p in ModelWeights(source).weight_files()]
    if (source / "model.safetensors.index.json").exists():
        names.append("model.safetensors.index.json")
    names += [n for n in MODEL_SIDE_FILES if (source / n).exists()]
    with atomic_path(target, directory=True) as tmp:
        for name in names:
            _link_or_copy(source / name, tmp / name)
    return ModelWeights(target)
