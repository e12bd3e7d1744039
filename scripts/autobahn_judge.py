#!/usr/bin/env python3
"""Judges an Autobahn (kosoku) fuzzingclient report for Tandem's sockets.

Usage: autobahn_judge.py REPORT_DIR ENDPOINT   (ENDPOINT is `ws` or `yjs`)

Tandem is not an echo server: it answers a client's text with `welcome`,
presence and `error` messages (on /ws) or y-websocket replies (on /yjs), and
never echoes. So a case is judged at the protocol level only:

1. Frames other than data messages must match the suite's expectation: the
   received control events (pongs) with every `message` event removed must
   equal one expected alternative with its messages removed.
2. Cases where the suite expects the server to close or fail the connection
   (a protocol violation, `closedByMe: false`) must end with one of the
   expected close codes, as the suite judged it (`behaviorClose` OK,
   NON-STRICT or INFORMATIONAL).
3. Cases where the client closes normally must see a clean close with an
   expected code, except where the fuzzer itself failed the connection while
   waiting for the echo it expected (see ECHO below).

Differences by design, not failures (listed with the reason):
- ECHO: every case whose expectation contains a `message` event (1.*, most
  of 3.*, 4.*, 5.*, 6.*, 7.* with data frames) expects the message echoed.
  Tandem does not echo; after waiting for it the fuzzer fails the connection
  itself (`failedByMe`), so the close of those cases is not judged.
- YJS_DATA (/yjs only): y-websocket is a binary protocol of its own; a text
  message, or a binary one that is not a y-websocket message (the suite's
  payloads are arbitrary bytes), is refused with close 1003 (unsupported
  data, RFC 6455 7.4.1) by design. Such a case ends with 1003 instead of the
  expected close, and frames the suite sends after that (pings between
  fragments) are never answered. Any other close code is still judged.

Exit status 1 when any case fails; each failure is printed.
"""
import json
import os
import sys

GOOD_CLOSE = {"OK", "NON-STRICT", "INFORMATIONAL"}
UNSUPPORTED_DATA = 1003


def control_events(events):
    return [e for e in events if e and e[0] != "message"]


def expects_echo(expected):
    return any(e and e[0] == "message" for alt in expected.values() for e in alt)


def judge(report, endpoint):
    expected = report.get("expected") or {}
    close = report.get("expectedClose") or {}
    received = report.get("received") or []
    code = report.get("remoteCloseCode")
    if endpoint == "yjs" and code == UNSUPPORTED_DATA:
        return None  # YJS_DATA
    alternatives = [control_events(alt) for alt in expected.values()] or [[]]
    if control_events(received) not in alternatives:
        return "control frames differ: got %s, expected one of %s" % (
            control_events(received), alternatives)
    if not close.get("closedByMe", True):
        if report.get("behaviorClose") not in GOOD_CLOSE:
            return "close %s (%s), expected %s" % (
                code, report.get("resultClose"), close.get("closeCode"))
        return None
    if expects_echo(expected) and report.get("failedByMe"):
        return None  # ECHO
    if report.get("behaviorClose") not in GOOD_CLOSE:
        return "close %s (%s), expected %s" % (
            code, report.get("resultClose"), close.get("closeCode"))
    return None


def main():
    outdir, endpoint = sys.argv[1], sys.argv[2]
    with open(os.path.join(outdir, "index.json")) as f:
        index = json.load(f)
    failures, total = [], 0
    for agent, cases in index.items():
        for case_id, entry in sorted(cases.items()):
            total += 1
            with open(os.path.join(outdir, entry["reportfile"])) as f:
                report = json.load(f)
            why = judge(report, endpoint)
            if why:
                failures.append("%s %s: %s" % (endpoint, case_id, why))
    try:
        for line in failures:
            print(line)
    except BrokenPipeError:
        pass
    print("autobahn /%s: %d cases, %d protocol-level failures" % (endpoint, total, len(failures)))
    return 1 if failures or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
