"""`recflow ingest` and `recflow recordings list|show|transcript|retry`."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from catalog.audio import AudioError, read_wav, write_wav
from catalog.models import Direction, Participant, Recording, RecordingStatus, Speaker, Transcript
from catalog.repository import Catalog
from recflow.context import DATA_DIR_OPTION, JSON_OPTION, echo_json, open_catalog, parse_time


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    recordings = typer.Typer(help="Find and read recordings.", no_args_is_help=True)
    app.add_typer(recordings, name="recordings")
    recordings.command("list")(list_recordings)
    recordings.command("show")(show)
    recordings.command("transcript")(transcript)
    recordings.command("retry")(retry)
    from recflow.commands.verify import public_key, seal_unsealed, verify  # tamper evidence

    recordings.command("verify")(verify)
    recordings.command("public-key")(public_key)
    recordings.command("seal")(seal_unsealed)


def ingest(
    files: list[Path] = typer.Argument(
        ..., help="Audio files: WAV (any PCM width, float), FLAC, MP3, M4A, OGG; mono or stereo"
    ),
    from_number: str = typer.Option(..., "--from", help="Caller number (channel 0)"),
    to_number: str = typer.Option(..., "--to", help="Callee number (channel 1)"),
    direction: Direction = typer.Option(Direction.inbound, "--direction"),
    start: str | None = typer.Option(None, "--start", help="Call start, ISO 8601 (default: now)"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Import existing recordings as if captured; prints each new recording's id.

    The file is decoded, validated and normalised to 16-bit PCM WAV before anything is stored,
    so a bad file leaves the catalog untouched."""
    from rich.progress import Progress

    started = parse_time(start, "--start")
    catalog = open_catalog(data_dir)
    errors = 0
    with Progress(transient=True, disable=len(files) < 3) as progress:
        bar = progress.add_task("ingesting", total=len(files))
        for path in files:
            try:
                audio = read_wav(path)
            except AudioError as e:
                typer.echo(f"error: {e}", err=True)
                errors += 1
                progress.advance(bar)
                continue
            begin = started or (datetime.now(UTC) - timedelta(seconds=audio.duration))
            rec = Recording(
                call_id=f"ingest-{path.name}",
                from_number=from_number,
                to_number=to_number,
                direction=direction,
                started_at=begin,
                answered_at=begin,
                ended_at=begin + timedelta(seconds=audio.duration),
                duration_seconds=round(audio.duration, 3),
                channels=audio.channels,
                sample_rate=audio.sample_rate,
                codec="pcm_s16le",
                participants=[
                    Participant(number=from_number, role=Speaker.caller),
                    Participant(number=to_number, role=Speaker.callee),
                ],
                metadata={"source": "ingest", "original_name": path.name},
            )
            with tempfile.TemporaryDirectory() as tmp:
                normalised = Path(tmp) / "audio.wav"
                write_wav(normalised, audio)
                catalog.add_recording(rec, audio=normalised)
            progress.advance(bar)
            typer.echo(rec.id)
    if errors:
        raise typer.Exit(1)


def _recording_json(rec: Recording) -> dict[str, Any]:
    data = rec.model_dump(mode="json")
    data["policy"] = (rec.metadata or {}).get("policy")  # recording policy decision (issue 16)
    return data


def list_recordings(
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    status: RecordingStatus | None = typer.Option(None, "--status"),
    number: str | None = typer.Option(None, "--number", help="From or to this number"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Newest recordings first."""
    recs = open_catalog(data_dir).list_recordings(limit=limit, status=status, number=number)
    if as_json:
        echo_json([_recording_json(r) for r in recs])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("start (UTC)", "from", "to", "dur", "status", "id")
    for r in recs:
        table.add_row(
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.from_number,
            r.to_number,
            f"{r.duration_seconds:.0f}s",
            r.status.value,
            r.id,
        )
    Console().print(table)


def _get(catalog: Catalog, recording_id: str) -> Recording:
    rec = catalog.get_recording(recording_id)
    if rec is None:
        typer.echo(f"error: no recording {recording_id}", err=True)
        raise typer.Exit(1)
    return rec


def _extras(catalog: Catalog, rec: Recording) -> dict[str, Any]:
    """What other features know about a recording (keyword matches, deliveries)."""
    extras: dict[str, Any] = {}
    try:
        from catalog.trigger_matches import matches_for_recording  # keyword triggers feature

        extras["matches"] = [
            m.model_dump(mode="json") for m in matches_for_recording(catalog, rec.id)
        ]
    except ImportError:
        pass
    extras["deliveries"] = [
        d.model_dump(mode="json") for d in catalog.list_deliveries(subject_id=rec.id)
    ]
    return extras


def show(
    recording_id: str = typer.Argument(..., help="Recording id (or a unique prefix)"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Everything known about one recording."""
    catalog = open_catalog(data_dir)
    rec = _get(catalog, recording_id)
    data = {**_recording_json(rec), **_extras(catalog, rec)}
    if as_json:
        echo_json(data)
        return
    for key in (
        "id",
        "call_id",
        "status",
        "from_number",
        "from_name",
        "to_number",
        "to_name",
        "direction",
        "started_at",
        "ended_at",
        "duration_seconds",
        "channels",
        "sample_rate",
        "codec",
        "private",
        "file_key",
        "sha256",
        "attempt",
        "flow_run_id",
        "error",
    ):
        value = data.get(key)
        if value not in (None, "", []):
            typer.echo(f"{key:>17}: {value}")
    for m in data.get("matches", []):
        who = m["speaker"] or "either"
        typer.echo(
            f'            match: {m["rule"]} {m["kind"]} "{m["phrase"]}" {who} '
            f"{m['start']:.1f}-{m['end']:.1f}s {m['snippet']}".rstrip()
        )
    for d in data["deliveries"]:
        typer.echo(f"         delivery: {d['connector']} {d['action']} {d['status']} {d['error']}")


def format_transcript(t: Transcript) -> str:
    lines = []
    for s in t.segments:
        lines.append(f"[{_clock(s.start)} - {_clock(s.end)}] {s.speaker.value}: {s.display_text}")
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60)
    return f"{int(m):02d}:{s:04.1f}"


def transcript(
    recording_id: str = typer.Argument(..., help="Recording id (or a unique prefix)"),
    as_json: bool = JSON_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """The transcript with speakers and times (exit 1 while there is none yet)."""
    catalog = open_catalog(data_dir)
    rec = _get(catalog, recording_id)
    t = catalog.get_transcript(rec.id)
    if t is None:
        typer.echo(f"no transcript yet (recording is {rec.status.value})", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(t.model_dump_json(indent=2))
    else:
        typer.echo(format_transcript(t))


def retry(
    recording_id: str = typer.Argument(..., help="Recording id (or a unique prefix)"),
    data_dir: Path | None = DATA_DIR_OPTION,
) -> None:
    """Process a failed recording again (a new attempt, a new flow run)."""
    catalog = open_catalog(data_dir)
    rec = _get(catalog, recording_id)
    attempt = catalog.requeue(rec.id, from_statuses={RecordingStatus.failed}, max_attempts=1000)
    if attempt is None:
        typer.echo(
            f"error: recording is {rec.status.value}, only failed ones are retried", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"{rec.id}: queued again as attempt {attempt}")
