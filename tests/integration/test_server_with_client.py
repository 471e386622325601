"""A real server migrated under load: redis-server with 200000 keys moves between
hosts while a client keeps writing, and no acknowledged write is lost.

The client's connection does not survive the move, by design: the workload's
address changes with its host (each host has its own address), so at the
switch-over flyt resets the client connections of the frozen source copy (and
CRIU restores them closed on the target, --tcp-close). The client sees its
connection reset, asks the controller's API where the workload runs now, and
reconnects there. What it must never see is a write that was acknowledged and is
then missing."""
import shutil
import socket
import threading
import time

from harness import HarnessError, proc_alive, proc_start_time, wait_for

PORT = 6400
PRELOAD = 200000


class Resp:
    """A minimal RESP (redis protocol) client over one TCP connection."""

    def __init__(self, ip, port, timeout=30):
        self.sock = socket.create_connection((ip, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionAbortedError("the server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("redis error: %s" % rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError("bad RESP reply %r" % line)

    def call(self, *args):
        self.sock.sendall(self.encode(*args))
        return self.reply()

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self.encode(*c) for c in commands))
        return [self.reply() for _ in commands]


class Writer(threading.Thread):
    """Writes client:N = vN one after the other and records every acknowledged key.
    When its connection breaks it asks the controller where the workload is and
    reconnects there."""

    def __init__(self, cluster, workload, port):
        super().__init__(daemon=True)
        self.c = cluster
        self.workload = workload
        self.port = port
        self.acked = []          # keys the server acknowledged
        self.uncertain = []      # keys sent when the connection broke (may or may not be stored)
        self.connections = []    # (address, acked count when connected)
        self.breaks = []         # why connections ended
        self.stop = threading.Event()
        self.error = None

    def locate(self):
        w = self.c.api("GET", "/api/v1/workloads/%s" % self.workload, expect=200, timeout=10).json
        h = self.c.api("GET", "/api/v1/hosts/%s" % w["host"], expect=200, timeout=10).json
        return h["url"].split("//", 1)[1].rsplit(":", 1)[0]

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def _run(self):
        conn = None
        i = 0
        while not self.stop.is_set():
            if conn is None:
                try:
                    ip = self.locate()
                    conn = Resp(ip, self.port)
                except (OSError, HarnessError):
                    time.sleep(0.05)  # the workload is between hosts: ask again
                    continue
                self.connections.append((ip, len(self.acked)))
            key = "client:%d" % i
            try:
                ok = conn.call("SET", key, "v%d" % i)
            except OSError as e:
                self.breaks.append("%s: %s" % (type(e).__name__, e))
                self.uncertain.append(key)
                conn.close()
                conn = None
                i += 1
                continue
            if ok != "OK":
                raise RuntimeError("SET %s answered %r" % (key, ok))
            self.acked.append(key)
            i += 1
            time.sleep(0.002)  # pacing
        if conn:
            conn.close()


def check_contents(c, host, writer):
    """Every preloaded and every acknowledged key is on host with its value, and
    nothing else but possibly the few writes whose answer was lost. The writer may
    still be running: its counts are taken before and after DBSIZE."""
    ip = c.hosts[host].ip
    r = Resp(ip, PORT)
    try:
        acked_before = len(writer.acked)
        size = r.call("DBSIZE")
        acked_after, uncertain = len(writer.acked), len(writer.uncertain)
        in_flight = 0 if writer.stop.is_set() and not writer.is_alive() else 1
        assert PRELOAD + acked_before <= size <= PRELOAD + acked_after + uncertain + in_flight, (
            "DBSIZE %d, expected %d preloaded + %d..%d acknowledged (+ up to %d unacknowledged)" % (
                size, PRELOAD, acked_before, acked_after, uncertain + in_flight))
        for start in range(0, PRELOAD, 5000):
            keys = ["key:%d" % k for k in range(start, min(PRELOAD, start + 5000))]
            vals = r.call("MGET", *keys)
            bad = [(k, v) for k, v in zip(keys, vals) if v != "value:%s" % k[4:]]
            assert not bad, "preloaded keys lost or changed: %s" % bad[:5]
        acked = writer.acked[:acked_before]
        for start in range(0, len(acked), 2000):
            keys = acked[start:start + 2000]
            vals = r.call("MGET", *keys)
            missing = [k for k, v in zip(keys, vals) if v != "v%s" % k[7:]]
            assert not missing, "%d acknowledged writes are missing on %s, e.g. %s" % (len(missing), host,
                                                                                      missing[:5])
        return size
    finally:
        r.close()


def test_redis_with_writing_client_survives_migrations(cluster):
    c = cluster
    if not shutil.which("redis-server"):
        raise AssertionError("redis-server is not installed (scripts/setup.sh installs it)")
    c.create_workload("redis", "h1", ["redis-server", "--port", PORT, "--save", "", "--appendonly", "no",
                                      "--protected-mode", "no", "--enable-debug-command", "yes"])
    ip1 = c.hosts["h1"].ip
    r = wait_for(lambda: Resp(ip1, PORT), 30, "redis to accept connections on %s:%d" % (ip1, PORT))
    try:
        assert r.call("DEBUG", "POPULATE", PRELOAD) == "OK"
        assert r.call("DBSIZE") == PRELOAD
    finally:
        r.close()

    writer = Writer(c, "redis", PORT)
    writer.start()
    try:
        wait_for(lambda: len(writer.acked) >= 200 or writer.error, 30, "the client's first writes")
        for target, mode in (("h2", "stop-copy"), ("h1", "auto")):
            n_before = len(writer.acked)
            source = c.workload("redis")["host"]
            pid_before = c.workload_pid("redis")
            start_before = proc_start_time(pid_before)
            mig = c.migrate("redis", target, mode)
            assert mig["state"] == "committed", "migration to %s ended %s: %s" % (target, mig["state"],
                                                                                  mig.get("error"))
            assert writer.error is None, writer.error
            # the client noticed, found the new host through the API, and writes there
            tip = c.hosts[target].ip
            wait_for(lambda: writer.connections[-1][0] == tip and len(writer.acked) > writer.connections[-1][1] + 100
                     or writer.error, 60, "the client to reconnect to %s and write there" % tip)
            assert writer.error is None, writer.error
            assert len(writer.acked) > n_before
            assert writer.breaks, "the client's connection should have been reset at the switch-over"
            # one redis, on the target; the source's copy is gone
            procs = c.workload_procs("redis", comm="redis-server")
            assert [h for _, h in procs] == [target], procs
            assert c.workload_pid("redis") == procs[0][0]
            assert not proc_alive(pid_before, start_before), "the source's redis %d still runs" % pid_before
            assert "redis" not in c.agent_workloads(source)
            # nothing acknowledged was lost, while the client goes on writing
            check_contents(c, target, writer)
            assert writer.error is None, writer.error
        writer.stop.set()
        writer.join(30)
        assert not writer.is_alive()
        assert writer.error is None, writer.error
        size = check_contents(c, "h1", writer)
        print("redis: %d keys, %d acknowledged writes, %d connections, breaks: %s" % (
            size, len(writer.acked), len(writer.connections), writer.breaks))
    finally:
        writer.stop.set()
        writer.join(30)
    assert c.unfinished_migrations() == []
