#!/usr/bin/env python3
"""Writes protocol/vectors/lcbp.txt from protocol/SPEC.md alone.

An independent implementation of the LCBP/1 frame encoding: it must never call
or copy the C codec, so the unit tests check protocol/lcbp.c against a second
reading of the specification. Malformed frames are built by hand, one fault
each, with the error code SPEC.md gives for that fault.
Run: python3 make_lcbp_vectors.py > lcbp.txt
     python3 make_lcbp_vectors.py --corpus ../../tests/fuzz/corpus/lcbp
"""
import os
import struct
import sys

# SPEC.md, "Message types".
TYPES = {
    "HELLO": 0x01, "TAP": 0x02, "BALANCE": 0x03, "OUTCOME": 0x04, "UPLOAD": 0x05,
    "PING": 0x06, "HELLO_OK": 0x81, "TAP_OK": 0x82, "BALANCE_OK": 0x83,
    "OUTCOME_OK": 0x84, "UPLOAD_OK": 0x85, "PONG": 0x86, "ERROR": 0xFF,
}

# SPEC.md, "Fields": name -> (tag, wire type).
U8, U16, U32, U64, I64, STRING, BYTES, LIST = range(1, 9)
FIELDS = {
    "version_min": (0x01, U8), "version_max": (0x02, U8), "software": (0x03, STRING),
    "version": (0x04, U8), "server_time_ms": (0x05, I64), "terminal_id": (0x06, STRING),
    "institution": (0x07, STRING), "max_frame": (0x08, U32), "max_in_flight": (0x09, U16),
    "offline_window_s": (0x0A, U32), "card": (0x10, STRING), "session": (0x11, STRING),
    "direction": (0x12, U8), "terminal_time_ms": (0x13, I64), "sequence": (0x14, U64),
    "course": (0x15, STRING), "result": (0x16, STRING), "completed_on": (0x17, STRING),
    "sessions": (0x18, LIST), "taps": (0x19, LIST), "status": (0x20, U8),
    "attended_minutes": (0x21, U32), "required_minutes": (0x22, U32),
    "credits_centi": (0x23, I64), "credit_unit": (0x24, STRING), "balances": (0x25, LIST),
    "transaction_id": (0x26, BYTES), "hash": (0x27, BYTES), "tap_status": (0x28, LIST),
    "gaps": (0x29, LIST), "gaps_more": (0x2A, U8), "display": (0x2E, STRING),
    "error_code": (0x30, STRING), "error_message": (0x31, STRING),
}
FIXED = {U8: ">B", U16: ">H", U32: ">I", U64: ">Q", I64: ">q"}

# SPEC.md, "Tap status".
TAP_STATUS = ["applied", "duplicate", "card_invalid", "card_not_found", "card_lost",
              "card_cancelled", "card_replaced", "session_not_found", "course_not_owned",
              "no_open_check_in", "already_checked_in", "tap_too_old", "tap_in_future",
              "sequence_replayed", "too_short"]
DIRECTION = {"in": 1, "out": 2}


def luhn_card(region, serial):
    body = "%s%012d" % (region, serial)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the digit next to the check digit, then every other one
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def short_text(s):
    raw = s.encode()
    return struct.pack(">B", len(raw)) + raw


def list_value(name, items):
    out = struct.pack(">H", len(items))
    for item in items:
        if name == "sessions":
            out += short_text(item)
        elif name == "taps":
            seq, time_ms, card, index, direction = item
            out += struct.pack(">QqQBB", seq, time_ms, int(card), index, DIRECTION[direction])
        elif name == "balances":
            unit, amount = item
            out += short_text(unit) + struct.pack(">q", amount)
        elif name == "tap_status":
            out += struct.pack(">B", TAP_STATUS.index(item))
        elif name == "gaps":
            out += struct.pack(">QQ", *item)
    return out


def field(name, value):
    tag, wire = FIELDS[name]
    if wire in FIXED:
        raw = struct.pack(FIXED[wire], DIRECTION[value] if name == "direction" else value)
    elif wire == STRING:
        raw = value.encode()
    elif wire == BYTES:
        raw = bytes.fromhex(value)
    else:
        raw = list_value(name, value)
    return struct.pack(">BBH", tag, wire, len(raw)) + raw


def frame(type_name, request_id, fields):
    body = struct.pack(">BI", TYPES[type_name], request_id)
    for name in sorted(fields, key=lambda n: FIELDS[n][0]):  # tags ascend
        body += field(name, fields[name])
    return struct.pack(">I", len(body)) + body


