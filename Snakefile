# rldynamics: what RL training does to the weights of an LLM (AlphaRL; The Path Not Taken).
# This file only sets up; each stage lives in workflow/rules/<stage>.smk.

from snakemake.utils import min_version

min_version("9.0")


# The toy world is the default; a --configfile given on the command line replaces it whole
# (Snakemake would otherwise merge the two, e.g. adding the toy benchmark to a real run).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# common.smk appends workflow/bin to PATH for jobs in environments without the package.
envvars:
    "PATH",


include: "workflow/rules/common.smk"


wildcard_constraints:
    step=r"\d+",
    rank=r"\d+|full",
    k=r"\d+|full",
    window=r"[0-9.]+|[a-z][a-z0-9_-]*",
    benchmark="|".join(map(re.escape, BENCHMARKS)),
    chunk=CHUNK_KEY,
    variant=VARIANT_KEY,


include: "workflow/rules/models.smk"
include: "workflow/rules/checkpoints.smk"
include: "workflow/rules/decompose.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/dynamics.smk"
include: "workflow/rules/alpharl.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/provenance.smk"


if config["parameters"]["enabled"]:

    include: "workflow/rules/parameters.smk"


rule all:
    default_target: True
    input:
        rules.claims.output,
        MANIFEST,
        rules.provenance.output,
        rules.results.output,
        rules.recovery.output,
        (
            [
                rules.dynamics.output.linearity,
                rules.alpharl_table.output,
                rules.forecast.output,
                rules.backtest.output,
            ]
            if TRAJECTORY
            else []
        ),
        rules.figures.output,
        (
            [rules.parameter_table.output, rules.parameter_figures.output]
            if config["parameters"]["enabled"]
            else []
        ),
