#!/usr/bin/env python3
"""Load test of `p2p serve` on loopback (issue 26), bounded in request count and in time. bench/serve_load.sh
prepares a run, the input images and their expected outputs (`p2p translate --eval`); this file starts and
stops the servers and drives them:

  batching   for each --batch_wait_ms setting, a fresh server; for each client count N, N threads each send
             R requests over one keep-alive connection (http.client), the image drawn per request. Every
             200 reply must be byte for byte the expected output of ITS request; a reply that is another
             request's output counts as mixed up. Throughput, p50/p99 latency (client side, send to last
             byte), and the forward batch sizes read from GET /metrics before and after the phase.
  mixed      (default wait) images of two shapes at once: the batcher may only join equal shapes.
  overload   a server with a small --max_queue and many clients: statuses are 200 or 503 with Retry-After,
             nothing else, no connection errors; /healthz and a good translate still answer afterwards.
  stop       every server gets SIGTERM and must exit 0 within --stop_timeout_s.

Each phase has a deadline: clients send nothing after it and every socket has a timeout, so a hung server
shows up as timeouts in the results, never as a hung benchmark. Writes OUT/results.json and OUT/results.md
and prints the Markdown. Exit status 1 when a correctness check failed (mismatches, lost replies, wrong
statuses, connection errors, a server that did not stop cleanly).

Usage: serve_load.py --p2p build/p2p --serve_args '--name RUN --checkpoints_dir DIR --eval' \
         --inputs DIR --expected DIR --out OUT [--clients 1,4,8] [--requests 32] [--waits 0,5,20] ...
Standard library plus PIL and numpy only (/usr/bin/python3).
"""
import argparse
import http.client
import io
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from PIL import Image

HOST = "127.0.0.1"


