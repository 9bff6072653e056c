#!/usr/bin/python3
"""The run report in a real browser (Debian's chromium, headless).

browser_test.py <report_driver> <work folder>

1. Runs a job with failures, retries and a timeout (report_driver job), loads its
   logs/report.html from disk and reads the DOM after the page's script ran: no console
   message (errors, Content-Security-Policy violations), no request (the page counts its
   resource entries; every host name resolves to nothing anyway), the summary's numbers equal
   logs/job_result.txt, one bar per attempt. Saves <work>/report.png.
2. Writes the report of 10^6 synthetic mini-batches: at most 5 MB, loaded and its script run
   within 60 s. Saves <work>/report-1e6.png.
Exits 77 (skipped) when chromium is not installed.
"""
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser

SKIP = 77
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0",
         "--hide-scrollbars"]


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def chromium(page, *extra, timeout=90):
    """Runs chromium on `page` with a fresh profile; returns (stdout, stderr, seconds)."""
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        start = time.monotonic()
        p = subprocess.run([BROWSER, *FLAGS, "--user-data-dir=" + profile, *extra,
                            "file://" + os.path.abspath(page)],
                           capture_output=True, text=True, timeout=timeout)
        return p.stdout, p.stderr, time.monotonic() - start


class Dom(HTMLParser):
    """The attributes of elements by id, their text, and the rects of the timeline."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.attrs, self.text, self.rects = {}, {}, {"bar": 0, "slice": 0}
        self.open_ids = []
        self.in_timeline = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.attrs[a["id"]] = a
            self.text[a["id"]] = ""
            self.open_ids.append((tag, a["id"]))
        if a.get("id") == "timeline":
            self.in_timeline = True
        if tag == "rect" and self.in_timeline:
            for kind in self.rects:
                if kind in a.get("class", "").split():
                    self.rects[kind] += 1

    def handle_endtag(self, tag):
        if tag == "section":
            self.in_timeline = False
        if self.open_ids and self.open_ids[-1][0] == tag:
            self.open_ids.pop()

    def handle_data(self, data):
        for _, i in self.open_ids:
            self.text[i] += data


def load(page, what):
    dom_text, log, seconds = chromium(page, "--dump-dom")
    console = [line for line in log.splitlines() if ":CONSOLE" in line]
    if console:
        fail(f"{what}: console messages:\n" + "\n".join(console))
    dom = Dom()
    dom.feed(dom_text)
    check = dom.attrs.get("page-check")
    if check is None or check.get("data-ready") != "yes":
        fail(f"{what}: the page's script did not run (no data-ready in the DOM)")
    if check.get("data-errors"):
        fail(f"{what}: script errors: {check['data-errors']}")
    if check.get("data-resources") != "0":
        fail(f"{what}: the page requested {check.get('data-resources')} resources")
    return dom, seconds


def main():
    driver, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    # 1. A real job.
    subprocess.run([driver, "job", os.path.join(work, "job")], check=True, timeout=120)
    logs = os.path.join(work, "job", "out", "logs")
    page = os.path.join(logs, "report.html")
    raw = open(page, encoding="utf-8").read()
    # Nothing that could be fetched: no URL with a scheme, no src, no CSS url(); links
    # (href) only to files of the log folder, by relative path.
    for needle in ("http:", "https:", "ftp:", "src=", "url("):
        if needle in raw:
            fail(f"the page holds '{needle}'")
    for href in re.findall(r'href="([^"]*)"', raw):
        if ":" in href or href.startswith("/"):
            fail(f"the page links to {href!r}")
    dom, seconds = load(page, "report.html")
    result = open(os.path.join(logs, "job_result.txt"), encoding="utf-8").read().splitlines()
    summary = result[0]
    if dom.text.get("result-line") != summary:
        fail(f"result line {dom.text.get('result-line')!r} != job_result.txt {summary!r}")
    m = re.match(r"(\w+): items (\d+)/(\d+) succeeded, (\d+) failed, (\d+) not processed; "
                 r"mini-batches (\d+)/(\d+) succeeded, (\d+) failed, (\d+) not processed; "
                 r"attempts (\d+), "
                 r"retries (\d+), timeouts (\d+)", summary)
    if not m:
        fail(f"cannot read job_result.txt: {summary!r}")
    expected = dict(zip(["state", "items_succeeded", "items_total", "items_failed",
                         "items_not_processed", "mini_batches_succeeded", "mini_batches_total",
                         "mini_batches_failed", "mini_batches_not_processed", "attempts",
                         "retries", "timeouts"], m.groups()))
    expected["job-state"] = expected.pop("state")
    for key, value in expected.items():
        if dom.text.get(key) != value:
            fail(f"#{key} shows {dom.text.get(key)!r}, job_result.txt {value!r}")
    attempts = int(expected["attempts"])
    if int(expected["retries"]) < 1 or int(expected["timeouts"]) < 1 or \
            int(expected["items_failed"]) < 1:
        fail(f"the test job should have retries, a timeout and failures: {summary}")
    if dom.rects["bar"] != attempts or dom.attrs["page-check"].get("data-bars") != str(attempts):
        fail(f"{dom.rects['bar']} bars in the DOM, "
             f"{dom.attrs['page-check'].get('data-bars')} counted by the page, {attempts} attempts")
    print(f"report.html: {len(raw)} bytes, {attempts} bars, numbers equal job_result.txt, "
          f"loaded in {seconds:.1f} s")
    chromium(page, "--screenshot=" + os.path.join(work, "report.png"), "--window-size=1280,2600")
    if not os.path.getsize(os.path.join(work, "report.png")):
        fail("no screenshot")

    # 2. 10^6 synthetic mini-batches.
    big = os.path.join(work, "synthetic")
    subprocess.run([driver, "synthetic", big, "1000000"], check=True, timeout=300)
    page = os.path.join(big, "logs", "report.html")
    size = os.path.getsize(page)
    if size > 5_000_000:
        fail(f"the report of 10^6 mini-batches is {size} bytes, above 5 MB")
    dom, seconds = load(page, "report of 10^6 mini-batches")
    if dom.text.get("attempts") != "1001000" or dom.rects["slice"] == 0:
        fail(f"the report of 10^6 mini-batches shows {dom.text.get('attempts')} attempts and "
             f"{dom.rects['slice']} slices")
    if seconds > 60:
        fail(f"the report of 10^6 mini-batches took {seconds:.1f} s to load")
    chromium(page, "--screenshot=" + os.path.join(work, "report-1e6.png"),
             "--window-size=1280,2600")
    print(f"report of 10^6 mini-batches: {size} bytes, {dom.rects['slice']} slices and "
          f"{dom.rects['bar']} bars, loaded in {seconds:.1f} s")
    print(f"screenshots: {work}/report.png {work}/report-1e6.png")


BROWSER = shutil.which("chromium")
if __name__ == "__main__":
    if BROWSER is None:
        print("SKIP: chromium is not installed (scripts/test installs it: apt-get install "
              "chromium)")
        sys.exit(SKIP)
    main()
