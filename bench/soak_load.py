#!/usr/bin/env python3
"""Load generator of scripts/soak.sh (docs/safety.md, "Limits"): abuse on every front at
once against one running nrfprov-mock, while a prober checks that GET /_mock/health keeps
answering within 100 ms and that the server's RSS stays under 64 MB.

What it is for: the soak run of scripts/soak.sh, by hand or (short) in scripts/test.sh.
What it is not: a benchmark (bench/) or a test of answers in detail (tests/integration/
test_limits.c does that). Loopback only; every loop is bounded in time and count.

Fronts, each its own process so that one cannot starve another of Python's GIL:
- slow: SOAK_SLOW (1000) TCP connections from 127.0.0.2..127.0.0.5 that send a request
  line and then one header line every 2 s, never finishing; reopened when the server
  closes them (per-IP cap, header timeout).
- coap: SOAK_COAP_SESSIONS (2000) UDP sockets (one session each) uploading Block1 bodies to
  p/rsp until refused (4.13 past 64 KiB), one in ten with Size1 = 0xFFFFFFFF (4.13 at
  once), one in ten a lone block #3 (4.08).
- reports: device reports over HTTP: 2 MB declared (413), 257 responses (400), 1 MiB of
  tiny CBOR items (400), and an owner POST of 1 MiB - 1 without an API key (401).
- the prober (this process): a fresh connection to GET /_mock/health every 50 ms, and the
  server's VmRSS every 50 ms.

Prints one line of figures; exits 1 when a bound was crossed (health slower than 100 ms
or failing, RSS over 64 MB), 2 on a usage error.
"""
import json
import multiprocessing as mp
import os
import random
import select as select_mod
import selectors
import socket
import struct
import sys
import time

HEALTH_BOUND_MS = 100.0
RSS_BOUND_MB = 64.0


def env_int(name, default):
    return int(os.environ.get(name, default))


# ---- slow headers --------------------------------------------------------------------