# ---------------------------------------------------------------------------------------------- server
class Server:
    """One `p2p serve --port 0` process; the port comes from its `listening on http://HOST:PORT/` line."""

    def __init__(self, p2p, serve_args, extra, log_path, start_timeout_s):
        self.args = [p2p, "serve"] + serve_args + ["--port", "0"] + extra
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log)
        self.port = None
        self.stdout_lines = []
        found = threading.Event()

        def read_stdout():
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                self.stdout_lines.append(line)
                m = re.search(r"listening on http://[^:/]+:(\d+)/", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    found.set()
            found.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        if not found.wait(start_timeout_s) or self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("server did not print its port within %gs: %s (log %s)"
                               % (start_timeout_s, " ".join(self.args), log_path))

    def stop(self, timeout_s):
        """SIGTERM; returns (exit status or None when it had to be killed, seconds to exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.log.close()
        return rc, time.monotonic() - t0


def get(port, path, timeout_s=10.0):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        c.close()


def post_image(port, body, timeout_s=30.0):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        c.request("POST", "/v1/translate", body=body, headers={"Content-Type": "image/png"})
        r = c.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        c.close()


def metrics(port):
    """Counters of GET /metrics: batch-size histogram (cumulative buckets, sum, count), request outcomes."""
    status, body, _ = get(port, "/metrics")
    if status != 200:
        raise RuntimeError("GET /metrics: %d" % status)
    m = {"buckets": {}, "sum": 0.0, "count": 0, "requests": {}}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.rsplit(" ", 1)
        b = re.match(r'p2p_serve_batch_size_bucket\{le="([^"]+)"\}', name)
        r = re.match(r'p2p_serve_requests_total\{endpoint="([^"]+)",outcome="([^"]+)"\}', name)
        if b:
            m["buckets"][b.group(1)] = float(value)
        elif name == "p2p_serve_batch_size_sum":
            m["sum"] = float(value)
        elif name == "p2p_serve_batch_size_count":
            m["count"] = float(value)
        elif r:
            m["requests"]["%s/%s" % (r.group(1), r.group(2))] = float(value)
    return m


def metrics_delta(before, after):
    """Forwards and their sizes during a phase: per-bucket counts (bounds as the server's: le=1,2,3,4,6,8 ...)."""
    bounds = sorted((k for k in after["buckets"] if k != "+Inf"), key=float) + ["+Inf"]
    hist, prev_le, prev_cum = {}, None, 0.0
    for le in bounds:
        cum = after["buckets"].get(le, 0.0) - before["buckets"].get(le, 0.0)
        n = cum - prev_cum
        if n > 0:
            lo = 1 if prev_le is None else int(float(prev_le)) + 1
            label = le if le == "+Inf" or lo == int(float(le)) else "%d-%s" % (lo, le)
            hist[label] = int(round(n))
        prev_le, prev_cum = le, cum
    forwards = after["count"] - before["count"]
    images = after["sum"] - before["sum"]
    reqs = {k: int(round(v - before["requests"].get(k, 0.0))) for k, v in after["requests"].items()
            if v - before["requests"].get(k, 0.0) > 0}
    return {"forwards": int(round(forwards)), "images": int(round(images)),
            "mean_batch": images / forwards if forwards else None, "batch_hist": hist, "requests": reqs}


# ---------------------------------------------------------------------------------------------- clients
class Images:
    """The K inputs (PNG bytes) and their expected outputs (bytes and decoded pixels)."""

    def __init__(self, inputs_dir, expected_dir, names):
        self.names = names
        self.body = [open(os.path.join(inputs_dir, n), "rb").read() for n in names]
        self.expected = [open(os.path.join(expected_dir, os.path.splitext(n)[0] + ".png"), "rb").read() for n in names]
        self.by_bytes = {e: i for i, e in enumerate(self.expected)}
        if len(self.by_bytes) != len(names):
            raise RuntimeError("two expected outputs are identical: the mixed-up check needs distinct outputs")

    def classify(self, i, reply):
        """'ok', 'mixed' (the reply is another request's output) or 'differs' (+ max pixel difference)."""
        if reply == self.expected[i]:
            return "ok", 0
        if reply in self.by_bytes:
            return "mixed", None
        try:
            a = np.asarray(Image.open(io.BytesIO(reply)), dtype=np.int32)
            b = np.asarray(Image.open(io.BytesIO(self.expected[i])), dtype=np.int32)
            return "differs", int(np.abs(a - b).max()) if a.shape == b.shape else "shape %s" % (a.shape,)
        except Exception as e:  # noqa: BLE001 - an undecodable reply is recorded, not fatal
            return "differs", "undecodable: %s" % e


def run_clients(port, images, pick, n_clients, n_requests, deadline_s, socket_timeout_s, seed):
    """n_clients threads, each sending n_requests POSTs on one keep-alive connection (reconnecting after a
    connection error). pick(rng) -> image index. Nothing is sent after the deadline."""
    results = [[] for _ in range(n_clients)]
    start = threading.Barrier(n_clients + 1)
    t_end = [None]

    def client(k):
        rng = random.Random(seed * 1000 + k)
        conn = http.client.HTTPConnection(HOST, port, timeout=socket_timeout_s)
        start.wait()
        for _ in range(n_requests):
            if time.monotonic() > t_end[0]:
                results[k].append({"status": "not_sent"})
                continue
            i = pick(rng)
            t0 = time.monotonic()
            rec = {"image": i}
            try:
                conn.request("POST", "/v1/translate", body=images.body[i], headers={"Content-Type": "image/png"})
                r = conn.getresponse()
                body = r.read()
                rec["s"] = time.monotonic() - t0
                rec["status"] = r.status
                if r.status == 200:
                    rec["check"], rec["maxdiff"] = images.classify(i, body)
                    rec["content_type"] = r.getheader("Content-Type")
                    rec["server_ms"] = r.getheader("X-P2P-Milliseconds")
                elif r.status == 503:
                    rec["retry_after"] = r.getheader("Retry-After")
                    try:
                        rec["json_error"] = "error" in json.loads(body)
                    except ValueError:
                        rec["json_error"] = False
                else:
                    rec["body"] = body[:200].decode(errors="replace")
                if (r.getheader("Connection") or "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as e:  # socket.timeout is an OSError
                rec["s"] = time.monotonic() - t0
                rec["status"] = "timeout" if "timed out" in str(e) else "conn_error"
                rec["error"] = "%s: %s" % (type(e).__name__, e)
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=socket_timeout_s)
            results[k].append(rec)
        conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(n_clients)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    t_end[0] = t0 + deadline_s
    start.wait()
    for t in threads:
        t.join(max(0.0, t_end[0] + socket_timeout_s + 5 - time.monotonic()))
    wall = time.monotonic() - t0
    hung = sum(t.is_alive() for t in threads)
    return [r for rs in results for r in rs], wall, hung


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(np.ceil(q / 100.0 * len(xs))) - 1))]


