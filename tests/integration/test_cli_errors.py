"""Bad requests change nothing and get a clear error: the right HTTP status and
error code, a message naming the problem, and from the CLI a non-zero exit status
with one line on stderr. After each, the workload still runs where it was (the
same process) and no migration is left unfinished."""
import json
import os

from harness import MIB, MemhogSnapshot, TERMINAL_STATES, assert_runs_on

PORT = 9300


class Baseline:
    """The cluster's state before the bad requests, to compare with after."""

    def __init__(self, c, name="hog"):
        self.c = c
        self.snap = MemhogSnapshot(c, name, PORT)
        self.workloads = self.workload_view()
        self.migrations = self.migration_view()

    def workload_view(self):
        ws = self.c.api("GET", "/api/v1/workloads", expect=200).json["workloads"]
        return sorted((w["name"], w["host"], w["state"], w.get("pid")) for w in ws)

    def migration_view(self):
        ms = self.c.api("GET", "/api/v1/migrations?limit=1000", expect=200).json["migrations"]
        return sorted((m["id"], m["state"]) for m in ms)

    def check_unchanged(self):
        assert self.c.unfinished_migrations() == []
        assert self.migration_view() == self.migrations, "migrations changed"
        assert self.workload_view() == self.workloads, "workloads changed"
        assert_runs_on(self.c, self.snap, self.snap.host, same_process=True)


def start_hog(c, mib=32):
    c.create_memhog("hog", "h1", mib=mib, port=PORT)
    return Baseline(c)


def expect_error(r, status, code, *words):
    assert r.status == status, "expected HTTP %d, got %d: %s" % (status, r.status, r.text)
    assert isinstance(r.json, dict) and isinstance(r.json.get("error"), dict), "not an error object: %r" % r.text
    assert r.json["error"]["code"] == code, r.json
    msg = r.json["error"]["message"]
    assert msg, r.json
    for w in words:
        assert w.lower() in msg.lower(), "the error message should mention %r: %r" % (w, msg)
    return msg


def expect_cli_error(r, *words):
    assert r.returncode != 0, "flyt exited 0: stdout %r" % r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1, "expected one line on stderr, got %r" % r.stderr
    assert lines[0].startswith("flyt: "), lines
    for w in words:
        assert w.lower() in lines[0].lower(), "the CLI error should mention %r: %r" % (w, lines[0])
    return lines[0]


def test_unknown_host_and_workload(cluster):
    c = cluster
    base = start_hog(c)
    expect_error(c.start_migration("hog", "nohost"), 404, "not_found", "nohost")
    expect_error(c.start_migration("nosuch", "h2"), 404, "not_found", "nosuch")
    expect_error(c.api("GET", "/api/v1/workloads/nosuch"), 404, "not_found", "nosuch")
    expect_error(c.api("GET", "/api/v1/hosts/nohost"), 404, "not_found", "nohost")
    expect_error(c.api("GET", "/api/v1/migrations/" + "0" * 32), 404, "not_found")
    expect_error(c.api("POST", "/api/v1/workloads/nosuch/stop"), 404, "not_found", "nosuch")
    expect_error(c.api("DELETE", "/api/v1/workloads/nosuch"), 404, "not_found", "nosuch")
    expect_error(c.api("GET", "/api/v1/no/such/endpoint"), 404, "not_found")
    expect_error(c.api("POST", "/api/v1/workloads", {"name": "w2", "kind": "process", "host": "nohost",
                                                    "spec": {"cmd": ["/bin/true"]}}), 404, "not_found", "nohost")
    expect_cli_error(c.cli("migrate", "hog", "--to", "nohost", check=False), "nohost")
    expect_cli_error(c.cli("migrate", "nosuch", "--to", "h2", "--wait", check=False), "nosuch")
    expect_cli_error(c.cli("workload", "show", "nosuch", check=False), "nosuch")
    base.check_unchanged()


def test_target_without_usable_criu(make_cluster):
    c = make_cluster(hosts=3, host_args={"h3": ["--criu", "/nonexistent/criu"]})
    base = start_hog(c)
    h3 = c.api("GET", "/api/v1/hosts/h3", expect=200).json
    assert h3["state"] == "online"
    assert not h3["modes"]["stop-copy"]["available"], h3["modes"]
    for mode in ("auto", "stop-copy", "lazy"):
        expect_error(c.start_migration("hog", "h3", mode), 422, "unsupported", "h3", "criu")
    expect_cli_error(c.cli("migrate", "hog", "--to", "h3", "--wait", check=False), "h3", "criu")
    base.check_unchanged()
    # a workable target still is
    mig = c.migrate("hog", "h2", "stop-copy")
    assert mig["state"] == "committed", mig


def test_migration_to_its_own_host(cluster):
    c = cluster
    base = start_hog(c)
    expect_error(c.start_migration("hog", "h1"), 400, "invalid", "already on h1")
    expect_cli_error(c.cli("migrate", "hog", "--to", "h1", "--wait", check=False), "h1")
    base.check_unchanged()


