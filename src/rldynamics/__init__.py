"""rldynamics: what RL training does to the weights of a language model, and how to skip it.

One subpackage per stage of the DAG, in the order below; a stage imports only ``core`` and
the stages before it (tests/test_imports.py holds the package to it, and ``cli`` gathers each
stage's commands in this order). ARCHITECTURE.md says what each one owns.
"""

from pathlib import Path

__version__ = "0.1.0"

# The checkout the package runs from (an editable install): its Snakefile and workflow/.
REPOSITORY = Path(__file__).resolve().parents[2]

# The import order: each subpackage may import only those before it. ``toy`` provides the
# embedded world's sources (base model and checkpoints) with the code of those two stages.
STAGES = (
    "core",
    "models",
    "checkpoints",
    "toy",
    "decompose",
    "parameters",
    "evaluate",
    "dynamics",
    "alpharl",
    "figures",
    "claims",
    "forecast",
    "runs",
)
