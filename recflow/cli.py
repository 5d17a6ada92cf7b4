"""The `recflow` command. Each feature adds its commands in ``recflow/commands/<feature>.py``
and one line in ``COMMAND_MODULES`` below; this file stays a table of contents."""

from __future__ import annotations

import importlib
import sys

import typer

from recflow import environment

environment.apply_defaults()

app = typer.Typer(
    name="recflow",
    help="recflow: recorded phone calls into automated work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module exposes `register(app: typer.Typer) -> None`.
COMMAND_MODULES = [
    "recflow.commands.system",  # up, worker, portal
    "recflow.commands.recordings",  # ingest, recordings list|show|transcript
    "recflow.commands.config",  # config apply|export
    "recflow.commands.connectors",  # connectors list|check, deliveries list|retry
    "recflow.commands.rules",  # rules list|backfill|test
    "recflow.commands.portal_admin",  # users create|list|unlock, tokens create|list|revoke
    "recflow.commands.sms",  # sms list|show|ingest|export|retry
    "recflow.commands.recorder",  # recorder (SIP recording server)
    "recflow.commands.secrets",  # secrets rotate
    "recflow.commands.archive",  # archive run|list, retention report|run|hold|release|log
    "recflow.commands.workspace",  # recordings search|categorize|fields, saved-searches
    "recflow.commands.sftp",  # sftp (server), sftp credentials|revoke|status
]

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(_name).register(app)
    except Exception as _e:  # one broken feature must not take the whole CLI down
        print(f"recflow: commands of {_name} unavailable: {_e!r}", file=sys.stderr)


def _every_command_takes_data_dir(typer_app: typer.Typer) -> None:
    from recflow.context import with_data_dir

    for command in typer_app.registered_commands:
        command.callback = with_data_dir(command.callback)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _every_command_takes_data_dir(group.typer_instance)


_every_command_takes_data_dir(app)

if __name__ == "__main__":
    app()
