#!/usr/bin/env python3
"""Drives the `p2p serve` page (GET /) in headless Chromium through its own controls and checks what it shows.

  page_check.py --url http://127.0.0.1:PORT/?token=T --token T [--screenshot PATH [--full-page]]
                [--width 1024 --height 768] [--timeout 50]

Chromium is driven over the DevTools protocol (Debian's python3-websocket). Through the page's controls
(mouse events at element centres, never by calling the page's functions) it picks a swatch and a brush size,
draws strokes on the canvas, presses undo, draws again, erases, and uploads an image file; then it checks:
  (a) the reply the page last received (intercepted with the DevTools Fetch domain) is byte for byte the
      server's reply to the canvas PNG POSTed here directly with the Bearer token, and the output <img> shows
      exactly its pixels (so the page sent the canvas, the token, and the last change after the debounce).
      The page's CSP (connect-src 'self') blocks fetch(output.src), hence interception plus pixels;
  (b) the canvas holds the swatch colour exactly at a stroke point, strokes are exactly the chosen brush wide,
      and with a palette the canvas holds only palette colours (no antialiased edges);
  (c) undo removed the last stroke (its pixels are background again) and only that stroke;
  (d) the eraser paints the background colour; an uploaded image of the canvas size lands on the canvas
      unchanged and is translated; Ctrl+Z undoes the upload;
  (e) requests: never two translations in flight at once, every API call carries the Bearer token, changes
      made while a request runs (the network is slowed to make sure of it) are sent when it returns, and
      the debounce keeps the requests few (well under one per pointer move).
Prints one JSON line ({"ok": true, ...} or {"ok": false, "error": ...}); exit 0 only on success. Everything is
bounded by --timeout seconds (default 50); Chromium is always killed.
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

import websocket


class CheckError(Exception):
    pass


# ---- PNG (stdlib only: 8-bit RGB/RGBA/grey, non-interlaced, as browsers and the server write them) ----------
def png_decode(data):
    """Returns (width, height, channels, bytes) of an 8-bit non-interlaced PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise CheckError("not a PNG (first bytes %r)" % data[:8])
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise CheckError("PNG with bit depth %d, colour type %d, interlace %d: not decoded here" % (depth, ctype, interlace))
    raw, stride = zlib.decompress(idat), w * channels
    out, prev = bytearray(), bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += line
        prev = line
    return w, h, channels, bytes(out)


def png_encode_rgb(w, h, rgb):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + rgb[y * w * 3:(y + 1) * w * 3] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Image:
    def __init__(self, png):
        self.w, self.h, self.ch, self.px = png_decode(png)

    def rgb(self, x, y):
        o = (y * self.w + x) * self.ch
        return tuple(self.px[o:o + 3]) if self.ch >= 3 else (self.px[o],) * 3

    def colours(self):
        return {self.rgb(x, y) for y in range(self.h) for x in range(self.w)}


