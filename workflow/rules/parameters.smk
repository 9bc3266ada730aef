# The Path Not Taken parameter metrics (METHOD §7): W0's share once per run (base_metrics),
# then per matrix and checkpoint computed by `decompose` in its pass over the tensors,
# gathered into one tidy table and drawn.

PARAMETER_FIGURES = ["update_sparsity", "principal_angles", "spectral_drift"]


# Gathering small tables (and drawing them) takes a second or two: these jobs run where
# Snakemake runs (on a cluster, the login node) instead of waiting in the queue.
localrules:
    parameter_figures,


rule base_metrics:
    input:
        base=f"{RESULTS}/models/base",
    output:
        BASE_METRICS,
    log:
        f"{RESULTS}/logs/base_metrics.log",
    benchmark:
        f"{RESULTS}/benchmarks/base_metrics.tsv"
    conda:
        ENV
    threads: 1
    resources:
        gpu=DECOMPOSE["gpus"],
    params:
        settings=METRIC_SETTINGS_ARGS,
        pattern=shlex.quote(DECOMPOSE["pattern"]),
        device=shlex.quote(DECOMPOSE["device"]),
    shell:
        "rldynamics base-metrics --base {input.base} --out {output} {params.settings}"
        " --pattern {params.pattern} --device {params.device} > {log} 2>&1"


rule parameter_table:
    input:
        [metrics_path(s) for s in STEPS],
    output:
        report(
            f"{RESULTS}/tables/parameters.csv",
            caption="../report/parameters.rst",
            category="Tables",
        ),
    log:
        f"{RESULTS}/logs/parameter_table.log",
    benchmark:
        f"{RESULTS}/benchmarks/parameter_table.tsv"
    conda:
        ENV
    shell:
        "rldynamics parameter-table --out {output} {input} > {log} 2>&1"


rule parameter_figures:
    input:
        rules.parameter_table.output,
    output:
        png=[
            report(
                f"{RESULTS}/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
            )
            for name in PARAMETER_FIGURES
        ],
        pdf=[f"{RESULTS}/figures/{name}.pdf" for name in PARAMETER_FIGURES],
    log:
        f"{RESULTS}/logs/parameter_figures.log",
    benchmark:
        f"{RESULTS}/benchmarks/parameter_figures.tsv"
    conda:
        ENV
    params:
        run=RUN,
    shell:
        "rldynamics parameter-figures --table {input} --run {params.run}"
        " --out-dir $(dirname {output.png[0]}) > {log} 2>&1"
