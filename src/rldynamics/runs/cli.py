"""Commands about whole runs: ``compute-plan`` (GPU-hours and intervals per family of models,
optionally from a pilot), ``disk-plan``, ``seeds`` (the run once per seed, the claims side by
side), ``profile`` (where a finished run's time went) and ``config-docs``."""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

from rldynamics.core.errors import InputError

log = logging.getLogger("rldynamics")


def cmd_disk_plan(args) -> None:
    import yaml
    from snakemake.utils import validate

    from rldynamics.core.io import write_text
    from rldynamics.runs import diskplan

    try:
        config = yaml.safe_load(Path(args.config).read_text())
        hf_config = json.loads(Path(args.model_config).read_text())
    except (OSError, yaml.YAMLError, json.JSONDecodeError) as err:
        raise InputError(f"disk-plan: cannot read its inputs ({err})") from err
    validate(config, args.schema, set_default=True)
    table = diskplan.markdown(diskplan.plan(hf_config, config))
    if args.readme:
        readme = Path(args.readme)
        write_text(readme, diskplan.replace_block(readme.read_text(), table, readme))
        log.info("disk plan of %s → %s", args.config, readme)
    else:
        sys.stdout.write(table)


def cmd_config_docs(args) -> None:
    from rldynamics.core.io import write_text
    from rldynamics.runs.configdoc import render

    write_text(args.out, render(args.schema))
    log.info("configuration reference → %s", args.out)


def cmd_seeds(args) -> None:
    from rldynamics.runs.seeds import run_seeds

    run_seeds(args.configfile, args.seeds, args.cores, args.snakemake_args or [])


def _config(path: str, schema: str) -> dict:
    import yaml
    from jsonschema import ValidationError
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise InputError(f"compute-plan: cannot read {path} ({err})") from err
    try:
        validate(config, schema, set_default=True)
    except (ValidationError, WorkflowError) as err:  # snakemake wraps the schema's error
        raise InputError(f"{path}: {str(err).splitlines()[0]}") from err
    return config


