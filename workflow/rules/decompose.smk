# Rank-k decomposition of every update ΔW. (Rank-k models are built in memory where they
# are scored: evaluate.smk.)
#
# `decompose` writes the factor file of every checkpoint at the series' rank and, in the same
# pass over the tensors, the checkpoint's Path Not Taken metrics (parameters.enabled), with
# W0's share of them from `base_metrics` (parameters.smk), computed once per run.
# `decompose_rank` gives other ranks (e.g. `full`) for single checkpoints. Both ask for
# `decompose.gpus` GPUs as the generic resource `gpu` (0 in the toy world: nothing is asked
# for or limited); `--device auto` uses CUDA when the machine the job runs on has it.


rule decompose:
    input:
        **DECOMPOSE_INPUT,
    output:
        **DECOMPOSE_OUTPUT,
    log:
        f"{RESULTS}/logs/decompose/k{FACTOR_RANK}/step-{{step}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/decompose/k{FACTOR_RANK}/step-{{step}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        gpu=DECOMPOSE["gpus"],
    params:
        rank=FACTOR_RANK,
        engine=ENGINE_ARGS,
        metrics=metrics_args,
    shell:
        "rldynamics decompose --base {input.base} --checkpoint {input.checkpoint}"
        " --rank {params.rank} {params.engine} {params.metrics}"
        " --out {output.factors} > {log} 2>&1"


rule decompose_rank:
    input:
        base=f"{RESULTS}/models/base",
        checkpoint=f"{RESULTS}/checkpoints/step-{{step}}",
    output:
        f"{RESULTS}/factors/k{{rank}}/step-{{step}}.safetensors",
    log:
        f"{RESULTS}/logs/decompose/k{{rank}}/step-{{step}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/decompose/k{{rank}}/step-{{step}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        gpu=DECOMPOSE["gpus"],
    params:
        engine=ENGINE_ARGS,
    shell:
        "rldynamics decompose --base {input.base} --checkpoint {input.checkpoint}"
        " --rank {wildcards.rank} {params.engine} --out {output} > {log} 2>&1"


ruleorder: decompose > decompose_rank
