"""The event log's stored blocks, read and rewritten as tests need (docs/events.md,
Storage): a header line "kwev2 FIRST TMIN TMAX" followed by a zstd frame of the block's
record lines joined by "\\n"; blocks written before ADR 0015 begin "kwev1 " and hold a
zlib stream instead."""
import os
import sqlite3
import zlib

import zstandard


def decode(value):
    """(header line, record lines) of one stored block."""
    header, data = bytes(value).split(b"\n", 1)
    if header.startswith(b"kwev2 "):
        # keyward streams the frame, so its header carries no content size.
        text = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    else:
        text = zlib.decompress(data)
    return header, text.decode().split("\n")


def encode(header, lines):
    """A block as keyward writes it now (zstd with a content checksum); the header's
    magic becomes "kwev2 "."""
    fields = header.split(b" ", 1)[1]
    frame = zstandard.ZstdCompressor(level=1, write_checksum=True).compress(
        "\n".join(lines).encode())
    return b"kwev2 " + fields + b"\n" + frame


def stored(data_dir):
    """Every stored block of the server's keyward.db as (key, header, record lines),
    in key order (newest block first)."""
    db = sqlite3.connect(os.path.join(data_dir, "keyward.db"))
    try:
        rows = db.execute("SELECT key, value FROM kv WHERE tbl = 'events' ORDER BY key").fetchall()
    finally:
        db.close()
    return [(key, *decode(value)) for key, value in rows]
