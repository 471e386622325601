#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/*): valid inputs
of each format, plus a few near misses, so that the fuzzer starts from inputs that
reach deep into the parsers. Deterministic; rerun after changing a format and
commit the result."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


HELLO, CTRL, ENTRY, DATA, ENTRY_END, TUNNEL, TUNNEL_EOF, ERROR = range(1, 9)


def frames(items):
    out = b""
    for seq, (ftype, payload) in enumerate(items):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload).encode()
        head = struct.pack(">IBBHII", 0x464C5954, 1, ftype, 0, seq, len(payload))
        out += head + struct.pack(">I", crc32c(head + payload))
        out += payload
    return out


def write(kind, name, data):
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def stream_seeds():
    hello = {"type": "hello", "migration": "0" * 32, "token": "x" * 64, "role": "images"}
    tree = [
        (HELLO, hello),
        (ENTRY, {"path": "images", "kind": "dir", "mode": 0o755}),
        (ENTRY, {"path": "images/core-1.img", "kind": "file", "mode": 0o644, "size": 5}),
        (DATA, b"hello"),
        (ENTRY_END, {"size": 5}),
        (ENTRY, {"path": "files/link", "kind": "symlink", "target": "../images/core-1.img"}),
        (CTRL, {"type": "images-done", "bytes": 5}),
    ]
    write("stream", "tree", frames(tree))
    write("stream", "escape-dotdot", frames([
        (ENTRY, {"path": "../outside", "kind": "file", "mode": 0o644, "size": 1}), (DATA, b"x"),
        (ENTRY_END, {"size": 1})]))
    write("stream", "escape-symlink", frames([
        (ENTRY, {"path": "l", "kind": "symlink", "target": "/tmp"}),
        (ENTRY, {"path": "l/x", "kind": "file", "mode": 0o644, "size": 1}), (DATA, b"x"),
        (ENTRY_END, {"size": 1})]))
    write("stream", "short-file", frames([
        (ENTRY, {"path": "f", "kind": "file", "mode": 0o600, "size": 10}), (DATA, b"abc"),
        (ENTRY_END, {"size": 3})]))
    write("stream", "tunnel", frames([
        (TUNNEL, b"\x00\x01page-data"), (TUNNEL_EOF, b""),
        (ERROR, {"code": "internal", "message": "peer gave up"})]))
    bad = bytearray(frames(tree[:3]))
    bad[30] ^= 0x40
    write("stream", "corrupt-byte", bytes(bad))


def json_seeds():
    write("json", "workload", json.dumps({"name": "db", "kind": "process", "host": "198.18.0.1:7800",
                                          "argv": ["redis-server", "--port", "6379"], "spec": {"env": {}},
                                          "limit": 10, "wait": True}))
    write("json", "error", json.dumps({"error": {"code": "conflict", "message": "already migrating"}}))
    write("json", "nested", '{"spec":{"a":[1,2,{"b":null}]},"argv":["4.2.1","18446744073709551616"]}')
    write("json", "unicode", '{"name":"\\u00e6\\u00f8\\u00e5\\ud83d\\ude00","host":"[::1]:80"}')
    write("json", "not-object", "[1,2,3]")


def http_seeds():
    tok = "Bearer fuzz-token-0123456789abcdef0123456789abcdef0123456789abcdef01"
    body = json.dumps({"name": "db", "kind": "process", "argv": ["sleep", "1000"]})
    write("http", "info", "GET /v1/info HTTP/1.1\r\nHost: h\r\n\r\n")
    write("http", "show", "GET /v1/workloads/db?tail=100&stream=stderr HTTP/1.1\r\nHost: h\r\n"
          "Authorization: %s\r\n\r\n" % tok)
    write("http", "create", "POST /v1/workloads HTTP/1.1\r\nHost: h\r\nAuthorization: %s\r\n"
          "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (tok, len(body), body))
    write("http", "chunked", "POST /v1/workloads HTTP/1.1\r\nHost: h\r\nAuthorization: %s\r\n"
          "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (tok, len(body), body))
    write("http", "action", "POST /v1/migrations/0123456789abcdef0123456789abcdef/cancel HTTP/1.1\r\n"
          "Host: h\r\nAuthorization: %s\r\nContent-Length: 0\r\n\r\n" % tok)
    write("http", "unauth-body", "POST /v1/workloads HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n"
          + "x" * 100)
    write("http", "pipelined", "GET /v1/info HTTP/1.1\r\nHost: h\r\n\r\nDELETE /v1/workloads/..%2f..%2fetc"
          " HTTP/1.1\r\nHost: h\r\nAuthorization: " + tok + "\r\n\r\n")


if __name__ == "__main__":
    stream_seeds()
    json_seeds()
    http_seeds()