def test_second_migration_while_one_runs(cluster):
    c = cluster
    base = start_hog(c, mib=300)
    r = c.start_migration("hog", "h2", "stop-copy", bandwidth_mbps=30)
    assert r.status == 202, r.text
    mid = r.json["id"]
    c.wait_migration(mid, timeout=60, until=lambda m: m["state"] == "transferring" and (m.get("bytes") or 0) > MIB)
    expect_error(c.start_migration("hog", "h2", "stop-copy"), 409, "conflict", "migrating", mid)
    expect_error(c.start_migration("hog", "h2", "lazy"), 409, "conflict", mid)
    expect_error(c.api("POST", "/api/v1/workloads/hog/stop"), 409, "conflict", "migrating")
    expect_error(c.api("DELETE", "/api/v1/workloads/hog"), 409, "conflict", "migrating")
    expect_cli_error(c.cli("migrate", "hog", "--to", "h2", check=False), "migrating")
    assert c.api("GET", "/api/v1/workloads/hog", expect=200).json.get("migration") == mid
    # only the first one exists, and it is still under way
    ms = c.api("GET", "/api/v1/migrations?workload=hog", expect=200).json["migrations"]
    assert [m["id"] for m in ms] == [mid] and ms[0]["state"] not in TERMINAL_STATES, ms
    # cancel it through the CLI, by a prefix of its id: the workload stays where it was
    out = c.cli("migration", "cancel", mid[:8]).stdout
    assert out == "cancelling migration %s\n" % mid, out
    m = c.wait_migration(mid, timeout=60)
    assert m["state"] == "rolled_back" and "cancel" in (m.get("error") or ""), m
    base.migrations = base.migration_view()  # the cancelled one is part of the picture now
    base.check_unchanged()


def test_bad_token(cluster):
    c = cluster
    base = start_hog(c)
    wrong = "0123456789abcdef" * 4
    assert wrong != c.token
    expect_error(c.api("GET", "/api/v1/hosts", token=wrong), 401, "unauthorized")
    expect_error(c.api("GET", "/api/v1/hosts", token=None), 401, "unauthorized")
    expect_error(c.api("POST", "/api/v1/migrations", {"workload": "hog", "target": "h2"}, token=wrong), 401,
                 "unauthorized")
    expect_error(c.api("DELETE", "/api/v1/workloads/hog", token=wrong), 401, "unauthorized")
    assert c.api("GET", "/api/v1/health", token=None).status == 200
    bad_file = c.tmp + "/wrong-token"
    with open(bad_file, "w") as f:
        f.write(wrong + "\n")
    os.chmod(bad_file, 0o600)
    expect_cli_error(c.cli("host", "ls", check=False, token_file=bad_file))
    expect_cli_error(c.cli("migrate", "hog", "--to", "h2", "--wait", check=False, token_file=bad_file))
    expect_cli_error(c.cli("workload", "rm", "hog", check=False, token_file=bad_file))
    expect_cli_error(c.cli("host", "ls", check=False, token_file=c.tmp + "/no-such-token-file"))
    base.check_unchanged()


def test_read_only_token(make_cluster, tmp_path):
    """--read-token-file: a second token that may read everything and change
    nothing (403 for every state-changing request, from the API and the CLI); the
    cluster token stays what it was, an admin."""
    path = str(tmp_path / "read-token")
    c = make_cluster(controller_args=["--read-token-file", path])
    base = start_hog(c)
    assert os.stat(path).st_mode & 0o077 == 0, "the read-only token file is readable by others"
    with open(path) as f:
        read = f.read().strip()
    assert len(read) == 64 and read != c.token
    for path_ in ("/api/v1/hosts", "/api/v1/workloads", "/api/v1/workloads/hog", "/api/v1/migrations",
                  "/api/v1/workloads/hog/targets", "/api/v1/info"):
        r = c.api("GET", path_, token=read)
        assert r.status == 200, (path_, r.status, r.text)
    assert c.api("GET", "/api/v1/session", token=read, expect=200).json["role"] == "read"
    assert c.api("GET", "/api/v1/session", expect=200).json["role"] == "admin"
    expect_error(c.api("POST", "/api/v1/migrations", {"workload": "hog", "target": "h2"}, token=read), 403,
                 "forbidden", "read-only")
    expect_error(c.api("POST", "/api/v1/workloads/hog/stop", token=read), 403, "forbidden", "read-only")
    expect_error(c.api("DELETE", "/api/v1/workloads/hog", token=read), 403, "forbidden", "read-only")
    expect_error(c.api("PATCH", "/api/v1/workloads/hog", {"pinned": True}, token=read), 403, "forbidden")
    expect_error(c.api("POST", "/api/v1/workloads", {"name": "x", "kind": "fake", "host": "h1"}, token=read),
                 403, "forbidden")
    # a browser session from it is read-only too: it reads, its writes are refused
    # even with the session's CSRF token, and it may sign itself out
    r = c.api("POST", "/api/v1/session", {"token": read}, token=None, expect=201)
    cookie = r.headers["Set-Cookie"].split(";")[0]
    csrf = r.json["csrf"]
    assert r.json["role"] == "read", r.json
    hdr = {"Cookie": cookie}
    assert c.api("GET", "/api/v1/session", token=None, headers=hdr, expect=200).json["role"] == "read"
    assert c.api("GET", "/api/v1/workloads/hog", token=None, headers=hdr).status == 200
    expect_error(c.api("POST", "/api/v1/workloads/hog/stop", token=None, headers=dict(hdr, **{"X-CSRF-Token": csrf})),
                 403, "forbidden", "read-only session")
    expect_error(c.api("PATCH", "/api/v1/policy", {"enabled": True}, token=None,
                       headers=dict(hdr, **{"X-CSRF-Token": csrf})), 403, "forbidden", "read-only session")
    c.api("DELETE", "/api/v1/session", token=None, headers=dict(hdr, **{"X-CSRF-Token": csrf}), expect=200)
    assert c.api("GET", "/api/v1/session", token=None, headers=hdr, expect=200).json == {"signed_in": False}
    # the CLI with it: reading works, changing is refused in one line
    out = c.cli("workload", "ls", token_file=path).stdout
    assert "hog" in out, out
    expect_cli_error(c.cli("migrate", "hog", "--to", "h2", "--wait", check=False, token_file=path), "read-only")
    expect_cli_error(c.cli("workload", "stop", "hog", check=False, token_file=path), "read-only")
    base.check_unchanged()
    # the cluster token still changes things
    c.api("POST", "/api/v1/workloads/hog/stop", expect=200)


