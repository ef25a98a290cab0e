#!/usr/bin/env python3
"""Writes protocol/vectors/records.txt from protocol/RECORD.md alone.

An independent implementation of the canonical record encoding: it must never
call or copy the C code, so the C unit tests check lib/ and protocol/ against
a second reading of the specification. Run: python3 make_vectors.py > records.txt
Needs the `cryptography` package only for the Ed25519 signature lines.
"""
import hashlib
import struct
import sys
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

KINDS = {"deposit": 1, "reversal": 2, "conversion": 3}

# RFC 8032 section 7.1, TEST 1: a published key, so anyone can re-check.
SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PRIVATE = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC = PRIVATE.public_key().public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)
KEY_ID = hashlib.sha256(PUBLIC).digest()[:8].hex()


def text(s, limit):
    raw = s.encode("utf-8")
    assert len(raw) <= limit, s
    return struct.pack(">H", len(raw)) + raw


def encode(v):
    out = b"LCBR" + bytes([1, KINDS[v["kind"]]])
    out += uuid.UUID(v["id"]).bytes
    out += struct.pack(">qq", v["chain_account_id"], v["chain_seq"])
    out += bytes.fromhex(v["prev_hash"])
    out += struct.pack(">qq", v["created_at_us"], v["institution_id"])
    out += text(v["idempotency_key"], 128)
    out += text(v["item_code"], 32)
    out += text(v["result"], 64)
    out += text(v["completed_on"], 10)
    if v["evidence_sha256"]:
        out += b"\x01" + bytes.fromhex(v["evidence_sha256"])
    else:
        out += b"\x00"
    if v["reverses"]:
        out += b"\x01" + uuid.UUID(v["reverses"]).bytes
    else:
        out += b"\x00"
    out += text(v["reason"], 256)
    out += text(v["key_id"], 16)
    out += struct.pack(">H", len(v["entries"]))
    for account, unit, amount in v["entries"]:
        out += struct.pack(">q", account) + text(unit, 16) + struct.pack(">q", amount)
    return out


def base(**fields):
    v = {
        "kind": "deposit", "prev_hash": "00" * 32, "item_code": "", "result": "",
        "completed_on": "", "evidence_sha256": "", "reverses": "", "reason": "",
        "key_id": KEY_ID,
    }
    v.update(fields)
    return v


FIRST = base(
    name="first_deposit",
    id="0190f3a2-7c4e-7b1a-9d3e-5f6a7b8c9d01",
    chain_account_id=1001, chain_seq=1, created_at_us=1718000000000000,
    institution_id=7, idempotency_key="T00042:1", item_code="CE-2024-001",
    result="pass", completed_on="2024-06-10",
    entries=[(1001, "community", 150), (7, "community", -150)],
)
FIRST_HASH = hashlib.sha256(encode(FIRST)).hexdigest()

VECTORS = [
    FIRST,
    base(
        name="second_link",
        id="0190f3a2-7c4e-7b1a-9d3e-5f6a7b8c9d02",
        chain_account_id=1001, chain_seq=2, prev_hash=FIRST_HASH,
        created_at_us=1718003600123456, institution_id=7,
        idempotency_key="T00042:2", item_code="CE-2024-002", result="92",
        completed_on="2024-02-29",
        entries=[(1001, "minutes", 90), (7, "minutes", -90)],
    ),
    base(
        name="reversal_with_evidence",
        kind="reversal",
        id="0190f3a2-7c4e-7b1a-9d3e-5f6a7b8c9d03",
        chain_account_id=1001, chain_seq=3,
        prev_hash="5d" * 16 + "a7" * 16,
        created_at_us=1718090000000001, institution_id=1,
        idempotency_key="admin-ref-2024-0007",
        evidence_sha256=hashlib.sha256(b"scan of the corrected sign-in sheet").hexdigest(),
        reverses="0190f3a2-7c4e-7b1a-9d3e-5f6a7b8c9d01",
        reason="Duplicate check-in at the learning point; original posted twice.",
        entries=[(1001, "community", -150), (7, "community", 150)],
    ),
    base(
        name="conversion_multibyte",
        kind="conversion",
        id="0190f3a2-7c4e-7b1a-9d3e-5f6a7b8c9d04",
        chain_account_id=2002, chain_seq=5, prev_hash="01" * 32,
        created_at_us=1735689600000000, institution_id=3,
        idempotency_key="转换-2025-北仑-0001", item_code="1+X-WEB-中级",
        result="合格（优秀）", completed_on="2024-12-31",
        reason="社区教育学分按规则 v3 转换为职业教育学分 ✓",
        entries=[(2002, "community", -200), (3, "community", 200),
                 (2002, "vocational", 100), (3, "vocational", -100)],
    ),
    base(
        name="limits",
        id="ffffffff-ffff-ffff-ffff-ffffffffffff",
        chain_account_id=9223372036854775807, chain_seq=9223372036854775807,
        prev_hash="ff" * 32, created_at_us=-1, institution_id=-9223372036854775808,
        idempotency_key="k" * 128, item_code="C" * 32, result="r" * 64,
        completed_on="9999-12-31",
        evidence_sha256="00" * 32, reverses="",
        reason="é" * 128, key_id="0123456789abcdef",
        entries=[(i, "u%d_%s" % (i, "z" * 12 if i % 2 else ""),
                  (-1) ** i * (9223372036854775807 - i)) for i in range(16)],
    ),
]

FIELDS = ["id", "kind", "chain_account_id", "chain_seq", "prev_hash", "created_at_us",
          "institution_id", "idempotency_key", "item_code", "result", "completed_on",
          "evidence_sha256", "reverses", "reason", "key_id"]

HEADER = """\
# Test vectors for the canonical record encoding (protocol/RECORD.md).
# Generated by make_vectors.py, an independent implementation; do not edit by hand.
#
# Format: blocks of `field = value` lines separated by blank lines; `#` starts a
# comment line. A value is the rest of the line after the first `=`, minus one
# leading space, taken verbatim (UTF-8). Fields appear in record order:
#   name              label of the vector (not encoded)
#   id, reverses      UUID text; an empty `reverses` means absent
#   kind              deposit | reversal | conversion
#   *_id, chain_seq, created_at_us   decimal signed 64-bit integers
#   prev_hash, evidence_sha256       64 hex digits; empty evidence means absent
#   entry             `account unit amount`, one line per entry, in order
#   encoding          hex of the canonical encoding
#   hash              hex SHA-256 of the encoding (the transaction hash)
#   public_key        hex raw Ed25519 public key (RFC 8032 7.1 TEST 1 key)
#   signature         hex Ed25519 signature over the 32 hash bytes
"""


def main():
    out = [HEADER]
    for v in VECTORS:
        enc = encode(v)
        digest = hashlib.sha256(enc).digest()
        lines = ["name = " + v["name"]]
        for f in FIELDS:
            lines.append("%s =%s" % (f, "" if v[f] == "" else " %s" % v[f]))
        for account, unit, amount in v["entries"]:
            lines.append("entry = %d %s %d" % (account, unit, amount))
        lines.append("encoding = " + enc.hex())
        lines.append("hash = " + digest.hex())
        lines.append("public_key = " + PUBLIC.hex())
        lines.append("signature = " + PRIVATE.sign(digest).hex())
        out.append("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