def raw_frame(type_byte, request_id, fields_bytes):
    body = struct.pack(">BI", type_byte, request_id) + fields_bytes
    return struct.pack(">I", len(body)) + body


CARD = luhn_card("330206", 1)
CARD2 = luhn_card("330206", 2)
CARD3 = luhn_card("110105", 123456789)
T0 = 1718000000000  # 2024-06-10T06:13:20Z in ms
TXN = "0190f3a27c4e7b1a9d3e5f6a7b8c9d01"
HASH = "f2273f2a5162440d8ab29608b31debdd466377e756a52518f490068e09181c79"


def full_upload():
    sessions = ["S%02d-%s" % (i, "X" * 28) for i in range(32)]
    cards = [luhn_card("330206", n) for n in range(1, 11)]
    taps = [(1000 + i, T0 + i * 60000, cards[i % 10], i % 32, "in" if i % 2 == 0 else "out")
            for i in range(500)]
    return {"sessions": sessions, "taps": taps}


def full_upload_ok():
    statuses = [TAP_STATUS[i % len(TAP_STATUS)] for i in range(500)]
    gaps = [(10 * i + 1, 10 * i + 5) for i in range(64)]
    return {"tap_status": statuses, "gaps": gaps, "gaps_more": 1}


VALID = [
    ("hello", "HELLO", 1, {"version_min": 1, "version_max": 1, "software": "lcb-term/0.1"}),
    ("hello_range_clock", "HELLO", 7,
     {"version_min": 1, "version_max": 3, "software": "终端/2.0", "terminal_time_ms": T0}),
    ("hello_ok", "HELLO_OK", 1,
     {"version": 1, "server_time_ms": T0 + 123, "terminal_id": "T00042",
      "institution": "BL-CC-01", "max_frame": 16384, "max_in_flight": 16,
      "offline_window_s": 604800}),
    ("tap_in", "TAP", 2,
     {"card": CARD, "session": "CE-2024-001-S03", "direction": "in",
      "terminal_time_ms": T0 + 1000, "sequence": 1}),
    ("tap_ok_in", "TAP_OK", 2,
     {"status": 0, "attended_minutes": 0, "required_minutes": 1200, "credits_centi": 0,
      "display": "签到成功 checked in"}),
    ("tap_out", "TAP", 3,
     {"card": CARD, "session": "CE-2024-001-S03", "direction": "out",
      "terminal_time_ms": T0 + 5400000, "sequence": 2}),
    ("tap_ok_credits", "TAP_OK", 3,
     {"status": 0, "attended_minutes": 1200, "required_minutes": 1200, "credits_centi": 150,
      "credit_unit": "community", "display": "1.50 community credits"}),
    ("tap_ok_duplicate", "TAP_OK", 4,
     {"status": 1, "attended_minutes": 1200, "required_minutes": 1200, "credits_centi": 150,
      "credit_unit": "community", "display": ""}),
    ("balance", "BALANCE", 5, {"card": CARD}),
    ("balance_ok", "BALANCE_OK", 5,
     {"balances": [("community", 450), ("minutes", 1320), ("vocational", -25)],
      "display": "社区 4.50"}),
    ("balance_ok_empty", "BALANCE_OK", 6, {"balances": [], "display": ""}),
    ("outcome", "OUTCOME", 8,
     {"card": CARD3, "sequence": 3, "course": "CE-2024-001", "result": "pass",
      "completed_on": "2024-02-29"}),
    ("outcome_ok", "OUTCOME_OK", 8, {"status": 0, "transaction_id": TXN, "hash": HASH}),
    ("outcome_ok_duplicate", "OUTCOME_OK", 9, {"status": 1, "transaction_id": TXN, "hash": HASH}),
    ("upload", "UPLOAD", 10,
     {"sessions": ["CE-2024-001-S03", "CE-2024-007-S01"],
      "taps": [(4, T0 - 86400000, CARD, 0, "in"), (5, T0 - 81000000, CARD, 0, "out"),
               (8, T0 - 3600000, CARD2, 1, "in")]}),
    ("upload_ok", "UPLOAD_OK", 10,
     {"tap_status": ["applied", "duplicate", "card_lost"], "gaps": [(3, 3), (6, 7)],
      "gaps_more": 0}),
    ("upload_full", "UPLOAD", 11, full_upload()),
    ("upload_ok_full", "UPLOAD_OK", 11, full_upload_ok()),
    ("ping", "PING", 0xFFFFFFFF, {}),
    ("pong", "PONG", 0xFFFFFFFF, {"server_time_ms": T0 + 999}),
    ("error_card_lost", "ERROR", 12,
     {"error_code": "card_lost", "error_message": "card reported lost on 2024-06-01"}),
    ("error_connection", "ERROR", 0,
     {"error_code": "frame_too_large", "error_message": ""}),
]


