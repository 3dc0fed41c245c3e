#!/usr/bin/env python3
"""Run the benchmarks of bench/ and compare the mock with its baselines measured in the
same run: scripts/bench.sh [startup|claims|device_poll|coap_poll|scale|fleet|all] (scale and
fleet are not part of all: they take minutes). scripts/bench.sh only runs this file.

For: a person or a separate CI step measuring performance by hand. Not for the test
suite (tests never time anything). Builds build/ (or $BUILD_DIR) with -DBENCH=ON when
needed, runs each benchmark as alternating baseline/mock rounds and takes medians,
prints a short table per benchmark and writes bench/results/<name>.json. Everything
runs on 127.0.0.1, every load loop is bounded, and every server started here is
stopped here (by its pid, also on Ctrl-C or an exception). What the mock cannot do yet
is reported as "skipped: why". The bench/ tools each print one JSON line, read here with
json.loads. Python 3 standard library only.

Environment: BUILD_DIR (build), BENCH_RUNS (3 rounds), BENCH_DURATION (3 s per load
run), BENCH_NO_BUILD=1 (use the binaries as they are), BENCH_STRICT=1 (exit 1 when a
target is missed), BENCH_SCALE_SIZES (scale: comma-separated store sizes),
BENCH_FLEET_COUNT (fleet: 1000 devices), BENCH_FLEET_CONCURRENCY (fleet: 16 at a time).
A benchmark that cannot run is reported as skipped, not fatal.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD_DIR") or "build")
RUNS = int(os.environ.get("BENCH_RUNS") or 3)
DURATION = int(os.environ.get("BENCH_DURATION") or 3)
RESULTS = os.path.join(ROOT, "bench", "results")
B = os.path.join(BUILD, "bench")
MOCK = os.path.join(BUILD, "nrfprov-mock")
KEY = "Authorization: Bearer bench-key"
WHAT = ("startup", "claims", "device_poll", "coap_poll", "scale", "fleet", "all")
HEAD = "  %-34s %12s %12s %8s  %s"

# The fleet benchmark's onboarding rule: five commands, the last one "finished".
FLEET_RULE = {
    "name": "onboarding", "active": True, "tags": ["fleet"], "commands": [
        {"request": {"clientPrivateKeyGeneration": {"secTag": 16842753}}},
        {"request": {"certificateSigningRequest": {"secTag": 16842754, "attributes": ""}}},
        {"request": {"cloudAccessKeyGeneration": {"secTag": 16842755}}},
        {"request": {"config": {"properties": {"provisioning/mode": "lab"}}}},
        {"request": {"finished": {}}}]}


class Skip(Exception):
    """A benchmark (or one part of it) cannot run; the message says why."""


# ---------------------------------------------------------------------------------------
# Small helpers: numbers out of the tools' JSON lines, medians, ratios, verdicts.

def parse(text):
    """The last JSON line a tool printed, as a dict ({} when there is none)."""
    for line in reversed((text or "").strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return {}


def num(obj, key):
    """The number under key in a tool's JSON (the first occurrence, depth first; 0 if none)."""
    found = find(obj, key)
    return found if isinstance(found, (int, float)) else 0


def find(obj, key):
    """The value under key in nested dicts, depth first (None when absent)."""
    if key in obj:
        return obj[key]
    for value in obj.values():
        if isinstance(value, dict) and find(value, key) is not None:
            return find(value, key)
    return None


def statuses(obj):
    """The statuses object of a loadgen/coap_load result, as compact JSON text."""
    return json.dumps(obj.get("statuses", {}), separators=(",", ":"))


def status_count(obj, status):
    """The count of one status in a loadgen/coap_load result (0 when absent)."""
    return int(obj.get("statuses", {}).get(str(status), 0))


def median(values):
    """The median of the numbers (0 for none)."""
    return statistics.median(values) if values else 0


def ratio(a, b):
    """a / b rounded to 2 decimals (0 when b is not positive)."""
    return round(a / b, 2) if b > 0 else 0


def mb(kb):
    """Kilobytes as megabytes."""
    return kb / 1024


def dumps(obj):
    """Compact JSON text, as the results files have always been written."""
    return json.dumps(obj, separators=(",", ":"))


def first_lines(path, n):
    """The first n lines of a text file joined by spaces ("" when it is missing)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return " ".join(line.rstrip("\n") for line in f.readlines()[:n]) + " "
    except OSError:
        return ""


def last_line(path):
    """The last line of a text file ("" when it is missing or empty)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def head_bytes(path, n):
    """The first n bytes of a file as text ("" when it is missing)."""
    try:
        with open(path, "rb") as f:
            return f.read(n).decode("utf-8", "replace")
    except OSError:
        return ""


