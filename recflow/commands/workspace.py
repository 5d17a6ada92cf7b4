"""`recflow recordings search|categorize|fields` and `recflow saved-searches list|delete`: the
recordings workspace from the command line (the CLI has local, administrator access)."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from catalog.portal_queries import Visibility
from catalog.workspace import delete_saved_search, list_categories, saved_searches_for
from recflow.context import DATA_DIR_OPTION, JSON_OPTION, echo_json, open_catalog, parse_time
from services.search import ConditionIn, SearchError, SearchQuery, run_search
from services.workspace import (
    assign_categories,
    compile_for,
    details,
    export_csv,
    export_xlsx,
    save_search,
    saved_query,
    update_custom_values,
)

CLI_OWNER = "cli"
EVERYTHING = Visibility(everything=True, private_all=True)


def register(app: typer.Typer) -> None:
    group = next((g.typer_instance for g in app.registered_groups if g.name == "recordings"), None)
    if group is None:  # the recordings commands failed to load: keep ours reachable
        group = typer.Typer(help="Find and read recordings.", no_args_is_help=True)
        app.add_typer(group, name="recordings")
    group.command("search")(search)
    group.command("categorize")(categorize)
    group.command("fields")(fields)
    saved = typer.Typer(help="Saved searches.", no_args_is_help=True)
    app.add_typer(saved, name="saved-searches")
    saved.command("list")(saved_list)
    saved.command("delete")(saved_delete)


def _condition(text: str) -> ConditionIn:
    parts = text.split(None, 2)
    if len(parts) < 2:
        raise typer.BadParameter(f"expected 'FIELD OP [VALUE]', got {text!r}", param_hint="--where")
    value: object = parts[2] if len(parts) == 3 else None
    if parts[1] == "between" and isinstance(value, str) and ".." in value:
        value = value.split("..", 1)
    return ConditionIn(field=parts[0], op=parts[1], value=value)


def search(
    text: str = typer.Argument("", help="Quick search: words said, numbers, names, notes"),
    where: list[str] = typer.Option(
        [], "--where", "-w", help="Condition 'FIELD OP [VALUE]', e.g. 'duration after 60'"
    ),
    any_: bool = typer.Option(False, "--any", help="Any condition (default: all)"),
    category: str | None = typer.Option(None, "--category"),
    since: str | None = typer.Option(None, "--since", help="Started at or after (ISO 8601)"),
    until: str | None = typer.Option(None, "--until", help="Started before (ISO 8601)"),
    saved: int | None = typer.Option(None, "--saved", help="Run this saved search"),
    save: str | None = typer.Option(None, "--save", help="Save this search under a name"),
    shared: bool = typer.Option(False, "--shared", help="With --save: visible to everyone"),
    export: Path | None = typer.Option(
        None, "--export", help="Write every match to this .csv or .xlsx file"
    ),
    limit: int = typer.Option(20, "--limit", min=1, max=500),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Search recordings by what was said and by conditions; print, save or export the result."""
    catalog = open_catalog(data_dir)
    try:
        query = SearchQuery(
            q=text or None,
            match="any" if any_ else "all",
            conditions=[_condition(w) for w in where],
            category=category,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
        )
        if saved is not None:
            query = saved_query(catalog, saved, CLI_OWNER, admin=True).merged(query)
        if save:
            s = save_search(
                catalog,
                save,
                CLI_OWNER,
                query.model_dump(mode="json", exclude_defaults=True),
                shared=shared,
            )
            typer.echo(f"saved search {s.id}: {s.name}", err=as_json)
        compiled = compile_for(catalog, query)
        if export is not None:
            _export(catalog, compiled, export)
            return
        res = run_search(catalog, compiled, EVERYTHING, limit=limit)
    except (SearchError, LookupError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    ids = [h.recording.id for h in res.hits]
    cats, custom = details(catalog, ids)
    if as_json:
        echo_json(
            {
                "items": [
                    {
                        **h.recording.model_dump(mode="json", exclude={"participants", "pauses"}),
                        "score": h.score,
                        "snippets": res.snippets.get(h.recording.id, []),
                        "categories": cats.get(h.recording.id, []),
                        "custom_fields": custom.get(h.recording.id, {}),
                    }
                    for h in res.hits
                ],
                "next_cursor": res.next_cursor,
            }
        )
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("start (UTC)", "from", "to", "dur", "categories", "id / what was said")
    for h in res.hits:
        r = h.recording
        lines = [r.id]
        for sn in res.snippets.get(r.id, []):
            text_ = sn["text"]
            marked, pos = "", 0
            for a, b in sn["highlights"]:
                if a < pos:
                    continue
                marked += escape(text_[pos:a]) + f"[bold yellow]{escape(text_[a:b])}[/]"
                pos = b
            marked += escape(text_[pos:])
            lines.append(f"{sn['start']:>6.1f}s {sn['speaker']}: {marked}")
        table.add_row(
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.from_number,
            r.to_number,
            f"{r.duration_seconds:.0f}s",
            ", ".join(cats.get(r.id, [])),
            "\n".join(lines),
        )
    Console().print(table)
    if not res.hits:
        typer.echo("no recordings match")


def _export(catalog, compiled, path: Path) -> None:  # type: ignore[no-untyped-def]
    from rich.progress import Progress, SpinnerColumn, TextColumn

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise SearchError("--export needs a .csv or .xlsx file name")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True) as progress:
        task = progress.add_task("exporting: 0 rows", total=None)
        if suffix == ".csv":
            rows = 0
            with open(path, "w", encoding="utf-8", newline="") as f:
                for chunk in export_csv(catalog, compiled, EVERYTHING):
                    f.write(chunk)
                    rows += chunk.count("\n")
                    progress.update(task, description=f"exporting: {max(rows - 1, 0)} rows")
        else:
            tmp = export_xlsx(
                catalog,
                compiled,
                EVERYTHING,
                progress=lambda n: progress.update(task, description=f"exporting: {n} rows"),
            )
            shutil.move(str(tmp), path)
    typer.echo(f"exported to {path}")


