#!/usr/bin/python3
"""Hub statistics against a real `ockam hub` with --http and traffic.

  hub_status_test.py metrics   ... /metrics parses with prometheus_client's
                                   text parser and its counters move with
                                   traffic; /healthz, /api/status; `ockam hub
                                   status --json`, `ockam stream ls --json`,
                                   `ockam stream info NAME --json`, --help.
  hub_status_test.py dashboard ... the page at / rendered by headless
                                   Chromium shows the streams and their
                                   counts; saves a screenshot.

Arguments after the mode: OCKAM_BIN PUMP_BIN ARTIFACT_DIR. Missing tools
(prometheus_client, chromium) fail the test: scripts/setup installs them.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

STREAM = "metrics-a"
BACK = "metrics-a-back"
COUNT = 50
WAIT_S = 60


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(what, fn, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(0.2)
    fail("timed out waiting for %s (last: %r)" % (what, last))


class Hub:
    def __init__(self, ockam, tmp, extra=()):
        self.http_port = free_port()
        ready = os.path.join(tmp, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        self.proc = subprocess.Popen(
            [ockam, "hub", "--listen", "127.0.0.1:0", "--store", "memory",
             "--ready-file", ready, "--http", "127.0.0.1:%d" % self.http_port, *extra],
            stdout=subprocess.DEVNULL)
        def bound():
            if self.proc.poll() is not None:
                fail("the hub exited with %d" % self.proc.returncode)
            with open(ready) as f:
                return f.read().strip()
        self.addr = wait_for("the hub's ready file", bound)
        self.url = "http://127.0.0.1:%d" % self.http_port
        wait_for("/healthz", lambda: get(self.url + "/healthz")[0] == 200)

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("the hub did not stop on SIGTERM")
        if rc != 0:
            fail("the hub exited with %d" % rc)


def traffic(pump, hub):
    """COUNT messages into STREAM, read by client id reader-1 (saves its index)."""
    prod = subprocess.run([pump, "--hub", hub, "--out", STREAM, "--in", BACK,
                           "--count", str(COUNT), "--batch", "25"],
                          stdout=subprocess.PIPE, text=True, timeout=120)
    if prod.returncode != 0 or "done" not in prod.stdout:
        fail("producer: exit %d" % prod.returncode)
    cons = subprocess.Popen([pump, "--hub", hub, "--out", BACK, "--in", STREAM,
                             "--client-id", "reader-1", "--sink"],
                            stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            line = cons.stdout.readline()
            if not line:
                break
            if line.strip() == "got %d" % (COUNT - 1):
                return cons
        fail("the consumer did not get every message")
    except BaseException:
        cons.kill()
        raise


def stop_proc(p):
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def ockam_json(ockam, *args):
    r = subprocess.run([ockam, *args, "--json"], stdout=subprocess.PIPE, text=True, timeout=60)
    if r.returncode != 0:
        fail("ockam %s: exit %d" % (" ".join(args), r.returncode))
    return json.loads(r.stdout)


def metrics_test(ockam, pump, artifacts):
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        fail("python3-prometheus-client is not installed (scripts/setup installs it)")

    def scrape(url):
        status, text = get(url + "/metrics")
        if status != 200:
            raise ValueError("HTTP %d" % status)
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        samples = {}
        for f in fams.values():
            for s in f.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return fams, samples

    with tempfile.TemporaryDirectory() as tmp:
        hub = Hub(ockam, tmp)
        try:
            fams, before = scrape(hub.url)
            # Families and types as the exposition declares them (the parser
            # strips _total from counter family names).
            for name, kind in [("ockam_hub_pushes", "counter"), ("ockam_hub_confirms", "counter"),
                               ("ockam_hub_pulls", "counter"),
                               ("ockam_hub_frames_received", "counter"),
                               ("ockam_hub_received_bytes", "counter"),
                               ("ockam_hub_denied_requests", "counter"),
                               ("ockam_hub_connections", "gauge"),
                               ("ockam_hub_forwarders", "gauge"),
                               ("ockam_hub_storage_bytes", "gauge"),
                               ("ockam_hub_uptime_seconds", "gauge"),
                               ("ockam_hub_commit_latency_seconds", "histogram"),
                               ("ockam_stream_consumer_lag", "gauge")]:
                if name not in fams:
                    fail("/metrics has no %s" % name)
                if fams[name].type != kind:
                    fail("%s is a %s, not a %s" % (name, fams[name].type, kind))
            if before[("ockam_hub_pushes_total", ())] != 0:
                fail("pushes before any traffic")

            cons = traffic(pump, hub.addr)
            try:
                lag_key = ("ockam_stream_consumer_lag",
                           (("client", "reader-1"), ("stream", STREAM)))

                def moved():
                    _, s = scrape(hub.url)
                    ok = (s[("ockam_hub_pushes_total", ())] >= COUNT and
                          s[("ockam_hub_confirms_total", ())] >= COUNT and
                          s[("ockam_hub_pulled_messages_total", ())] >= COUNT and
                          s[("ockam_stream_messages", (("stream", STREAM),))] == COUNT and
                          s[("ockam_stream_next_index", (("stream", STREAM),))] == COUNT and
                          s.get(lag_key) == 0)
                    return s if ok else None
                after = wait_for("/metrics to show the traffic", moved)
                for key in ["ockam_hub_frames_received_total", "ockam_hub_frames_sent_total",
                            "ockam_hub_received_bytes_total", "ockam_hub_sent_bytes_total",
                            "ockam_hub_connections_accepted_total"]:
                    if not after[(key, ())] > before[(key, ())]:
                        fail("%s did not move with traffic" % key)
                if after[("ockam_hub_commit_latency_seconds_count", ())] < COUNT:
                    fail("commit latency histogram has fewer observations than confirms")
                inf = after[("ockam_hub_commit_latency_seconds_bucket", (("le", "+Inf"),))]
                if inf != after[("ockam_hub_commit_latency_seconds_count", ())]:
                    fail("+Inf bucket differs from the count")
                if after[("ockam_stream_bytes", (("stream", STREAM),))] <= 0:
                    fail("stream bytes not reported")

                status, body = get(hub.url + "/healthz")
                if status != 200 or body.strip() != "ok":
                    fail("/healthz: %d %r" % (status, body))
                status, body = get(hub.url + "/api/status")
                if status != 200:
                    fail("/api/status: %d" % status)
                doc = json.loads(body)
                names = {s["name"]: s for s in doc["stream_list"]["list"]}
                if names.get(STREAM, {}).get("messages") != COUNT:
                    fail("/api/status: %s" % names.get(STREAM))
                if doc["totals"]["pushes"] < COUNT or doc["connections"]["accepted"] < 1:
                    fail("/api/status totals: %s" % doc["totals"])
                status, _ = get(hub.url + "/nope")
                if status != 404:
                    fail("unknown path: %d" % status)
                status, page = get(hub.url + "/")
                if status != 200 or "<html" not in page or "http://" in page or "https://" in page:
                    fail("dashboard page: %d, or it names an external URL" % status)

                # The CLI over the status service.
                hs = ockam_json(ockam, "hub", "status", "--hub", hub.addr)
                if hs["totals"]["pushes"] < COUNT or hs["streams"]["count"] < 2:
                    fail("hub status: %s" % hs)
                for k in ["uptime_s", "connections", "forwarders", "streams", "rates",
                          "commit_latency"]:
                    if k not in hs:
                        fail("hub status has no %s" % k)
                ls = ockam_json(ockam, "stream", "ls", "--hub", hub.addr)
                by = {s["name"]: s for s in ls["streams"]}
                if STREAM not in by or BACK not in by or by[STREAM]["messages"] != COUNT:
                    fail("stream ls: %s" % ls)
                info = ockam_json(ockam, "stream", "info", STREAM, "--hub", hub.addr)
                if (info["messages"] != COUNT or info["first_index"] != 0 or
                        info["last_index"] != COUNT - 1 or info["bytes"] <= 0):
                    fail("stream info: %s" % info)
                cs = {c["client"]: c for c in info["consumers"]}
                if cs.get("reader-1", {}).get("lag") != 0 or cs["reader-1"]["index"] != COUNT:
                    fail("stream info consumers: %s" % info["consumers"])
                r = subprocess.run([ockam, "stream", "info", "no-such-stream", "--hub", hub.addr],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   timeout=60)
                if r.returncode != 1 or "not found" not in r.stderr:
                    fail("stream info of a missing stream: %d %r" % (r.returncode, r.stderr))
                for args in [["hub", "status"], ["stream", "ls"], ["stream", "info"]]:
                    r = subprocess.run([ockam, *args, "--help"], stdout=subprocess.PIPE,
                                       text=True, timeout=30)
                    if r.returncode != 0 or "usage: ockam " + " ".join(args) not in r.stdout:
                        fail("%s --help: %d %r" % (args, r.returncode, r.stdout))
                # Human-readable forms run too.
                for args in [["hub", "status"], ["stream", "ls"], ["stream", "info", STREAM]]:
                    r = subprocess.run([ockam, *args, "--hub", hub.addr], stdout=subprocess.PIPE,
                                       text=True, timeout=60)
                    if r.returncode != 0 or not r.stdout:
                        fail("ockam %s: %d" % (" ".join(args), r.returncode))
            finally:
                stop_proc(cons)
        finally:
            hub.stop()
    # With an ACL that gives anonymous clients the streams but not `admin =
    # status`, the status service refuses and the denial is counted.
    with tempfile.TemporaryDirectory() as tmp:
        acl = os.path.join(tmp, "hub.acl")
        with open(acl, "w") as f:
            f.write("[anonymous]\nstream = * all\n")
        hub = Hub(ockam, tmp, ["--acl", acl])
        try:
            r = subprocess.run([ockam, "hub", "status", "--hub", hub.addr], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=60)
            if r.returncode != 1 or "Permission denied" not in r.stderr:
                fail("hub status without the status right: %d %r" % (r.returncode, r.stderr))
            wait_for("the denial in /metrics",
                     lambda: scrape(hub.url)[1][("ockam_hub_denied_requests_total", ())] == 1)
        finally:
            hub.stop()
    # Unreachable hub: exit 1 quickly.
    r = subprocess.run([ockam, "hub", "status", "--hub", "127.0.0.1:%d" % free_port(),
                        "--timeout", "2s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 1:
        fail("hub status against no hub: %d" % r.returncode)
    print("metrics: ok")


def dashboard_test(ockam, pump, artifacts):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        fail("chromium is not installed (scripts/setup installs it)")
    os.makedirs(artifacts, exist_ok=True)
    shot = os.path.join(artifacts, "dashboard.png")
    if os.path.exists(shot):
        os.unlink(shot)
    with tempfile.TemporaryDirectory() as tmp:
        hub = Hub(ockam, tmp)
        try:
            cons = traffic(pump, hub.addr)
            try:
                def listed():
                    doc = json.loads(get(hub.url + "/api/status")[1])
                    st = {s["name"]: s for s in doc["stream_list"]["list"]}.get(STREAM)
                    return st and st["messages"] == COUNT and st["max_lag"] == 0
                wait_for("/api/status to show the stream", listed)
                profile = os.path.join(tmp, "chromium")
                r = subprocess.run(
                    [chromium, "--headless", "--disable-gpu", "--no-sandbox",
                     "--no-first-run", "--user-data-dir=" + profile, "--hide-scrollbars",
                     "--window-size=1360,1000", "--virtual-time-budget=4000",
                     "--dump-dom", "--screenshot=" + shot, hub.url + "/"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=240)
                dom = r.stdout
            finally:
                stop_proc(cons)
        finally:
            hub.stop()
    if r.returncode != 0:
        fail("chromium exited with %d: %s" % (r.returncode, r.stderr[-2000:]))
    # The streams table rows carry data-stream; their cells the counts.
    import html.parser

    class Rows(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cur, self.cell = {}, None, None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "tr" and "data-stream" in a:
                self.cur = a["data-stream"]
                self.rows[self.cur] = []
            elif tag == "td" and self.cur is not None:
                self.cell = ""

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

        def handle_endtag(self, tag):
            if tag == "td" and self.cur is not None and self.cell is not None:
                self.rows[self.cur].append(self.cell.strip())
                self.cell = None
            elif tag == "tr":
                self.cur = None

    p = Rows()
    p.feed(dom)
    if STREAM not in p.rows or BACK not in p.rows:
        fail("the rendered dashboard does not list the streams (got %s)" % list(p.rows))
    cells = p.rows[STREAM]
    # name, messages, bytes, first, last, push/s, pull/s, pushes, pulled, consumers, max lag
    if cells[0] != STREAM or cells[1] != str(COUNT) or cells[4] != str(COUNT - 1) or \
            cells[7] != str(COUNT) or cells[9] != "1":
        fail("dashboard row of %s: %s" % (STREAM, cells))
    if p.rows[BACK][1] != "0":
        fail("dashboard row of %s: %s" % (BACK, p.rows[BACK]))
    if 'class="state ok"' not in dom:
        fail("the dashboard did not reach /api/status")
    if "reader-1" not in dom:
        fail("the dashboard does not show the consumer")
    if not os.path.exists(shot) or os.path.getsize(shot) < 10000:
        fail("no screenshot at %s" % shot)
    print("dashboard: ok, screenshot " + shot)


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("metrics", "dashboard"):
        print(__doc__)
        sys.exit(2)
    mode, ockam, pump, artifacts = sys.argv[1:]
    (metrics_test if mode == "metrics" else dashboard_test)(ockam, pump, artifacts)


if __name__ == "__main__":
    main()
