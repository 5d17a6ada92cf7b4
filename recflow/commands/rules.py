"""`recflow rules list|backfill|test`: keyword rules (configured with `recflow config apply`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from recflow.context import DATA_DIR_OPTION, JSON_OPTION, echo_json, open_catalog, parse_time


def register(app: typer.Typer) -> None:
    rules = typer.Typer(
        help="Keyword rules: list them, run them over past calls.", no_args_is_help=True
    )
    app.add_typer(rules, name="rules")
    rules.command("list")(list_rules)
    rules.command("backfill")(backfill)
    rules.command("test")(test)


def _describe(rule: dict) -> str:  # type: ignore[type-arg]
    parts = []
    for key in ("any", "all", "none"):
        if rule.get(key):
            parts.append(f"{key}: " + ", ".join(f'"{p}"' for p in rule[key]))
    for n in rule.get("near", []):
        left = "|".join(n["phrases"])
        right = "|".join(n["near"])
        parts.append(f"near: {left} ~{n.get('within_words', 5)} {right}")
    if rule.get("window"):
        parts.append("window: " + ", ".join(f"{k}={v}" for k, v in rule["window"].items()))
    return "; ".join(parts)


def list_rules(
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """The keyword rules in force, with the configuration version."""
    from catalog.trigger_matches import load_rules_document

    doc = load_rules_document(open_catalog(data_dir))
    if as_json:
        echo_json(doc)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "rule", "speaker", "matches when", "actions", title=f"version {doc['version'] or '-'}"
    )
    for r in doc.get("rules", []):
        actions = ", ".join(
            f"{a['connector']}" + (f" ({a['template']})" if a.get("template") else "")
            for a in r.get("actions", [])
        )
        name = r["name"] + ("" if r.get("enabled", True) else " (disabled)")
        table.add_row(name, r.get("speaker", "either"), _describe(r), actions or "-")
    Console().print(table)


def backfill(
    since: str | None = typer.Option(
        None, "--since", help="From this start time (ISO 8601, inclusive)"
    ),
    until: str | None = typer.Option(None, "--until", help="Up to this start time (exclusive)"),
    alert: bool = typer.Option(
        False, "--alert/--no-alert", help="Also send the rules' alerts (once per rule and call)"
    ),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Re-evaluate the current rules over past recordings: new rules apply to history.

    Runs here, without the worker; the same work is the `backfill-keyword-rules` deployment
    for scheduling it from Prefect."""
    from rich.progress import Progress

    from catalog.trigger_matches import transcribed_recording_ids
    from services.keyword_triggers import backfill as run_backfill

    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    if start and end and end <= start:
        raise typer.BadParameter("--until must be after --since", param_hint="--until")
    catalog = open_catalog(data_dir)
    total = sum(len(b) for b in transcribed_recording_ids(catalog, start, end))
    with Progress(transient=True, disable=as_json or total < 50) as progress:
        bar = progress.add_task("re-evaluating", total=total)
        report = asyncio.run(
            run_backfill(
                catalog, start, end, alert=alert, progress=lambda n: progress.advance(bar, n)
            )
        )
    data = report.as_dict()
    if as_json:
        echo_json(data)
        return
    typer.echo(
        f"re-evaluated {data['recordings']} recording(s): {data['with_matches']} with matches, "
        f"{data['matches']} match(es), {data['alerts']} alert(s) sent"
    )
    for rule, n in data["by_rule"].items():
        typer.echo(f"  {rule}: {n} recording(s)")


def test(
    recording_id: str = typer.Argument(..., help="Recording id (or a unique prefix)"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Show what the current rules find in one recording's transcript (stores and sends nothing)."""
    from services.keyword_triggers import current_rules

    catalog = open_catalog(data_dir)
    rec = catalog.get_recording(recording_id)
    if rec is None:
        typer.echo(f"error: no recording {recording_id}", err=True)
        raise typer.Exit(1)
    transcript = catalog.get_transcript(rec.id)
    if transcript is None:
        typer.echo(f"error: recording {rec.id} has no transcript yet", err=True)
        raise typer.Exit(1)
    _, compiled = current_rules(catalog)
    matches = compiled.evaluate(transcript, rec.duration_seconds or None)
    if as_json:
        echo_json([m.model_dump(mode="json") for m in matches])
        return
    for m in matches:
        who = m.speaker.value if m.speaker else "either"
        typer.echo(f"{m.rule}: {m.kind} {m.phrase!r} {who} {m.start:.1f}-{m.end:.1f}s  {m.snippet}")
    if not matches:
        typer.echo("no rule matched")