def tlv(tag, wire, raw):
    return struct.pack(">BBH", tag, wire, len(raw)) + raw


def malformed():
    """(name, frame bytes, expected error code); each with exactly one fault."""
    tap = {"card": CARD, "session": "S1", "direction": "in", "terminal_time_ms": T0,
           "sequence": 9}
    tap_fields = frame("TAP", 2, tap)[9:]
    card_tlv = field("card", CARD)
    ok_upload = {"sessions": ["S1"], "taps": [(1, T0, CARD, 0, "in")]}
    tap_item = struct.pack(">QqQBB", 1, T0, int(CARD), 0, 1)
    yield "length_below_header", struct.pack(">I", 4) + b"\x06\x00\x00\x00", "bad_frame"
    yield "length_one_over_max", struct.pack(">I", 16381) + b"\x06\x00\x00\x00\x01", \
        "frame_too_large"
    yield "length_huge", b"\xff\xff\xff\xff\x06", "frame_too_large"
    yield "request_id_zero", raw_frame(0x06, 0, b""), "bad_frame"
    yield "tlv_value_past_end", raw_frame(0x03, 5, card_tlv[:-1]), "bad_frame"
    yield "tlv_header_cut", raw_frame(0x03, 5, card_tlv + b"\x10\x06"), "bad_frame"
    yield "type_unassigned", raw_frame(0x07, 5, b""), "unknown_message"
    yield "type_zero", raw_frame(0x00, 5, b""), "unknown_message"
    yield "unknown_tag", raw_frame(0x03, 5, card_tlv + tlv(0x3F, U8, b"\x01")), "bad_field"
    yield "tag_not_in_message", raw_frame(0x03, 5, card_tlv + field("display", "x")), \
        "bad_field"
    yield "duplicate_tag", raw_frame(0x03, 5, card_tlv + card_tlv), "bad_field"
    yield "tags_out_of_order", raw_frame(
        0x02, 2, field("session", "S1") + card_tlv + tap_fields[len(card_tlv) + len(field("session", "S1")):]), "bad_field"
    yield "wrong_wire_type", raw_frame(0x03, 5, tlv(0x10, U64, struct.pack(">Q", int(CARD)))), \
        "bad_field"
    yield "wrong_fixed_length", raw_frame(
        0x86, 5, tlv(0x05, I64, struct.pack(">I", 1))), "bad_field"
    yield "card_18_digits", frame("BALANCE", 5, {"card": CARD[:18]}), "bad_field"
    yield "card_leading_zero", frame("BALANCE", 5, {"card": "0" + CARD[1:]}), "bad_field"
    yield "software_bad_utf8", raw_frame(
        0x01, 1, field("version_min", 1) + field("version_max", 1) + tlv(0x03, STRING, b"\xc3\x28")), \
        "bad_field"
    yield "string_with_nul", raw_frame(0x03, 5, tlv(0x10, STRING, CARD[:18].encode() + b"\0")), \
        "bad_field"
    yield "direction_three", raw_frame(0x02, 2, tap_fields.replace(
        tlv(0x12, U8, b"\x01"), tlv(0x12, U8, b"\x03"))), "bad_field"
    yield "sequence_zero", frame("TAP", 2, dict(tap, sequence=0)), "bad_field"
    yield "time_negative", frame("TAP", 2, dict(tap, terminal_time_ms=-1)), "bad_field"
    yield "date_not_leap", frame("OUTCOME", 8, {
        "card": CARD, "sequence": 3, "course": "C1", "result": "pass",
        "completed_on": "2023-02-29"}), "bad_field"
    yield "missing_sequence", frame("TAP", 2, {k: v for k, v in tap.items() if k != "sequence"}), \
        "missing_field"
    yield "hello_min_above_max", frame("HELLO", 1, {
        "version_min": 2, "version_max": 1, "software": "t"}), "bad_field"
    yield "hello_ok_version_two", frame("HELLO_OK", 1, {
        "version": 2, "server_time_ms": T0, "terminal_id": "T1", "institution": "I1",
        "max_frame": 16384, "max_in_flight": 1, "offline_window_s": 60}), "bad_field"
    yield "credits_without_unit", frame("TAP_OK", 3, {
        "status": 0, "attended_minutes": 1, "required_minutes": 1, "credits_centi": 100,
        "display": ""}), "bad_field"
    yield "error_unknown_code", frame("ERROR", 3, {"error_code": "oops", "error_message": ""}), \
        "bad_field"
    yield "ping_with_field", raw_frame(0x06, 1, field("sequence", 1)), "bad_field"
    yield "upload_count_mismatch", raw_frame(
        0x05, 10, field("sessions", ["S1"]) + tlv(0x19, LIST, b"\x00\x02" + tap_item)), "bad_field"
    yield "upload_session_index", frame("UPLOAD", 10, {
        "sessions": ["S1"], "taps": [(1, T0, CARD, 1, "in")]}), "bad_field"
    yield "upload_sequence_not_rising", frame("UPLOAD", 10, dict(
        ok_upload, taps=[(2, T0, CARD, 0, "in"), (2, T0, CARD, 0, "out")])), "bad_field"
    yield "upload_card_too_small", raw_frame(0x05, 10, field("sessions", ["S1"]) + tlv(
        0x19, LIST, b"\x00\x01" + struct.pack(">QqQBB", 1, T0, 999, 0, 1))), "bad_field"
    yield "upload_no_taps", frame("UPLOAD", 10, dict(ok_upload, taps=[])), "bad_field"
    yield "gaps_overlap", frame("UPLOAD_OK", 10, {
        "tap_status": ["applied"], "gaps": [(3, 5), (5, 9)], "gaps_more": 0}), "bad_field"
    yield "tap_status_unknown", raw_frame(0x85, 10, tlv(0x28, LIST, b"\x00\x01\x0f") +
                                          field("gaps", []) + field("gaps_more", 0)), "bad_field"
    yield "balances_unit_twice", frame("BALANCE_OK", 5, {
        "balances": [("community", 1), ("community", 2)], "display": ""}), "bad_field"


