"""Communication reviews through the API and pages: templates from the config file, scores,
mandatory reviews blocking the next play, the Reviews section on the call page, trends."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from catalog.models import ReviewMode
from portal.config_bridge import section
from services.config.base import ConfigFileError
from services.config.document import apply_document
from tests.portal.portal_support import add_calls, csrf_of, logged_in

TEMPLATES = [
    {
        "name": "qa",
        "title": "Quality check",
        "fields": [
            {"name": "greeting", "type": "toggle", "weight": 1},
            {"name": "empathy", "type": "slider", "min": 0, "max": 10, "weight": 2},
            {
                "name": "outcome",
                "type": "dropdown",
                "options": ["solved", "escalated", "lost"],
                "option_scores": [1, 0.5, 0],
                "weight": 1,
                "required": True,
            },
            {"name": "summary", "type": "long_text"},
            {"name": "follow_up", "type": "date"},
            {"name": "ticket", "type": "short_text"},
        ],
    },
    {"name": "notes-only", "fields": [{"name": "text", "type": "long_text", "required": True}]},
]


def configure(catalog, mode: str = "enabled") -> None:
    apply_document(
        catalog,
        {"reviews": TEMPLATES, "account": {"features": {"communication_reviews": mode}}},
    )


@pytest.fixture
def api(app) -> TestClient:
    token = app.state.portal.tokens.create("rev-tests")[1]
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_config_section_validates_and_round_trips(catalog):
    configure(catalog)
    assert catalog.account().features.communication_reviews is ReviewMode.enabled
    assert section("reviews").export(catalog)[0]["name"] == "qa"
    assert apply_document(catalog, {"reviews": TEMPLATES}) == []  # idempotent
    bad = [{"name": "x", "fields": [{"name": "d", "type": "dropdown"}]}]
    with pytest.raises(ConfigFileError) as e:
        apply_document(catalog, {"reviews": bad})
    assert e.value.problems[0][0].startswith("reviews.x.fields")
    with pytest.raises(ConfigFileError):
        apply_document(
            catalog,
            {"reviews": [], "account": {"features": {"communication_reviews": "mandatory"}}},
        )
    # reviews and forced comments exclude each other: the later switch wins
    apply_document(catalog, {"account": {"features": {"forced_comments": True}}})
    f = catalog.account().features
    assert f.forced_comments and f.communication_reviews is ReviewMode.off


def test_review_scores_and_listing(api, catalog, clock, tmp_path, make_user):
    make_user("agent@example.com", "user", numbers=["101"])
    configure(catalog)
    (rec,) = add_calls(catalog, tmp_path, clock(), [{"from_number": "+1555", "to_number": "101"}])
    url = f"/api/v1/recordings/{rec.id}/reviews"
    r = api.post(
        url,
        json={
            "template": "qa",
            "answers": {"greeting": True, "empathy": 5, "outcome": "escalated", "summary": "ok"},
        },
    )
    assert r.status_code == 201, r.text
    # (1·1 + 2·0.5 + 1·0.5) / 4 = 62.5
    assert r.json()["score"] == 62.5
    unscored = api.post(url, json={"template": "notes-only", "answers": {"text": "fine"}})
    assert unscored.json()["score"] is None
    items = api.get(url).json()["items"]
    assert [(i["template"], i["agent"], i["author"]) for i in items] == [
        ("qa", "agent@example.com", "token:rev-tests"),
        ("notes-only", "agent@example.com", "token:rev-tests"),
    ]
    for bad in (
        {"template": "qa", "answers": {"greeting": True}},  # required outcome missing
        {"template": "qa", "answers": {"outcome": "solved", "empathy": 11}},
        {"template": "qa", "answers": {"outcome": "maybe"}},
        {"template": "qa", "answers": {"outcome": "solved", "follow_up": "soon"}},
        {"template": "qa", "answers": {"outcome": "solved", "nope": 1}},
        {"template": "missing", "answers": {}},
    ):
        resp = api.post(url, json=bad)
        assert resp.status_code == 422 and resp.json()["reason"], bad
    trend = api.get("/api/v1/evaluations").json()["points"]
    assert trend == [
        {
            "key": "agent@example.com",
            "day": clock().strftime("%Y-%m-%d"),
            "reviews": 1,
            "average_score": 62.5,
        }
    ]
    report = api.get("/api/v1/reports/calls").json()["rows"][0]
    assert (report["evaluations"], report["average_score"]) == (1, 62.5)
    assert api.get("/api/v1/dashboard").json()["evaluations"] == {
        "reviews": 1,
        "average_score": 62.5,
    }


def test_reviews_off_refuses_reviews(api, catalog, clock, tmp_path):
    apply_document(catalog, {"reviews": TEMPLATES})
    (rec,) = add_calls(catalog, tmp_path, clock(), [{"from_number": "+1555", "to_number": "101"}])
    r = api.post(
        f"/api/v1/recordings/{rec.id}/reviews",
        json={"template": "notes-only", "answers": {"text": "x"}},
    )
    assert r.status_code == 422 and "switched off" in r.json()["reason"]


def test_mandatory_review_blocks_the_next_play_until_done(api, catalog, clock, tmp_path):
    configure(catalog, "mandatory")
    a, b = add_calls(
        catalog,
        tmp_path,
        clock(),
        [
            {"from_number": "+1555", "to_number": "101"},
            {"from_number": "+1556", "to_number": "101"},
        ],
    )
    assert api.get(f"/api/v1/recordings/{a.id}/audio").status_code == 200
    assert api.get(f"/api/v1/recordings/{a.id}/audio").status_code == 200  # replaying A is fine
    blocked = api.get(f"/api/v1/recordings/{b.id}/audio")
    assert blocked.status_code == 403 and blocked.json()["error"] == "review_required"
    assert a.id in blocked.json()["reason"]
    api.post(
        f"/api/v1/recordings/{a.id}/reviews",
        json={"template": "notes-only", "answers": {"text": "done"}},
    )
    assert api.get(f"/api/v1/recordings/{b.id}/audio").status_code == 200
    # now B is the call to review before A may be played again
    assert api.get(f"/api/v1/recordings/{a.id}/audio").json()["error"] == "review_required"


def test_call_page_lists_reviews_and_takes_one(app, admin, catalog, clock, tmp_path):
    configure(catalog)
    (rec,) = add_calls(catalog, tmp_path, clock(), [{"from_number": "+1555", "to_number": "100"}])
    client = logged_in(app, admin, clock)
    page = client.get(f"/recordings/{rec.id}")
    assert 'id="review-qa"' in page.text and "No reviews yet." in page.text
    r = client.post(
        f"/recordings/{rec.id}/review",
        data={
            "csrf": csrf_of(page.text),
            "template": "qa",
            "f:greeting": "on",
            "f:empathy": "10",
            "f:outcome": "solved",
            "f:summary": "great call",
            "f:follow_up": "",
            "f:ticket": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get(f"/recordings/{rec.id}")
    assert 'id="review-list"' in page.text and "great call" in page.text
    assert "<td>100</td>" in page.text  # the score


def test_admin_builds_templates_in_the_portal_settings(admin_client, catalog):
    from catalog.reviews import templates

    page = admin_client.get("/settings/config")
    assert "Communication review templates" in page.text
    yaml_text = (
        "reviews:\n"
        "  - name: intake\n"
        "    fields:\n"
        "      - {name: polite, type: toggle, weight: 1}\n"
        "      - {name: reason, type: dropdown, options: [billing, tech], required: true}\n"
    )
    r = admin_client.post(
        "/settings/config/reviews", data={"yaml": yaml_text, "csrf": csrf_of(page.text)}
    )
    assert r.status_code == 200, r.text
    (t,) = templates(catalog)
    assert (
        t.name == "intake"
        and t.scored
        and [f.type.value for f in t.fields] == ["toggle", "dropdown"]
    )
    bad = admin_client.post(
        "/settings/config/reviews",
        data={"yaml": "reviews:\n  - name: x\n    fields: []\n", "csrf": csrf_of(page.text)},
    )
    assert "reviews.x.fields" in bad.text and len(templates(catalog)) == 1
