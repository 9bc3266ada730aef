"""The ``compute-plan`` command: GPU-hours and intervals of a run per family of models, from
its config (:mod:`rldynamics.computeplan`), optionally measured by a pilot on this machine
(:mod:`rldynamics.pilot`)."""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

from rldynamics.errors import InputError

log = logging.getLogger("rldynamics")


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
    from rldynamics import computeplan
    from rldynamics.io import write_text

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
            from rldynamics import pilot as pilot_run
            from rldynamics.runmodels import planned_steps

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
            "(rldynamics.stats): accuracy on the mean of the family's benchmarks; gain, "
            "recovery and retention planned at the final model's accuracy, paired over the "
            "items the models share.\n\n"
        )


def add_plan_parser(sub) -> None:
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
