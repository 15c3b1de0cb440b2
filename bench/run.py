#!/usr/bin/env python3
"""Driver of `make bench`: builds the baselines and the load generator, runs every workload
against our server and the baselines, and prints one Markdown table.

Why it is shaped this way:
- Servers run interleaved over several rounds and each figure is the median of the rounds,
  so a noisy moment of the machine hits every server alike instead of one.
- Server and load generator share one CPU (`taskset -c 1`) in the throughput rows: then the
  server's CPU per message is not flattered by spinning on an idle core, and all servers get
  the same budget. Server CPU is read by the load generator itself, from the server's
  process CPU clock (ns, all threads) at the edges of the measured window.
- Instruction and syscall counts are differenced between two runs with different message
  counts, so start-up and shutdown drop out.

Only 127.0.0.1 is ever targeted; every wait is bounded; stdlib only (Python >= 3.9).
"""

import argparse
import datetime
import json
import os
import platform
import re
import select
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH_BIN = os.path.join(HERE, "target", "release")
C_BIN = os.path.join(HERE, "target", "epoll_echo")
OUR_BIN = os.path.join(ROOT, "target", "release", "server")
LOADGEN = os.path.join(BENCH_BIN, "loadgen")
PIN = ["taskset", "-c", "1"]

# name -> how to label it in the table
SERVERS = {
    "ours": "ours (tp0 server)",
    "c": "C epoll",
    "tokio-ct": "tokio current-thread",
    "tokio-mt": "tokio multi-thread",
    "threads": "thread per connection",
    "polling-lt": "minimal polling loop (level-triggered)",
}

# (key, label, loadgen args); all ping-pong unless said otherwise.
WORKLOADS = [
    ("pp1", "ping-pong 64 B, 1 conn", ["--conns", "1"]),
    ("pp100", "ping-pong 64 B, 100 conns", ["--conns", "100"]),
    ("pp1000", "ping-pong 64 B, 1,000 conns", ["--conns", "1000"]),
    ("pipe", "pipelined 16 × 512 B, 10 conns", ["--conns", "10", "--depth", "16", "--size", "512"]),
    ("connect", "new connection per message, 10 at once", ["--mode", "connect", "--conns", "10"]),
    ("c10k", "ping-pong 64 B, 10,000 conns", ["--conns", "10000", "--connect-burst", "512"]),
]
LOGGED_WORKLOADS = ("pp100", "pipe")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True once a socket listens on 127.0.0.1:port; read from /proc so that checking
    readiness opens no connection (it would be counted under callgrind/strace)."""
    want = f":{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[1].endswith(want) and fields[3] == "0A":
                    return True
    except OSError:
        pass
    return False


class Server:
    """One running server process: started pinned or wrapped, stopped by pid only."""

    def __init__(self, kind, port, tmp, *, logging=False, pin=True, wrap=(), ready_timeout=10,
                 env=None, keep_log=False):
        """env: settings of our server on top of the bench's; keep_log: its stdout to a file
        at the level it has (WARN unless `logging`), for rows that wait on its log lines."""
        self.kind, self.port = kind, port
        self.log_path = None
        self.env = dict(os.environ)
        self.config = None
        stdout = subprocess.DEVNULL
        if kind == "ours":
            self.config = os.path.join(tmp, "empty.ini")
            open(self.config, "w").close()
            cmd = [OUR_BIN, "--config", self.config]
            self.env.update(
                SERVER_PORT=str(port),
                SERVER_BIND_IP="127.0.0.1",
                SERVER_LISTEN_BACKLOG="16384",
                SERVER_MAX_CONNECTIONS="20000",
                LOGGING_LEVEL="INFO" if logging else "WARN",
            )
            self.env.update(env or {})
            if logging or keep_log:
                # A real file, not /dev/null: the cost of writing the log is part of the row.
                self.log_path = os.path.join(tmp, f"server-{port}.log")
                stdout = open(self.log_path, "wb")
        elif kind == "c":
            cmd = [C_BIN, str(port)]
        else:
            cmd = [os.path.join(BENCH_BIN, kind.replace("-", "_")), str(port)]
        full = list(wrap) + (PIN if pin else []) + cmd
        self.proc = subprocess.Popen(full, env=self.env, stdout=stdout, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        if stdout is not subprocess.DEVNULL:
            stdout.close()
        self.wrapped = bool(wrap) and wrap[0] == "strace"
        deadline = time.monotonic() + ready_timeout
        while not listening(port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{kind} did not start listening on port {port}")
            time.sleep(0.01)
        self.pid = self.target_pid()

    def target_pid(self):
        """The server's own pid: taskset and valgrind exec in place, strace forks it."""
        if not self.wrapped:
            return self.proc.pid
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            return int(f.read().split()[0])

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_ticks(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)

    def terminate(self, timeout=10):
        """SIGTERM, then wait; SIGKILL if it does not go. Returns the exit status."""
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def loadgen(port, args, server=None, pin=True, timeout=60):
    cmd = (PIN if pin else []) + [LOADGEN, "--addr", f"127.0.0.1:{port}"] + list(args)
    if server is not None:
        cmd += ["--server-pid", str(server.pid)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"loadgen printed nothing: {out.stderr.strip()}")
    return json.loads(lines[-1])


