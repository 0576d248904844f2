#!/usr/bin/env python3
"""Hostile clients for a running procura, over raw sockets (standard library only).

    bench/hostile.py bodies  PORT BODY_LIMIT [CONCURRENCY]
    bench/hostile.py stalled PORT COUNT ADDRESSES WAIT_SECONDS

bodies: every (method, path) of openapi.yaml (path parameters filled in) gets, CONCURRENCY at a
time: a JSON body of exactly BODY_LIMIT bytes, one of BODY_LIMIT + 44 KiB (300 KB at the default
limit), a chunked body of 400 KB, a multipart body of 400 KB, a form body of BODY_LIMIT bytes, and
(GET) a 30 KB header. Prints the count of each status; fails on any 5xx other than 503 or on a
connection that gets no answer.

stalled: COUNT connections spread over ADDRESSES loopback source addresses (127.0.0.2 ...): a third
stop in the middle of their request head, the others announce `Content-Length: 100` (or the
262144 of the default body limit) on a JSON route, send 10 bytes and fall silent. After WAIT_SECONDS prints how many the server has closed
(and when: the slowest close), how many it refused at once (over the per-address limit), and
whether /healthz still answered while they were held.
"""
import asyncio
import collections
import re
import sys
import time

SPEC = "openapi.yaml"
DUMMY = {"id": "0190a5a0-0000-7000-8000-000000000000", "file": "procura.css", "closure_id": "1"}


def routes():
    """(method, path) of every operation, read from openapi.yaml without a YAML library."""
    out, path, in_paths = [], None, False
    for line in open(SPEC, encoding="utf-8"):
        if line.startswith("paths:"):
            in_paths = True
            continue
        if in_paths and re.match(r"^\S", line):
            break
        m = re.match(r"^  (/\S*):\s*$", line)
        if in_paths and m:
            path = m.group(1).strip("'\"")
            continue
        m = re.match(r"^    (get|post|put|delete|patch):\s*$", line)
        if in_paths and path and m:
            concrete = re.sub(r"\{(\w+)\}", lambda p: DUMMY.get(p.group(1), "1"), path)
            out.append((m.group(1).upper(), concrete))
    return out