# ---- DevTools ---------------------------------------------------------------------------------------------
class Browser:
    def __init__(self, deadline, width, height):
        self.deadline = deadline
        self.profile = tempfile.mkdtemp(prefix="p2p-page-check-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        exe = os.environ.get("P2P_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            raise CheckError("chromium not found (scripts/setup.sh installs it; or set P2P_CHROMIUM)")
        self.log = open(self.log_path, "wb")
        # Own process group: Chromium's helpers (zygote, renderer) go down with it.
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
             "--user-data-dir=" + self.profile, "--no-first-run", "--disable-dev-shm-usage",
             "--disable-background-timer-throttling", "--window-size=%d,%d" % (width, height), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)
        self.ws, self.next_id, self.session, self.events = None, 0, None, []
        # Replies to /v1/translate, taken at the Fetch domain's response stage before the page gets them:
        # [(network request id, body bytes)], and the body requests under way {call id: (network id, pause id)}.
        self.replies, self.body_calls = [], {}

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CheckError("timed out (whole check bound by --timeout)")
        return left

    def connect(self):
        url = None
        while url is None:
            self.remaining()
            with open(self.log_path, "rb") as f:
                m = re.search(rb"DevTools listening on (ws://\S+)", f.read())
            if m:
                url = m.group(1).decode()
            elif self.proc.poll() is not None:
                raise CheckError("chromium exited with %s before DevTools listened: %s" % (self.proc.returncode, self.tail()))
            else:
                time.sleep(0.05)
        self.ws = websocket.create_connection(url, timeout=min(10, self.remaining()), suppress_origin=True)
        targets = self.call("Target.getTargets")["targetInfos"]
        pages = [t for t in targets if t["type"] == "page"]
        target = pages[0]["targetId"] if pages else self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-600:].decode(errors="replace")

    def send(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        return self.next_id

    def call(self, method, session=None, wait=10.0, **params):
        want = self.send(method, session, **params)
        while True:
            self.ws.settimeout(max(0.1, min(wait, self.remaining())))
            try:
                reply = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                raise CheckError("DevTools did not answer %s" % method)
            if "method" in reply:
                self.events.append(reply)
                if reply["method"] == "Fetch.requestPaused":  # a reply held for us: read its body, then let it go
                    p = reply["params"]
                    k = self.send("Fetch.getResponseBody", reply.get("sessionId"), requestId=p["requestId"])
                    self.body_calls[k] = (p.get("networkId"), p["requestId"], reply.get("sessionId"))
            elif reply.get("id") in self.body_calls:
                network_id, pause_id, sid = self.body_calls.pop(reply["id"])
                r = reply.get("result", {})
                body = base64.b64decode(r.get("body", "")) if r.get("base64Encoded") else r.get("body", "").encode()
                self.replies.append((network_id, body))
                self.send("Fetch.continueRequest", sid, requestId=pause_id)
            elif reply.get("id") == want:
                if "error" in reply:
                    raise CheckError("%s: %s" % (method, reply["error"].get("message")))
                return reply.get("result", {})

    def page(self, method, wait=10.0, **params):
        return self.call(method, session=self.session, wait=wait, **params)

    def eval(self, expr, await_promise=False, wait=10.0):
        r = self.page("Runtime.evaluate", wait=wait, expression=expr, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CheckError("page script failed: %s" % (d.get("exception", {}).get("description") or d.get("text")))
        return r["result"].get("value")

    def wait_for(self, expr, what, timeout=15.0):
        end = time.monotonic() + timeout
        while True:
            v = self.eval(expr)
            if v:
                return v
            if time.monotonic() > end:
                raise CheckError("waited %.0f s for %s; page state %s, status line %r" % (
                    timeout, what, self.eval("document.body.dataset.state"), self.status()))
            self.remaining()
            time.sleep(0.05)

    def capture(self, after_seq, what, timeout=15.0):
        """Waits inside the page until it is "ready" with an output newer than `after_seq`, then, in that same task
        (a page that says "ready" too early is caught), takes the canvas PNG and the pixels the output <img>
        shows. Also returns the body of the page's last /v1/translate reply, as intercepted. Returns
        (seq, canvas PNG bytes, (width, height, RGBA bytes) shown, reply bytes). The server's page CSP
        (connect-src 'self') rules out fetch(output.src), so the shown image is read by drawing it."""
        r = self.eval("""(async () => {
            const out = document.getElementById('output'), end = performance.now() + %d;
            while (!(document.body.dataset.state === 'ready' && Number(out.dataset.seq) > %d)) {
              if (performance.now() > end) return null;
              await new Promise((r) => setTimeout(r, 5));
            }
            const canvas = document.getElementById('canvas').toDataURL('image/png');
            const c = document.createElement('canvas');
            c.width = out.naturalWidth; c.height = out.naturalHeight;
            const g = c.getContext('2d');
            g.drawImage(out, 0, 0);
            const px = g.getImageData(0, 0, c.width, c.height).data;
            let s = '';
            for (let i = 0; i < px.length; i += 0x8000) s += String.fromCharCode(...px.subarray(i, i + 0x8000));
            return [Number(out.dataset.seq), canvas.split(',', 2)[1], c.width, c.height, btoa(s)]; })()""" % (
            timeout * 1000, after_seq), await_promise=True, wait=timeout + 5)
        if r is None:
            raise CheckError("waited %.0f s for %s; page state %s, status line %r" % (
                timeout, what, self.eval("document.body.dataset.state"), self.status()))
        if not self.replies:
            raise CheckError("no /v1/translate reply seen by the page")
        return r[0], base64.b64decode(r[1]), (r[2], r[3], base64.b64decode(r[4])), self.replies[-1][1]


    def status(self):
        return self.eval("(document.getElementById('status') || {}).textContent || ''")

    def mouse(self, kind, x, y, buttons):
        self.page("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left" if kind != "mouseMoved" or buttons else "none",
                  buttons=buttons, clickCount=1 if kind != "mouseMoved" else 0, pointerType="mouse")

    def centre(self, selector):
        r = self.eval("""(() => { const e = document.querySelector(%s); if (!e) return null;
            e.scrollIntoView({block: 'center', inline: 'center'}); const r = e.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; })()""" % json.dumps(selector))
        if not r or r[2] <= 0 or r[3] <= 0:
            raise CheckError("no visible element %s on the page" % selector)
        return r[0], r[1]

    def click(self, selector):
        x, y = self.centre(selector)
        self.mouse("mouseMoved", x, y, 0)
        self.mouse("mousePressed", x, y, 1)
        self.mouse("mouseReleased", x, y, 0)

    def close(self):
        try:
            if self.ws:
                self.ws.close()
        except Exception:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# ---- the check ----------------------------------------------------------------------------------------------
SLOW_MS = 8000        # emulated network latency while strokes 3-5 are drawn (lifted as soon as they are done)
DEBOUNCE_S = 0.25     # the page's debounce
MAX_TRANSLATIONS = 10  # the page's translate requests in the whole check (about 5 expected; no debounce: dozens)



def check_shown(shown, reply, api_png, when):
    """(a) The page's last reply is byte for byte the API's reply to the canvas, and the <img> shows its pixels."""
    if reply != api_png:
        raise CheckError("%s: the page's last reply (%d bytes) differs from the API's %d-byte reply to the canvas PNG "
                         "(the last change was not sent, or not the canvas)" % (when, len(reply), len(api_png)))
    want = Image(api_png)
    w, h, rgba = shown
    if (w, h) != (want.w, want.h):
        raise CheckError("%s: the page shows a %dx%d image; the reply is %dx%d" % (when, w, h, want.w, want.h))
    for y in range(h):
        for x in range(w):
            o = (y * w + x) * 4
            if tuple(rgba[o:o + 3]) != want.rgb(x, y):
                raise CheckError("%s: the shown output differs from the reply at (%d, %d): %s vs %s" % (
                    when, x, y, tuple(rgba[o:o + 3]), want.rgb(x, y)))
    return want


def check_requests(events, token):
    """(e) from the DevTools Network events: at most one translation in flight, the token on every API call."""
    open_ids, most, translations, api_calls = set(), 0, 0, 0
    for e in events:
        p = e.get("params", {})
        if e["method"] == "Network.requestWillBeSent":
            url = urllib.parse.urlsplit(p["request"]["url"])
            if not url.path.startswith("/v1/"):
                continue
            api_calls += 1
            auth = {k.lower(): v for k, v in p["request"].get("headers", {}).items()}.get("authorization")
            if token and auth != "Bearer " + token:
                raise CheckError("the page called %s with Authorization %r, expected the Bearer token" % (url.path, auth))
            if url.path == "/v1/translate":
                translations += 1
                open_ids.add(p["requestId"])
                most = max(most, len(open_ids))
        elif e["method"] in ("Network.loadingFinished", "Network.loadingFailed"):
            open_ids.discard(p.get("requestId"))
    if most > 1:
        raise CheckError("%d translation requests were in flight at once; the page must wait for the last reply" % most)
    if not 3 <= translations <= MAX_TRANSLATIONS:
        raise CheckError("the page sent %d translation requests; expected 3..%d (debounced)" % (translations, MAX_TRANSLATIONS))
    return {"translations": translations, "api_calls": api_calls}


def http(url, token, data=None, ctype=None):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        raise CheckError("%s %s -> %d: %s" % (req.get_method(), url, e.code, e.read()[:300].decode(errors="replace")))


def run(args, summary):
    start = time.monotonic()
    u = urllib.parse.urlsplit(args.url)
    base = "%s://%s" % (u.scheme, u.netloc)
    b = Browser(start + args.timeout, args.width, args.height)
    try:
        b.connect()
        b.page("Emulation.setDeviceMetricsOverride", width=args.width, height=args.height, deviceScaleFactor=1,
               mobile=args.width < 600)
        b.page("Page.enable")
        b.page("Network.enable")
        b.page("Fetch.enable", patterns=[{"urlPattern": "*/v1/translate*", "requestStage": "Response"}])
        b.page("Page.navigate", url=args.url)
        # The first output on load, or an error the page reports.
        state = b.wait_for("(() => { const s = document.body && document.body.dataset.state;"
                           " if (document.readyState === 'complete' && !document.getElementById('canvas')) return 'other';"
                           " return (s === 'ready' || s === 'error') && s; })()", "the first output", 20)
        if state == "other":
            raise CheckError("%s is not the serving page: %r" % (
                summary["url"], b.eval("document.body ? document.body.innerText.slice(0, 200) : ''")))
        if state != "ready":
            raise CheckError("page reported an error on load: %r" % b.status())

        model = b.eval("(document.getElementById('model') && document.getElementById('model').value) || ''")
        q = "?model=" + urllib.parse.quote(model) if model else ""
        info = json.loads(http(base + "/v1/model" + q, args.token)[0])
        size = int(info.get("crop_size") or 256)
        W, H = b.eval("[document.getElementById('canvas').width, document.getElementById('canvas').height]")
        if (W, H) != (size, size):
            raise CheckError("canvas is %dx%d; /v1/model's crop_size is %d" % (W, H, size))
        shown = b.eval("document.getElementById('info').textContent")
        if info["name"] not in shown or str(info.get("netG", "")) not in shown:
            raise CheckError("model line %r does not show the name %r and netG %r" % (shown, info["name"], info.get("netG")))
        summary.update(model=info["name"], canvas=[W, H])

        classes = (info.get("palette") or {}).get("classes") or []
        palette = {tuple(c["color"]) for c in classes}
        if classes:
            bg_class = next((c for c in classes if c["name"].lower() == "background"), classes[0])
            bg = tuple(bg_class["color"])
            others = [c for c in classes if tuple(c["color"]) != bg]
            if len(others) < 2:
                raise CheckError("the palette needs at least 3 classes for this check")
            a, c = others[len(others) // 2], others[-1]
            colour_a, colour_c = tuple(a["color"]), tuple(c["color"])
            summary.update(palette=(info.get("palette") or {}).get("name"), swatches=[a["name"], c["name"]])

            def pick(colour):
                b.click('.swatch[data-color="%s"]' % ",".join(map(str, colour)))
        else:
            bg, colour_a, colour_c = (0, 0, 0), (255, 128, 0), (32, 192, 64)

            def pick(colour):  # a native colour dialog cannot be clicked: set the input and fire its event
                b.eval("""(() => { const i = document.getElementById('color'); i.value = '#%02x%02x%02x';
                          i.dispatchEvent(new Event('input', {bubbles: true})); })()""" % colour)

        def canvas_px(x, y):
            return tuple(b.eval("Array.from(document.getElementById('canvas').getContext('2d')"
                                ".getImageData(%d, %d, 1, 1).data.slice(0, 3))" % (x, y)))

        if canvas_px(W // 2, H // 2) != bg:
            raise CheckError("the canvas does not start with the background colour %s" % (bg,))

        sizes = [int(s) for s in b.eval("Array.from(document.querySelectorAll('#brush [data-size]'))"
                                        ".map(e => e.dataset.size)")]
        if not sizes:
            raise CheckError("no brush size buttons (#brush [data-size])")
        brush = max([s for s in sizes if 1 < s <= max(2, W // 8)] or [max(sizes)])
        b.click('#brush [data-size="%d"]' % brush)
        summary["brush"] = brush

        def stroke(points, pace=0.0):
            """Drags through canvas pixel centres (x, y) with the left button down, `pace` s between moves.
            Returns the longest gap between two mouse events, in seconds."""
            b.centre("#canvas")
            left, top, cw, ch = b.eval("(() => { const r = document.getElementById('canvas').getBoundingClientRect();"
                                       " return [r.left, r.top, r.width, r.height]; })()")
            css = [(left + (x + 0.5) * cw / W, top + (y + 0.5) * ch / H) for x, y in points]
            b.mouse("mouseMoved", css[0][0], css[0][1], 0)
            b.mouse("mousePressed", css[0][0], css[0][1], 1)
            last, gap = time.monotonic(), 0.0
            for (x0, y0), (x1, y1) in zip(css, css[1:]):
                for k in range(1, 5):  # several moves per segment
                    time.sleep(pace)
                    b.mouse("mouseMoved", x0 + (x1 - x0) * k / 4, y0 + (y1 - y0) * k / 4, 1)
                    now = time.monotonic()
                    gap, last = max(gap, now - last), now
            b.mouse("mouseReleased", css[-1][0], css[-1][1], 0)
            return max(gap, time.monotonic() - last)

        def translations_sent():
            return sum(1 for e in b.events if e["method"] == "Network.requestWillBeSent" and
                       urllib.parse.urlsplit(e["params"]["request"]["url"]).path == "/v1/translate")

        px = lambda f: int(f * W)
        py = lambda f: int(f * H)
        r1, r2, r3 = py(0.2), py(0.5), py(0.8)
        pick(colour_a)
        # Stroke 1 is drawn slowly (~0.5 s, a change every ~40 ms): debounced, nothing is sent while it lasts.
        sent = translations_sent()
        gap = stroke([(px(0.15), r1), (px(0.5), r1), (px(0.85), r1)], pace=0.04)
        during = translations_sent() - sent
        if during and gap < DEBOUNCE_S * 0.8:
            raise CheckError("the page sent %d translation requests while a stroke was drawn with pauses of at most "
                             "%.0f ms; changes must be debounced (~%d ms after the last)" % (during, gap * 1000, DEBOUNCE_S * 1000))
        summary["debounce_checked"] = gap < DEBOUNCE_S * 0.8
        stroke([(px(0.15), r2), (px(0.85), r2)])
        # Strokes 3-5 are drawn while the translation of strokes 1-2 is held up by an emulated latency, and the
        # latency is lifted only after the last change's debounce has passed: the page must then send the newest
        # canvas by itself when the old reply arrives (and never have two requests in flight meanwhile).
        b.page("Network.emulateNetworkConditions", offline=False, latency=SLOW_MS, downloadThroughput=-1,
               uploadThroughput=-1)
        b.wait_for("document.body.dataset.inflight === '1'", "the request of strokes 1-2", 5)
        flight_start = time.monotonic()
        pick(colour_c)
        stroke([(px(0.2), r3), (px(0.8), r3)])
        if canvas_px(px(0.5), r3) != colour_c:
            raise CheckError("stroke 3 did not paint %s at (%d, %d): %s" % (colour_c, px(0.5), r3, canvas_px(px(0.5), r3)))
        b.click("#undo")
        x4 = px(0.9)
        stroke([(x4, py(0.3)), (x4, py(0.4))])
        b.click("#eraser")
        xe = px(0.5)
        stroke([(xe, py(0.08)), (xe, py(0.32))])
        time.sleep(DEBOUNCE_S + 0.25)
        if b.eval("document.body.dataset.inflight") != "1":
            raise CheckError("the request of strokes 1-2 ended %.2f s after it began, before strokes 3-5 and their "
                             "debounce were over (emulated latency %d ms)" % (time.monotonic() - flight_start, SLOW_MS))
        seq_last = int(b.eval("Number(document.getElementById('output').dataset.seq || 0)"))  # before the old reply
        if seq_last < 1:
            raise CheckError("no output shown (output.dataset.seq unset)")
        b.page("Network.emulateNetworkConditions", offline=False, latency=0, downloadThroughput=-1, uploadThroughput=-1)

        # The debounced send after the last change: a newer output, and the page says it is current.
        seq, canvas_png, shown, reply = b.capture(seq_last, "the output after the last stroke")
        api_png, headers = http(base + "/v1/translate" + q, args.token, canvas_png, "image/png")

        # (a) what the page shows is the server's answer to the canvas as it is now.
        out = check_shown(shown, reply, api_png, "after the strokes")
        if (out.w, out.h) != (W, H):
            raise CheckError("output is %dx%d, canvas %dx%d" % (out.w, out.h, W, H))

        # (b) exact colours, exact brush width, no antialiasing.
        img = Image(canvas_png)
        checks = {
            "stroke 1 has the swatch colour": (px(0.25), r1, colour_a),
            "stroke 2 has the swatch colour": (px(0.5), r2, colour_a),
            "stroke 4 (after undo) has the second colour": (x4, py(0.35), colour_c),
            "undone stroke 3 is background again": (px(0.5), r3, bg),
            "the eraser painted the background": (xe, r1, bg),
        }
        for what, (x, y, want) in checks.items():
            if img.rgb(x, y) != want:
                raise CheckError("%s: pixel (%d, %d) is %s, expected %s" % (what, x, y, img.rgb(x, y), want))
        width = sum(img.rgb(px(0.3), y) == colour_a for y in range(max(0, r1 - brush), min(H, r1 + brush + 1)))
        if width != brush:
            raise CheckError("stroke 1 is %d px wide at x=%d; the chosen brush is %d px" % (width, px(0.3), brush))
        stray = [c for c in img.colours() if c not in palette] if palette else []
        if stray:
            raise CheckError("the canvas holds %d colours outside the palette, e.g. %s (antialiased edges?)" %
                             (len(stray), stray[:4]))
        if not palette and img.colours() != {bg, colour_a, colour_c}:
            raise CheckError("the canvas holds colours %s; expected only %s" % (sorted(img.colours())[:6], [bg, colour_a, colour_c]))
        download = b.eval("(() => { const d = document.getElementById('download'); return [d.getAttribute('href'),"
                          " d.getAttribute('download'), d.classList.contains('disabled')]; })()")
        if download[0] != b.eval("document.getElementById('output').src") or download[1] != "translated.png" or download[2]:
            raise CheckError("the download link is not the shown output: %s" % download)
        summary.update(seq=seq, output_bytes=len(api_png), server_ms=headers.get("X-P2P-Milliseconds"),
                       latency=b.eval("document.getElementById('latency').textContent"),
                       colours=len(img.colours()))

        if args.screenshot:
            b.eval("window.scrollTo(0, 0)")
            opts = {}
            if args.full_page:
                m = b.page("Page.getLayoutMetrics")["cssContentSize"]
                opts = dict(captureBeyondViewport=True, clip=dict(x=0, y=0, width=m["width"], height=m["height"], scale=1))
            shot = b.page("Page.captureScreenshot", format="png", **opts)["data"]
            with open(args.screenshot, "wb") as f:
                f.write(base64.b64decode(shot))
            summary["screenshot"] = args.screenshot

        # (d) an uploaded image of the canvas size is drawn unchanged and translated.
        stripes = sorted(palette)[:4] if palette else [bg, colour_a, colour_c, (10, 20, 30)]
        rgb = b"".join(bytes(stripes[(x * len(stripes)) // W]) for _ in range(H) for x in range(W))
        upload = os.path.join(b.profile, "upload.png")
        with open(upload, "wb") as f:
            f.write(png_encode_rgb(W, H, rgb))
        node = b.page("DOM.querySelector", nodeId=b.page("DOM.getDocument")["root"]["nodeId"], selector="#upload")["nodeId"]
        if not node:
            raise CheckError("no file input #upload")
        b.page("DOM.setFileInputFiles", files=[upload], nodeId=node)
        _, up_png, up_shown, up_reply = b.capture(seq, "the output of the upload")
        check_shown(up_shown, up_reply, http(base + "/v1/translate" + q, args.token, up_png, "image/png")[0],
                    "after the upload")
        up = Image(up_png)
        bad = [(x, y) for y in range(H) for x in range(W) if up.rgb(x, y) != tuple(rgb[(y * W + x) * 3:(y * W + x) * 3 + 3])]
        if bad:
            raise CheckError("the uploaded image is not on the canvas unchanged: %d pixels differ, first %s" % (len(bad), bad[0]))
        summary["upload"] = "ok"

        # Ctrl+Z undoes the upload: the canvas is the drawing again.
        for kind in ("rawKeyDown", "keyUp"):
            b.page("Input.dispatchKeyEvent", type=kind, modifiers=2, key="z", code="KeyZ", windowsVirtualKeyCode=90)
        back = Image(base64.b64decode(b.eval("document.getElementById('canvas').toDataURL('image/png')").split(",", 1)[1]))
        if back.px != img.px:
            raise CheckError("Ctrl+Z after the upload did not bring the drawing back")
        summary["ctrl_z"] = "ok"
        summary.update(check_requests(b.events, args.token))
    finally:
        b.close()
    summary["elapsed_s"] = round(time.monotonic() - start, 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="the page, e.g. http://127.0.0.1:PORT/?token=T")
    ap.add_argument("--token", default="", help="Bearer token for the direct API calls")
    ap.add_argument("--screenshot", default="", help="write a PNG screenshot here after the drawing checks")
    ap.add_argument("--full-page", dest="full_page", action="store_true", help="screenshot the whole page, not the viewport")
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--height", type=int, default=768)
    ap.add_argument("--timeout", type=float, default=50.0, help="bound on the whole check, seconds")
    args = ap.parse_args()
    summary = {"ok": False, "url": re.sub(r"token=[^&]*", "token=***", args.url), "viewport": [args.width, args.height]}
    try:
        run(args, summary)
        summary["ok"] = True
        print(json.dumps(summary), flush=True)
        return 0
    except (CheckError, OSError, websocket.WebSocketException) as e:
        summary["error"] = str(e)
        print(json.dumps(summary), flush=True)
        print("page_check: FAILED: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
