# Rank-k decomposition of every update ΔW and the rank-k models built from it.


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


rule build_rank_k:
    input:
        base=f"{RESULTS}/models/base",
        factors=lambda w: factors_path(w.step, factor_rank_for(w.k)),
    output:
        directory(f"{RESULTS}/models/rank-{{k}}/step-{{step}}"),
    log:
        f"{RESULTS}/logs/build/rank-{{k}}/step-{{step}}.log",
    conda:
        ENV
    threads: 1
    params:
        scale=config["rank_models"]["scale"],
        lam=config["rank_models"]["lam"],
    shell:
        "rldynamics build --base {input.base} --factors {input.factors}"
        " --rank {wildcards.k} --scale {params.scale} --lam {params.lam}"
        " --out {output} > {log} 2>&1"
