# What the run was made from, beside its results: package versions, the validated config and
# its sha256, and the checksums of the base model and of every checkpoint.


rule provenance:
    input:
        manifest=MANIFEST,
        base=f"{RESULTS}/models/base",
    output:
        f"{RESULTS}/provenance.json",
    log:
        f"{RESULTS}/logs/provenance.log",
    benchmark:
        f"{RESULTS}/benchmarks/provenance.tsv"
    conda:
        ENV
    params:
        # a function: the config holds braces ("{results}") that are no wildcards
        config=lambda w: json.dumps(config, sort_keys=True),
    shell:
        "rldynamics provenance --config {params.config:q} --manifest {input.manifest}"
        " --base {input.base} --out {output} > {log} 2>&1"
