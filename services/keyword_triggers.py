"""Keyword rules after transcription: evaluate, store matches, send alerts; and the backfill that
re-evaluates past recordings when rules change (run by the CLI and by ``flows.keyword_triggers``).

The matching itself is the pure ``triggers`` core (well under a millisecond per call), so it runs
inline; connector calls go through ``services.deliveries.notify_connector``. Alerts go
through a ledger in the catalog, so one rule alerts once per call whatever retries, crashes or
backfills happen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from catalog import trigger_matches as store
from catalog.models import Recording, Transcript, assume_utc
from catalog.repository import Catalog
from services.retry import is_transient
from triggers import CompiledRules, Match, Rule, RuleSet, compile_rules

log = logging.getLogger("recflow.triggers")

# compiled matchers by rules version: a worker compiles once per configuration, not per call
_compiled: dict[str, CompiledRules] = {}


def _catalog() -> Catalog:
    from services.runtime import get_catalog

    return get_catalog()


def current_rules(catalog: Catalog) -> tuple[RuleSet, CompiledRules]:
    doc = store.load_rules_document(catalog)
    ruleset = RuleSet.model_validate({"rules": doc.get("rules", [])})
    version = doc.get("version") or ruleset.version
    compiled = _compiled.get(version)
    if compiled is None:
        compiled = compile_rules(ruleset)
        _compiled.clear()  # only the newest configuration is ever needed again
        _compiled[version] = compiled
    return ruleset, compiled


def evaluate(
    catalog: Catalog, recording: Recording, transcript: Transcript
) -> tuple[RuleSet, list[Match]]:
    """Match the current rules against one transcript and store the matches."""
    ruleset, compiled = current_rules(catalog)
    matches = compiled.evaluate(transcript, recording.duration_seconds or None)
    store.replace_matches(
        catalog, recording.id, [m.model_dump(mode="json") for m in matches], compiled.version
    )
    return ruleset, matches


async def evaluate_keyword_rules(
    recording: Recording, transcript: Transcript | None
) -> list[Match]:
    """Called by `process-recording` after the transcript is stored."""
    catalog = _catalog()
    if transcript is None:
        transcript = catalog.get_transcript(recording.id)
        if transcript is None:
            return []
    ruleset, matches = evaluate(catalog, recording, transcript)
    if matches:
        await send_alerts(catalog, recording, transcript, ruleset, matches)
    return matches


# ---------------------------------------------------------------- alerts


def alert_context(
    recording: Recording, transcript: Transcript | None, rule: Rule, matches: list[Match]
) -> dict[str, Any]:
    """The template context of an alert: the connectors' call context (templates.render.
    CallContext: recording, transcript, excerpt, recording_url, …) plus ``rule`` (its name),
    ``matches`` (rule, phrase, kind, speaker, start, end, snippet) and ``extra.rule_description``
    / ``extra.speaker``."""
    from services.deliveries import call_context

    ctx = call_context(recording, transcript)
    ctx = ctx.model_copy(
        update={
            "matches": [m.model_dump(mode="json") for m in matches],
            "rule": rule.name,
            "extra": {"rule_description": rule.description, "speaker": rule.speaker.value},
        }
    )
    return ctx.model_dump(mode="python")  # type: ignore[no-any-return]


def template_files(name: str) -> dict[str, str]:
    """Files of an alert template: ``triggers/<name>.txt.j2`` (required), ``_title.txt.j2``,
    ``.md.j2`` and ``.html.j2`` (optional)."""
    return {
        "text": f"triggers/{name}.txt.j2",
        "title": f"triggers/{name}_title.txt.j2",
        "markdown": f"triggers/{name}.md.j2",
        "html": f"triggers/{name}.html.j2",
    }


def template_exists(name: str) -> bool:
    from templates.render import DEFAULTS, user_template_dir

    rel = template_files(name)["text"]
    user = user_template_dir()
    return (DEFAULTS / rel).is_file() or bool(user and (user / rel).is_file())


def build_notification(
    recording: Recording,
    transcript: Transcript | None,
    rule: Rule,
    matches: list[Match],
    template: str,
) -> Any:
    from connectors.base import Notification, NotificationField
    from templates.render import TemplateRenderError, render

    ctx = alert_context(recording, transcript, rule, matches)
    files = template_files(template)
    parts: dict[str, str | None] = {}
    for key, path in files.items():
        try:
            parts[key] = render(path, ctx)
        except TemplateRenderError as e:
            if key == "text" or "TemplateNotFound" not in str(e):
                raise
            parts[key] = None
    said = [m for m in matches if m.kind != "absent"]
    return Notification(
        title=parts["title"] or f"Keyword rule {rule.name} matched",
        text=parts["text"] or "",
        markdown=parts["markdown"],
        html=parts["html"],
        fields=[
            NotificationField(label="Rule", value=rule.name),
            NotificationField(label="From", value=recording.from_number or "unknown"),
            NotificationField(label="To", value=recording.to_number or "unknown"),
            NotificationField(
                label="Matched", value=", ".join(sorted({m.phrase for m in matches}))[:300]
            ),
        ],
        link_url=str(ctx["recording_url"]) or None,
        severity="warning",
        labels=["recflow", f"rule:{rule.name}"],
        data={
            "event": "keyword.matched",
            "rule": rule.name,
            "recording_id": recording.id,
            "matches": [m.model_dump(mode="json") for m in matches],
            "said": len(said),
        },
    )


async def send_alerts(
    catalog: Catalog,
    recording: Recording,
    transcript: Transcript | None,
    ruleset: RuleSet,
    matches: list[Match],
) -> int:
    """Send each fired rule's actions once; returns how many alerts went out now."""
    from services.deliveries import notify_connector

    by_rule: dict[str, list[Match]] = {}
    for m in matches:
        by_rule.setdefault(m.rule, []).append(m)
    rules = {r.name: r for r in ruleset.rules}
    sent = 0
    for name, rule_matches in by_rule.items():
        rule = rules.get(name)
        if rule is None:
            continue
        for action in rule.actions:
            if not store.claim_alert(catalog, recording.id, name, action.connector):
                continue  # already alerted (a retry, or a backfill over an alerted call)
            try:
                message = build_notification(
                    recording, transcript, rule, rule_matches, action.template
                )
                delivery = await notify_connector(
                    action.connector,
                    subject_kind="recording",
                    subject_id=recording.id,
                    action=f"rule:{name}",
                    message=message,
                    idempotency_key=f"{recording.id}:rule:{name}:{action.connector}",
                )
            except Exception as e:  # one failing action never blocks the others
                if is_transient(e):
                    # the catalog or the network under us went away, not the connector: the
                    # recording is handed back and its next attempt sends (claim_alert
                    # re-claims an alert that was claimed but never marked sent)
                    raise
                log.warning("rule %s: alert via %s failed: %s", name, action.connector, e)
                continue
            status = getattr(getattr(delivery, "status", None), "value", "succeeded")
            if status in ("succeeded", "skipped"):
                store.mark_alert_sent(
                    catalog, recording.id, name, action.connector, getattr(delivery, "id", "")
                )
                sent += 1
    return sent


