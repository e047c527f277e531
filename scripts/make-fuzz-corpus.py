#!/usr/bin/env python3
"""Writes the seed corpus of the storage libFuzzer harness (Tests/fuzz-corpus/{record,recovery}).

Records follow Sources/SluiceStorage/RecordFormat.swift: a 56-byte header (magic "SLRC", size,
CRC-32C of bytes 12..end, version 1, type, flags, physical offset, queue offset, queue id, tag
hash, born and store times), then topic, tags, message id, keys, properties and body.
"""
import os, struct, sys

def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def s16(text: bytes) -> bytes:
    return struct.pack("<H", len(text)) + text

def record(offset, topic=b"orders", tags=b"a", mid=b"id-1", keys=(b"k",), props=((b"p", b"v"),),
           body=b"hello", queue_id=0, queue_offset=0, kind=1, flags=0, secondary=None):
    variable = s16(topic) + s16(tags) + s16(mid) + struct.pack("<H", len(keys)) + b"".join(s16(k) for k in keys)
    if secondary is not None:
        flags |= 0x8000
        variable += s16(secondary[0]) + struct.pack("<IQ", secondary[1], secondary[2])
    variable += struct.pack("<H", len(props)) + b"".join(s16(n) + struct.pack("<I", len(v)) + v for n, v in props)
    variable += struct.pack("<I", len(body)) + body
    size = 56 + len(variable)
    rest = struct.pack("<BBHQQIIqq", 1, kind, flags, offset, queue_offset, queue_id, 0, 1_700_000_000_000, 1_700_000_000_001)
    rest += variable
    crc = crc32c(rest)
    return struct.pack("<III", 0x4352_4C53, size, crc) + rest

def segment(records_spec):
    out = b""
    for spec in records_spec:
        out += record(len(out), **spec)
    return out

root = sys.argv[1] if len(sys.argv) > 1 else "Tests/fuzz-corpus"
os.makedirs(f"{root}/record", exist_ok=True)
os.makedirs(f"{root}/recovery", exist_ok=True)

plain = record(0)
corpus = {
    "plain": plain,
    "empty-fields": record(0, topic=b"t", tags=b"", mid=b"", keys=(), props=(), body=b""),
    "many-keys": record(0, keys=tuple(b"k%d" % i for i in range(20))),
    "secondary-queue": record(0, secondary=(b"other", 3, 7)),
    "transaction-half": record(0, kind=4, flags=1, props=((b"SLUICE_TXN_ID", b"abc"), (b"SLUICE_REAL_TOPIC", b"orders"))),
    "big-body": record(0, body=bytes(range(256)) * 16),
    "torn": plain[: len(plain) // 2],
    "bad-crc": plain[:8] + b"\x00\x00\x00\x00" + plain[12:],
    "blank-filler": struct.pack("<II", 0x4B42_4C53, 64) + bytes(56),
    "two-records": segment([{}, {"queue_offset": 1, "mid": b"id-2"}]),
}
for name, data in corpus.items():
    open(f"{root}/record/{name}", "wb").write(data)

three = segment([{}, {"queue_offset": 1, "mid": b"id-2", "keys": (b"k",)}, {"topic": b"other", "mid": b"id-3"}])
recovery = {
    "clean-three": b"\x00" + three,
    "unclean-three": b"\x01" + three,
    "unclean-torn-tail": b"\x01" + three[:-7],
    "damaged-middle": b"\x01" + three[:70] + b"\xff" * 8 + three[78:],
    "with-checkpoint": b"\x03" + bytes([16]) + bytes(16) + three,
    "blank-then-record": b"\x01" + struct.pack("<II", 0x4B42_4C53, 4096) + bytes(4088),
    "zeros": b"\x01" + bytes(512),
}
for name, data in recovery.items():
    open(f"{root}/recovery/{name}", "wb").write(data)
print(f"wrote {len(corpus)} record and {len(recovery)} recovery seeds under {root}")

# The HTTP access front's parsers (SLUICE_FUZZ_TARGET=http): the first byte picks the parser
# (0 publish document, 1 receipt handles, 2 Properties text, 3 Authorization, 4 Date, 5 any XML).
os.makedirs(f"{root}/http", exist_ok=True)
http = {
    "publish": b"\x00<?xml version=\"1.0\" encoding=\"UTF-8\"?><Message><MessageBody>hello &amp; &lt;world&gt;</MessageBody>"
               b"<MessageTag>tagA</MessageTag><Properties>KEYS:k1|__STARTDELIVERTIME:1700000000000|a:b|</Properties></Message>",
    "publish-cdata": b"\x00<Message><MessageBody><![CDATA[<raw> & body]]></MessageBody></Message>",
    "publish-no-body": b"\x00<Message><MessageTag>t</MessageTag></Message>",
    "handles": b"\x01<?xml version=\"1.0\"?><ReceiptHandles><ReceiptHandle>abc-1</ReceiptHandle>"
               b"<ReceiptHandle>abc-2</ReceiptHandle></ReceiptHandles>",
    "handles-too-many": b"\x01<ReceiptHandles>" + b"<ReceiptHandle>h</ReceiptHandle>" * 17 + b"</ReceiptHandles>",
    "properties": b"\x02KEYS:a b|__TransCheckT:10|dup:1|dup:2|::|x:|:y|a:b:c|",
    # Found by libFuzzer: a ':' followed by a combining mark (U+0483) is one Character in Swift.
    "properties-combining-mark": "\x02dup:\u0483dup:2|a:b|\u0483|:\u0483x".encode(),
    "authorization": b"\x03MQ AKID123:dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==",
    "authorization-odd": b"\x03MQ :::",
    "date": b"\x04Mon, 07 Dec 2026 00:00:00 GMT",
    "date-bad": b"\x04Feb 31 99999 25:61:61 XYZ",
    "xml-deep": b"\x05" + b"<a>" * 10 + b"x" + b"</a>" * 10,
    "xml-entities": b"\x05<a x='1' y=\"2\">&#65;&#x42;&quot;&apos;&unknown;</a>",
}
for name, data in http.items():
    open(f"{root}/http/{name}", "wb").write(data)
print(f"wrote {len(http)} http seeds under {root}/http")