def ready_port(ready, name):
    """The port of one listener ("http", "coap", "coaps") in a ready file (None if absent)."""
    try:
        with open(ready, encoding="utf-8") as f:
            return json.load(f).get(name, {}).get("port")
    except (OSError, ValueError):
        return None


class Bench:
    """One run of scripts/bench.sh: its temp directory, its servers and its verdicts."""

    def __init__(self):
        """Make the temp directory; no server runs yet."""
        self.tmp = tempfile.mkdtemp(prefix="nrfprov-bench.")
        self.procs = {}
        self.missed = False
        self.mock_help = ""

    def path(self, name):
        """A file in this run's temp directory."""
        return os.path.join(self.tmp, name)

    def cleanup(self):
        """Stop every server still running (by pid) and remove the temp directory."""
        for proc in list(self.procs.values()):
            if proc.poll() is None:
                proc.terminate()
        for pid in list(self.procs):
            self.stop(pid)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def verdict(self, ok):
        """'ok' or 'MISSED' (and the run remembers a miss)."""
        if not ok:
            self.missed = True
        return "ok" if ok else "MISSED"

    # -----------------------------------------------------------------------------------
    # Build.

    def build(self):
        """Configure and build build/ with -DBENCH=ON unless BENCH_NO_BUILD=1."""
        if os.environ.get("BENCH_NO_BUILD") == "1":
            return
        cache = os.path.join(BUILD, "CMakeCache.txt")
        if not os.path.isfile(cache):
            self.cmake(["-S", ROOT, "-B", BUILD, "-DBENCH=ON", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
        elif not re.search(r"^BENCH:BOOL=ON", read_text(cache), re.M):
            self.cmake([BUILD, "-DBENCH=ON"])
        if re.search(r"^(ASAN|UBSAN):BOOL=ON", read_text(cache), re.M):
            print("bench: warning: %s is a sanitizer build; numbers will be meaningless" % BUILD,
                  file=sys.stderr)
        log = self.path("build-bench.log")
        if not self.build_target("bench_tools", log):
            sys.stderr.write(read_text(log))
            sys.exit(1)
        # The mock may be mid-edit; its benchmarks are skipped when it does not build.
        if not self.build_target("nrfprov-mock", self.path("build-mock.log")):
            print("bench: nrfprov-mock does not build; its side of every benchmark is skipped",
                  file=sys.stderr)
            if os.path.exists(MOCK):
                os.remove(MOCK)

    def cmake(self, args):
        """Run one cmake configure step; exit 1 when it fails."""
        if subprocess.run(["cmake"] + args, stdout=subprocess.DEVNULL).returncode != 0:
            sys.exit(1)

    def build_target(self, target, log):
        """Build one target with -j2, output to log; True when it built."""
        with open(log, "w") as out:
            cmd = ["cmake", "--build", BUILD, "-j2", "--target", target]
            return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode == 0

    # -----------------------------------------------------------------------------------
    # Servers and clients.

    def have_mock(self):
        """True when the mock binary exists and is executable."""
        return os.access(MOCK, os.X_OK)

    def mock_has(self, flag):
        """True when the mock's --help names this option."""
        return flag in self.mock_help

    def mock_args(self, want):
        """The mock's arguments for the listeners a benchmark needs ("http" or "coap");
        only the flags this build of the mock knows are passed."""
        a = ["--log-level", "warn", "--http-port", "0"]
        if self.mock_has("--bind"):
            a += ["--bind", "127.0.0.1"]
        if self.mock_has("--https-port"):
            a += ["--https-port", "-1"]
        if self.mock_has("--coaps-port"):
            a += ["--coaps-port", "-1"]
        if self.mock_has("--coap-port"):
            a += ["--coap-port", "0" if want == "coap" else "-1"]
        return a

    def start(self, name, cmd):
        """Start a server with --ready-file appended and wait (bounded) for the file;
        returns (pid, ready file), or raises Skip when it never got ready."""
        ready = self.path(name + ".ready")
        if os.path.exists(ready):
            os.remove(ready)
        err = self.path(name + ".err")
        with open(self.path(name + ".out"), "w") as out, open(err, "w") as errf:
            proc = subprocess.Popen(cmd + ["--ready-file", ready], stdout=out, stderr=errf)
        self.procs[proc.pid] = proc
        for _ in range(200):
            if os.path.exists(ready) and os.path.getsize(ready) > 0:
                return proc.pid, ready
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        print("bench: %s did not get ready:" % name, file=sys.stderr)
        for line in read_text(err).splitlines():
            print("  | " + line, file=sys.stderr)
        self.stop(proc.pid)
        raise Skip("%s did not get ready" % name)

    def stop(self, pid):
        """SIGTERM, then SIGKILL after 5 s; the pid leaves the list cleanup stops."""
        proc = self.procs.pop(pid, None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def tool(self, name, args):
        """Run one bench tool (stderr to the terminal); its JSON line as a dict (exit
        status ignored)."""
        res = subprocess.run([os.path.join(B, name)] + args, stdout=subprocess.PIPE, text=True)
        return parse(res.stdout)

    def tool_err(self, name, args, err, mode="a"):
        """Run one bench tool with stderr to a temp file; (ok, JSON line as a dict)."""
        with open(err, mode) as errf:
            res = subprocess.run([os.path.join(B, name)] + args, stdout=subprocess.PIPE,
                                 stderr=errf, text=True)
        return res.returncode == 0, parse(res.stdout)

    def tokens(self, args):
        """Run bench_tokens; True when it worked."""
        return subprocess.run([os.path.join(B, "bench_tokens")] + args).returncode == 0

    def call(self, url, *args):
        """One HTTP request with the load generator; the status (0 when none), body in
        the temp file "body"."""
        _, out = self.tool_err("bench_loadgen", ["--url", url, "--connections", "1",
                                                 "--max-requests", "1", "--duration", "30",
                                                 "--body-out", self.path("body")] + list(args),
                               os.devnull)
        codes = list(out.get("statuses", {}))
        return int(codes[0]) if codes else 0

    def loadgen(self, *args):
        """One load run; its JSON line as a dict (exit status ignored: the caller reads
        the statuses)."""
        return self.tool_err("bench_loadgen", list(args), self.path("loadgen.err"))[1]

    def write_result(self, name, obj):
        """Write bench/results/<name>.json and say so."""
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, name + ".json"), "w") as f:
            f.write(dumps(obj) + "\n")
        print("  -> bench/results/%s.json" % name)

    # -----------------------------------------------------------------------------------
    # startup: exec to first 200 and idle RSS, mock vs bare libmicrohttpd.

    def bench_startup(self):
        """Exec to the first 200 on GET /_mock/health and idle RSS, mock vs bare MHD."""
        print("== startup: exec -> first 200 on GET /_mock/health, idle RSS (%d rounds x 5 runs)"
              % RUNS)
        base_ms, base_rss, mock_ms, mock_rss = [], [], [], []
        skip = "" if self.have_mock() else "nrfprov-mock is not built"
        args = ["--runs", "5", "--path", "/_mock/health", "--"]
        for _ in range(RUNS):
            out = self.tool("bench_startup", args + [os.path.join(B, "bench_bare_mhd"), "--port", "0"])
            base_ms.append(num(out, "ready_ms"))
            base_rss.append(num(out, "rss_kb"))
            if skip:
                continue
            err = self.path("startup.err")
            ok, out = self.tool_err("bench_startup", args + [MOCK, "--in-memory"] +
                                    self.mock_args("http"), err, "w")
            if ok:
                mock_ms.append(num(out, "ready_ms"))
                mock_rss.append(num(out, "rss_kb"))
            else:
                skip = "mock did not answer 200 on /_mock/health: " + first_lines(err, 3)
        bm, br = median(base_ms), median(base_rss)
        print(HEAD % ("", "baseline", "mock", "ratio", "target"))
        baseline = {"ready_ms": bm, "rss_kb": br}
        if skip:
            print("  %-34s %12.2f %12s" % ("ready (exec -> first 200), ms", bm, "-"))
            print("  %-34s %12.1f %12s" % ("idle RSS, MB", mb(br), "-"))
            print("  mock: skipped: " + skip)
            self.write_result("startup", {"baseline": baseline, "mock": None, "skipped": skip})
            return
        mm, mr = median(mock_ms), median(mock_rss)
        ra = ratio(mm, bm)
        v1 = self.verdict(mm <= 15 and ra <= 1.5)
        v2 = self.verdict(mr <= 6144)
        print("  %-34s %12.2f %12.2f %8.2f  %s" % ("ready (exec -> first 200), ms", bm, mm, ra,
                                               "<= 15 ms and <= 1.5x: " + v1))
        print("  %-34s %12.1f %12.1f %8.2f  %s" % ("idle RSS, MB", mb(br), mb(mr), ratio(mr, br),
                                               "<= 6 MB: " + v2))
        self.write_result("startup", {
            "baseline": baseline, "mock": {"ready_ms": mm, "rss_kb": mr}, "ratio_ready": ra,
            "targets": {"ready_ms": 15, "ratio_ready": 1.5, "rss_kb": 6144},
            "ready_ok": v1 == "ok", "rss_ok": v2 == "ok"})

    # -----------------------------------------------------------------------------------
    # claims: raw SQLite commits/s vs single claims/s; bulk claim latency; GET one device.

    def bench_claims(self):
        """Single claims/s vs raw SQLite commits/s, bulk claim of 1000, GET one device."""
        print("== claims: single claims/s vs raw SQLite commits/s, bulk claim of 1000, GET one device")
        mock_pid, url, has_reset, skip = None, "", False, ""
        try:
            mock_pid, url, has_reset = self.claims_mock()
        except Skip as why:
            skip = str(why)
        sqlite, c1, c8, single_skip = self.claims_single(url, has_reset, skip)
        bulk, bulk_skip = self.claims_bulk(url, has_reset, skip)
        get_skip, dev_id = skip, ""
        if not get_skip:
            try:
                dev_id = self.claims_get_probe(url)
            except Skip as why:
                get_skip = str(why)
        try:
            bare_pid, ready = self.start("bare_json", [os.path.join(B, "bench_bare_mhd"), "--json",
                                                       "--port", "0"])
        except Skip:
            return
        bare, get = [], []
        bare_url = "http://127.0.0.1:%s/v1/claimed-devices/x" % ready_port(ready, "http")
        for _ in range(RUNS):
            bare.append(num(self.loadgen("--url", bare_url, "--connections", "64", "--duration",
                                         str(DURATION), "--header", KEY, "--expect", "200"), "rps"))
            if not get_skip:
                get.append(num(self.loadgen("--url", "%s/v1/claimed-devices/%s" % (url, dev_id),
                                            "--connections", "64", "--duration", str(DURATION),
                                            "--header", KEY, "--expect", "200"), "rps"))
        self.stop(bare_pid)
        if mock_pid:
            self.stop(mock_pid)
        self.claims_report(median(sqlite), median(bare), skip or single_skip, c1, c8,
                           bulk_skip, bulk, get_skip, get)

    def claims_mock(self):
        """Start the mock on a file store and probe one claim; (pid, url, has reset)."""
        if not self.have_mock():
            raise Skip("nrfprov-mock is not built")
        if not os.access(os.path.join(B, "bench_tokens"), os.X_OK):
            raise Skip("bench_tokens is not built (no server/proto/attest.h)")
        data = tempfile.mkdtemp(prefix="data.", dir=self.tmp)
        try:
            pid, ready = self.start("mock", [MOCK, "--data-dir", data] + self.mock_args("http"))
        except Skip:
            raise Skip("the mock did not start with --data-dir")
        url = "http://127.0.0.1:%s" % ready_port(ready, "http")
        self.tokens(["--count", "1", "--out", self.path("probe.jsonl")])
        st = self.call(url + "/v1/claimed-devices", "--header", KEY, "--body-file",
                       self.path("probe.jsonl"), "--content-type", "application/json")
        has_reset = self.call(url + "/_mock/reset", "--method", "POST") == 204
        if st in (404, 405):
            raise Skip("the mock has no POST /v1/claimed-devices yet (%d)" % st)
        if st != 201:
            raise Skip("probe claim answered %d: %s" % (st, head_bytes(self.path("body"), 300)))
        return pid, url, has_reset

    def claims_single(self, url, has_reset, skip):
        """Rounds of raw SQLite commits/s, then single claims/s at 1 and 8 connections;
        (sqlite, c1, c8, why single claims were skipped)."""
        sqlite, c1, c8, single_skip = [], [], [], ""
        for _ in range(RUNS):
            out = self.tool("bench_raw_sqlite", ["--dir", self.tmp, "--duration", str(DURATION)])
            sqlite.append(num(out, "rps"))
            if skip or single_skip:
                continue
            for conns in (1, 8):
                claims = self.path("claims.jsonl")
                self.tokens(["--count", str(DURATION * 15000), "--out", claims])
                out = self.loadgen("--url", url + "/v1/claimed-devices", "--connections", str(conns),
                                   "--duration", str(DURATION), "--header", KEY, "--body-list",
                                   claims, "--content-type", "application/json", "--expect", "201")
                if status_count(out, 201) == 0:
                    single_skip = "single claims did not answer 201: %s %s" % (
                        statuses(out), last_line(self.path("loadgen.err")))
                    break
                (c1 if conns == 1 else c8).append(num(out, "rps"))
                if has_reset:
                    self.call(url + "/_mock/reset", "--method", "POST")
        return sqlite, c1, c8, single_skip

    def claims_bulk(self, url, has_reset, skip):
        """Bulk claim: 1000 tokens as text/csv, 5 runs, reset in between (fresh tokens
        when the mock has no reset yet); (latencies in ms, why skipped)."""
        bulk = []
        if skip:
            return bulk, skip
        csv, body = self.path("bulk.csv"), self.path("bulk.out")
        for r in range(1, 6):
            if has_reset:
                self.call(url + "/_mock/reset", "--method", "POST")
            if not has_reset or r == 1:
                self.tokens(["--count", "1000", "--csv", "--out", csv])
            out = self.loadgen("--url", url + "/v1/claimed-devices", "--connections", "1",
                               "--max-requests", "1", "--duration", "60", "--header", KEY,
                               "--body-file", csv, "--content-type", "text/csv", "--body-out", body)
            if status_count(out, 200) == 0 or '"claimedIds"' not in head_bytes(body, 1 << 30):
                return bulk, "bulk claim answered %s %s" % (statuses(out), head_bytes(body, 200))
            bulk.append(round(num(out, "p50_us") / 1000, 2))
        return bulk, ""

    def claims_get_probe(self, url):
        """Claim one device and GET it once; its id."""
        one, ids = self.path("one.jsonl"), self.path("one.ids")
        self.tokens(["--count", "1", "--out", one, "--ids", ids])
        dev_id = read_text(ids).splitlines()[0] if read_text(ids) else ""
        if self.call(url + "/v1/claimed-devices", "--header", KEY, "--body-file", one,
                     "--content-type", "application/json") != 201:
            raise Skip("claiming the device failed")
        st = self.call("%s/v1/claimed-devices/%s" % (url, dev_id), "--header", KEY)
        if st != 200:
            raise Skip("the mock has no GET /v1/claimed-devices/{id} yet (%d)" % st)
        return dev_id

    def claims_report(self, sq, bm, single_skip, c1, c8, bulk_skip, bulk, get_skip, get):
        """Print the claims table and write bench/results/claims.json."""
        print(HEAD % ("", "baseline", "mock", "ratio", "target"))
        res = {"baseline": {"sqlite_commits_per_s": sq, "bare_mhd_json_rps": bm}}
        if single_skip or not c1:
            print("  %-34s %12.0f %12s" % ("single claims/s (raw SQLite)", sq, "-"))
            print("  single claims: skipped: " + (single_skip or "no run"))
            res["single"] = None
        else:
            m1, m8 = median(c1), median(c8)
            r1, r8 = ratio(m1, sq), ratio(m8, sq)
            v = self.verdict(r8 >= 1.0)
            print("  %-34s %12.0f %12.0f %8.2f  %s" % ("single claims/s, 1 connection", sq, m1, r1,
                                                   "(information)"))
            print("  %-34s %12.0f %12.0f %8.2f  %s" % ("single claims/s, 8 connections", sq, m8, r8,
                                                   ">= 1.00: " + v))
            res["single"] = {"claims_per_s_1": m1, "claims_per_s_8": m8, "ratio_1": r1,
                             "ratio_8": r8, "target": 1.0, "ok": v == "ok"}
        if bulk_skip or not bulk:
            print("  bulk claim: skipped: " + (bulk_skip or "no run"))
            res["bulk"] = None
        else:
            bl = median(bulk)
            v = self.verdict(bl <= 8)
            print("  %-34s %12s %12.2f %8s  %s" % ("bulk claim of 1000 rows, ms", "-", bl, "-",
                                                 "<= 8 ms: " + v))
            res["bulk"] = {"ms": bl, "all_ms": bulk, "target_ms": 8, "ok": v == "ok"}
        if get_skip or not get:
            print("  %-34s %12.0f %12s" % ("GET one device, req/s, 64 conns", bm, "-"))
            print("  GET one device: skipped: " + (get_skip or "no run"))
            res["get_one"] = None
        else:
            gm = median(get)
            gr = ratio(gm, bm)
            v = self.verdict(gr >= 0.6)
            print("  %-34s %12.0f %12.0f %8.2f  %s" % ("GET one device, req/s, 64 conns", bm, gm, gr,
                                                   ">= 0.60: " + v))
            res["get_one"] = {"rps": gm, "ratio": gr, "target": 0.6, "ok": v == "ok"}
        self.write_result("claims", res)

    # -----------------------------------------------------------------------------------
    # scale and fleet: the long benchmarks (docs/performance.md), not part of all.

    def bench_scale(self):
        """Lists, resets and a bulk claim at 1k, 100k and 1M devices (docs/performance.md);
        the baseline of each page is the same page at 1k devices, measured in this run.
        BENCH_SCALE_SIZES overrides the sizes (comma-separated)."""
        print("== scale: list pages by store size, reset, bulk claim")
        tool = os.path.join(B, "bench_scale")
        if not self.have_mock() or not os.access(tool, os.X_OK):
            print("skipped: nrfprov-mock or bench_scale is not built")
            return
        csv = self.path("scale-bulk.csv")
        if not self.tokens(["--count", "1000", "--csv", "--out", csv]):
            return
        os.makedirs(RESULTS, exist_ok=True)
        sizes = os.environ.get("BENCH_SCALE_SIZES") or "1000,100000,1000000"
        subprocess.run([tool, "--mock", MOCK, "--tokens", csv, "--sizes", sizes,
                        "--json", os.path.join(RESULTS, "scale.json")])

    def bench_fleet(self):
        """A fleet of BENCH_FLEET_COUNT (1000) simulated devices through a 5-command
        onboarding rule, over HTTP and over CoAPs, BENCH_FLEET_CONCURRENCY (16) at a time;
        the mock runs from a file store with every listener on (docs/performance.md)."""
        print("== fleet: simulated devices through a 5-command onboarding rule")
        sim = os.path.join(BUILD, "nrfprov-sim")
        if not self.have_mock() or not os.access(sim, os.X_OK):
            print("skipped: nrfprov-mock or nrfprov-sim is not built")
            return
        data = self.path("fleet-data")
        try:
            pid, ready = self.start("fleet-mock", [
                MOCK, "--data-dir", data, "--http-port", "0", "--https-port", "-1",
                "--coap-port", "-1", "--coaps-port", "0", "--log-level", "error"])
        except Skip:
            return
        api = "http://127.0.0.1:%s" % ready_port(ready, "http")
        if not post_rule(api):
            print("skipped: cannot create the rule")
            self.stop(pid)
            return
        os.makedirs(RESULTS, exist_ok=True)
        urls = {"http": api, "coaps": "coaps://127.0.0.1:%s" % ready_port(ready, "coaps")}
        with open(os.path.join(RESULTS, "fleet.txt"), "w") as txt:
            for proto, url in urls.items():
                self.fleet_run(sim, proto, url, api, data, pid, txt)
        self.stop(pid)

    def fleet_run(self, sim, proto, url, api, data, pid, txt):
        """One nrfprov-sim fleet run; its lines go to the terminal and to fleet.txt."""
        tee(txt, "%-6s " % proto, end="")
        cmd = [sim, "fleet", "--dir", self.path("fleet-" + proto),
               "--count", os.environ.get("BENCH_FLEET_COUNT") or "1000",
               "--concurrency", os.environ.get("BENCH_FLEET_CONCURRENCY") or "16",
               "--url", url, "--api", api, "--ca", os.path.join(data, "pki", "ca.pem"),
               "--key", "fleet", "--tags", "fleet", "--mock-pid", str(pid)]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True) as proc:
            for line in proc.stdout:
                tee(txt, line, end="")

    # -----------------------------------------------------------------------------------
    # device_poll: GET /v1/provisioning/commands with nothing queued (204), mock vs bare MHD.

    def bench_device_poll(self):
        """Device polls with nothing queued (204), keep-alive and close, mock vs bare MHD."""
        print("== device_poll: GET /v1/provisioning/commands, nothing queued (204), keep-alive and close")
        path = "/v1/provisioning/commands?after=&rxMaxSize=2048"
        mock_pid, url, tok, skip = None, "", "", ""
        try:
            mock_pid, url, tok = self.device_poll_mock(path)
        except Skip as why:
            skip = str(why)
        try:
            bare_pid, ready = self.start("bare", [os.path.join(B, "bench_bare_mhd"), "--port", "0"])
        except Skip:
            return
        bare_url = "http://127.0.0.1:%s%s" % (ready_port(ready, "http"), path)
        base_ka, base_cl, mock_ka, mock_cl = [], [], [], []
        for _ in range(RUNS):
            base_ka.append(self.poll_run(bare_url, "x", "64"))
            base_cl.append(self.poll_run(bare_url, "x", "16", "--close"))
            if skip:
                continue
            mock_ka.append(self.poll_run(url + path, tok, "64"))
            mock_cl.append(self.poll_run(url + path, tok, "16", "--close"))
        self.stop(bare_pid)
        if mock_pid:
            self.stop(mock_pid)
        self.device_poll_report(median(base_ka), median(base_cl), skip, mock_ka, mock_cl)

    def device_poll_mock(self, path):
        """Start the mock, claim one device and probe its poll; (pid, url, claim token)."""
        if not self.have_mock():
            raise Skip("nrfprov-mock is not built")
        if not os.access(os.path.join(B, "bench_tokens"), os.X_OK):
            raise Skip("bench_tokens is not built (no server/proto/attest.h)")
        try:
            pid, ready = self.start("mock", [MOCK, "--in-memory"] + self.mock_args("http"))
        except Skip:
            raise Skip("the mock did not start")
        url = "http://127.0.0.1:%s" % ready_port(ready, "http")
        dev = self.path("dev.jsonl")
        self.tokens(["--count", "1", "--out", dev])
        tok = parse(read_text(dev).split("\n")[0]).get("claimToken", "")
        st = self.call(url + "/v1/claimed-devices", "--header", KEY, "--body-file", dev,
                       "--content-type", "application/json")
        if st != 201:
            raise Skip("claiming the device answered %d" % st)
        st = self.call(url + path, "--header", "Authorization: Bearer att." + tok)
        if st != 204:
            raise Skip("the device poll answered %d, not 204 (endpoint missing?)" % st)
        return pid, url, tok

    def poll_run(self, url, tok, conns, *extra):
        """One device poll load run; its requests/s."""
        return num(self.loadgen("--url", url, "--connections", conns, "--duration", str(DURATION),
                                "--header", "Authorization: Bearer att." + tok, "--expect", "204",
                                *extra), "rps")

    def device_poll_report(self, bk, bc, skip, mock_ka, mock_cl):
        """Print the device_poll table and write bench/results/device_poll.json."""
        print(HEAD % ("", "baseline", "mock", "ratio", "target"))
        baseline = {"keepalive_rps": bk, "close_rps": bc}
        if skip:
            print("  %-34s %12.0f %12s" % ("polls/s, 64 conns keep-alive", bk, "-"))
            print("  %-34s %12.0f %12s" % ("polls/s, 16 conns, close each", bc, "-"))
            print("  mock: skipped: " + skip)
            self.write_result("device_poll", {"baseline": baseline, "mock": None, "skipped": skip})
            return
        mk, mc = median(mock_ka), median(mock_cl)
        rk, rc = ratio(mk, bk), ratio(mc, bc)
        v = self.verdict(rk >= 0.5)
        print("  %-34s %12.0f %12.0f %8.2f  %s" % ("polls/s, 64 conns keep-alive", bk, mk, rk,
                                               ">= 0.50: " + v))
        print("  %-34s %12.0f %12.0f %8.2f  %s" % ("polls/s, 16 conns, close each", bc, mc, rc,
                                               "(information)"))
        self.write_result("device_poll", {
            "baseline": baseline, "mock": {"keepalive_rps": mk, "close_rps": mc},
            "ratio_keepalive": rk, "ratio_close": rc, "target": 0.5, "ok": v == "ok"})

    # -----------------------------------------------------------------------------------
    # coap_poll: GET p/cmd with nothing queued (2.05, empty), mock vs bare libcoap.

    def bench_coap_poll(self):
        """CoAP GET p/cmd with nothing queued (2.05), 16 sessions, mock vs bare libcoap."""
        print("== coap_poll: GET p/cmd, nothing queued (2.05), 16 sessions after p/auth-jwt")
        query, jwts = "p/cmd?after=&rxMaxSize=2048", self.path("coap.jwts")
        mock_pid, cport, skip = None, None, ""
        try:
            mock_pid, cport = self.coap_poll_mock(query, jwts)
        except Skip as why:
            skip = str(why)
        try:
            bare_pid, ready = self.start("bare_coap", [os.path.join(B, "bench_bare_coap"), "--port", "0"])
        except Skip:
            return
        # The same JWTs work against the baseline, whose auth resources answer 2.01 to anything.
        auth = ["--auth-jwt-file", jwts] if os.path.exists(jwts) and os.path.getsize(jwts) else []
        base, mock = [], []
        for _ in range(RUNS):
            base.append(self.coap_run(ready_port(ready, "coap"), query, auth))
            if not skip:
                mock.append(self.coap_run(cport, query, ["--auth-jwt-file", jwts]))
        self.stop(bare_pid)
        if mock_pid:
            self.stop(mock_pid)
        self.coap_poll_report(median(base), skip, mock)

    def coap_poll_mock(self, query, jwts):
        """Start the mock with a CoAP listener, claim 16 devices and probe; (pid, port)."""
        sessions = 16
        if not self.have_mock():
            raise Skip("nrfprov-mock is not built")
        if not self.mock_has("--coap-port"):
            raise Skip("the mock has no --coap-port yet")
        if not os.access(os.path.join(B, "bench_tokens"), os.X_OK):
            raise Skip("bench_tokens is not built (no server/proto/attest.h)")
        claims, err = self.path("coap.jsonl"), self.path("tokens.err")
        with open(err, "w") as errf:
            cmd = [os.path.join(B, "bench_tokens"), "--count", str(sessions), "--out", claims,
                   "--jwts", jwts]
            if subprocess.run(cmd, stderr=errf).returncode != 0:
                raise Skip(read_text(err))
        try:
            pid, ready = self.start("mock", [MOCK, "--in-memory"] + self.mock_args("coap"))
        except Skip:
            raise Skip("the mock did not start with --coap-port 0")
        cport = ready_port(ready, "coap")
        if not cport:
            raise Skip("the mock's ready file names no coap listener")
        out = self.loadgen("--url", "http://127.0.0.1:%s/v1/claimed-devices" % ready_port(ready, "http"),
                           "--connections", "1", "--duration", "30", "--header", KEY, "--body-list",
                           claims, "--content-type", "application/json", "--expect", "201")
        if status_count(out, 201) != sessions:
            raise Skip("claiming the devices answered " + statuses(out))
        cerr = self.path("coap.err")
        ok, out = self.tool_err("bench_coap_load", [
            "--url", "coap://127.0.0.1:%s/%s" % (cport, query), "--sessions", str(sessions),
            "--duration", "1", "--max-requests", "100", "--auth-jwt-file", jwts,
            "--expect", "2.05"], cerr, "w")
        if not ok:
            raise Skip("probe: %s %s" % (statuses(out), first_lines(cerr, 2)))
        return pid, cport

    def coap_run(self, port, query, auth):
        """One CoAP poll load run with 16 sessions; its requests/s."""
        return num(self.tool_err("bench_coap_load", [
            "--url", "coap://127.0.0.1:%s/%s" % (port, query), "--sessions", "16",
            "--duration", str(DURATION), "--expect", "2.05"] + auth, self.path("coap.err"))[1], "rps")

    def coap_poll_report(self, bm, skip, mock):
        """Print the coap_poll table and write bench/results/coap_poll.json."""
        print(HEAD % ("", "baseline", "mock", "ratio", "target"))
        if skip:
            print("  %-34s %12.0f %12s" % ("p/cmd polls/s, 16 sessions", bm, "-"))
            print("  mock: skipped: " + skip)
            self.write_result("coap_poll", {"baseline": {"rps": bm}, "mock": None, "skipped": skip})
            return
        mm = median(mock)
        ra = ratio(mm, bm)
        v = self.verdict(ra >= 0.5)
        print("  %-34s %12.0f %12.0f %8.2f  %s" % ("p/cmd polls/s, 16 sessions", bm, mm, ra,
                                               ">= 0.50: " + v))
        self.write_result("coap_poll", {"baseline": {"rps": bm}, "mock": {"rps": mm},
                                        "ratio": ra, "target": 0.5, "ok": v == "ok"})


