"""Recordings: detail (the list is portal/workspace_pages.py) with audio playback
(HTTP range requests) and the transcript by speaker. Every playback and download is audited."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response

from catalog.audit import AuditFilter
from catalog.models import Recording, assume_utc
from catalog.notes import list_notes
from catalog.reviews import list_reviews
from catalog.reviews import templates as review_templates
from catalog.users import Role
from portal.auth_pages import render
from portal.deps import CurrentUser, Principal, client_ip, state_of
from portal.state import PortalState
from services import legal_holds
from services.quality import AudioBlocked, audio_access, require_audio_access
from services.visibility import visibility_for

router = APIRouter()
VERDICTS = ("intact", "altered", "missing")


def parse_day(value: str | None, *, end: bool = False) -> datetime | None:
    """A date (YYYY-MM-DD, the whole UTC day) or a full ISO timestamp; end=True gives the
    exclusive upper bound."""
    if not value:
        return None
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            start = datetime.combine(d, time(), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"not a date: {value!r}") from None
    return assume_utc(ts)


def visible_recording(st: PortalState, principal: Principal, recording_id: str) -> Recording:
    rec = st.catalog.get_recording(recording_id)
    # 404 rather than 403: a caller must not learn that a call it may not see exists
    if rec is None or not principal.visibility().allows(rec):
        raise HTTPException(404, "no such recording")
    return rec


class AudioRefused(HTTPException):
    """403 with a stable slug (``comment_required``): the API answers ``{"error": slug}``."""

    def __init__(self, blocked: AudioBlocked) -> None:
        super().__init__(403, blocked.reason)
        self.slug = blocked.slug


def audio_response(
    request: Request, st: PortalState, principal: Principal, rec: Recording, download: bool
) -> Response:
    now = st.clock()
    try:
        # forced comments and any other quality rule: one server-side decision for every path
        access = require_audio_access(st.catalog, rec, principal.name, now)
    except AudioBlocked as blocked:
        st.audit.record(
            "audio_blocked",
            initiator=principal.name,
            client_ip=client_ip(request),
            resource=f"recording:{rec.id}",
            outcome="denied",
            detail=blocked.slug,
            at=now,
        )
        raise AudioRefused(blocked) from None
    if not rec.file_key or not st.catalog.store.exists(rec.file_key):
        raise HTTPException(404, "the recording's audio is not in the store")
    from catalog.archive import is_playable

    if not is_playable(st.catalog, rec, now=st.clock()):
        # expired under retention and not held: unplayable at once, deleted by the nightly run
        raise HTTPException(410, "the recording has expired under the retention policy")
    path = st.catalog.store.local_path(rec.file_key)
    rng = request.headers.get("range", "")
    # a player issues many range requests per listen; the first one (from byte 0) is the event
    starts = not rng or rng.replace(" ", "").startswith("bytes=0-")
    if download or starts or access.starts_window:
        st.audit.record(
            "download" if download else "playback",
            initiator=principal.name,
            client_ip=client_ip(request),
            resource=f"recording:{rec.id}",
            at=now,
        )
    name = f"{rec.started_at:%Y%m%d%H%M%S}-{rec.id}{path.suffix or '.wav'}"
    return FileResponse(
        path,
        media_type="audio/wav" if path.suffix.lower() in ("", ".wav") else None,
        filename=name if download else None,
        content_disposition_type="attachment" if download else "inline",
    )


def playback_context(st: PortalState, rec: Recording) -> dict[str, object]:
    """The workspace's parts of the call page: waveform (SVG) with keyword-rule matches and
    noted moments, the matches with their times, notes, categories and custom fields."""
    from catalog.notes import list_notes
    from catalog.trigger_matches import matches_for_recording
    from catalog.workspace import list_categories, list_custom_fields
    from services.waveform import Marker, waveform_svg
    from services.workspace import details

    matches = matches_for_recording(st.catalog, rec.id)
    notes = list_notes(st.catalog, rec.id)
    markers = [Marker(m.start, f"{m.rule}: {m.phrase}", "match") for m in matches]
    markers += [Marker(n.offset, n.text[:80], "note") for n in notes if n.offset is not None]
    svg = None
    if rec.file_key and st.catalog.store.exists(rec.file_key):
        svg = waveform_svg(st.catalog.store.local_path(rec.file_key), markers)
    cats, custom = details(st.catalog, [rec.id])
    return {
        "waveform": svg,
        "matches": matches,
        "notes": notes,
        "categories": cats.get(rec.id, []),
        "custom_fields": custom.get(rec.id, {}),
        "all_categories": list_categories(st.catalog),
        "field_defs": list_custom_fields(st.catalog),
        "notice": None,
    }


@router.get("/recordings/{recording_id}")
def recording_detail(request: Request, recording_id: str, user: CurrentUser) -> Response:
    st = state_of(request)
    principal = Principal(name=user.email, user=user, scope=visibility_for(st.catalog, user))
    rec = visible_recording(st, principal, recording_id)
    transcript = st.catalog.get_transcript(rec.id)
    st.audit.record(
        "view", initiator=user.email, client_ip=client_ip(request), resource=f"recording:{rec.id}"
    )
    extra = playback_context(st, rec)
    extra["notice"] = request.query_params.get("notice", "")[:300] or None
    return render(
        request,
        "recording.html",
        {
            "rec": rec,
            "transcript": transcript,
            "deliveries": st.catalog.list_deliveries(subject_id=rec.id, limit=50),
            # the page shows the server's decision (a comment form instead of the player)
            "access": audio_access(st.catalog, rec, principal.name, st.clock()),
            "notes": list_notes(st.catalog, rec.id),
            "reviews": list_reviews(st.catalog, rec.id),
            "review_mode": st.catalog.account().features.communication_reviews,
            "review_templates": review_templates(st.catalog),
            # the call's own trail (plays, downloads, notes, reviews, verifications): staff only
            "activity": st.audit.list(AuditFilter(resource=f"recording:{rec.id}"), limit=200)
            if user.role.rank >= Role.supervisor.rank
            else [],
            # legal holds: staff see them, administrators place them here (one recording)
            "holds": legal_holds.holds_on(st.catalog, rec.id)
            if user.role.rank >= Role.supervisor.rank
            else [],
            "can_hold": user.is_admin,
            "verify_result": request.query_params.get("verify")
            if request.query_params.get("verify") in VERDICTS
            else None,
            **extra,
        },
    )


@router.get("/recordings/{recording_id}/audio")
def recording_audio(
    request: Request, recording_id: str, user: CurrentUser, download: bool = False
) -> Response:
    st = state_of(request)
    principal = Principal(name=user.email, user=user, scope=visibility_for(st.catalog, user))
    rec = visible_recording(st, principal, recording_id)
    return audio_response(request, st, principal, rec, download)
