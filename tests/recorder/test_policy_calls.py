"""The recording policy through the real recorder: SIPp calls for every row of the KAZOO
precedence table (tests/catalog/test_recording_policy.py), the policy changed with
`recflow config apply` while the recorder runs; an unrecorded call is answered, listed as
``not_recorded`` with its rule, and leaves no audio anywhere on disk; an on-demand call started
by DTMF *95 half-way keeps only what follows the code."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from recorder.media import ULAW
from tests.catalog.test_recording_policy import ANN, ROWS
from tests.recorder.helpers import RECFLOW, Recorder, free_port
from tests.recorder.test_calls import SIPP_UAC

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) missing")

DIRECTORY = {"users": {ANN: {"role": "user"}}, "devices": {"1001": {"user": ANN}}}


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    rec = Recorder(tmp_path_factory.mktemp("pol") / "data", "--rtp-timeout", "3").start()
    yield rec
    assert rec.stop() == 0


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of mu-law noise: every 400-sample window is unique, so kept parts can be located."""
    d = tmp_path_factory.mktemp("noise")
    pcm = (np.random.default_rng(16).standard_normal(32000) * 3000).astype(np.int16)
    ul = np.abs(ULAW[:, None].astype(np.int32) - pcm[None, :]).argmin(axis=0).astype(np.uint8)
    (d / "n.ul").write_bytes(ul.tobytes())
    return d / "n.ul"


