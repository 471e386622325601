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


# The old system's workload spec as its README gives it (tests/integration/test_legacy.py).
README_SPEC = {
    "Identifier": "busybox_container", "AccessIP": "0", "AccessPort": "0", "AutoMigrate": False,
    "Available": True, "SharedDir": "/srv/shared", "Type": "Container",
    "Containerproperties": {"ContainerID": "busybox_container", "Image": "busybox", "Checkpoint": False},
}


def legacy_seeds():
    write("legacy", "readme-container", json.dumps(README_SPEC, indent=4))
    write("legacy", "vm", json.dumps(dict(README_SPEC, Type="vm", Containerproperties=None, AccessPort=8080,
                                          AccessIP="198.18.0.7", VMProperties={
                                              "DomainName": "guest1", "ConnectionURI": "qemu:///system"})))
    write("legacy", "placeholder-shared-dir", json.dumps(dict(README_SPEC, SharedDir="FILEPATH TO SHARED DIR")))
    write("legacy", "mistakes", json.dumps(dict(README_SPEC, Type="Toaster", AccessPort="99999",
                                                SharedDir="/srv/../etc", Identifier="Busybox Container")))
    write("legacy", "guests", json.dumps({"Guests": [{"Ip": "198.18.0.1", "Port": "7800", "LibvirtURI": ""},
                                                     {"Ip": "fd00::2", "Port": 7800,
                                                      "LibvirtURI": "qemu+ssh://root@198.18.0.2/system"}]}))
    write("legacy", "guests-bad", json.dumps({"Guests": [{"Ip": "198.18.0.9; rm -rf /", "Port": "eighty"},
                                                         {"Ip": 3323068417, "Port": 0, "Name": "x"}]}))


ENERGY_DATA = os.environ.get("FLYT_ENERGY_DATA", "/work/shared/data/energy")


def data_rows(name, first, count):
    """The header and count rows from line first (1-based, after the header) of a
    recorded data file, byte for byte."""
    path = os.path.join(ENERGY_DATA, name)
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    return b"\n".join([lines[0]] + lines[first:first + count]) + b"\n"


def energy_seeds():
    # real rows of every recorded file (see the data directory's SOURCES.md)
    for seed, name, first, count in [
            ("co2prog-comma", "evgeniiavak_CO2EmisProg_DK1_DK2_2019-11-14.csv", 1, 8),
            ("spot-multiarea", "evgeniiavak_Elspotprices_multiarea_2019-11-14.csv", 1, 12),
            ("spot-semicolon", "mbml_Elspotprices_DK1_DK2_2021-01_2024-03.csv", 1, 6),
            ("spot-semicolon-dst", "mbml_Elspotprices_DK1_DK2_2021-01_2024-03.csv", 7428, 12),
            ("spot-offset", "mortenabra_elspotprices_DK1_2021-05-06.csv", 1, 6),
            ("co2prog-semicolon", "stepzi_CO2EmisProg_DK2_2024-01-11.csv", 1, 8)]:
        rows = data_rows(name, first, count)
        if rows is not None:
            write("energy_csv", seed, rows)
    # near misses
    write("energy_csv", "bom-crlf-quoted", b"\xef\xbb\xbf\"Minutes5UTC\";\"Minutes5DK\";\"PriceArea\";\"CO2Emission\"\r\n"
          b"\"2024-01-10 23:00\";\"2024-01-11 00:00\";\"DK2\";\"89,5\"\r\n"
          b"2024-01-10 23:05;2024-01-11 00:05;DK2;\r\n")
    write("energy_csv", "swapped-local", "HourUTC,HourDK,PriceArea,SpotPriceEUR\n"
          "2024-01-10 23:00,2024-01-10 23:07,DK1,50.5\n")
    write("energy_csv", "contradiction", "TimeUTC;TimeDK;PriceArea;DayAheadPriceEUR;DayAheadPriceDKK\n"
          "2025-10-01T00:00:00;2025-10-01T02:00:00;DK1;80,1;597,5\n"
          "2025-10-01T00:00:00;2025-10-01T02:00:00;DK1;80,2;597,5\n")
    write("energy_csv", "bad-number", "Minutes15UTC;PriceArea;CO2Emission\n2025-01-01 00:00;DK1;1.000,5\n")

    def envelope(dataset, records):
        return json.dumps({"total": len(records), "limit": 100, "dataset": dataset, "records": records})
    # the live API's form (SOURCES.md): timestamps without offset, numbers or null
    write("energy_json", "co2emis", envelope("CO2Emis", [
        {"Minutes5UTC": "2023-12-20T12:00:00", "Minutes5DK": "2023-12-20T13:00:00", "PriceArea": "DK1",
         "CO2Emission": 94.0},
        {"Minutes5UTC": "2023-12-20T12:05:00", "Minutes5DK": "2023-12-20T13:05:00", "PriceArea": "DK1",
         "CO2Emission": None},
        {"Minutes5UTC": "2023-12-20T12:00:00", "Minutes5DK": "2023-12-20T13:00:00", "PriceArea": "DK2",
         "CO2Emission": 61.5}]))
    write("energy_json", "dayahead", envelope("DayAheadPrices", [
        {"TimeUTC": "2025-10-01T00:%02d:00" % m, "TimeDK": "2025-10-01T02:%02d:00" % m, "PriceArea": "DK1",
         "DayAheadPriceEUR": 80.25 + m, "DayAheadPriceDKK": 598.5 + m} for m in (0, 15, 30, 45)]))
    write("energy_json", "spot-offsets", envelope("Elspotprices", [
        {"HourUTC": "2021-05-06T21:00:00+00:00", "HourDK": "2021-05-06T23:00:00", "PriceArea": "DK1",
         "SpotPriceEUR": 74.44, "SpotPriceDKK": 553.52},
        {"HourUTC": "2021-05-06T20:00:00Z", "HourDK": "2021-05-06T22:00:00.000", "PriceArea": "DK1",
         "SpotPriceEUR": -0.5, "SpotPriceDKK": 1e2}]))
    write("energy_json", "empty", envelope("CO2EmisProg", []))
    write("energy_json", "bad-record", '{"records":[{"HourUTC":5,"PriceArea":"DK1"},[],'
          '{"Minutes15UTC":"2024-02-30T00:00","PriceArea":"dk 1","CO2Emission":"7"}]}')

    write("energy_time", "range", "2024-01-10 23:00\n2024-01-11T22:55:00+01:00\n5m\nCO2EmisProg\nDK1,DK2\n")
    write("energy_time", "range-offsets", "2021-05-06T21:00:00.123Z\n2021-05-06T21:00-0930\n1.5h\n"
          "DayAheadPrices\nDK1,SYSTEM,bad area,SE3\n")
    write("energy_time", "leap", "2024-02-29\n2023-02-29T00:00\n90s\nElspotprices\n")
    write("energy_time", "duration", "250ms")


if __name__ == "__main__":
    stream_seeds()
    json_seeds()
    http_seeds()
    legacy_seeds()
    energy_seeds()