def categorize(
    ids: list[str] = typer.Argument(..., help="Recording ids"),
    add: list[str] = typer.Option([], "--add", help="Category to add"),
    remove: list[str] = typer.Option([], "--remove", help="Category to remove"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Add or remove categories on calls (defined in the config file's `categories:`)."""
    catalog = open_catalog(data_dir)
    full = []
    for i in ids:
        rec = catalog.get_recording(i)
        if rec is None:
            typer.echo(f"error: no recording {i}", err=True)
            raise typer.Exit(2)
        full.append(rec.id)
    try:
        n = 0
        if add:
            n += len(assign_categories(catalog, full, add, by=CLI_OWNER, mode="add"))
        if remove:
            n += len(assign_categories(catalog, full, remove, by=CLI_OWNER, mode="remove"))
    except SearchError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{n} change(s); categories defined: {', '.join(list_categories(catalog))}")


def fields(
    recording_id: str = typer.Argument(...),
    set_: list[str] = typer.Option([], "--set", help="NAME=VALUE (empty VALUE clears)"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Set custom field values on a call (defined in the config file's `custom_fields:`)."""
    catalog = open_catalog(data_dir)
    rec = catalog.get_recording(recording_id)
    if rec is None:
        typer.echo(f"error: no recording {recording_id}", err=True)
        raise typer.Exit(2)
    values: dict[str, object] = {}
    for item in set_:
        name, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--set")
        values[name.strip()] = value
    try:
        diff = update_custom_values(catalog, rec.id, values, by=CLI_OWNER)
    except SearchError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    for name, (old, new) in diff.items():
        typer.echo(f"{name}: {old or '∅'} → {new or '∅'}")


def saved_list(as_json: bool = JSON_OPTION, data_dir: Path | None = DATA_DIR_OPTION) -> None:
    """Saved searches made here and every shared one."""
    items = saved_searches_for(open_catalog(data_dir), CLI_OWNER)
    if as_json:
        echo_json([s.model_dump(mode="json") for s in items])
        return
    for s in items:
        typer.echo(f"{s.id}\t{s.name}\t{s.owner}{' (shared)' if s.shared else ''}\t{s.query}")


def saved_delete(search_id: int, data_dir: Path | None = DATA_DIR_OPTION) -> None:
    if not delete_saved_search(open_catalog(data_dir), search_id):
        typer.echo(f"error: no saved search {search_id}", err=True)
        raise typer.Exit(2)
    typer.echo(f"deleted saved search {search_id}")