def apply(recorder: Recorder, tmp: Path, doc: dict) -> None:
    """`recflow config apply`, then wait until the running recorder has reloaded the policy."""
    before = recorder.log.read_text().count("recording policy reloaded")
    f = tmp / "policy.yaml"
    f.write_text(yaml.safe_dump(doc))
    env = {**os.environ, "RECFLOW_DATA_DIR": str(recorder.data)}
    r = subprocess.run(
        [str(RECFLOW), "config", "apply", str(f)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    # the reload is an event in the log, not a sleep. `config apply` writes the policy and the
    # directory (devices) in their own transactions, so the recorder's 1-s poll can catch the
    # first alone and reload again a second later: wait until the reloads have settled (no new
    # one for two poll intervals), or a call may meet half of the change.
    seen, quiet = before, 0
    for _ in range(900):
        count = recorder.log.read_text().count("recording policy reloaded")
        quiet = quiet + 1 if count == seen else 0
        seen = count
        if count > before and quiet >= 25:
            return
        subprocess.run(["sleep", "0.1"])
    raise AssertionError("the recorder never reloaded the policy")


def call(recorder: Recorder, tmp: Path, frm: str, to: str, media: str, call_id: str = "") -> None:
    scen = tmp / "uac.xml"
    text = (
        SIPP_UAC.replace("+447700900123", "@FROM@")
        .replace("+441632960555", "@TO@")
        .replace("@FROM@", frm)
        .replace("@TO@", to)
        .replace("@MEDIA@", media)
    )
    scen.write_text(text)
    extra = ["-cid_str", call_id] if call_id else []  # SIPp matches responses by its own id
    r = subprocess.run(
        [
            "sipp",
            "-sf",
            str(scen),
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-mp",
            str(free_port()),
            "-p",
            str(free_port()),
            "-m",
            "1",
            "-l",
            "1",
            "-nostdin",
            "-timeout",
            "40",
            "-timeout_error",
            *extra,
            f"127.0.0.1:{recorder.sip}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]


def stored_files(recorder: Recorder) -> set[str]:
    out = set()
    for sub in ("recordings", "recorder/live"):
        base = recorder.data / sub
        if base.exists():
            out |= {str(p.relative_to(recorder.data)) for p in base.rglob("*") if p.is_file()}
    return out


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_precedence_through_the_recorder(
    recorder: Recorder, noise: Path, tmp_path: Path, row
) -> None:
    name, _, policy, frm, to, decision, rule = row
    # a unique, harmless extra device per row makes every apply a real change
    devices = {**DIRECTORY["devices"], f"99{ROWS.index(row)}": {}}
    apply(
        recorder,
        tmp_path,
        {**DIRECTORY, "devices": devices, "recording_policy": yaml.safe_load(policy)},
    )
    n, files = len(recorder.rows()), stored_files(recorder)
    call(
        recorder,
        tmp_path,
        frm,
        to,
        f'<nop><action><exec rtp_stream="{noise},1,0"/></action></nop><pause milliseconds="1200"/>',
    )
    rec = recorder.wait_rows(n + 1)[-1]
    assert rec["metadata"]["policy"] == {"decision": decision, "rule": rule}, name
    assert rec["answered_at"] is not None  # answered either way: the PBX is not disturbed
    if decision == "recorded":
        assert rec["status"] == "captured" and rec["file_key"]
        assert recorder.audio(rec)[:, 0].any()
    else:
        assert rec["status"] == "not_recorded" and rec["file_key"] == "" and rec["file_size"] == 0
        assert stored_files(recorder) == files  # nothing written: not even a live file remains


@pytest.mark.skipif(os.geteuid() != 0, reason="play_pcap_audio needs raw sockets (root)")
def test_on_demand_keeps_only_what_follows_the_code(
    recorder: Recorder, noise: Path, tmp_path: Path
) -> None:
    for f in ("star", "9", "5"):
        shutil.copy(f"/usr/share/sip-tester/dtmf_2833_{f}.pcap", tmp_path / f"{f}.pcap")
    apply(
        recorder,
        tmp_path,
        {
            **DIRECTORY,
            "recording_policy": {
                "users": {ANN: {"inbound": {"external": "on_demand"}}},
                "on_demand_code": "*95",
            },
        },
    )
    play = (
        '<nop><action><exec play_pcap_audio="{}.pcap"/></action></nop><pause milliseconds="250"/>'
    )
    media = (
        f'<nop><action><exec rtp_stream="{noise},1,0"/></action></nop><pause milliseconds="1500"/>'
        + play.format("star")
        + play.format("9")
        + play.format("5")
        + '<pause milliseconds="2500"/>'
    )
    n = len(recorder.rows())
    call(recorder, tmp_path, "+441632960555", "1001", media)
    rec = recorder.wait_rows(n + 1)[-1]
    pol = rec["metadata"]["policy"]
    assert pol["decision"] == "on_demand" and pol["rule"] == "user.inbound.external"
    # the code ends ~2 s in; a replayed pcap's event timestamps are not the stream's, so the
    # start is the oldest audio still held when the code was read (flush + holdback, <= 1 s)
    assert pol["started_by"] == "dtmf" and 0.7 < pol["started_at_seconds"] < 3.5
    pcm = recorder.audio(rec)[:, 0]
    src = ULAW[np.frombuffer(noise.read_bytes(), np.uint8)]

    def found(part: np.ndarray) -> bool:
        return any(
            np.array_equal(pcm[i : i + len(part)], part) for i in np.flatnonzero(pcm == part[0])
        )

    assert not found(src[800:1200])  # 0.1 s in, long before the code: not kept
    assert found(src[-4000:-3600])  # the end of the call: kept
    assert rec["duration_seconds"] < 4.0


def test_time_limit_keeps_the_first_seconds_only(
    recorder: Recorder, noise: Path, tmp_path: Path
) -> None:
    apply(
        recorder,
        tmp_path,
        {
            **DIRECTORY,
            "recording_policy": {"account": {"inbound": {"external": "on"}}, "max_seconds": 1},
        },
    )
    n = len(recorder.rows())
    call(
        recorder,
        tmp_path,
        "+441632960555",
        "1001",
        f'<nop><action><exec rtp_stream="{noise},1,0"/></action></nop><pause milliseconds="3000"/>',
    )
    rec = recorder.wait_rows(n + 1)[-1]
    assert rec["metadata"]["policy"]["time_limit_reached"] is True
    assert rec["duration_seconds"] == 1.0
    assert rec["ended_at"] > rec["answered_at"]  # the call itself went on


def test_api_start_and_stop_reach_the_live_call(
    recorder: Recorder, noise: Path, tmp_path: Path
) -> None:
    """The API queues a command in the catalog; the recorder carries it out on the live call."""
    import threading
    import uuid

    from catalog.directory import call_command, request_call_command
    from catalog.repository import Catalog
    from catalog.settings import RecflowSettings

    apply(
        recorder,
        tmp_path,
        {
            **DIRECTORY,
            "recording_policy": {
                "users": {ANN: {"inbound": {"external": "on_demand"}}},
                "max_seconds": 0,
            },
        },
    )
    catalog = Catalog.open(RecflowSettings(data_dir=recorder.data))
    missing = request_call_command(catalog, "no-such-call", "start", "test")
    call_id = f"api-{uuid.uuid4().hex}"
    n = len(recorder.rows())
    media = (
        f'<nop><action><exec rtp_stream="{noise},1,0"/></action></nop><pause milliseconds="4000"/>'
    )
    scen_call = threading.Thread(
        target=call,
        args=(recorder, tmp_path, "+441632960555", "1001", media),
        kwargs={"call_id": call_id},
    )
    scen_call.start()
    for _ in range(200):  # the recorder's command loop has run at least once
        if call_command(catalog, missing)["done"]:
            break
        subprocess.run(["sleep", "0.05"])
    started = None
    for _ in range(100):  # start as soon as the recorder knows the call
        cmd = request_call_command(catalog, call_id, "start", "test")
        for _ in range(100):
            got = call_command(catalog, cmd)
            if got["done"]:
                break
            subprocess.run(["sleep", "0.05"])
        if got["outcome"] == "applied":
            started = cmd
            break
    scen_call.join()
    assert call_command(catalog, missing)["outcome"] == "no_such_call"
    assert started is not None
    rec = recorder.wait_rows(n + 1)[-1]
    assert rec["call_id"] == call_id
    assert rec["metadata"]["policy"]["started_by"] == "api" and rec["status"] == "captured"
    assert 0 < rec["duration_seconds"] < 4.0
    catalog.db.dispose()
