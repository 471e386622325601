"""TLS everywhere (docs/security.md): the cluster CA the controller creates,
agents enrolled with a join token, mutual TLS on the agents' API, the
controller's API over HTTPS, the migration data channel inside TLS, token and
certificate rotation, and --plain-http only when asked for, loudly.

The data channel is checked on the wire: a sniffer on the target's link reads
every TCP payload to its data port during a migration. Over TLS no frame header
of flyt's stream ("FLYT", version 1) may be seen; with --plain-http the same
sniffer must see them (which shows that it would catch a plain channel)."""
import http.client
import json
import os
import socket
import ssl
import struct
import subprocess

import pytest

import harness
from harness import MemhogSnapshot, assert_runs_on

PORT = 9400
# a frame header's first eight bytes: magic, version, type (HELLO .. ERROR), flags
FRAME_HEADS = [b"FLYT\x01" + bytes([t]) + b"\x00\x00" for t in range(1, 9)]


def frames_in(wire):
    return [h for h in FRAME_HEADS if h in wire]


def migrate_sniffed(c, name):
    """Migrates memhog name h1 -> h2 while sniffing h2's data port; returns the
    bytes seen on the wire."""
    h2 = c.hosts["h2"]
    sniffer = harness.Sniffer(h2.veth_root, h2.port + 1)
    sniffer.start()
    try:
        snap = MemhogSnapshot(c, name, PORT)
        m = c.migrate(name, "h2", "stop-copy")
        assert m["state"] == "committed", m
        assert_runs_on(c, snap, "h2", same_process=False)
    finally:
        wire = sniffer.finish()
    return wire, sniffer.packets


