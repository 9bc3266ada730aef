# The figures: each reads only the tables.

FIGURES = [
    "accuracy_vs_step",
    "recovery_vs_k",
    "r2_histogram",
    "alpharl_windows",
    "lambda_sweep",
    "trajectories",
    "tsne",
]


rule figures:
    input:
        results=rules.results.output,
        recovery=rules.recovery.output,
        linearity=rules.dynamics.output.linearity,
        control=rules.dynamics.output.control,
        series=rules.dynamics.output.series,
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
        lam=config["rank_models"]["lam"],
        form=config["dynamics"]["form"],
        alignment=config["dynamics"]["alignment"],
    shell:
        "rldynamics figures --results {input.results} --recovery {input.recovery}"
        " --linearity {input.linearity} --control {input.control} --series {input.series}"
        " --alpharl {input.alpharl} {params.metrics} --run {params.run}"
        " --lam {params.lam} --form {params.form} --alignment {params.alignment}"
        " --out-dir $(dirname {output.png[0]}) > {log} 2>&1"