def test_malformed_json(cluster):
    c = cluster
    base = start_hog(c)
    for body in ('{"workload": "hog", "target": ', "[]", '"hog"', "not json at all", b"\xff\xfe{}", ""):
        expect_error(c.api("POST", "/api/v1/migrations", body), 400, "invalid")
    expect_error(c.api("POST", "/api/v1/workloads", '{"name": "x", "kind": "process",'), 400, "invalid")
    base.check_unchanged()


def test_oversized_body(cluster):
    c = cluster
    base = start_hog(c)
    big = json.dumps({"workload": "hog", "target": "h2", "mode": "x" * (2 * MIB)})
    expect_error(c.api("POST", "/api/v1/migrations", big), 413, "too_large")
    big = json.dumps({"name": "big", "kind": "process", "host": "h1",
                      "spec": {"cmd": ["/bin/true"], "env": ["K%d=%s" % (i, "v" * 1000) for i in range(1500)]}})
    expect_error(c.api("POST", "/api/v1/workloads", big), 413, "too_large")
    base.check_unchanged()


def test_unknown_field(cluster):
    c = cluster
    base = start_hog(c)
    expect_error(c.api("POST", "/api/v1/migrations", {"workload": "hog", "target": "h2", "mdoe": "lazy"}), 400,
                 "invalid", "mdoe")
    expect_error(c.api("POST", "/api/v1/workloads", {"name": "w2", "kind": "process", "host": "h1",
                                                    "spec": {"cmd": ["/bin/true"]}, "hots": "h2"}), 400,
                 "invalid", "hots")
    expect_error(c.api("POST", "/api/v1/workloads", {"name": "w2", "kind": "process", "host": "h1",
                                                    "spec": {"cmdd": ["/bin/true"]}}), 400, "invalid", "cmdd")
    # bad values of known fields too
    expect_error(c.start_migration("hog", "h2", "teleport"), 400, "invalid", "mode")
    expect_error(c.start_migration("hog", "h2", "stop-copy", bandwidth_mbps=0), 400, "invalid", "bandwidth_mbps")
    expect_error(c.start_migration("hog", "h2", "stop-copy", bandwidth_mbps="fast"), 400, "invalid",
                 "bandwidth_mbps")
    expect_error(c.api("POST", "/api/v1/migrations", {"target": "h2"}), 400, "invalid", "workload")
    base.check_unchanged()


def test_bad_workload_name(cluster):
    c = cluster
    base = start_hog(c)
    for name in ("Bad", "bad name", "-dash", ".dot", "a" * 64, "x/y", ""):
        r = c.api("POST", "/api/v1/workloads", {"name": name, "kind": "process", "host": "h1",
                                                "spec": {"cmd": ["/bin/true"]}})
        expect_error(r, 400, "invalid")
    expect_error(c.api("GET", "/api/v1/workloads/Bad%21"), 400, "invalid", "not a valid name")
    expect_cli_error(c.cli("workload", "create", "--kind", "process", "--host", "h1", "--name", "Bad!",
                           "--", "/bin/true", check=False), "not valid")
    base.check_unchanged()


def test_bad_names_in_a_migration_request(cluster):
    """Names in a request body follow the same rules as everywhere (docs/api.md:
    a bad value is 400 "invalid"), not "no such workload/host"."""
    c = cluster
    base = start_hog(c)
    expect_error(c.start_migration("Bad!", "h2"), 400, "invalid", "Bad!")
    expect_error(c.start_migration("hog", "Bad!"), 400, "invalid", "Bad!")
    base.check_unchanged()