async def exchange(port, raw_parts, timeout=30):
    """Sends the parts (bytes, or float seconds to pause) and returns the status (0: none)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    except (OSError, asyncio.TimeoutError):
        return -1
    try:
        for part in raw_parts:
            if isinstance(part, float):
                await asyncio.sleep(part)
                continue
            writer.write(part)
            try:
                await writer.drain()
            except OSError:
                break  # the server may answer (413) and close before taking the whole body
        line = await asyncio.wait_for(reader.readline(), timeout)
        m = re.match(rb"HTTP/1\.[01] (\d{3})", line)
        return int(m.group(1)) if m else 0
    except (OSError, asyncio.TimeoutError):
        return 0
    finally:
        writer.close()


def head(method, path, headers):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"] + headers
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def requests_for(method, path, limit):
    big = 300 * 1024 if limit == 256 * 1024 else limit + 44 * 1024
    if method in ("POST", "PUT", "DELETE", "PATCH"):
        exact = b'{"x":"' + b"a" * (limit - 8) + b'"}'
        over = b'{"x":"' + b"a" * (big - 8) + b'"}'
        chunk = b"a" * 8192
        chunked = [head(method, path, ["Content-Type: application/json", "Transfer-Encoding: chunked"])]
        chunked += [b"2000\r\n" + chunk + b"\r\n" for _ in range(50)] + [b"0\r\n\r\n"]
        boundary = "hostileboundary"
        mp = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"a.pdf\"\r\n"
              "Content-Type: application/pdf\r\n\r\n").encode() + b"%PDF" + b"a" * (400 * 1024) + \
             f"\r\n--{boundary}--\r\n".encode()
        form = b"a=" + b"b" * (limit - 2)
        yield "json exact limit", [head(method, path, ["Content-Type: application/json", f"Content-Length: {len(exact)}"]), exact]
        yield "json over limit", [head(method, path, ["Content-Type: application/json", f"Content-Length: {len(over)}"]), over]
        yield "json chunked 400 KB", chunked
        yield "multipart 400 KB", [head(method, path, [f"Content-Type: multipart/form-data; boundary={boundary}", f"Content-Length: {len(mp)}"]), mp]
        yield "form exact limit", [head(method, path, ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(form)}"]), form]
    else:
        yield "30 KB header", [head(method, path, ["X-Padding: " + "p" * 30000])]
        yield "plain", [head(method, path, [])]


async def bodies(port, limit, concurrency):
    todo = [(name, method, path, parts) for method, path in routes() for name, parts in requests_for(method, path, limit)]
    sem = asyncio.Semaphore(concurrency)
    counts, bad = collections.Counter(), []

    async def one(name, method, path, parts):
        async with sem:
            status = await exchange(port, parts)
        counts[status] += 1
        # 0: the connection closed before a status line arrived. A server that answers before
        # reading a large body (413, 401) and closes may have its answer overtaken by the TCP
        # reset the unread bytes cause, so that is not a fault for a request with a body; a
        # crash would show in the liveness checks after the burst.
        if status < 0 or (status == 0 and len(parts) == 1) or (status >= 500 and status != 503):
            bad.append(f"{status} {method} {path} ({name})")

    start = time.monotonic()
    await asyncio.gather(*(one(*t) for t in todo))
    print(f"  {len(todo)} hostile requests on {len(routes())} operations in {time.monotonic() - start:.1f} s; "
          f"statuses: {dict(sorted(counts.items()))}")
    for b in bad[:20]:
        print(f"  BAD: {b}")
    return 1 if bad else 0


async def stalled(port, count, addresses, wait):
    results = []  # (kind, outcome, seconds)

    async def one(i):
        source = f"127.0.0.{2 + i % addresses}"
        start = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            results.append(("connect", "refused", 0.0))
            return
        kind = "head" if i % 3 == 0 else "body"
        if kind == "head":
            writer.write(b"POST /v1/codice-fiscale/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        else:
            # Half announce the 100 bytes, half the whole body limit (the extractor
            # may reserve what is announced).
            length = 100 if i % 2 else 262144
            writer.write(b"POST /v1/codice-fiscale/check HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"codice_f" % length)
        try:
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), wait)
            status = re.match(rb"HTTP/1\.[01] (\d{3})", data)
            outcome = status.group(1).decode() if status else "closed"
            results.append((kind, outcome, time.monotonic() - start))
        except asyncio.TimeoutError:
            results.append((kind, "still open", wait))
        except OSError:
            results.append((kind, "reset", time.monotonic() - start))
        finally:
            writer.close()

    async def probe():
        ok, tries = 0, 0
        await asyncio.sleep(0.5)
        while tries < 10:
            tries += 1
            ok += await exchange(port, [head("GET", "/healthz", [])], 5) == 200
            await asyncio.sleep(0.2)
        return ok, tries

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    ok, tries = await probe()
    await asyncio.gather(*tasks)
    summary = collections.Counter((k, o) for k, o, _ in results)
    closed = [s for _, o, s in results if o != "still open"]
    refused = sum(1 for _, o, s in results if o == "429" or (o in ("closed", "reset", "refused") and s < 1.0))
    still = sum(1 for _, o, _ in results if o == "still open")
    print(f"  {count} stalled connections from {addresses} addresses: {dict(sorted(summary.items()))}")
    print(f"  closed by the server: {len(closed)} (slowest after {max(closed, default=0):.1f} s), "
          f"refused at once: {refused}, still open after {wait} s: {still}; "
          f"/healthz meanwhile: {ok}/{tries}")
    return 1 if still or ok < tries else 0


def main():
    mode = sys.argv[1]
    if mode == "bodies":
        conc = int(sys.argv[4]) if len(sys.argv) > 4 else 32
        return asyncio.run(bodies(int(sys.argv[2]), int(sys.argv[3]), conc))
    if mode == "stalled":
        return asyncio.run(stalled(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
