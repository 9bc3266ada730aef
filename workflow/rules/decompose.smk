# Rank-k decomposition of every update ΔW. (Rank-k models are built in memory where they
# are scored: evaluate.smk.)


rule decompose:
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
    params:
        pattern=config["decompose"]["pattern"],
    shell:
        "rldynamics decompose --base {input.base} --checkpoint {input.checkpoint}"
        " --rank {wildcards.rank} --pattern {params.pattern:q} --out {output} > {log} 2>&1"
