#!/usr/bin/env python3
"""Prints a list cursor (RFC 9865) as the service signs it (src/scim/cursor.rs), for the
benchmark's `page_cursor`: the cursor a client holds after walking an unfiltered, unsorted
list up to the member `after`.

    python3 cursor.py <encryption key> <org id> <after user id> <total>
"""
import hashlib
import hmac
import struct
import sys
import time

secret, org, after, total = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
key = hmac.new(secret, b"scim-sidecar list cursor v1", hashlib.sha256).digest()
# No filter, no sortBy, ascending: two empty parts, each with its length.
query = hashlib.sha256(struct.pack(">Q", 0) + struct.pack(">Q", 0) + b"\x00").digest()[:16]
user_id = after.encode()
body = (
    b"\x01"
    + struct.pack(">i", org)
    + query
    + struct.pack(">q", int(time.time()))
    + struct.pack(">q", total)
    + struct.pack(">I", len(user_id))
    + user_id
    + b"\x00"
)
print((body + hmac.new(key, body, hashlib.sha256).digest()[:16]).hex())
