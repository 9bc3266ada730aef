# Rank-k decomposition of every update ΔW. (Rank-k models are built in memory where they
# are scored: evaluate.smk.)
#
# `decompose` writes the factor files of a batch of checkpoints (decompose.checkpoints_per_job
# of them, one process) at the series' rank and, in the same pass over the tensors, their
# Path Not Taken metrics (parameters.enabled), with W0's share from `base_metrics`
# (parameters.smk), computed once per run. The batch's folder is temporary: `step_factors`
# gives every step its files at factors/k<rank>/step-<N>.safetensors and
# parameters/step-<N>.csv, where every consumer reads them.
# `decompose_rank` gives other ranks (e.g. `full`) for single checkpoints. Both ask for
# `decompose.gpus` GPUs as the generic resource `gpu` (0 in the toy world: nothing is asked
# for or limited); `--device auto` uses CUDA when the machine the job runs on has it.


# Copying one step's files out of its batch's folder takes milliseconds: it runs where
# Snakemake runs (on a cluster, the login node) instead of waiting in the queue.
localrules:
    step_factors,


rule decompose:
    input:
        unpack(decompose_batch_input),
    output:
        temp(directory(decompose_batch_folder("{batch}"))),
    log:
        f"{RESULTS}/logs/decompose/k{FACTOR_RANK}/batch-{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/decompose/k{FACTOR_RANK}/batch-{{batch}}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        gpu=DECOMPOSE["gpus"],
    params:
        rank=FACTOR_RANK,
        engine=ENGINE_ARGS,
        batch=decompose_batch_args,
    shell:
        "rldynamics decompose --base {input.base} --checkpoint {input.checkpoints}"
        " --rank {params.rank} {params.engine} {params.batch}"
        " --out-dir {output} > {log} 2>&1"


rule step_factors:
    input:
        step_batch_folder,
    output:
        **STEP_OUTPUT,
    log:
        f"{RESULTS}/logs/step_factors/k{FACTOR_RANK}/step-{{step}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/step_factors/k{FACTOR_RANK}/step-{{step}}.tsv"
    conda:
        ENV
    shell:
        "(for out in {output}; do"
        ' cp "{input}/$(basename "$out")" "$out.part" && mv "$out.part" "$out" || exit 1;'
        " done) > {log} 2>&1"


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


ruleorder: step_factors > decompose_rank