# ---------------------------------------------------------------- backfill


@dataclass
class BackfillReport:
    recordings: int = 0
    with_matches: int = 0
    matches: int = 0
    alerts: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "recordings": self.recordings,
            "with_matches": self.with_matches,
            "matches": self.matches,
            "alerts": self.alerts,
            "by_rule": dict(sorted(self.by_rule.items())),
        }


async def backfill(
    catalog: Catalog,
    since: datetime | None,
    until: datetime | None,
    *,
    alert: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BackfillReport:
    """Re-evaluate the current rules over every transcribed recording started in
    ``[since, until)``. Matches are replaced; alerts are sent only with ``alert`` (history
    rarely wants a Slack flood) and never twice for the same rule and call."""
    report = BackfillReport()
    for ids in store.transcribed_recording_ids(catalog, since, until):
        for rec in catalog.recordings_by_ids(ids):
            transcript = catalog.get_transcript(rec.id)
            if transcript is None:
                continue
            ruleset, matches = evaluate(catalog, rec, transcript)
            report.recordings += 1
            if matches:
                report.with_matches += 1
                report.matches += len(matches)
                for name in {m.rule for m in matches}:
                    report.by_rule[name] = report.by_rule.get(name, 0) + 1
                if alert:
                    report.alerts += await send_alerts(catalog, rec, transcript, ruleset, matches)
        if progress:
            progress(len(ids))
    return report


def parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    return assume_utc(datetime.fromisoformat(value))
