# AlphaRL: extrapolate the rank-1 update from an early window, one file per variant and
# window. The models (W0 or the window-end checkpoint + ΔŴ, and the whole-weight baseline)
# are built in memory and scored with the others (evaluate.smk).


rule alpharl_predict:
    input:
        unpack(alpharl_inputs),
    output:
        f"{RESULTS}/alpharl/{{variant}}/window-{{window}}.safetensors",
    log:
        f"{RESULTS}/logs/alpharl/{{variant}}/window-{{window}}.log",
    conda:
        ENV
    params:
        window=window_args,
        accuracy=accuracy_args,
        target=lambda w: (
            config["alpharl"]["official_target"]
            if w.variant == "official-code"
            else config["alpharl"]["target"]
        ),
        target_step=config["alpharl"]["target_step"] or FINAL_STEP,
    shell:
        "rldynamics alpharl --series {input.series} {params.accuracy}"
        " {params.window} --variant {wildcards.variant} --target {params.target}"
        " --target-step {params.target_step} --out {output} > {log} 2>&1"


rule alpharl_table:
    input:
        results=f"{RESULTS}/tables/results.csv",
        predictions=ALPHARL_PREDICTIONS,
        base=f"{RESULTS}/models/base",
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
        "rldynamics alpharl-table --results {input.results} {params.metrics} {params.windows}"
        " --predictions {input.predictions} --base {input.base} --out {output} > {log} 2>&1"
