# Benchmark scoring with lm-eval, a chunk of models per job (models built in memory from
# base + factors with the hf backend), and the tidy results tables: one of base and
# checkpoints (what the fits read), one of everything.


# Gathering small tables (and drawing them) takes a second or two: these jobs run where
# Snakemake runs (on a cluster, the login node) instead of waiting in the queue.
localrules:
    checkpoint_results,
    results,
    item_verdicts,


rule evaluate:
    input:
        unpack(scoring_inputs),
    output:
        # the completions, kept for re-scoring where evaluate.log_samples is on
        **(
            {"completions": f"{RESULTS}/eval/{{chunk}}.completions.jsonl.gz"}
            if config["evaluate"]["log_samples"]
            else {}
        ),
        csv=f"{RESULTS}/eval/{{chunk}}.csv",
        json=f"{RESULTS}/eval/{{chunk}}.json",
        verdicts=f"{RESULTS}/eval/{{chunk}}.items.csv",
    log:
        f"{RESULTS}/logs/eval/{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval/{{chunk}}.tsv"
    conda:
        # vllm pins a transformers that the main lock cannot hold: its own environment
        (
            "../../envs/rldynamics-vllm.yaml"
            if config["evaluate"]["backend"] == "vllm"
            else ENV
        )
    threads: 1
    resources:
        gpu=config["evaluate"]["gpus"],
    params:
        spec=scoring_spec,
        completions=lambda w, output: (
            f"--out-completions {output.completions}"
            if config["evaluate"]["log_samples"]
            else ""
        ),
    shell:
        "rldynamics evaluate --spec {params.spec:q} --out-csv {output.csv}"
        " --out-json {output.json} --out-items {output.verdicts} {params.completions}"
        " > {log} 2>&1"


rule checkpoint_results:
    input:
        eval_csvs("checkpoints/"),
    output:
        f"{RESULTS}/tables/checkpoint_results.csv",
    log:
        f"{RESULTS}/logs/checkpoint_results.log",
    benchmark:
        f"{RESULTS}/benchmarks/checkpoint_results.tsv"
    conda:
        ENV
    shell:
        "rldynamics gather --out {output} {input} > {log} 2>&1"


rule results:
    input:
        eval_csvs(),
    output:
        report(
            f"{RESULTS}/tables/results.csv",
            caption="../report/results.rst",
            category="Tables",
        ),
    log:
        f"{RESULTS}/logs/results.log",
    benchmark:
        f"{RESULTS}/benchmarks/results.tsv"
    conda:
        ENV
    shell:
        "rldynamics gather --out {output} {input} > {log} 2>&1"


rule item_verdicts:
    input:
        [csv.replace(".csv", ".items.csv") for csv in eval_csvs()],
    output:
        f"{RESULTS}/tables/items.csv.gz",
    log:
        f"{RESULTS}/logs/items.log",
    benchmark:
        f"{RESULTS}/benchmarks/items.tsv"
    conda:
        ENV
    shell:
        "rldynamics items --out {output} {input} > {log} 2>&1"