def slow_front(port, seconds, count, out):
    os.nice(10)  # the attackers would be other machines: they must not take the CPU from the server
    sel = selectors.DefaultSelector()
    sources = ["127.0.0.%d" % i for i in range(2, 6)]
    stats = {"opened": 0, "closed_by_server": 0, "held_max": 0}
    conns = {}  # socket -> [last header time, request line sent, index]
    reopen = []  # (time, index): connections the server closed, reopened a second later
    deadline = time.monotonic() + seconds
    max_opens = count * 50  # a bound on reconnects

    def open_one(i):
        if stats["opened"] >= max_opens:
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((sources[i % len(sources)], 0))
            s.connect_ex(("127.0.0.1", port))
        except OSError:
            s.close()
            return
        stats["opened"] += 1
        conns[s] = [time.monotonic(), False, i]
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)

    for i in range(count):
        open_one(i)
    while time.monotonic() < deadline:
        now = time.monotonic()
        for key, ev in sel.select(timeout=0.2):
            s = key.fileobj
            st = conns.get(s)
            if st is None:
                continue
            if ev & selectors.EVENT_WRITE and not st[1]:
                try:
                    s.send(b"GET /_mock/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    st[1] = True
                    sel.modify(s, selectors.EVENT_READ)
                except OSError:
                    pass
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    stats["closed_by_server"] += 1
                    sel.unregister(s)
                    del conns[s]
                    s.close()
                    reopen.append((now + 1.0, st[2]))
        while reopen and reopen[0][0] <= now:
            open_one(reopen.pop(0)[1])
        for s, st in list(conns.items()):
            if st[1] and now - st[0] >= 2.0:
                st[0] = now
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    pass
        held = sum(1 for st in conns.values() if st[1])
        stats["held_max"] = max(stats["held_max"], held)
    for s in list(conns):
        s.close()
    out.put(("slow", stats))


# ---- CoAP Block1 flood ---------------------------------------------------------------

def coap_option(number, prev, value):
    delta = number - prev

    def nib(v):
        if v < 13:
            return v, b""
        if v < 269:
            return 13, bytes([v - 13])
        return 14, struct.pack(">H", v - 269)

    d, dx = nib(delta)
    l, lx = nib(len(value))
    return bytes([(d << 4) | l]) + dx + lx + value


def uint_bytes(v):
    if v == 0:
        return b""
    n = (v.bit_length() + 7) // 8
    return v.to_bytes(n, "big")


def coap_block1(mid, token, num, more, szx, payload, rtag, size1=None):
    opts = [(11, b"p"), (11, b"rsp"), (12, bytes([60])), (27, uint_bytes((num << 4) | (more << 3) | szx))]
    if size1 is not None:
        opts.append((60, uint_bytes(size1)))
    opts.append((292, rtag))
    msg = bytes([0x40 | len(token), 0x02]) + struct.pack(">H", mid) + token
    prev = 0
    for number, value in opts:
        msg += coap_option(number, prev, value)
        prev = number
    return msg + b"\xff" + payload


def coap_front(port, seconds, count, out):
    os.nice(10)  # the attackers would be other machines: they must not take the CPU from the server
    sel = selectors.DefaultSelector()
    stats = {"sessions": 0, "sent": 0, "codes": {}, "timeouts": 0}
    block = b"\x00" * 1024
    socks = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect(("127.0.0.1", port))
        socks.append({"s": s, "i": i, "num": 0, "rtag": os.urandom(4), "mid": random.randrange(65536),
                      "sent_at": 0.0, "busy": False})
        sel.register(s, selectors.EVENT_READ, socks[-1])
    stats["sessions"] = count
    window, inflight, nxt = 200, 0, 0
    deadline = time.monotonic() + seconds
    max_sent = 5_000_000

    def send(c):
        c["mid"] = (c["mid"] + 1) & 0xFFFF
        kind = c["i"] % 10
        if kind == 0:
            pdu = coap_block1(c["mid"], b"\x01\x02", 0, 1, 6, block, c["rtag"], size1=0xFFFFFFFF)
        elif kind == 1:
            pdu = coap_block1(c["mid"], b"\x01\x03", 3, 1, 6, block, c["rtag"])
        else:
            pdu = coap_block1(c["mid"], b"\x01\x04", c["num"], 1, 6, block, c["rtag"])
        try:
            c["s"].send(pdu)
        except OSError:
            return False
        c["busy"], c["sent_at"] = True, time.monotonic()
        stats["sent"] += 1
        return True

    while time.monotonic() < deadline and stats["sent"] < max_sent:
        while inflight < window:
            c = socks[nxt % count]
            nxt += 1
            if not c["busy"] and send(c):
                inflight += 1
            if nxt % count == 0:
                break
        now = time.monotonic()
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            try:
                data = c["s"].recv(2048)
            except OSError:
                continue
            if len(data) < 4 or not c["busy"]:
                continue
            code = "%d.%02d" % (data[1] >> 5, data[1] & 31)
            stats["codes"][code] = stats["codes"].get(code, 0) + 1
            c["busy"] = False
            inflight -= 1
            if code == "2.31":
                c["num"] += 1
            else:
                c["num"], c["rtag"] = 0, os.urandom(4)
        for c in socks:
            if c["busy"] and now - c["sent_at"] > 2.0:
                c["busy"] = False
                inflight -= 1
                stats["timeouts"] += 1
                c["num"], c["rtag"] = 0, os.urandom(4)
    for c in socks:
        c["s"].close()
    out.put(("coap", stats))


# ---- oversized reports ---------------------------------------------------------------

def http_exchange(port, head, body, read_timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    status = 0
    try:
        s.sendall(head)
        # A server that refuses from the headers answers before reading the body: look
        # for that answer first, since sending into a closed connection would reset it.
        ready, _, _ = select_mod.select([s], [], [], 0.2)
        sent = len(body) if ready else 0
        while sent < len(body):
            try:
                s.settimeout(0.5)
                n = s.send(body[sent:sent + 65536])
            except socket.timeout:
                break  # the server stopped reading: it has answered or will
            except OSError:
                break
            sent += n
        s.settimeout(read_timeout)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        if data.startswith(b"HTTP/1."):
            status = int(data[9:12])
    except OSError:
        pass
    finally:
        s.close()
    return status


def reports_front(port, seconds, cred, out):
    os.nice(10)  # the attackers would be other machines: they must not take the CPU from the server
    stats = {"requests": 0, "statuses": {}}
    acks = b"\x99\x01\x01" + b"\x82\x61c\x18\x66" * 257  # 257 finished acks
    flood = b"\x81\x9a" + struct.pack(">I", 1048576 - 6) + b"\x00" * (1048576 - 6)
    dev = "Authorization: Bearer %s\r\nContent-Type: application/cbor\r\n" % cred
    jobs = [
        ("POST /v1/provisioning/response HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: 2000000\r\n"
         "Connection: close\r\n\r\n" % dev, b"\x00" * 262144),
        ("POST /v1/provisioning/response HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %d\r\n"
         "Connection: close\r\n\r\n" % (dev, len(acks)), acks),
        ("POST /v1/provisioning/response HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %d\r\n"
         "Connection: close\r\n\r\n" % (dev, len(flood)), flood),
        ("POST /v1/claimed-devices HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Content-Length: 1048575\r\nConnection: close\r\n\r\n", b"{" * 65536),
    ]
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline and i < 100000:
        head, body = jobs[i % len(jobs)]
        st = http_exchange(port, head.encode(), body)
        stats["requests"] += 1
        stats["statuses"][str(st)] = stats["statuses"].get(str(st), 0) + 1
        i += 1
    out.put(("reports", stats))


# ---- the prober ----------------------------------------------------------------------

def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return -1.0


def health_ms(port):
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        s.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        if not data.startswith(b"HTTP/1.1 200"):
            return None
    except OSError:
        return None
    return (time.monotonic() - t0) * 1000.0


def main():
    if len(sys.argv) != 5:
        print("usage: soak_load.py HTTP_PORT COAP_PORT PID SECONDS", file=sys.stderr)
        return 2
    http_port, coap_port, pid, seconds = (int(a) for a in sys.argv[1:])
    cred = os.environ.get("SOAK_DEVICE_CRED", "att.x")
    out = mp.Queue()
    procs = [
        mp.Process(target=slow_front, args=(http_port, seconds, env_int("SOAK_SLOW", 1000), out)),
        mp.Process(target=coap_front, args=(coap_port, seconds, env_int("SOAK_COAP_SESSIONS", 2000), out)),
        mp.Process(target=reports_front, args=(http_port, seconds, cred, out)),
    ]
    fronts = os.environ.get("SOAK_FRONTS", "slow,coap,reports").split(",")
    procs = [p for p in procs if p._target.__name__.split("_")[0] in fronts]
    for p in procs:
        p.start()
    lat, failures, rss_max = [], 0, 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ms = health_ms(http_port)
        if ms is None:
            failures += 1
        else:
            lat.append(ms)
        rss_max = max(rss_max, rss_mb(pid))
        time.sleep(0.05)  # the probing interval, not a wait for an outcome
    results = {}
    for _ in procs:
        try:
            name, stats = out.get(timeout=seconds + 30)
            results[name] = stats
        except Exception:  # a front that died says nothing; reported as missing
            pass
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    lat.sort()
    p50 = lat[len(lat) // 2] if lat else -1
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else -1
    worst = lat[-1] if lat else -1
    alive = os.path.exists("/proc/%d" % pid)
    ok = failures == 0 and lat and worst <= HEALTH_BOUND_MS and 0 <= rss_max <= RSS_BOUND_MB and alive \
        and len(results) == len(procs)
    slow, coap, rep = results.get("slow", {}), results.get("coap", {}), results.get("reports", {})
    print("soak: %s %ds health n=%d fail=%d p50=%.1fms p99=%.1fms max=%.1fms (bound %.0f) rss_max=%.1fMB (bound %.0f) "
          "slow opened=%s held_max=%s closed_by_server=%s coap sessions=%s sent=%s codes=%s timeouts=%s "
          "reports n=%s statuses=%s"
          % ("ok" if ok else "FAILED", seconds, len(lat), failures, p50, p99, worst, HEALTH_BOUND_MS, rss_max,
             RSS_BOUND_MB, slow.get("opened"), slow.get("held_max"), slow.get("closed_by_server"),
             coap.get("sessions"), coap.get("sent"), json.dumps(coap.get("codes"), sort_keys=True, separators=(",", ":")),
             coap.get("timeouts"), rep.get("requests"),
             json.dumps(rep.get("statuses"), sort_keys=True, separators=(",", ":"))))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
