# Rank-1 recovery of the RL gain and the linearity of rank-1 trajectories.


# Gathering small tables (and drawing them) takes a second or two: these jobs run where
# Snakemake runs (on a cluster, the login node) instead of waiting in the queue.
localrules:
    recovery,


rule recovery:
    input:
        f"{RESULTS}/tables/results.csv",
    output:
        report(
            f"{RESULTS}/tables/recovery.csv",
            caption="../report/recovery.rst",
            category="Tables",
        ),
    log:
        f"{RESULTS}/logs/recovery.log",
    benchmark:
        f"{RESULTS}/benchmarks/recovery.tsv"
    conda:
        ENV
    params:
        metrics=METRIC_ARGS,
        final_step=FINAL_STEP,
        lam=config["rank_models"]["lam"],
    shell:
        "rldynamics recovery --results {input} {params.metrics}"
        " --final-step {params.final_step} --lam {params.lam} --out {output} > {log} 2>&1"


rule dynamics:
    input:
        factors=[factors_path(s) for s in EVAL_STEPS],
        results=rules.checkpoint_results.output,
    output:
        series=f"{RESULTS}/dynamics/rank1_series.safetensors",
        linearity=report(
            f"{RESULTS}/tables/linearity.csv",
            caption="../report/linearity.rst",
            category="Tables",
        ),
        control=f"{RESULTS}/tables/linearity_control.csv",
    log:
        f"{RESULTS}/logs/dynamics.log",
    benchmark:
        f"{RESULTS}/benchmarks/dynamics.tsv"
    conda:
        ENV
    threads: 1
    params:
        steps=" ".join(map(str, EVAL_STEPS)),
        metrics=METRIC_ARGS,
        holdout=config["dynamics"]["holdout_fraction"],
        draws=config["dynamics"]["control_draws"],
        seed=config["seed"],
    shell:
        "rldynamics dynamics --factors {input.factors} --steps {params.steps}"
        " --results {input.results} {params.metrics} --holdout-fraction {params.holdout}"
        " --control-draws {params.draws} --seed {params.seed} --out-series {output.series}"
        " --out-table {output.linearity} --out-control {output.control} > {log} 2>&1"