def summarize(recs, wall, hung, sent_planned):
    by = {}
    for r in recs:
        by[str(r["status"])] = by.get(str(r["status"]), 0) + 1
    ok = [r for r in recs if r["status"] == 200]
    lat = [r["s"] for r in ok]
    checks = {}
    for r in ok:
        checks[r["check"]] = checks.get(r["check"], 0) + 1
    diffs = sorted({str(r["maxdiff"]) for r in ok if r["check"] == "differs"})
    s503 = [r for r in recs if r["status"] == 503]
    errors = sorted({r["error"] for r in recs if "error" in r})[:5]
    others = sorted({"%s %s" % (r["status"], r.get("body", "")) for r in recs
                     if r["status"] not in (200, 503, "not_sent", "conn_error", "timeout")})[:5]
    return {
        "planned": sent_planned, "statuses": by, "ok": len(ok), "wall_s": round(wall, 3),
        "req_per_s": round(len(ok) / wall, 2) if wall > 0 else None,
        "p50_ms": round(1000 * pct(lat, 50), 1) if lat else None,
        "p99_ms": round(1000 * pct(lat, 99), 1) if lat else None,
        "max_ms": round(1000 * max(lat), 1) if lat else None,
        "matches": checks.get("ok", 0), "mixed_up": checks.get("mixed", 0), "differs": checks.get("differs", 0),
        "differs_maxdiff": diffs, "not_png": sum(r.get("content_type") != "image/png" for r in ok),
        "s503": len(s503), "s503_without_retry_after": sum(not r.get("retry_after") for r in s503),
        "s503_without_json": sum(not r.get("json_error") for r in s503),
        "conn_errors": by.get("conn_error", 0), "timeouts": by.get("timeout", 0), "not_sent": by.get("not_sent", 0),
        "other_statuses": sum(r["status"] not in (200, 503, "not_sent", "conn_error", "timeout") for r in recs),
        "hung_clients": hung, "error_samples": errors, "other_status_samples": others,
    }


def listen_overflows():
    """The kernel's count of connections dropped because a listen queue was full (all sockets of the machine:
    /proc/net/netstat TcpExt ListenOverflows); None where unreadable."""
    try:
        lines = [l.split() for l in open("/proc/net/netstat") if l.startswith("TcpExt:")]
        return int(dict(zip(lines[0][1:], lines[1][1:]))["ListenOverflows"])
    except (OSError, IndexError, KeyError, ValueError):
        return None


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[:3]
    except OSError:
        return None


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "uname": " ".join(os.uname()[::2]), "loadavg_start": loadavg()}