HEADER = """\
# Test vectors for LCBP/1 frames (protocol/SPEC.md).
# Generated by make_lcbp_vectors.py, an independent implementation; do not edit by hand.
#
# Format: blocks of `field = value` lines separated by blank lines; `#` starts a
# comment line. A value is the rest of the line after the first `=`, minus one
# leading space, taken verbatim (UTF-8). A block is either
#   a valid frame:     name, type, request_id, its fields (a line per field the
#                      frame carries, in tag order), then `frame`;
#   a malformed frame: name, `frame`, `error` (the code a decoder must report;
#                      frame_too_large and a too-small length come from the
#                      4-byte length alone).
# Field values: integers in decimal; direction `in`/`out`; strings verbatim
# (possibly empty); transaction_id and hash in hex. List fields take one line
# per item, in order, its name followed by `[]` (an empty list has no line):
#   sessions[] = CODE
#   taps[] = SEQUENCE TIME_MS CARD SESSION_INDEX in|out
#   balances[] = UNIT AMOUNT
#   tap_status[] = NAME          (the status by its name, e.g. applied, card_lost)
#   gaps[] = FIRST LAST
"""

ITEM_LINE = {name: name + "[]" for name in ("sessions", "taps", "balances", "tap_status", "gaps")}


def vector_lines(name, type_name, request_id, fields):
    lines = ["name = " + name, "type = " + type_name, "request_id = %d" % request_id]
    for fname in sorted(fields, key=lambda n: FIELDS[n][0]):
        value = fields[fname]
        if FIELDS[fname][1] == LIST:
            for item in value:
                text = item if isinstance(item, str) else " ".join(str(x) for x in item)
                lines.append("%s = %s" % (ITEM_LINE[fname], text))
        else:
            lines.append("%s = %s" % (fname, value))
    lines.append("frame = " + frame(type_name, request_id, fields).hex())
    return lines


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--corpus":
        os.makedirs(sys.argv[2], exist_ok=True)
        for name, type_name, request_id, fields in VALID:
            with open(os.path.join(sys.argv[2], name), "wb") as f:
                f.write(frame(type_name, request_id, fields))
        for name, data, _ in malformed():
            with open(os.path.join(sys.argv[2], "bad_" + name), "wb") as f:
                f.write(data)
        return
    out = [HEADER]
    for vector in VALID:
        out.append("\n".join(vector_lines(*vector)) + "\n")
    for name, data, code in malformed():
        out.append("name = %s\nframe = %s\nerror = %s\n" % (name, data.hex(), code))
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()
