# AlphaRL: extrapolate the rank-1 update from an early window, one file per variant and
# window (every window of a variant in one job). The models (W0 or the window-end
# checkpoint + ΔŴ, and the whole-weight baseline) are built in memory and scored with the
# others (evaluate.smk).


# Gathering small tables (and drawing them) takes a second or two: these jobs run where
# Snakemake runs (on a cluster, the login node) instead of waiting in the queue.
localrules:
    alpharl_table,
    forecast,
    backtest,


rule alpharl_predict:
    input:
        unpack(alpharl_inputs),
    output:
        [
            f"{RESULTS}/alpharl/{{variant}}/window-{label}.safetensors"
            for label in WINDOWS
        ],
    log:
        f"{RESULTS}/logs/alpharl/{{variant}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/alpharl/{{variant}}.tsv"
    conda:
        ENV
    params:
        window=window_args,
        accuracy=accuracy_args,
        weights=weight_args,
        target=lambda w: (
            config["alpharl"]["official_target"]
            if w.variant == "official-code"
            else config["alpharl"]["target"]
        ),
        target_step=config["alpharl"]["target_step"] or FINAL_STEP,
    shell:
        "rldynamics alpharl --series {input.series} {params.accuracy} {params.weights}"
        " {params.window} --variant {wildcards.variant} --target {params.target}"
        " --target-step {params.target_step} > {log} 2>&1"


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
    benchmark:
        f"{RESULTS}/benchmarks/alpharl_table.tsv"
    conda:
        ENV
    params:
        metrics=METRIC_ARGS,
        windows=WINDOW_ARGS,
    shell:
        "rldynamics alpharl-table --results {input.results} {params.metrics} {params.windows}"
        " --predictions {input.predictions} --base {input.base} --out {output} > {log} 2>&1"


# Forecast: where the run ends at alpharl.target_step (default its last checkpoint), from the
# checkpoints so far, beside the extrapolated model; the backtest forecasts the last step from
# each window's end and counts how often the 95 % interval held the realized accuracy.


rule forecast:
    input:
        results=f"{RESULTS}/tables/results.csv",
        verdicts=f"{RESULTS}/tables/items.csv.gz",
    output:
        table=f"{RESULTS}/tables/forecast.csv",
        report=report(
            f"{RESULTS}/forecast.md",
            caption="../report/forecast.rst",
            category="Tables",
        ),
    log:
        f"{RESULTS}/logs/forecast.log",
    benchmark:
        f"{RESULTS}/benchmarks/forecast.tsv"
    conda:
        ENV
    params:
        metrics=METRIC_ARGS,
        target_step=config["alpharl"]["target_step"] or FINAL_STEP,
        tolerance=config["forecast"]["tolerance"],
        variant=config["forecast"]["variant"],
    shell:
        "rldynamics forecast --results {input.results} --items {input.verdicts} {params.metrics}"
        " --target-step {params.target_step} --variant {params.variant}"
        " --tolerance {params.tolerance} --out-table {output.table}"
        " --out-report {output.report} > {log} 2>&1"


rule backtest:
    input:
        results=f"{RESULTS}/tables/results.csv",
        alpharl=rules.alpharl_table.output[0],
    output:
        table=f"{RESULTS}/tables/backtest.csv",
        figure=report(
            f"{RESULTS}/figures/backtest.png",
            caption="../report/backtest.rst",
            category="Figures",
        ),
    log:
        f"{RESULTS}/logs/backtest.log",
    benchmark:
        f"{RESULTS}/benchmarks/backtest.tsv"
    conda:
        ENV
    params:
        metrics=METRIC_ARGS,
        stem=lambda w, output: output.figure.removesuffix(".png"),
    shell:
        "rldynamics backtest --results {input.results} --alpharl {input.alpharl}"
        " {params.metrics} --out {output.table} --out-figure {params.stem} > {log} 2>&1"
