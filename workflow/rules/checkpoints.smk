# The RL checkpoint series: run by the toy world or on a real base here (TRL GRPO, the same
# code), found in a local trainer output folder, or downloaded from the Hub; laid out as
# results/<run>/checkpoints/step-<N>/ with a checksum manifest.


if config["checkpoints"]["source"] == "toy":

    rule toy_rl:
        input:
            base=f"{RESULTS}/models/base",
            train=rules.toy_task.output.train,
        output:
            directory(f"{RESULTS}/rl"),
        log:
            f"{RESULTS}/logs/toy_rl.log",
        benchmark:
            f"{RESULTS}/benchmarks/toy_rl.tsv"
        conda:
            ENV
        # Two threads: 35 % faster than one on an idle 2-core machine, with the same weights
        # to the bit (measured on the warm-up); beside another busy process their OpenMP
        # spin-waits make them slower than one (`--cores 1` gives one).
        threads: 2
        params:
            rl=TOY["rl"],
            seed=config["seed"],
        shell:
            "rldynamics toy-rl --base {input.base} --train {input.train}"
            " --out {output} --seed {params.seed} --threads {threads}"
            " --rl-steps {params.rl[steps]} --rl-save-every {params.rl[save_every]}"
            " --rl-lr {params.rl[lr]} --rl-batch-size {params.rl[batch_size]}"
            " --rl-num-generations {params.rl[num_generations]}"
            " --rl-temperature {params.rl[temperature]}"
            " --rl-max-completion-length {params.rl[max_completion_length]}"
            " --rl-loss-type {params.rl[loss_type]} > {log} 2>&1"


if RL_WORLD:

    rule rl:
        input:
            base=f"{RESULTS}/models/base",
            train=rules.rl_task.output.train,
        output:
            directory(f"{RESULTS}/rl"),
        log:
            f"{RESULTS}/logs/rl.log",
        benchmark:
            f"{RESULTS}/benchmarks/rl.tsv"
        conda:
            ENV
        threads: 2
        params:
            rl=RL,
            seed=config["seed"],
            chat="--chat-template" if RL["chat_template"] else "",
        shell:
            "rldynamics rl --base {input.base} --train {input.train}"
            " --out {output} --seed {params.seed} --threads {threads}"
            " --answer-form {params.rl[answer_form]} {params.chat}"
            " --checkpoint-dtype {params.rl[checkpoint_dtype]}"
            " --rl-steps {params.rl[steps]} --rl-save-every {params.rl[save_every]}"
            " --rl-lr {params.rl[lr]} --rl-batch-size {params.rl[batch_size]}"
            " --rl-num-generations {params.rl[num_generations]}"
            " --rl-temperature {params.rl[temperature]}"
            " --rl-max-completion-length {params.rl[max_completion_length]}"
            " --rl-loss-type {params.rl[loss_type]} > {log} 2>&1"


if config["checkpoints"]["source"] == "hf":

    rule hf_checkpoint:
        output:
            directory(f"{RESULTS}/checkpoints/step-{{step}}"),
        log:
            f"{RESULTS}/logs/download/step-{{step}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/download/step-{{step}}.tsv"
        conda:
            ENV
        params:
            repo=lambda w: config["checkpoints"]["repo"].format(step=w.step),
            revision=config["checkpoints"]["revision"],
        shell:
            "rldynamics download --repo {params.repo:q} --revision {params.revision:q}"
            " --out {output} > {log} 2>&1"


# A local series is taken one step per job, so that a checkpoint added to the folder later
# (a run still training) adds jobs for that step and leaves the steps taken before as they are.
if config["checkpoints"]["source"] == "local":

    rule local_checkpoint:
        input:
            local_checkpoint_input,
        output:
            directory(f"{RESULTS}/checkpoints/step-{{step}}"),
        log:
            f"{RESULTS}/logs/collect/step-{{step}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/collect/step-{{step}}.tsv"
        conda:
            ENV
        shell:
            "rldynamics import-model --source {input:q} --out {output} > {log} 2>&1"


if config["checkpoints"]["source"] in ("hf", "local"):

    rule manifest:
        input:
            [f"{RESULTS}/checkpoints/step-{s}" for s in STEPS],
        output:
            MANIFEST,
        log:
            f"{RESULTS}/logs/manifest.log",
        benchmark:
            f"{RESULTS}/benchmarks/manifest.tsv"
        conda:
            ENV
        params:
            sources=manifest_sources,
        shell:
            "rldynamics manifest --out {output} {input} {params.sources} > {log} 2>&1"

else:

    rule collect:
        input:
            f"{RESULTS}/rl",
        output:
            manifest=MANIFEST,
            steps=[directory(f"{RESULTS}/checkpoints/step-{s}") for s in STEPS],
        log:
            f"{RESULTS}/logs/collect.log",
        benchmark:
            f"{RESULTS}/benchmarks/collect.tsv"
        conda:
            ENV
        params:
            steps=" ".join(map(str, STEPS)),
        shell:
            "rldynamics collect --source {input:q} --steps {params.steps}"
            " --out-dir $(dirname {output.manifest}) --manifest {output.manifest} > {log} 2>&1"
