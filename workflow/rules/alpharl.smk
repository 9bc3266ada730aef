# AlphaRL: extrapolate the rank-1 update from an early window, one file per variant and
# window. The models (W0 or the window-end checkpoint + ΔŴ, and the whole-weight baseline)
# are built in memory and scored with the others (evaluate.smk).


rule alpharl_predict:
    input:
        unpack(alpharl_inputs),
    output:
        f"{RESULTS}/alpharl/{{variant}}/window-{{pct}}.safetensors",
    log:
        f"{RESULTS}/logs/alpharl/{{variant}}/window-{{pct}}.log",
    conda:
        ENV
    params:
        fraction=lambda w: WINDOWS[w.pct][0],
        accuracy=lambda w, input: (
            f"--results {input.results} {METRIC_ARGS}"
            if "results" in input.keys()
            else ""
        ),
        target=lambda w: (
            config["alpharl"]["official_target"]
            if w.variant == "official-code"
            else config["alpharl"]["target"]
        ),
        target_step=config["alpharl"]["target_step"] or FINAL_STEP,
    shell:
        "rldynamics alpharl --series {input.series} {params.accuracy}"
        " --fraction {params.fraction} --variant {wildcards.variant} --target {params.target}"
        " --target-step {params.target_step} --out {output} > {log} 2>&1"


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
        windows=WINDOW_ARGS,
    shell:
        "rldynamics alpharl-table --results {input} {params.metrics} {params.windows}"
        " --out {output} > {log} 2>&1"
