# The papers' headline claims against this run: every number from per-item verdicts with a
# paired bootstrap interval over items, a verdict per claim, and the forest plot the report
# opens with.


rule claims:
    input:
        unpack(claims_inputs),
    output:
        claims=report(
            f"{RESULTS}/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
            labels={"what": "claims table"},
        ),
        intervals=report(
            f"{RESULTS}/tables/intervals.csv",
            caption="../report/intervals.rst",
            category="Claims",
            labels={"what": "every derived number"},
        ),
        figure=report(
            f"{RESULTS}/figures/claims_forest.png",
            caption="../report/claims_forest.rst",
            category="Claims",
            labels={"what": "forest plot"},
        ),
        pdf=f"{RESULTS}/figures/claims_forest.pdf",
    log:
        f"{RESULTS}/logs/claims.log",
    benchmark:
        f"{RESULTS}/benchmarks/claims.tsv"
    conda:
        ENV
    params:
        metrics=METRIC_ARGS,
        final_step=FINAL_STEP,
        lam=config["rank_models"]["lam"],
        form=config["dynamics"]["form"],
        alignment=config["dynamics"]["alignment"],
        optional=claims_args,
        n_boot=config["claims"]["bootstrap"],
        seed=config["seed"],
        run=RUN,
    shell:
        "rldynamics claims --items {input.verdicts} --paper-claims {input.paper}"
        " {params.metrics} --final-step {params.final_step} --lam {params.lam}"
        " --form {params.form} --alignment {params.alignment} {params.optional}"
        " --n-boot {params.n_boot} --seed {params.seed} --run {params.run}"
        " --out {output.claims} --out-intervals {output.intervals}"
        " --out-figure {output.figure} > {log} 2>&1"
