"""Retention: the pure decision (property: a held recording is never deleted), the nightly run
over a real catalog (random holds and ages), the legal hold, the report and playability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import archive as ret
from catalog.archive import RetentionGroup, RetentionPolicy, RetentionSubject, decide
from catalog.repository import Catalog
from services.archive import retention_report, run_retention

NOW = datetime(2026, 1, 1, tzinfo=UTC)

policies = st.builds(
    RetentionPolicy,
    default_days=st.integers(1, 400),
    groups=st.lists(
        st.builds(
            RetentionGroup,
            name=st.sampled_from(["sales", "support", "vip"]),
            days=st.integers(1, 400),
            numbers=st.lists(st.sampled_from(["+4420*", "+441", "100"]), max_size=2),
        ),
        max_size=3,
    ),
    require_archived=st.booleans(),
)
subjects = st.builds(
    RetentionSubject,
    recording_id=st.uuids().map(str),
    started_at=st.integers(0, 800 * 24 * 3600).map(lambda s: NOW - timedelta(seconds=s)),
    from_number=st.sampled_from(["+442071234567", "+441", "100", ""]),
    to_number=st.sampled_from(["+441632960560", "200"]),
)


@given(subjects, policies, st.booleans(), st.booleans(), st.booleans())
def test_decision_never_deletes_what_is_held(subj, policy, legal_hold, held, archived) -> None:  # type: ignore[no-untyped-def]
    d = decide(subj, policy, now=NOW, legal_hold=legal_hold, held=held, archived=archived)
    if legal_hold or held:
        assert d.action != "delete"
    expired = subj.started_at + timedelta(days=d.days) <= NOW
    assert d.expired == expired
    should_delete = (
        expired and not legal_hold and not held and (archived or not policy.require_archived)
    )
    assert (d.action == "delete") == should_delete
    assert d.days == policy.group_for(subj)[1]


def test_first_matching_group_wins() -> None:
    policy = RetentionPolicy(
        default_days=60,
        groups=[
            RetentionGroup(name="london", days=365, numbers=["+4420*"]),
            RetentionGroup(name="inbound", days=10, directions=["inbound"]),
        ],
    )
    s = RetentionSubject("r", NOW, from_number="+442071234567", direction="inbound")
    assert policy.group_for(s) == ("london", 365)
    assert policy.group_for(RetentionSubject("r", NOW, direction="inbound")) == ("inbound", 10)
    assert policy.group_for(RetentionSubject("r", NOW, direction="outbound")) == ("default", 60)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ages=st.lists(st.integers(0, 200), min_size=1, max_size=8),
    holds=st.lists(st.booleans(), min_size=8, max_size=8),
    released=st.lists(st.booleans(), min_size=8, max_size=8),
    days=st.integers(1, 120),
)
def test_nightly_run_never_deletes_a_held_recording(
    catalog: Catalog, calls, ages, holds, released, days
) -> None:  # type: ignore[no-untyped-def]
    ret.save_policy(catalog, RetentionPolicy(default_days=days))
    recs = [calls.add(started_at=NOW - timedelta(days=a, minutes=1)) for a in ages]
    held = set()
    for rec, h, r in zip(recs, holds, released, strict=False):
        if h:
            ret.add_hold(catalog.db, rec.id, reason="case 42", by="legal@example.com")
            if r:
                ret.release_holds(catalog.db, rec.id, by="legal@example.com")
            else:
                held.add(rec.id)
    run_retention(catalog, now=NOW)
    for rec, age in zip(recs, ages, strict=False):
        present = catalog.get_recording(rec.id) is not None
        if rec.id in held:
            assert present and catalog.store.exists(rec.file_key)
        elif age >= days:
            assert not present and not catalog.store.exists(rec.file_key)
        else:
            assert present
    # leave nothing for the next example
    for rec in recs:
        ret.release_holds(catalog.db, rec.id)
    ret.save_policy(catalog, RetentionPolicy(default_days=1))
    run_retention(catalog, now=NOW + timedelta(days=400))


def test_legal_hold_report_playability_and_audit(catalog: Catalog, calls) -> None:  # type: ignore[no-untyped-def]
    old = calls.add(started_at=datetime.now(UTC) - timedelta(days=90))
    new = calls.add(started_at=datetime.now(UTC) - timedelta(days=1))
    ret.save_policy(catalog, RetentionPolicy(default_days=60))
    assert not ret.is_playable(catalog, old)  # expired: unplayable at once
    assert ret.is_playable(catalog, new)

    acct = catalog.account()
    acct.legal_hold = True
    catalog.save_account(acct)
    rep = retention_report(catalog)
    assert rep.count("legal_hold") == 1 and rep.count("delete") == 0
    assert ret.is_playable(catalog, old)  # nothing expires under a legal hold
    assert run_retention(catalog).deleted == 0 and catalog.get_recording(old.id) is not None

    acct.legal_hold = False
    catalog.save_account(acct)
    rep = run_retention(catalog, actor="nightly")
    assert rep.deleted == 1 and catalog.get_recording(old.id) is None
    assert catalog.get_recording(new.id) is not None
    log = ret.deletion_log(catalog.db)
    assert [(r.recording_id, r.what, r.sha256, r.actor) for r in log] == [
        (old.id, "recording", old.sha256, "nightly")
    ]
    from catalog.audit import Audit

    entries = Audit(catalog).list()
    assert any(
        e.action == "retention.delete_recording" and e.resource == f"recording:{old.id}"
        for e in entries
    )


def test_require_archived_waits_for_the_archive(catalog: Catalog, calls) -> None:  # type: ignore[no-untyped-def]
    from catalog.archive import ArchiveDestination, mark_done, save_destinations

    a = calls.add(started_at=datetime.now(UTC) - timedelta(days=90))
    b = calls.add(started_at=datetime.now(UTC) - timedelta(days=90))
    save_destinations(catalog, [ArchiveDestination(name="s3", connector="c")])
    ret.save_policy(catalog, RetentionPolicy(default_days=30, require_archived=True))
    mark_done(catalog.db, "s3", [(a.id, False)], plan="p")
    rep = run_retention(catalog)
    assert rep.deleted == 1 and rep.count("awaiting_archive") == 1
    assert catalog.get_recording(a.id) is None and catalog.get_recording(b.id) is not None