def agent_conn(c, host, cert=None, key=None, verify=True):
    """An HTTPS connection to host's agent presenting cert (or none)."""
    ctx = ssl.create_default_context(cafile=c.ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    h = c.hosts[host]
    return http.client.HTTPSConnection(h.ip, h.port, timeout=30, context=ctx)


def call(conn, method, path, body=None, token=None):
    hdrs = {"Accept": "application/json"}
    if token:
        hdrs["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    if data:
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    text = r.read().decode()
    conn.close()
    return r.status, (json.loads(text) if text.startswith("{") else text)


def test_enrolment_mutual_tls_and_an_encrypted_data_channel(make_cluster, tmp_path):
    c = make_cluster(hosts=2)
    # the controller answers HTTPS only, with a certificate of the cluster CA
    with open(c.join_token_file) as f:
        join = f.read().strip()
    status, ca = call(c.connection(c.controller_url, 30), "GET", "/api/v1/ca")
    assert status == 200 and ca["fingerprint"] == join.split(".")[-1], (ca, join)
    with open(c.ca_file) as f:
        assert f.read() == ca["ca"]
    plain = http.client.HTTPConnection(c.bridge_ip, c.controller_port, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        plain.request("GET", "/api/v1/health")
        plain.getresponse().read()
    plain.close()

    # each agent enrolled: its certificate names it, role agent, signed by the CA
    for name in ("h1", "h2"):
        tls = c.agent_api(name, "GET", "/v1/host", expect=200).json["tls"]
        assert tls["enabled"] and tls["cn"] == name, tls
        assert os.stat(os.path.join(c.hosts[name].state_dir, "tls", "key.pem")).st_mode & 0o077 == 0

    # the agent's API: health for anyone; the rest only with a certificate of
    # the cluster; a peer agent may read, not write; another CA's is refused
    assert call(agent_conn(c, "h1"), "GET", "/v1/health")[0] == 200
    status, body = call(agent_conn(c, "h1"), "GET", "/v1/workloads")
    assert status == 401 and "certificate" in body["error"]["message"], body
    status, body = call(agent_conn(c, "h1"), "GET", "/v1/workloads", token=c.token)
    assert status == 401, "the cluster token must not open an agent that speaks TLS: %s" % body
    h2tls = os.path.join(c.hosts["h2"].state_dir, "tls")
    peer = (os.path.join(h2tls, "cert.pem"), os.path.join(h2tls, "key.pem"))
    assert call(agent_conn(c, "h1", *peer), "GET", "/v1/workloads")[0] == 200
    status, body = call(agent_conn(c, "h1", *peer), "POST", "/v1/workloads",
                        {"name": "evil", "kind": "process", "spec": {"argv": ["/bin/true"]}})
    assert status == 403 and "agent" in body["error"]["message"], body
    rogue_key, rogue_cert = str(tmp_path / "rogue-key.pem"), str(tmp_path / "rogue.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", rogue_key, "-out", rogue_cert, "-days", "1", "-subj", "/CN=flyt-controller/OU=controller"],
                   check=True, capture_output=True)
    try:
        status, body = call(agent_conn(c, "h1", rogue_cert, rogue_key), "GET", "/v1/workloads")
        refused = status == 401
    except (ssl.SSLError, ConnectionError):
        refused = True  # refused during the handshake: just as good
    assert refused, "a certificate of another CA was accepted: %s %s" % (status, body)

    # the controller's API: an agent's certificate may do an agent's work only
    ctx = ssl.create_default_context(cafile=c.ca_file)
    ctx.load_cert_chain(*peer)
    conn = http.client.HTTPSConnection(c.bridge_ip, c.controller_port, timeout=30, context=ctx)
    status, body = call(conn, "GET", "/api/v1/hosts")
    assert status == 403 and "token" in body["error"]["message"], body
    conn = http.client.HTTPSConnection(c.bridge_ip, c.controller_port, timeout=30, context=ctx)
    status, body = call(conn, "POST", "/api/v1/agents/h1/heartbeat", {"workloads": []})
    assert status == 403 and "may not act for h1" in body["error"]["message"], body

    # enrolment refuses bad join tokens, and a revoked one
    secret_wrong = join.split(".")
    secret_wrong[2] = "0" * 64
    for tok in (".".join(secret_wrong), "flyt1.zz", "x" * 40):
        status, body = call(c.connection(c.controller_url, 30), "POST", "/api/v1/enroll",
                            {"token": tok, "name": "intruder", "csr": "x"})
        assert status == 401, (tok, status, body)
    new = c.cli("join-token", "create", "--ttl", "5").stdout.strip()
    tid = new.split(".")[1]
    assert tid in c.cli("join-token", "ls").stdout
    c.cli("join-token", "rm", tid)
    status, body = call(c.connection(c.controller_url, 30), "POST", "/api/v1/enroll",
                        {"token": new, "name": "intruder", "csr": "x"})
    assert status == 401 and "unknown or expired join token" in body["error"]["message"], body

    # the data channel: a migration moves the workload with its memory intact,
    # and nothing of flyt's frames shows on the wire
    c.create_memhog("hog", "h1", mib=16, port=PORT)
    wire, packets = migrate_sniffed(c, "hog")
    assert packets > 100 and len(wire) > 16 * 1024 * 1024, "the sniffer saw too little: %d bytes" % len(wire)
    print("sniffed %d packets, %d bytes to the data port" % (packets, len(wire)))
    assert not frames_in(wire), "flyt frame headers in clear text on the data channel"

    # a data connection without TLS gets nowhere
    with socket.create_connection((c.hosts["h2"].ip, c.hosts["h2"].port + 1), timeout=10) as s:
        hello = json.dumps({"migration": "0" * 32, "ticket": "0" * 64, "channel": "main"}).encode()
        s.sendall(b"FLYT\x01\x01\x00\x00" + struct.pack("!II", 0, len(hello)) + b"\x00" * 4 + hello)
        s.settimeout(15)
        try:
            answer = s.recv(4096)
        except ConnectionError:
            answer = b""
        assert not frames_in(answer), answer
    assert c.agent_api("h2", "GET", "/v1/health", expect=200)


def test_a_join_token_for_another_ca_is_refused(make_cluster):
    c = make_cluster(hosts=2)
    c.kill_agent("h2")
    h2 = c.hosts["h2"]
    harness.shutil.rmtree(os.path.join(h2.state_dir, "tls"))
    bad = os.path.join(c.tmp, "join-other-ca")
    with open(c.join_token_file) as f:
        parts = f.read().strip().split(".")
    parts[-1] = "ab" * 32
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(".".join(parts) + "\n")
    argv = [harness.FLYTD, "--name", "h2", "--listen", "%s:%d" % (h2.ip, h2.port), "--state-dir", h2.state_dir,
            "--controller", c.controller_url, "--join-token-file", bad]
    r = c.ns_run("h2", argv, timeout=60)
    assert r.returncode != 0 and "not the one the join token names" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(h2.state_dir, "tls", "cert.pem"))
    # with the right token it enrols and comes back
    c.start_agent("h2")


def test_certificate_and_token_rotation(make_cluster, tmp_path):
    c = make_cluster(hosts=2)
    c.create_memhog("hog", "h1", mib=8, port=PORT)
    before = c.agent_api("h1", "GET", "/v1/host", expect=200).json["tls"]
    out = json.loads(c.cli("host", "rotate-cert", "h1", json=True).stdout)
    assert out["serial"] != before["serial"] and out["cn"] == "h1", (before, out)

    # the new certificate is the one the agent presents from now on
    def served_serial():
        ctx = ssl.create_default_context(cafile=c.ca_file)
        h = c.hosts["h1"]
        with socket.create_connection((h.ip, h.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname=h.ip) as s:
                return "%x" % int(s.getpeercert()["serialNumber"], 16)
    assert served_serial() == out["serial"].lstrip("0"), (served_serial(), out)
    # and migrations keep working both ways
    snap = MemhogSnapshot(c, "hog", PORT)
    assert c.migrate("hog", "h2", "stop-copy")["state"] == "committed"
    assert_runs_on(c, snap, "h2", same_process=False)
    # a restarted agent keeps its renewed certificate (no second enrolment)
    c.kill_agent("h1")
    c.start_agent("h1")
    assert c.agent_api("h1", "GET", "/v1/host", expect=200).json["tls"]["serial"] == out["serial"]
    snap = MemhogSnapshot(c, "hog", PORT)
    assert c.migrate("hog", "h1", "stop-copy")["state"] == "committed"
    assert_runs_on(c, snap, "h1", same_process=False)

    # the cluster token: rotated, the old one is refused at once; the CLI's copy follows
    mine = str(tmp_path / "token")
    fd = os.open(mine, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(c.token + "\n")
    old = c.token
    r = c.cli("token", "rotate", token_file=mine)
    assert "old one is refused" in r.stdout, r.stdout
    with open(mine) as f:
        new = f.read().strip()
    with open(c.token_file) as f:
        assert f.read().strip() == new
    assert new != old and len(new) == 64
    assert c.api("GET", "/api/v1/hosts", token=old).status == 401
    assert c.api("GET", "/api/v1/hosts", token=new).status == 200
    c.token = new
    # the agents never held it: they still report in
    c.wait_ready()


def test_plain_http_only_when_asked_and_loudly(make_cluster):
    c = make_cluster(hosts=2, tls=False)
    with open(c.controller_log) as f:
        log = f.read()
    assert "--plain-http" in log and "UNENCRYPTED" in log, log[-2000:]
    for h in c.hosts.values():
        with open(h.log) as f:
            assert "UNENCRYPTED" in f.read()
    r = c.api("GET", "/api/v1/ca")
    assert r.status >= 400 and "plain-http" in r.text, r.text
    # the control for the sniffer above: a plain channel shows flyt's frames
    c.create_memhog("hog", "h1", mib=16, port=PORT)
    wire, packets = migrate_sniffed(c, "hog")
    assert frames_in(wire), "the sniffer saw no frame of a plain data channel (%d packets)" % packets
