# The figures: each reads only the tables. A single-checkpoint run has no trajectory figures.


# Gathering small tables (and drawing them) takes a second or two: these jobs run where
# Snakemake runs (on a cluster, the login node) instead of waiting in the queue.
localrules:
    figures,


rule figures:
    input:
        unpack(trajectory_tables),
        results=rules.results.output,
        recovery=rules.recovery.output,
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
    benchmark:
        f"{RESULTS}/benchmarks/figures.tsv"
    conda:
        ENV
    params:
        trajectory=trajectory_args,
        metrics=METRIC_ARGS,
        run=RUN,
        lam=config["rank_models"]["lam"],
        form=config["dynamics"]["form"],
        alignment=config["dynamics"]["alignment"],
    shell:
        "rldynamics figures --results {input.results} --recovery {input.recovery}"
        " {params.trajectory} {params.metrics} --run {params.run}"
        " --lam {params.lam} --form {params.form} --alignment {params.alignment}"
        " --out-dir $(dirname {output.png[0]}) > {log} 2>&1"
