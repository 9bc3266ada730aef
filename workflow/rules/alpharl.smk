# AlphaRL: extrapolate the rank-1 update from an early window; the model W0 + ΔŴ is built
# in memory and scored with the others (evaluate.smk).


rule alpharl_predict:
    input:
        trajectories=rules.dynamics.output.trajectories,
        results=rules.checkpoint_results.output,
    output:
        f"{RESULTS}/alpharl/{{variant}}/window-{{pct}}.safetensors",
    log:
        f"{RESULTS}/logs/alpharl/{{variant}}/window-{{pct}}.log",
    conda:
        ENV
    params:
        metrics=METRIC_ARGS,
        fraction=lambda w: WINDOWS[w.pct][0],
        target=config["alpharl"]["target"],
    shell:
        "rldynamics alpharl --trajectories {input.trajectories} --results {input.results}"
        " {params.metrics} --fraction {params.fraction} --variant {wildcards.variant}"
        " --target {params.target} --out {output} > {log} 2>&1"


rule alpharl_table:
    input:
        f"{RESULTS}/tables/results.csv",
    output:
        report(
            f"{RESULTS}/tables/alpharl.csv",
            caption="../report/alpharl.rst",
            category="Tables",
        ),
    log:
        f"{RESULTS}/logs/alpharl_table.log",
    conda:
        ENV
    params:
        metrics=METRIC_ARGS,
        windows=" ".join(
            f"--window {VARIANT}:{fraction}:{step}"
            for fraction, step in WINDOWS.values()
        ),
    shell:
        "rldynamics alpharl-table --results {input} {params.metrics} {params.windows}"
        " --out {output} > {log} 2>&1"