class Holder:
    """A load generator holding N idle connections until its stdin is closed."""

    def __init__(self, port, conns, timeout=60, burst=512):
        cmd = [LOADGEN, "--addr", f"127.0.0.1:{port}", "--mode", "hold", "--conns", str(conns),
               "--duration", "120", "--connect-burst", str(burst)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise RuntimeError(f"holder of {conns} connections not ready in {timeout} s")
        self.ready = json.loads(self.proc.stdout.readline() or "{}")

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.proc.kill()
            self.proc.wait()


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------------------- throughput rows

def throughput_rounds(servers, rounds, duration, tmp):
    """results[(server, workload)] = list of loadgen JSON objects, one per round."""
    results = {}
    configs = [(s, False) for s in servers]
    if "ours" in servers:
        configs.append(("ours", True))
    for r in range(rounds):
        # Rotate the order each round so that no server always runs first or last.
        order = configs[r % len(configs):] + configs[: r % len(configs)]
        for kind, logged in order:
            name = "ours+log" if logged else kind
            port = free_port()
            srv = Server(kind, port, tmp, logging=logged)
            try:
                for key, _, args in WORKLOADS:
                    if logged and key not in LOGGED_WORKLOADS:
                        continue
                    try:
                        res = loadgen(port, args + ["--duration", str(duration), "--warmup",
                                                    "0.25"], server=srv)
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        res = {"errors": 1, "first_error": str(e), "msgs": 0}
                    results.setdefault((name, key), []).append(res)
                    busy = ((res.get("server_cpu_ns") or 0) + res.get("loadgen_cpu_ns", 0)) / (
                        res.get("secs", 1) * 1e9)
                    log(f"round {r + 1} {name:9} {key:8} {res.get('msgs_per_s', 0):>10.0f} msg/s "
                        f"cpu {cpu_per_msg(res) or 0:.2f} us/msg, CPU 1 busy {busy:.0%}, "
                        f"errors {res.get('errors')}")
            finally:
                srv.terminate()
                if srv.log_path:
                    os.unlink(srv.log_path)
    return results


def cpu_per_msg(res):
    if res.get("server_cpu_ns") is None or not res.get("msgs"):
        return None
    return res["server_cpu_ns"] / 1000 / res["msgs"]


# --------------------------------------------------------------------------- other rows

def idle_cpu(servers, tmp, secs=5.0):
    """All servers at once, 100 idle connections each: CPU ticks spent in `secs`."""
    running, holders, out = {}, [], {}
    try:
        for kind in servers:
            port = free_port()
            running[kind] = Server(kind, port, tmp, pin=False)
            holders.append(Holder(port, 100))
        time.sleep(0.2)
        before = {k: s.cpu_ticks() for k, s in running.items()}
        time.sleep(secs)
        out = {k: s.cpu_ticks() - before[k] for k, s in running.items()}
    finally:
        for h in holders:
            h.close()
        for s in running.values():
            s.terminate()
    return out


def idle_rss(kind, tmp, conns=10000):
    port = free_port()
    srv = Server(kind, port, tmp, pin=False)
    try:
        time.sleep(0.1)
        before = srv.rss_kb()
        holder = Holder(port, conns)
        time.sleep(0.3)
        after = srv.rss_kb()
        connected = holder.ready.get("connected", 0)
        holder.close()
        return {"kb_per_conn": (after - before) / conns, "connected": connected,
                "before_kb": before, "after_kb": after}
    finally:
        srv.terminate()


def sigterm_time(kind, tmp, conns=1000):
    """Time from SIGTERM to process exit with `conns` idle connections open."""
    port = free_port()
    srv = Server(kind, port, tmp, pin=False)
    holder = None
    try:
        holder = Holder(port, conns)
        time.sleep(0.2)
        pidfd = os.pidfd_open(srv.pid)
        t0 = time.perf_counter()
        os.kill(srv.pid, signal.SIGTERM)
        exited = select.select([pidfd], [], [], 5.0)[0]
        elapsed = time.perf_counter() - t0
        os.close(pidfd)
        if not exited:
            srv.kill()
            return {"ms": None, "status": "no exit within 5 s"}
        code = srv.proc.wait(timeout=5)
        if code < 0:
            return {"ms": elapsed * 1000, "status": f"killed by signal {-code}"}
        return {"ms": elapsed * 1000, "status": f"exit {code}"}
    finally:
        if holder is not None:
            holder.close()
        srv.kill()


def pinger(port, stop, out):
    """Ping-pong on one connection until `stop` is set; records every round trip (ms)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        msg = b"p" * 63 + b"\n"
        while not stop.is_set():
            t0 = time.perf_counter()
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = s.recv(len(msg) - len(got))
                if not chunk:
                    raise RuntimeError("pinger: server closed")
                got += chunk
            out.append((time.perf_counter() - t0) * 1000)


def connect_burst(kind, tmp, conns=3000):
    """Worst ping-pong round trip of a live peer while `conns` connects arrive at once."""
    import threading
    port = free_port()
    srv = Server(kind, port, tmp, pin=False)
    stop, rtts, holder = threading.Event(), [], None
    thread = threading.Thread(target=pinger, args=(port, stop, rtts), daemon=True)
    try:
        thread.start()
        time.sleep(0.2)
        before = len(rtts)
        t0 = time.perf_counter()
        holder = Holder(port, conns, burst=conns)
        took = (time.perf_counter() - t0) * 1000
        stop.set()
        thread.join(timeout=10)
        during = rtts[before:]
        if not during:
            raise RuntimeError("no round trip during the burst")
        return {"worst_ms": max(during), "p50_ms": statistics.median(during), "pings": len(during),
                "connected": holder.ready.get("connected", 0), "burst_ms": took}
    finally:
        stop.set()
        if holder is not None:
            holder.close()
        srv.terminate()


def flood_rss(kind, tmp, conns=1000, each=4 << 20, secs=5.0):
    """RSS growth of the server while `conns` peers each send up to `each` bytes of lines and
    never read (small socket buffers, so the echoes back up in the server), and as many peers
    each send 60 KiB of a line without its newline (held as a partial line)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * conns + 256)), hard))
    port = free_port()
    srv = Server(kind, port, tmp, pin=False)
    peers = []
    try:
        time.sleep(0.1)
        before = srv.rss_kb()
        chunk = (b"x" * 1023 + b"\n") * 64
        partial = b"p" * (60 * 1024)
        for i in range(2 * conns):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            peers.append([s, 0, chunk if i < conns else partial, each if i < conns else len(partial)])
        deadline, idle = time.monotonic() + secs, 0
        while idle < 5 and time.monotonic() < deadline:
            moved = False
            for p in peers:
                while p[1] < p[3]:
                    try:
                        n = p[0].send(p[2][: p[3] - p[1]])
                    except (BlockingIOError, InterruptedError):
                        break
                    p[1] += n
                    moved = True
            idle = 0 if moved else idle + 1
            time.sleep(0.05)
        with open(f"/proc/{srv.pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
        return {"grown_kb": hwm - before, "before_kb": before, "peak_kb": hwm,
                "sent_mb": sum(p[1] for p in peers) / 1e6}
    finally:
        for p in peers:
            p[0].close()
        srv.terminate()


def raise_nofile(want):
    """Raises the soft descriptor limit to `want` (at most the hard one): this driver's own
    sockets need it, and the servers it starts afterwards inherit it."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard not in (resource.RLIM_INFINITY, -1):
        want = min(hard, want)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def log_lines(srv, needle):
    """The lines of a server's kept log (`keep_log`) that contain `needle`."""
    with open(srv.log_path, errors="replace") as f:
        return [line.rstrip("\n") for line in f if needle in line]


def wait_log(srv, needles, timeout=10.0):
    """The first logged line holding one of `needles`, or None after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        for needle in needles:
            found = log_lines(srv, needle)
            if found:
                return found[0]
        if time.monotonic() > deadline or srv.proc.poll() is not None:
            return None
        time.sleep(0.02)


def vm_hwm_kb(pid):
    """Peak resident set of `pid` so far; None once it is gone (a zombie has none)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def status_probe(port, timeout=1.0):
    """One round trip on our server's status socket, the path of `server --health-check`:
    the abstract Unix socket `@tp0-server@<bind ip>:<port>` (src/health.rs), where the
    loop writes one status line to each probe. Returns (ms or None, line or error)."""
    t0 = time.perf_counter()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(f"\0tp0-server@127.0.0.1:{port}")
            got = b""
            while not got.endswith(b"\n") and len(got) < 1024:
                chunk = s.recv(256)
                if not chunk:
                    break
                got += chunk
    except OSError as e:
        return None, str(e)
    line = got.decode(errors="replace").strip()
    if not line.startswith("tp0-server | alive: yes"):
        return None, f"not a status line: {line[:80]!r}"
    return (time.perf_counter() - t0) * 1000, line


def status_fields(line):
    return dict(f.split(": ", 1) for f in line.split(" | ")[1:] if ": " in f)


def probe_rtt(kind, tmp, conns=10000, flood_conns=10, probes=200, checks=20, flood_secs=8):
    """Round trip of the liveness probe while the server is full, at its default cap of
    `conns` connections, and `flood_conns` of them pipeline 16 × 512 B lines as fast as
    they are echoed (the loop never idles): on the status socket itself, and as
    `server --health-check` with the server's own configuration, exec included."""
    raise_nofile(conns + 1024)
    port = free_port()
    srv = Server(kind, port, tmp, pin=False, env={"SERVER_MAX_CONNECTIONS": str(conns)})
    holder = flood = None
    try:
        holder = Holder(port, conns - flood_conns)
        flood = subprocess.Popen(
            [LOADGEN, "--addr", f"127.0.0.1:{port}", "--conns", str(flood_conns), "--depth",
             "16", "--size", "512", "--warmup", "0", "--duration", str(flood_secs)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            text=True)
        # Measured from the moment the server says it is full, flood included.
        deadline = time.monotonic() + 10
        while True:
            _, line = status_probe(port)
            if status_fields(line).get("connections") == str(conns):
                break
            if time.monotonic() > deadline or flood.poll() is not None:
                raise RuntimeError(f"not at {conns} connections: {line}")
            time.sleep(0.02)
        at_cap = line
        rtts, failed = [], []
        for _ in range(probes):
            ms, line = status_probe(port)
            if ms is None:
                failed.append(line)
            else:
                rtts.append(ms)
            time.sleep(0.01)
        cmd = [OUR_BIN, "--health-check", "--config", srv.config]
        check_ms = []
        for _ in range(checks):
            t0 = time.perf_counter()
            r = subprocess.run(cmd, env=srv.env, capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            check_ms.append((time.perf_counter() - t0) * 1000)
            if r.returncode != 0:
                failed.append(f"--health-check exit {r.returncode}: {r.stderr.strip()}")
            time.sleep(0.05)
        flooding = flood.poll() is None
        out, _ = flood.communicate(timeout=flood_secs + 30)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        res = json.loads(lines[-1]) if lines else {}
        if not rtts:
            raise RuntimeError(f"no probe answered: {failed[:1]}")
        return {"p50_ms": statistics.median(rtts), "worst_ms": max(rtts), "probes": len(rtts),
                "check_p50_ms": statistics.median(check_ms), "check_worst_ms": max(check_ms),
                "checks": len(check_ms), "failed": failed, "flooding": flooding,
                "flood_msgs_per_s": res.get("msgs_per_s"), "flood_errors": res.get("errors"),
                "status": at_cap}
    finally:
        if flood is not None and flood.poll() is None:
            flood.kill()
            flood.wait(timeout=10)
        if holder is not None:
            holder.close()
        srv.terminate()


def drain_rss(kind, tmp, conns=1000, budget=32 << 20):
    """RSS growth of the server from start to exit through a SIGTERM drain: `conns` peers
    send 1 KiB lines until the server stops reading them and never read the echoes (4 KiB
    receive buffers, so the echoes back up in the server), default settings (budget
    SERVER_MAX_BUFFERED 32 MiB, SERVER_SHUTDOWN_GRACE 500 ms); then SIGTERM, the peak
    sampled every 5 ms until the process is gone."""
    raise_nofile(conns + 1024)
    port = free_port()
    srv = Server(kind, port, tmp, pin=False, keep_log=True)
    peers = []
    try:
        time.sleep(0.1)
        before = srv.rss_kb()
        chunk = b"".join(f"line {i:04} ".encode().ljust(1023, b"x") + b"\n" for i in range(64))
        for _ in range(conns):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            peers.append(s)
        live, sent, spent_at = list(peers), 0, None
        deadline, still = time.monotonic() + 20, 0
        # Rounds until nothing moves (the server has stopped reading every peer) or for 2 s
        # after the budget is spent: what still moves then goes to peers the server shed,
        # whose input it reads only to drop it.
        while still < 3 and time.monotonic() < deadline and (
                spent_at is None or time.monotonic() < spent_at + 2):
            if spent_at is None and log_lines(srv, "action: memory_budget | result: fail"):
                spent_at = time.monotonic()
            moved = False
            for s in list(live):
                try:
                    while True:
                        sent += s.send(chunk)
                        moved = True
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    live.remove(s)  # cut by the server: it owes this peer nothing more
            still = 0 if moved else still + 1
            time.sleep(0.05)
        spent = wait_log(srv, ["action: memory_budget | result: fail"], 10) is not None
        serving_kb = vm_hwm_kb(srv.pid) or 0
        pidfd = os.pidfd_open(srv.pid)
        t0 = time.perf_counter()
        os.kill(srv.pid, signal.SIGTERM)
        peak, exited = serving_kb, False
        try:
            while time.perf_counter() - t0 < 20:
                hwm = vm_hwm_kb(srv.pid)
                if hwm is not None:
                    peak = max(peak, hwm)
                if select.select([pidfd], [], [], 0.005)[0]:
                    exited = True
                    break
        finally:
            os.close(pidfd)
        took = (time.perf_counter() - t0) * 1000
        if not exited:
            srv.kill()
            raise RuntimeError("no exit within 20 s of SIGTERM")
        code = srv.proc.wait(timeout=10)
        drain = (log_lines(srv, "action: drain | result:") or ["(no drain line)"])[-1]
        shed = len(log_lines(srv, "action: shed_connection"))
        return {"grown_kb": peak - before, "before_kb": before, "serving_kb": serving_kb,
                "peak_kb": peak, "exit": code, "exit_ms": took, "sent_mb": sent / 1e6,
                "budget_spent": spent, "budget_kb": budget // 1024,
                # The log's ` | ` separators would split a table cell.
                "drain": ", ".join(drain.split("action: ", 1)[-1].split(" | ")), "shed": shed}
    finally:
        for s in peers:
            s.close()
        srv.terminate()


def hoard_latency(kind, tmp, hoarders=520, hoard=65000, lines=20, size=4096, segments=4):
    """A good peer's echo latency for lines of `size` bytes sent in `segments` pieces 10 ms
    apart, while `hoarders` peers each hold a `hoard`-byte line without its newline (more
    than the default 32 MiB budget). After each line's first piece the hoarders the server
    shed are replaced, so every line is held while the budget overflows again."""
    raise_nofile(4 * hoarders + 1024)
    port = free_port()
    srv = Server(kind, port, tmp, pin=False, keep_log=True)
    held, good, replaced = [], None, 0

    def hoarder():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"h" * hoard)
        return s

    def renew():
        """Replaces the hoarders the server has shed (they read its FIN); returns how many."""
        poller = select.poll()
        for s in held:
            poller.register(s, select.POLLIN)
        gone = {fd for fd, _ in poller.poll(0)}
        for s in [s for s in held if s.fileno() in gone]:
            held.remove(s)
            s.close()
        for _ in range(len(gone)):
            held.append(hoarder())
        return len(gone)

    try:
        held.extend(hoarder() for _ in range(hoarders))
        if kind == "ours" and wait_log(srv, ["action: shed_connection",
                                             "action: memory_budget | result: fail"]) is None:
            raise RuntimeError("the hoard did not reach the budget")
        good = socket.create_connection(("127.0.0.1", port), timeout=5)
        good.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        from_last, from_first = [], []
        for i in range(lines):
            head = f"good {i:03} ".encode()
            line = head + bytes(b"abcdefghijklmnopqrstuvwxyz"[j % 26]
                                for j in range(size - len(head))) + b"\n"
            step = -(-len(line) // segments)
            t_first = time.perf_counter()
            for j in range(0, len(line), step):
                if j:
                    time.sleep(0.01)
                good.sendall(line[j:j + step])
                if j == 0:
                    replaced += renew()
            t_last = time.perf_counter()
            got = b""
            try:
                while len(got) < len(line):
                    chunk = good.recv(len(line) - len(got))
                    if not chunk:
                        raise RuntimeError(f"line {i}: the good peer was closed")
                    got += chunk
            except socket.timeout:
                raise RuntimeError(f"line {i}: no echo within 5 s ({len(got)} bytes back)")
            t_end = time.perf_counter()
            if got != line:
                raise RuntimeError(f"line {i}: echo mismatch")
            from_last.append((t_end - t_last) * 1000)
            from_first.append((t_end - t_first) * 1000)
        shed = len(log_lines(srv, "action: shed_connection")) if kind == "ours" else 0
        return {"p50_ms": statistics.median(from_last), "worst_ms": max(from_last),
                "first_worst_ms": max(from_first), "lines": lines, "shed": shed,
                "replaced": replaced, "rss_kb": srv.rss_kb()}
    finally:
        if good is not None:
            good.close()
        for s in held:
            s.close()
        srv.terminate()


def callgrind_ir(kind, tmp, msgs):
    port = free_port()
    out = os.path.join(tmp, f"callgrind-{kind}-{msgs}.out")
    wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--log-file=/dev/null"]
    srv = Server(kind, port, tmp, pin=False, wrap=wrap, ready_timeout=60)
    try:
        res = loadgen(port, ["--msgs", str(msgs), "--setup-timeout", "120"], pin=False, timeout=180)
    finally:
        srv.terminate(timeout=60)
    with open(out) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1]), res
    raise RuntimeError(f"no totals in {out}")


def strace_calls(kind, tmp, msgs):
    port = free_port()
    out = os.path.join(tmp, f"strace-{kind}-{msgs}.txt")
    wrap = ["strace", "-f", "-c", "-o", out, "--"]
    srv = Server(kind, port, tmp, pin=False, wrap=wrap, ready_timeout=30)
    try:
        res = loadgen(port, ["--msgs", str(msgs), "--setup-timeout", "60"], pin=False, timeout=120)
    finally:
        srv.terminate(timeout=30)
    calls = {}
    with open(out) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and re.match(r"^\d+\.\d+$", parts[0]) and parts[3].isdigit():
                calls[parts[-1]] = int(parts[3])
    return calls, res


def per_message(fn, kind, tmp, small, large):
    """(value(large) - value(small)) / (large - small), start-up and shutdown cancel out."""
    a, ra = fn(kind, tmp, small)
    b, rb = fn(kind, tmp, large)
    if ra.get("errors") or rb.get("errors"):
        raise RuntimeError(f"{kind}: load generator errors under the tracer")
    if isinstance(a, dict):
        keys = set(a) | set(b)
        diff = {k: (b.get(k, 0) - a.get(k, 0)) / (large - small) for k in keys}
        return diff
    return (b - a) / (large - small)


# --------------------------------------------------------------------------- table

def fmt(x, digits=1):
    if x is None:
        return "n/a"
    if isinstance(x, (int, float)) and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def render(meta, servers, tp, extra):
    rows = []
    head = ("| workload | server | msgs/s | p50 µs | p99 µs | server CPU µs/msg | × C | value "
            "| target | ok |")
    rows.append(head)
    rows.append("|" + "---|" * 10)
    c_cpu = {}
    med = {}
    for (name, key), runs in tp.items():
        med[(name, key)] = {
            "msgs_per_s": median([r.get("msgs_per_s") for r in runs]),
            "p50": median([r.get("p50_us") for r in runs]),
            "p99": median([r.get("p99_us") for r in runs]),
            "cpu": median([cpu_per_msg(r) for r in runs]),
            "errors": sum(r.get("errors", 0) for r in runs),
            "connected": min(r.get("connected", 0) for r in runs),
            "first_error": next((r.get("first_error") for r in runs if r.get("errors")), ""),
        }
    for key, _, _ in WORKLOADS:
        if ("c", key) in med:
            c_cpu[key] = med[("c", key)]["cpu"]

    verdicts = []

    def verdict(ok):
        verdicts.append(ok)
        return "ok" if ok else "**MISS**"

    names = [s for s in servers] + (["ours+log"] if "ours" in servers else [])
    for key, label, _ in WORKLOADS:
        for name in names:
            m = med.get((name, key))
            if m is None:
                continue
            ratio = None
            if m["cpu"] is not None and c_cpu.get(key):
                ratio = m["cpu"] / c_cpu[key]
            value = f"{m['errors']} errors" + (f" ({m['first_error']})" if m["errors"] else "")
            target = ok = ""
            if name == "ours" and ratio is not None:
                tct = med.get(("tokio-ct", key), {}).get("cpu")
                if key == "pp1":
                    target, ok = "≤ 1.25× C", verdict(ratio <= 1.25)
                elif key in ("pp100", "pp1000", "pipe"):
                    target = "≤ 1.05× C and < tokio-ct"
                    ok = verdict(ratio <= 1.05 and (tct is None or m["cpu"] < tct))
            if key == "c10k":
                value = f"{m['connected']:,} connected; " + value
                if name == "ours":
                    target, ok = "no error", verdict(m["errors"] == 0 and m["connected"] == 10000)
            if name == "ours+log":
                base = med.get(("ours", key), {}).get("cpu")
                if base and m["cpu"]:
                    value = f"{m['cpu'] / base:.2f}× logging off; " + value
                    target, ok = "≤ 1.3× off", verdict(m["cpu"] / base <= 1.3)
            label_name = "ours, LOGGING_LEVEL=INFO to a file" if name == "ours+log" else SERVERS[name]
            rows.append(f"| {label} | {label_name} | {fmt(m['msgs_per_s'], 0)} | {fmt(m['p50'])} | "
                        f"{fmt(m['p99'])} | {fmt(m['cpu'], 2)} | {fmt(ratio, 2)} | {value} | "
                        f"{target} | {ok} |")

    def simple(label, name, value, target="", ok=None):
        """A row without throughput columns; targets apply to our server only."""
        if name != "ours":
            target, ok = "", None
        mark = "" if ok is None else verdict(ok)
        rows.append(f"| {label} | {SERVERS.get(name, name)} | | | | | | {value} | {target} | {mark} |")

    for name in servers:
        r = extra.get("rss", {}).get(name)
        if r is None:
            continue
        if "error" in r:
            simple("10,000 idle conns: RSS per conn", name, f"error: {r['error']}",
                   "≤ 0.25 KB", False)
            continue
        val = (f"{r['kb_per_conn']:.2f} KB/conn ({r['connected']} held, "
               f"{r['before_kb']:,} → {r['after_kb']:,} KB)")
        simple("10,000 idle conns: RSS per conn", name, val,
               "≤ 0.25 KB", r["kb_per_conn"] <= 0.25 and r["connected"] == 10000)
    for name in servers:
        t = extra.get("idle", {}).get(name)
        if t is None:
            continue
        simple("100 idle conns for 5 s: CPU ticks", name, f"{t} ticks (utime+stime)",
               "0 ticks", t == 0)
    for name in servers:
        s = extra.get("sigterm", {}).get(name)
        if s is None:
            continue
        if "error" in s:
            simple("SIGTERM, 1,000 idle conns: time to exit", name, f"error: {s['error']}",
                   "≤ 50 ms, exit 0", False)
        elif s["status"] != "exit 0":
            simple("SIGTERM, 1,000 idle conns: time to exit", name,
                   f"n/a ({s['status']}" + (f", {s['ms']:.1f} ms" if s["ms"] is not None else "") + ")",
                   "≤ 50 ms, exit 0", False)
        else:
            tries = ", ".join(f"{x}" for x in s.get("all_ms", []))
            simple("SIGTERM, 1,000 idle conns: time to exit", name,
                   f"{s['ms']:.1f} ms, exit 0 (median of {tries} ms)",
                   "≤ 50 ms, exit 0", s["ms"] <= 50)

    for name in servers:
        b = extra.get("burst", {}).get(name)
        if b is None:
            continue
        if "error" in b:
            simple("connect burst of 3,000: worst ping-pong round trip", name,
                   f"error: {b['error']}", "≤ 100 ms", False)
            continue
        simple("connect burst of 3,000: worst ping-pong round trip", name,
               f"{b['worst_ms']:.1f} ms worst, {b['p50_ms']:.2f} ms median over {b['pings']} "
               f"pings; {b['connected']:,} connected in {b['burst_ms']:,.0f} ms",
               "≤ 100 ms", b["worst_ms"] <= 100 and b["connected"] == 3000)
    for name in servers:
        f = extra.get("flood", {}).get(name)
        if f is None:
            continue
        if "error" in f:
            simple("1,000 peers flood + 1,000 hold 60 KiB partial lines: RSS growth", name,
                   f"error: {f['error']}",
                   "≤ 32 MiB + 16 MiB", False)
            continue
        simple("1,000 peers flood + 1,000 hold 60 KiB partial lines: RSS growth", name,
               f"{f['grown_kb'] / 1024:.1f} MiB ({f['before_kb']:,} → peak {f['peak_kb']:,} KB; "
               f"{f['sent_mb']:.0f} MB sent)",
               "≤ 32 MiB + 16 MiB", f["grown_kb"] <= 48 * 1024)

    label = ("10,000 conns (the cap), 10 of them pipelining: liveness probe round trip "
             "(ours only)")
    p = extra.get("probe", {}).get("ours")
    if p is not None:
        if "error" in p:
            simple(label, "ours", f"error: {p['error']}", "≤ 1 s, all pass", False)
        else:
            st = status_fields(p["status"])
            ok = (not p["failed"] and p["flooding"] and p["check_worst_ms"] <= 1000
                  and p["worst_ms"] <= 1000)
            flood = (f"flood {p['flood_msgs_per_s'] or 0:,.0f} msg/s, "
                     f"{p['flood_errors']} errors" if p["flooding"] else "flood ended early")
            simple(label, "ours",
                   f"status socket {p['p50_ms']:.2f} ms median, {p['worst_ms']:.1f} ms worst "
                   f"over {p['probes']}; `server --health-check` {p['check_p50_ms']:.1f} ms "
                   f"median, {p['check_worst_ms']:.1f} ms worst over {p['checks']} (exec "
                   f"included); {len(p['failed'])} failed; status said connections: "
                   f"{st.get('connections')}, accepting: {st.get('accepting')}; {flood}",
                   "≤ 1 s, all pass", ok)
    label = "1,000 peers flood without reading, then SIGTERM: RSS growth start → exit (ours only)"
    d = extra.get("drain", {}).get("ours")
    if d is not None:
        if "error" in d:
            simple(label, "ours", f"error: {d['error']}", "≤ 32 MiB + 16 MiB, exit 0", False)
        else:
            simple(label, "ours",
                   f"{d['grown_kb'] / 1024:.1f} MiB ({d['before_kb']:,} → "
                   f"{d['serving_kb']:,} KB peak serving → {d['peak_kb']:,} KB peak through "
                   f"the drain; {d['sent_mb']:.0f} MB sent, {d['shed']} shed; exit {d['exit']} "
                   f"{d['exit_ms']:.0f} ms after SIGTERM; {d['drain']})",
                   "≤ 32 MiB + 16 MiB, exit 0",
                   d["grown_kb"] <= d["budget_kb"] + 16 * 1024 and d["exit"] == 0
                   and d["budget_spent"])
    label = "520 peers hold 65,000 B unfinished lines: 4 KiB line in 4 segments, echo latency"
    for name in servers:
        h = extra.get("hoard", {}).get(name)
        if h is None:
            continue
        if "error" in h:
            simple(label, name, f"error: {h['error']}", "≤ 1 s from the first segment", False)
            continue
        shed = (f"; {h['shed']} hoarders shed, {h['replaced']} replaced" if name == "ours"
                else "; nothing shed (no budget)")
        simple(label, name,
               f"{h['p50_ms']:.2f} ms median, {h['worst_ms']:.2f} ms worst from the last "
               f"segment; {h['first_worst_ms']:.0f} ms worst from the first, over "
               f"{h['lines']} lines{shed}; RSS {h['rss_kb']:,} KB",
               "≤ 1 s from the first segment", h["first_worst_ms"] <= 1000)

    def syscall_row(sc):
        total = round(sum(v for k, v in sc.items() if k != "total"), 2)
        top = ", ".join(f"{k} {v:.2f}" for k, v in sorted(sc.items(), key=lambda kv: -kv[1])
                        if k != "total" and v >= 0.005)
        return total, f"{total:.2f} ({top})"

    # (key in `extra`, row title, target, limit, figure -> (value, text))
    counted = [
        ("instr", "user-space instructions/msg (callgrind)", "≤ 450", 450,
         lambda ir: (ir, f"{ir:.0f} Ir/msg")),
        ("syscalls", "syscalls/msg (strace -c -f)", "≤ 7", 7, syscall_row),
    ]
    for key, title, target, limit, render in counted:
        for name in ("ours", "c", "polling-lt"):
            figure = extra.get(key, {}).get(name)
            if figure is None:
                continue
            if isinstance(figure, str):
                simple(title, name, f"error: {figure}", target, False)
                continue
            value, text = render(figure)
            simple(title, name, text, target, value <= limit)

    lines = [
        "# tp0 echo server benchmark",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['nproc']} CPUs, {meta['cpu']}, kernel {meta['kernel']}",
        f"- command: `{meta['command']}`",
        f"- method: {meta['rounds']} interleaved rounds, medians; each throughput figure "
        f"{meta['duration']} s after 0.25 s warm-up; server and load generator both on CPU 1 "
        "(`taskset -c 1`) for the throughput rows; server CPU = the server process's CPU clock "
        "(all threads, ns) across the measured window; every echoed byte verified; "
        "`value` lists errors (failed connects, mismatches, unexpected closes) summed over rounds. "
        "tokio multi-thread sizes its pool from the CPU affinity, so it runs 1 worker when pinned.",
        "- our server: LOGGING_LEVEL=WARN except the INFO rows (stdout to a file); "
        "instruction and syscall rows: 1 connection ping-pong, "
        f"({meta['large']} − {meta['small']}) messages differenced.",
        "",
    ] + rows + [
        "",
        f"Targets met: {sum(verdicts)}/{len(verdicts)}. Run took {meta['elapsed']:.0f} s.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def build(servers):
    log("building the C baseline and the bench package")
    # cc writes into bench/target before cargo would have created it.
    os.makedirs(os.path.dirname(C_BIN), exist_ok=True)
    subprocess.run(["cc", "-O2", "-Wall", "-o", C_BIN, os.path.join(HERE, "baselines", "epoll_echo.c")],
                   check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                    os.path.join(HERE, "Cargo.toml")], check=True)
    if "ours" in servers and not os.access(OUR_BIN, os.X_OK):
        sys.exit(f"bench: {OUR_BIN} is missing: run `make build` (or pass --servers without ours)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--servers", default=",".join(SERVERS),
                   help="comma-separated subset of: " + ", ".join(SERVERS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=1.5, help="seconds per throughput figure")
    p.add_argument("--small", type=int, default=2000, help="messages, small traced run")
    p.add_argument("--large", type=int, default=12000, help="messages, large traced run")
    p.add_argument("--skip", default="", help="comma-separated: throughput,rss,idle,sigterm,"
                                              "burst,flood,probe,drain,hoard,instr,syscalls")
    p.add_argument("--output", default=os.path.join(HERE, "target", "bench.md"),
                   help="where the table is also written")
    p.add_argument("--chart", default=os.path.join(HERE, "bench.svg"),
                   help="the chart of this run (needs matplotlib: `make bench` has it); "
                        "the default is the one NOTES.md shows")
    a = p.parse_args()
    servers = [s for s in a.servers.split(",") if s]
    for s in servers:
        if s not in SERVERS:
            sys.exit(f"bench: unknown server {s!r}")
    skip = set(a.skip.split(","))
    started = time.monotonic()
    build(servers)
    if os.sysconf("SC_NPROCESSORS_ONLN") < 2:
        sys.exit("bench: needs at least 2 CPUs (pins to CPU 1)")

    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    meta = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "command": " ".join(shlex.quote(x) for x in sys.argv),
        "rounds": a.rounds, "duration": a.duration, "small": a.small, "large": a.large,
    }
    extra = {"rss": {}, "idle": {}, "sigterm": {}, "burst": {}, "flood": {}, "probe": {},
             "drain": {}, "hoard": {}, "instr": {}, "syscalls": {}}
    tp = {}
    with tempfile.TemporaryDirectory(prefix="tp0-bench-") as tmp:
        if "throughput" not in skip:
            tp = throughput_rounds(servers, a.rounds, a.duration, tmp)
        if "rss" not in skip:
            for kind in servers:
                log(f"RSS with 10,000 idle connections: {kind}")
                try:
                    extra["rss"][kind] = idle_rss(kind, tmp)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    extra["rss"][kind] = {"error": str(e)}
        if "idle" not in skip:
            log("idle CPU, all servers at once, 5 s")
            try:
                extra["idle"] = idle_cpu(servers, tmp)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                log(f"idle CPU failed: {e}")
        if "sigterm" not in skip:
            for kind in servers:
                log(f"SIGTERM with 1,000 connections: {kind}")
                try:
                    # Three tries (median) for a server that exits by itself; one shows the
                    # baselines that are simply killed.
                    tries = [sigterm_time(kind, tmp)]
                    while tries[-1]["status"] == "exit 0" and len(tries) < 3:
                        tries.append(sigterm_time(kind, tmp))
                    done = [t for t in tries if t["status"] == "exit 0"]
                    res = dict(tries[-1])
                    if len(done) == len(tries):
                        res["ms"] = statistics.median(t["ms"] for t in done)
                        res["all_ms"] = [round(t["ms"], 1) for t in done]
                    extra["sigterm"][kind] = res
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    extra["sigterm"][kind] = {"error": str(e)}
        # The probe and the drain are ours only: the baselines have no status socket and
        # SIGTERM kills them.
        for what, fn, title, kinds in (
                ("burst", connect_burst, "connect burst of 3,000", ("ours", "c")),
                ("flood", flood_rss, "RSS with 1,000 flooding peers", ("ours", "c")),
                ("probe", probe_rtt, "probe at 10,000 connections under a flood", ("ours",)),
                ("drain", drain_rss, "RSS through the drain of 1,000 flooders", ("ours",)),
                ("hoard", hoard_latency, "good peer among 520 hoarders", ("ours", "c"))):
            if what in skip:
                continue
            for kind in [k for k in kinds if k in servers]:
                log(f"{title}: {kind}")
                try:
                    extra[what][kind] = fn(kind, tmp)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    extra[what][kind] = {"error": str(e)}
        for what, fn in (("instr", callgrind_ir), ("syscalls", strace_calls)):
            if what in skip:
                continue
            for kind in ("ours", "c", "polling-lt"):
                if kind not in servers:
                    continue
                log(f"{what} per message: {kind}")
                try:
                    extra[what][kind] = per_message(fn, kind, tmp, a.small, a.large)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    extra[what][kind] = str(e)
    meta["elapsed"] = time.monotonic() - started
    table = render(meta, servers, tp, extra)
    print(table)
    os.makedirs(os.path.dirname(a.output), exist_ok=True)
    with open(a.output, "w") as f:
        f.write(table + "\n")
    with open(os.path.splitext(a.output)[0] + ".json", "w") as f:
        json.dump({"meta": meta, "throughput": {f"{k[0]}/{k[1]}": v for k, v in tp.items()},
                   "extra": extra}, f, indent=1)
    draw_chart(a.chart, servers, tp, extra, meta)


def draw_chart(path, servers, tp, extra, meta):
    """The chart of the same figures as the table, when matplotlib is there."""
    sys.path.insert(0, HERE)
    import chart

    if not chart.available():
        log(f"no chart: matplotlib is not installed (make bench installs it); {path} unchanged")
        return
    cpu = {k: median([cpu_per_msg(r) for r in runs]) for k, runs in tp.items()}
    rss = {n: r["kb_per_conn"] for n, r in extra.get("rss", {}).items() if "kb_per_conn" in r}
    chart.write_chart(path, [(k, label) for k, label, _ in WORKLOADS],
                      {n: SERVERS[n] for n in servers}, cpu, rss, meta)
    log(f"chart written to {path}")


if __name__ == "__main__":
    main()