def read_text(path):
    """A whole text file ("" when it is missing)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def tee(txt, text, end="\n"):
    """Print text and append it to an open file."""
    print(text, end=end, flush=True)
    txt.write(text + end)


def post_rule(api):
    """Create the fleet's onboarding rule on the mock (loopback, no proxy); True if 2xx."""
    req = urllib.request.Request(api + "/v1/provisioning-rules", data=json.dumps(FLEET_RULE).encode(),
                                 method="POST", headers={"Authorization": "Bearer fleet",
                                                         "Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


def on_sigterm(signum, frame):
    """SIGTERM ends the run like Ctrl-C does: through the cleanup."""
    raise SystemExit(128 + signum)


def main():
    """Parse the command, build, run the chosen benchmarks, always clean up."""
    usage = "scripts/bench.sh [startup|claims|device_poll|coap_poll|scale|fleet|all]"
    parser = argparse.ArgumentParser(prog="scripts/bench.sh", usage=usage)
    parser.add_argument("what", nargs="?", default="all", choices=WHAT)
    what = parser.parse_args().what
    signal.signal(signal.SIGTERM, on_sigterm)
    sys.stdout.reconfigure(line_buffering=True)
    bench = Bench()
    try:
        bench.build()
        if bench.have_mock():
            res = subprocess.run([MOCK, "--help"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
            bench.mock_help = res.stdout
        print("bench: %d rounds, %d s per load run, build %s, %d cores"
              % (RUNS, DURATION, BUILD, len(os.sched_getaffinity(0))), flush=True)
        names = ["startup", "claims", "device_poll", "coap_poll"] if what == "all" else [what]
        for name in names:
            getattr(bench, "bench_" + name)()
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    finally:
        bench.cleanup()
    return 1 if bench.missed and os.environ.get("BENCH_STRICT") == "1" else 0


if __name__ == "__main__":
    sys.exit(main())
