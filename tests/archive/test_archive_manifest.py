"""Archive uploads carry the recording's signed manifest in the metadata sidecar: an auditor
checks the archived original with the public key alone (no recflow, no catalog)."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from catalog.archive import ArchiveDestination
from catalog.repository import Catalog
from services.archive import run_archive
from tests.archive.test_archive_flow import keys, resolver, s3


async def test_sidecar_carries_a_manifest_that_verifies_the_archived_original(
    catalog: Catalog, calls, moto_endpoint: str, s3_bucket: str
) -> None:  # type: ignore[no-untyped-def]
    rec = calls.add()
    dest = ArchiveDestination(
        name="proof", connector="s3-archive", formats=["WAV_16_8000_S"], metadata_sidecar=True
    )
    rep = await run_archive(catalog, dest, resolver(moto_endpoint, s3_archive=s3_bucket))
    assert rep.ok, rep.summary()
    got = keys(moto_endpoint, s3_bucket)
    client = s3(moto_endpoint)
    side = json.loads(
        client.get_object(Bucket=s3_bucket, Key=next(k for k in got if k.endswith(".json")))[
            "Body"
        ].read()
    )
    audio = client.get_object(Bucket=s3_bucket, Key=next(k for k in got if k.endswith(".wav")))[
        "Body"
    ].read()
    m = side["manifest"]
    public = load_pem_public_key(m["public_key_pem"].encode())
    public.verify(base64.b64decode(m["signature"]), m["manifest"].encode())  # raises if forged
    body = json.loads(m["manifest"])
    assert body["recording_id"] == rec.id
    assert hashlib.sha256(m["manifest"].encode()).hexdigest() == m["sha256_of_manifest"]
    # the stored original is 16-bit 8 kHz stereo WAV, so the archive uploads it byte for byte
    assert hashlib.sha256(audio).hexdigest() == body["sha256"]
