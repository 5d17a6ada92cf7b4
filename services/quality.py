"""Quality rules on access to a call's audio: Focus "forced comments".

One function, :func:`require_audio_access`, decides whether a person may receive a call's audio
now. Every path that hands out audio calls it before sending a byte: the portal player and
download, ``GET /api/v1/recordings/{id}/audio`` and any bulk export. Pages only *show* the
decision (a comment form instead of the player); the server enforces it.

Forced comments (account switch ``features.forced_comments``): a person must have written a
note on the call before the audio is served. The note opens a listening window: the first play
after it starts the window, and further plays (and a player's range requests) within
``REPLAY_WINDOW`` plus the call's length need no new note. After that the next play needs a new
note. Plays are read from the audit trail (``playback``, ``download``, ``export`` entries), so a
restart or a second portal process sees the same history.

Mandatory communication reviews (``features.communication_reviews: mandatory``): a person who
played a call must complete a review of it before the audio of *another* call is served
(``review_required``). The two switches exclude each other (the account form and the config
section keep only one on).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from catalog.models import Recording, ReviewMode
from catalog.notes import latest_note_by
from catalog.quality import first_audio_access_since
from catalog.repository import Catalog
from services.reviews import review_required

REPLAY_WINDOW = timedelta(minutes=5)


class AudioBlocked(Exception):
    """The audio may not be served yet; ``slug`` is the API's stable error code."""

    def __init__(self, slug: str, reason: str) -> None:
        super().__init__(reason)
        self.slug = slug
        self.reason = reason


@dataclass(frozen=True)
class AudioAccess:
    allowed: bool
    slug: str = ""
    reason: str = ""
    window_ends: datetime | None = None  # when allowed under forced comments
    # this request uses a fresh comment: it must be recorded as a play (whatever its range),
    # or the window would never start
    starts_window: bool = False
    pending_review: str = ""  # mandatory reviews: the call to review first


def listening_window(rec: Recording) -> timedelta:
    """A play may outlast five minutes: range requests keep coming while a long call plays."""
    return REPLAY_WINDOW + timedelta(seconds=max(0.0, rec.duration_seconds))


def audio_access(catalog: Catalog, rec: Recording, person: str, now: datetime) -> AudioAccess:
    """May ``person`` (a user's e-mail or ``token:NAME``, the name notes are written under)
    receive ``rec``'s audio at ``now``?"""
    features = catalog.account().features
    if features.communication_reviews is ReviewMode.mandatory:
        pending = review_required(catalog, rec, person)
        if pending is not None:
            return AudioAccess(
                False,
                "review_required",
                f"complete a review of call {pending} (played last) before playing another",
                pending_review=pending,
            )
    if not features.forced_comments:
        return AudioAccess(True)
    note = latest_note_by(catalog, rec.id, person)
    if note is None:
        return AudioAccess(
            False, "comment_required", "add a comment on this call before playing it"
        )
    first_play = first_audio_access_since(catalog, rec.id, person, note.created_at)
    if first_play is None:
        # the comment has not been used yet: this play starts its window
        return AudioAccess(True, window_ends=now + listening_window(rec), starts_window=True)
    ends = first_play + listening_window(rec)
    if now <= ends:
        return AudioAccess(True, window_ends=ends)
    return AudioAccess(
        False,
        "comment_required",
        "your last comment on this call was used by a play more than 5 minutes ago; "
        "add a new comment to play it again",
    )


def require_audio_access(
    catalog: Catalog, rec: Recording, person: str, now: datetime
) -> AudioAccess:
    """Raise :class:`AudioBlocked` unless ``person`` may receive the audio now. The caller
    records the play in the audit trail (action ``playback``, ``download`` or ``export``) when
    it starts one or when ``starts_window`` is set."""
    decision = audio_access(catalog, rec, person, now)
    if not decision.allowed:
        raise AudioBlocked(decision.slug, decision.reason)
    return decision
