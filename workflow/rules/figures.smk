# The figures: each reads only the tables.

FIGURES = ["accuracy_vs_step", "recovery_vs_k", "r2_histogram", "alpharl_windows"]


rule figures:
    input:
        results=rules.results.output,
        recovery=rules.recovery.output,
        r2=rules.dynamics.output.r2,
        alpharl=rules.alpharl_table.output,
    output:
        png=[
            report(
                f"{RESULTS}/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
            )
            for name in FIGURES
        ],
        pdf=[f"{RESULTS}/figures/{name}.pdf" for name in FIGURES],
    log:
        f"{RESULTS}/logs/figures.log",
    conda:
        ENV
    params:
        metrics=METRIC_ARGS,
        run=RUN,
    shell:
        "rldynamics figures --results {input.results} --recovery {input.recovery}"
        " --r2 {input.r2} --alpharl {input.alpharl} {params.metrics} --run {params.run}"
        " --out-dir $(dirname {output.png[0]}) > {log} 2>&1"