# ---------------------------------------------------------------------------------------------- phases
def phase(port, images, pick, n, r, deadline_s, sock_s, seed):
    # The server counts a request after its reply is sent: let the counters settle before reading them.
    time.sleep(0.3)
    before = metrics(port)
    la, lo = loadavg(), listen_overflows()
    recs, wall, hung = run_clients(port, images, pick, n, r, deadline_s, sock_s, seed)
    lo2 = listen_overflows()
    time.sleep(0.3)
    after = metrics(port)
    s = summarize(recs, wall, hung, n * r)
    s.update(metrics_delta(before, after))
    s["clients"], s["requests_each"], s["loadavg_before"], s["loadavg_after"] = n, r, la, loadavg()
    s["listen_overflows"] = None if lo is None or lo2 is None else lo2 - lo
    # Nothing lost: every 200 the clients saw is a translate the server counted as ok, and vice versa.
    s["server_ok"] = s["requests"].get("translate/ok", 0)
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--p2p", default="build/p2p")
    ap.add_argument("--serve_args", required=True, help="the model flags of `p2p serve` (a shell-quoted string)")
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", default="", help="names the model in the tables")
    ap.add_argument("--clients", default="1,4,8")
    ap.add_argument("--requests", type=int, default=32, help="requests per client in the batching phases")
    ap.add_argument("--waits", default="0,5,20", help="--batch_wait_ms settings, one server each")
    ap.add_argument("--overload_clients", type=int, default=32)
    ap.add_argument("--overload_requests", type=int, default=10)
    ap.add_argument("--overload_max_queue", type=int, default=2)
    ap.add_argument("--overload_rounds", type=int, default=5, help="bursts of --overload_clients new connections")
    ap.add_argument("--phase_timeout_s", type=float, default=60.0, help="no request is sent after this")
    ap.add_argument("--socket_timeout_s", type=float, default=60.0)
    ap.add_argument("--start_timeout_s", type=float, default=60.0)
    ap.add_argument("--stop_timeout_s", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    serve_args = shlex.split(a.serve_args)

    names = sorted(f for f in os.listdir(a.inputs) if f.endswith(".png"))
    square = [n for n in names if not n.startswith("wide")]
    images = Images(a.inputs, a.expected, names)
    sq_idx = [names.index(n) for n in square]
    pick_square = lambda rng: rng.choice(sq_idx)  # noqa: E731
    pick_any = lambda rng: rng.randrange(len(names))  # noqa: E731
    res = {"machine": machine(), "model": a.label, "serve_args": a.serve_args, "images": names,
           "settings": vars(a), "batching": [], "servers": []}
    failures = []
    t_script = time.monotonic()

    def stop(server, what):
        rc, secs = server.stop(a.stop_timeout_s)
        res["servers"].append({"server": what, "sigterm_exit": rc, "stop_s": round(secs, 2)})
        if rc != 0:
            failures.append("%s: exit %s after SIGTERM" % (what, rc))

    def check(s, what, overload=False):
        bad = {k: s[k] for k in ("mixed_up", "differs", "not_png", "conn_errors", "timeouts", "hung_clients",
                                 "s503_without_retry_after", "s503_without_json") if s[k]}
        if s["ok"] != s["server_ok"]:
            bad["client_200_vs_server_ok"] = (s["ok"], s["server_ok"])
        if not overload and s["s503"]:
            bad["s503_below_capacity"] = s["s503"]
        if s["other_statuses"]:
            bad["other_statuses"] = (s["other_statuses"], s["other_status_samples"])
        if s["not_sent"]:
            bad["not_sent_before_deadline"] = s["not_sent"]
        if bad:
            failures.append("%s: %s" % (what, bad))

    # (1) batching: below capacity (clients <= --max_queue's default 16)
    clients = [int(c) for c in a.clients.split(",")]
    for w in [int(x) for x in a.waits.split(",")]:
        srv = Server(a.p2p, serve_args, ["--batch_wait_ms", str(w)], os.path.join(a.out, "serve_wait%d.log" % w),
                     a.start_timeout_s)
        try:
            for i in range(len(sq_idx)):  # warm-up, and one sequential pass over every image
                st, body, _ = post_image(srv.port, images.body[sq_idx[i]], a.socket_timeout_s)
                if st != 200 or images.classify(sq_idx[i], body)[0] != "ok":
                    failures.append("wait %d warm-up %s: status %d / %s" % (w, names[sq_idx[i]], st,
                                                                          images.classify(sq_idx[i], body)))
            for n in clients:
                s = phase(srv.port, images, pick_square, n, a.requests, a.phase_timeout_s, a.socket_timeout_s,
                          a.seed + w * 100 + n)
                s["batch_wait_ms"] = w
                res["batching"].append(s)
                check(s, "batching wait %d clients %d" % (w, n))
                print("wait %2d ms, %2d clients: %s req/s p50 %s ms p99 %s ms mean batch %s  (%s)" % (
                    w, n, s["req_per_s"], s["p50_ms"], s["p99_ms"],
                    None if s["mean_batch"] is None else round(s["mean_batch"], 2), s["statuses"]), flush=True)
            if w == 5 and len(names) > len(square):  # two shapes at once (the default wait)
                n = max(clients)
                s = phase(srv.port, images, pick_any, n, a.requests, a.phase_timeout_s, a.socket_timeout_s, a.seed + 7)
                s["batch_wait_ms"] = w
                res["mixed"] = s
                check(s, "mixed shapes")
                print("mixed shapes, %d clients: %s (%d mixed up, %d differ)" % (n, s["statuses"], s["mixed_up"],
                                                                               s["differs"]), flush=True)
        finally:
            stop(srv, "batch_wait_ms %d" % w)

    # (2) overload: small --max_queue, many clients; each round opens its connections at once (a burst)
    srv = Server(a.p2p, serve_args, ["--max_queue", str(a.overload_max_queue)], os.path.join(a.out, "serve_overload.log"),
                 a.start_timeout_s)
    res["overload"] = []
    try:
        post_image(srv.port, images.body[sq_idx[0]], a.socket_timeout_s)  # warm-up
        for k in range(a.overload_rounds):
            s = phase(srv.port, images, pick_square, a.overload_clients, a.overload_requests, a.phase_timeout_s,
                      a.socket_timeout_s, a.seed + 99 + k)
            s["max_queue"], s["round"] = a.overload_max_queue, k + 1
            check(s, "overload round %d" % (k + 1), overload=True)
            res["overload"].append(s)
            print("overload round %d, %d clients, --max_queue %d: %s in %.1fs (listen overflows %s)" % (
                k + 1, a.overload_clients, a.overload_max_queue, s["statuses"], s["wall_s"], s["listen_overflows"]),
                flush=True)
        if not sum(s["s503"] for s in res["overload"]):
            failures.append("overload: no 503 (raise --overload_clients)")
        st, _, _ = get(srv.port, "/healthz")
        st2, body2, _ = post_image(srv.port, images.body[sq_idx[1 % len(sq_idx)]], a.socket_timeout_s)
        good = st2 == 200 and images.classify(sq_idx[1 % len(sq_idx)], body2)[0] == "ok"
        res["after_overload"] = {"healthz": st, "translate": st2, "translate_matches": good}
        if st != 200 or not good:
            failures.append("overload: afterwards /healthz %d, translate %d (matches: %s)" % (st, st2, good))
        print("after overload: /healthz %d, translate %d (matches: %s)" % (st, st2, good), flush=True)
    finally:
        stop(srv, "overload (--max_queue %d)" % a.overload_max_queue)

    res["machine"]["loadavg_end"] = loadavg()
    res["script_s"] = round(time.monotonic() - t_script, 1)
    res["failures"] = failures
    md = markdown(res)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(md)
    print(md)
    return 1 if failures else 0


def markdown(res):
    m = res["machine"]
    la = lambda x: "/".join(x) if x else "?"  # noqa: E731
    out = ["### %s" % (res["model"] or "model"), "",
           "machine: %s, %d CPUs; load average (1/5/15 min) at start %s, at end %s; `p2p serve %s`; "
           "the clients run on the same cores" % (m["cpu"], m["cpus"], la(m["loadavg_start"]),
                                                  la(m.get("loadavg_end")), res["serve_args"]), "",
           "| --batch_wait_ms | clients | requests | req/s | p50 ms | p99 ms | forwards | mean batch | batch sizes "
           "| matches | mixed up | 503 | errors | listen overflows | load avg |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in res["batching"]:
        out.append("| %d | %d | %d | %s | %s | %s | %d | %s | %s | %d/%d | %d | %d | %d | %s | %s |" % (
            s["batch_wait_ms"], s["clients"], s["planned"], s["req_per_s"], s["p50_ms"], s["p99_ms"], s["forwards"],
            "%.2f" % s["mean_batch"] if s["mean_batch"] else "-",
            " ".join("%s:%d" % kv for kv in s["batch_hist"].items()), s["matches"], s["ok"], s["mixed_up"],
            s["s503"], s["conn_errors"] + s["timeouts"], s["listen_overflows"], la(s["loadavg_before"])))
    if "mixed" in res:
        s = res["mixed"]
        out += ["", "Two shapes at once (square and wide inputs, --batch_wait_ms 5, %d clients x %d): %d of %d "
                "replies match their own request, %d mixed up, %d differ; %d forwards, mean batch %.2f (%s)."
                % (s["clients"], s["requests_each"], s["matches"], s["ok"], s["mixed_up"], s["differs"],
                   s["forwards"], s["mean_batch"] or 0, " ".join("%s:%d" % kv for kv in s["batch_hist"].items()))]
    if res.get("overload"):
        out += ["", "| overload round | clients x requests | 200 | 503 (with Retry-After) | other statuses | connection "
                "errors / timeouts | listen overflows | wall s | 200s p50 / p99 ms | matches |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for s in res["overload"]:
            out.append("| %d (--max_queue %d) | %d x %d | %d | %d (%d) | %d | %d / %d | %s | %.1f | %s / %s | %d/%d |" % (
                s["round"], s["max_queue"], s["clients"], s["requests_each"], s["ok"], s["s503"],
                s["s503"] - s["s503_without_retry_after"], s["other_statuses"], s["conn_errors"], s["timeouts"],
                s["listen_overflows"], s["wall_s"], s["p50_ms"], s["p99_ms"], s["matches"], s["ok"]))
        errs = sorted({e for s in res["overload"] for e in s["error_samples"]})
        if errs:
            out += ["", "Connection errors seen: " + "; ".join(errs) + "."]
    if "after_overload" in res:
        v = res["after_overload"]
        out += ["", "After the overload: GET /healthz %d, POST /v1/translate %d (%s)." % (
            v["healthz"], v["translate"], "matches its expected output" if v["translate_matches"] else "WRONG")]
    out += ["", "Listen overflows: the kernel's count (all of the machine's sockets, /proc/net/netstat) of "
            "connections dropped during the phase because a listen queue was full."]
    out += ["", "SIGTERM: " + ", ".join("%s -> exit %s in %.1f s" % (v["server"], v["sigterm_exit"], v["stop_s"])
                                      for v in res["servers"]) + ".",
            "", "Checks: " + ("all passed" if not res["failures"] else "FAILED: " + "; ".join(res["failures"])) +
            " (%.0f s)." % res["script_s"], ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
