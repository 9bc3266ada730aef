# Benchmark scoring with lm-eval (hf backend) of every model of the study, and the tidy
# results tables: one of base and checkpoints (what the fits read), one of everything.


rule evaluate:
    input:
        model=model_dir,
        tokenizer=f"{RESULTS}/models/base",
        task=lambda w: benchmark_task(w.benchmark),
        data=lambda w: benchmark_data(w.benchmark) or [],
    output:
        csv=f"{RESULTS}/eval/{{model}}/{{benchmark}}.csv",
        json=f"{RESULTS}/eval/{{model}}/{{benchmark}}.json",
    log:
        f"{RESULTS}/logs/eval/{{model}}/{{benchmark}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/eval/{{model}}/{{benchmark}}.tsv"
    conda:
        ENV
    threads: 1
    params:
        labels=eval_label_args,
        data=lambda w, input: f"--data {input.data}" if input.data else "",
        batch_size=config["evaluate"]["batch_size"],
        device=config["evaluate"]["device"],
        limit=(
            f"--limit {config['evaluate']['limit']}"
            if config["evaluate"]["limit"]
            else ""
        ),
        seed=config["seed"],
    shell:
        "rldynamics evaluate --model {input.model} --tokenizer {input.tokenizer}"
        " --task {input.task} {params.data} {params.labels}"
        " --batch-size {params.batch_size} --device {params.device} {params.limit}"
        " --seed {params.seed} --out-json {output.json} --out-csv {output.csv} > {log} 2>&1"


rule checkpoint_results:
    input:
        eval_csvs(CHECKPOINT_MODELS),
    output:
        f"{RESULTS}/tables/checkpoint_results.csv",
    log:
        f"{RESULTS}/logs/checkpoint_results.log",
    conda:
        ENV
    shell:
        "rldynamics gather --out {output} {input} > {log} 2>&1"


rule results:
    input:
        eval_csvs(CHECKPOINT_MODELS + RANK_MODELS + ALPHARL_MODELS),
    output:
        report(
            f"{RESULTS}/tables/results.csv",
            caption="../report/results.rst",
            category="Tables",
        ),
    log:
        f"{RESULTS}/logs/results.log",
    conda:
        ENV
    shell:
        "rldynamics gather --out {output} {input} > {log} 2>&1"
