# The base model W0: built by the toy world, taken from a local HF folder, converted from a
# GGUF file, or downloaded; and the task data of the pipeline's own RL run.
#
# Writing the task's items takes a fraction of a second: rl_task and toy_task run where
# Snakemake runs (on a cluster, the login node) instead of waiting in the queue.


if RL_WORLD:

    localrules:
        rl_task,

    rule rl_task:
        output:
            train=f"{RESULTS}/data/train.jsonl",
            test=f"{RESULTS}/data/test.jsonl",
        log:
            f"{RESULTS}/logs/rl_task.log",
        benchmark:
            f"{RESULTS}/benchmarks/rl_task.tsv"
        conda:
            ENV
        params:
            task=RL["task"],
            seed=config["seed"],
        shell:
            "rldynamics rl-task --operand-max {params.task[operand_max]}"
            " --n-train {params.task[n_train]} --n-test {params.task[n_test]}"
            " --prompt {params.task[prompt]:q} --seed {params.seed}"
            " --out-dir $(dirname {output.train}) > {log} 2>&1"

else:

    localrules:
        toy_task,

    rule toy_task:
        output:
            train=f"{RESULTS}/data/train.jsonl",
            test=f"{RESULTS}/data/test.jsonl",
        log:
            f"{RESULTS}/logs/toy_task.log",
        benchmark:
            f"{RESULTS}/benchmarks/toy_task.tsv"
        conda:
            ENV
        params:
            task=TOY["task"],
            seed=config["seed"],
        shell:
            "rldynamics toy-task --digits {params.task[digits]} --n-train {params.task[n_train]}"
            " --n-test {params.task[n_test]} --seed {params.seed}"
            " --out-dir $(dirname {output.train}) > {log} 2>&1"


if config["base"]["source"] == "toy":

    rule toy_base:
        input:
            train=rules.toy_task.output.train,
            test=rules.toy_task.output.test,
        output:
            directory(f"{RESULTS}/models/base"),
        log:
            f"{RESULTS}/logs/toy_base.log",
        benchmark:
            f"{RESULTS}/benchmarks/toy_base.tsv"
        conda:
            ENV
        # Two threads: 35 % faster than one on an idle 2-core machine, with the same weights
        # to the bit (measured on the warm-up); beside another busy process their OpenMP
        # spin-waits make them slower than one (`--cores 1` gives one).
        threads: 2
        params:
            model=TOY["model"],
            warmup=TOY["warmup"],
            seed=config["seed"],
        shell:
            "rldynamics toy-base --train {input.train} --test {input.test}"
            " --out {output} --seed {params.seed} --threads {threads}"
            " --hidden-size {params.model[hidden_size]}"
            " --intermediate-size {params.model[intermediate_size]}"
            " --num-layers {params.model[num_layers]} --num-heads {params.model[num_heads]}"
            " --num-kv-heads {params.model[num_kv_heads]}"
            " --max-positions {params.model[max_positions]}"
            " --warmup-steps {params.warmup[steps]} --warmup-lr {params.warmup[lr]}"
            " --warmup-batch-size {params.warmup[batch_size]}"
            " --warmup-wrong-fraction {params.warmup[wrong_fraction]} > {log} 2>&1"


if config["base"]["source"] == "local":

    rule local_base:
        output:
            directory(f"{RESULTS}/models/base"),
        log:
            f"{RESULTS}/logs/local_base.log",
        benchmark:
            f"{RESULTS}/benchmarks/local_base.tsv"
        conda:
            ENV
        params:
            source=config["base"]["path"],
        shell:
            "rldynamics import-model --source {params.source:q} --out {output} > {log} 2>&1"


if config["base"]["source"] == "gguf":

    rule gguf_base:
        output:
            directory(f"{RESULTS}/models/base"),
        log:
            f"{RESULTS}/logs/gguf_base.log",
        benchmark:
            f"{RESULTS}/benchmarks/gguf_base.tsv"
        conda:
            ENV
        params:
            source=config["base"]["path"],
        shell:
            "rldynamics import-gguf --source {params.source:q} --out {output} > {log} 2>&1"


if config["base"]["source"] == "hf":

    rule hf_base:
        output:
            directory(f"{RESULTS}/models/base"),
        log:
            f"{RESULTS}/logs/download/base.log",
        benchmark:
            f"{RESULTS}/benchmarks/download/base.tsv"
        conda:
            ENV
        params:
            repo=config["base"]["repo"],
            revision=config["base"]["revision"],
        shell:
            "rldynamics download --repo {params.repo:q} --revision {params.revision:q}"
            " --out {output} > {log} 2>&1"
