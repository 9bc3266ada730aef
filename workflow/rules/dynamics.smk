# Rank-1 recovery of the RL gain and the linearity of rank-1 trajectories.


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
    conda:
        ENV
    params:
        metrics=METRIC_ARGS,
        final_step=FINAL_STEP,
    shell:
        "rldynamics recovery --results {input} {params.metrics}"
        " --final-step {params.final_step} --out {output} > {log} 2>&1"


rule dynamics:
    input:
        factors=[factors_path(s) for s in EVAL_STEPS],
        results=rules.checkpoint_results.output,
    output:
        trajectories=f"{RESULTS}/dynamics/trajectories.safetensors",
        r2=report(
            f"{RESULTS}/tables/dynamics_r2.csv",
            caption="../report/dynamics.rst",
            category="Tables",
        ),
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
        form=config["dynamics"]["form"],
        alignment=config["dynamics"]["alignment"],
    shell:
        "rldynamics dynamics --factors {input.factors} --steps {params.steps}"
        " --results {input.results} {params.metrics} --form {params.form}"
        " --alignment {params.alignment} --out-trajectories {output.trajectories}"
        " --out-r2 {output.r2} > {log} 2>&1"