def _plain(value):
    """JSON without NaN: an undefined interval is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def cmd_compute_plan(args) -> None:
    from rldynamics.core.io import write_text
    from rldynamics.runs import computeplan

    readme = Path(args.readme) if args.readme else None
    document = readme.read_text() if readme else None
    outputs = []
    for path in args.config:
        try:
            config = _config(path, args.schema)
            result = computeplan.plan(config)
        except InputError as err:
            message = str(err)
            raise InputError(message if message.startswith(path) else f"{path}: {message}") from err
        pilot = None
        if args.pilot:
            from rldynamics.evaluate.runmodels import planned_steps
            from rldynamics.runs import pilot as pilot_run

            measured = pilot_run.measure(
                config, planned_steps(config), Path(args.workdir), args.pilot_items
            )
            pilot = {
                "measured": measured,
                "configured_plan": result,
                "beside": pilot_run.comparison_markdown(config, measured),
            }
            result = computeplan.plan(pilot_run.measured_config(config, measured))
        if readme is not None:
            document = computeplan.replace_block(
                document, config["run"], computeplan.markdown(result), readme
            )
        if args.config_comment:
            text = Path(path).read_text()
            write_text(
                Path(path),
                computeplan.replace_comment(text, computeplan.summary_line(result), path),
            )
            log.info("compute plan of %s → its comment", path)
        outputs.append((path, result, pilot))
    if readme is not None:
        write_text(readme, document)
        log.info("compute plans of %s → %s", ", ".join(args.config), readme)
    if readme is not None or args.config_comment:
        return
    if args.json:
        doc = [
            {"config": path, **result, **({"pilot": pilot} if pilot else {})}
            for path, result, pilot in outputs
        ]
        for entry in doc:
            if "pilot" in entry:
                entry["pilot"] = {k: v for k, v in entry["pilot"].items() if k != "beside"}
        json.dump(_plain(doc if len(doc) > 1 else doc[0]), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    for path, result, pilot in outputs:
        sys.stdout.write(f"## Compute plan of {path} (run {result['run']})\n\n")
        if pilot:
            sys.stdout.write(
                f"Pilot: {pilot['measured']['items_per_benchmark']} items of every benchmark, "
                "base and final model, on this machine; the plan below uses its figures.\n\n"
            )
            sys.stdout.write(pilot["beside"] + "\n")
        sys.stdout.write(computeplan.markdown(result) + "\n")
        sys.stdout.write(computeplan.benchmark_markdown(result) + "\n")
        sys.stdout.write(computeplan.figures_markdown(result) + "\n")
        s = result["settings"]
        sys.stdout.write(
            f"Between-item share of the variance {s['between_item_share']:.3g}, items' "
            f"correlation between models {s['item_correlation']:.3g} (plan.*, config/README.md "
            "says where the defaults come from). Half-widths are expected 95 % intervals "
            "(rldynamics.core.stats): accuracy on the mean of the family's benchmarks; gain, "
            "recovery and retention planned at the final model's accuracy, paired over the "
            "items the models share.\n\n"
        )


def cmd_profile(args) -> None:
    from rldynamics.core.io import write_csv, write_text
    from rldynamics.runs import run_profile

    jobs = run_profile.read_jobs(args.results)
    path = run_profile.critical_path(jobs, slack=args.slack)
    text = run_profile.summary(jobs, path)
    print(text, end="")
    if args.out_table:
        write_csv(args.out_table, run_profile.jobs_frame(jobs, path))
    if args.out_report:
        write_text(args.out_report, f"# Profile of {args.results}\n\n{text}")
    if args.out_figure:
        from rldynamics.figures.draw import run_gantt

        run_gantt(jobs, path, args.out_figure, Path(args.results).name)
        log.info("figure → %s.{png,pdf}", args.out_figure)


# --- parsers ------------------------------------------------------------------------------


def _add_disk_plan(sub) -> None:
    p = sub.add_parser("disk-plan", help="disk space a run keeps and needs, from model shapes")
    p.add_argument("--config", required=True, help="the run's config YAML")
    p.add_argument("--model-config", required=True, help="the base model's HF config.json")
    p.add_argument("--schema", default="workflow/schemas/config.schema.yaml")
    p.add_argument("--readme", help="fill this file's disk-plan block instead of printing")
    p.set_defaults(func=cmd_disk_plan)


def _add_config_docs(sub) -> None:
    p = sub.add_parser("config-docs", help="write the configuration reference from the schema")
    p.add_argument("--schema", default="workflow/schemas/config.schema.yaml")
    p.add_argument("--out", default="config/README.md")
    p.set_defaults(func=cmd_config_docs)


def _add_compute_plan(sub) -> None:
    p = sub.add_parser(
        "compute-plan",
        help="GPU-hours and expected intervals of a run, per family of models",
    )
    p.add_argument("--config", required=True, nargs="+", help="the run's config YAML(s)")
    p.add_argument("--schema", default="workflow/schemas/config.schema.yaml")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--readme", help="fill each run's compute-plan block of this file")
    p.add_argument(
        "--config-comment",
        action="store_true",
        help="rewrite the config's '# compute plan:' line from the plan",
    )
    p.add_argument(
        "--pilot",
        action="store_true",
        help="score a few items of the base and final model here and plan from the measurements",
    )
    p.add_argument(
        "--workdir",
        default=".",
        help="the run's working directory (its results/<run>/ holds base and checkpoints)",
    )
    p.add_argument(
        "--pilot-items",
        type=int,
        default=4,
        help="items of each benchmark the pilot scores",
    )
    p.set_defaults(func=cmd_compute_plan)


def _add_seeds(sub) -> None:
    p = sub.add_parser(
        "seeds",
        help="multi-seed mode: the whole run once per seed, then the claims side by side",
    )
    p.add_argument("--configfile", required=True, type=Path, help="the run's config")
    p.add_argument("--seeds", type=int, nargs="+", help="default: the config's claims.seeds")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument(
        "snakemake_args", nargs="*", help="after --: more snakemake arguments for every seed"
    )
    p.set_defaults(func=cmd_seeds)


def _add_profile(sub) -> None:
    p = sub.add_parser(
        "profile",
        help="where a finished run's time went: per rule, per job, critical path, process start",
    )
    p.add_argument("--results", required=True, help="the run's folder, results/<run>")
    p.add_argument("--slack", type=float, default=2.0, help="seconds between jobs on one path")
    p.add_argument("--out-table", help="CSV of every job (start, end, wall, CPU, critical)")
    p.add_argument("--out-report", help="the printed summary, as Markdown")
    p.add_argument("--out-figure", help="stem of the jobs-over-time figure (.png and .pdf)")
    p.set_defaults(func=cmd_profile)


def add_parsers(sub) -> None:
    """This stage's commands, in the order ``rldynamics --help`` lists them."""
    for add in (_add_compute_plan, _add_disk_plan, _add_seeds, _add_profile, _add_config_docs):
        add(sub)
