#!/usr/bin/env python3
"""Soak `profilemate sim serve --time-scale 0` under mixed good and bad traffic, sampling its RSS.

Starts the server on a free loopback port, then for DURATION seconds runs, side by side:
  good       streamed /v1/completions requests, read to [DONE] (counted; failures counted)
  slow       clients that send half a request line, half the headers or half a body, then wait
  disconnect streamed requests dropped after the first chunk
  huge       14 MB token-id prompts (a body 36x larger than the prompt it becomes)
  garbage    random bytes, and wrong methods / unknown paths
and every 5 s samples the server's RSS (/proc/PID/status VmRSS), its open file descriptors and
the latency of GET /health. Prints a summary; BENCHMARKS.md records the figures. Not run by CI.

Usage: scripts/soak.py [DURATION_S] [BINARY]   (default 600, target/release/profilemate)
"""

import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
BINARY = sys.argv[2] if len(sys.argv) > 2 else "target/release/profilemate"

stats = {k: 0 for k in [
    "good_ok", "good_failed", "slow_opened", "slow_closed_by_server", "slow_held_90s",
    "disconnects",
    "huge_sent", "huge_answered", "garbage_sent", "bad_route_json",
]}
lock = threading.Lock()
stop = threading.Event()


def bump(key, n=1):
    with lock:
        stats[key] += n


def start_server():
    proc = subprocess.Popen(
        [BINARY, "sim", "serve", "tiny-llama", "--port", "0", "--time-scale", "0",
         "--max-model-len", "4096", "--disable-log-stats"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stderr.readline()
        m = re.search(r"(\d+\.\d+\.\d+\.\d+):(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(2))
    raise SystemExit("sim serve did not report its address")


def request(port, method, path, body=b"", timeout=30.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    s.sendall(head + body)
    return s


def read_all(s):
    chunks = []
    while True:
        try:
            c = s.recv(65536)
        except OSError:
            break
        if not c:
            break
        chunks.append(c)
    s.close()
    return b"".join(chunks)


def good(port):
    body = json.dumps({"model": "tiny-llama", "prompt": "hello " * 50, "max_tokens": 64,
                       "stream": True}).encode()
    while not stop.is_set():
        try:
            out = read_all(request(port, "POST", "/v1/completions", body))
            bump("good_ok" if b"[DONE]" in out else "good_failed")
        except OSError:
            bump("good_failed")


def slow(port):
    parts = [b"POST /v1/compl", b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le",
             b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mo", b""]
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=90)
            s.sendall(random.choice(parts))
            bump("slow_opened")
            # Hold it up to 90 s; a server with timeouts answers or closes it first.
            try:
                s.recv(1024)
                bump("slow_closed_by_server")
            except socket.timeout:
                bump("slow_held_90s")
            s.close()
        except OSError:
            pass


def disconnect(port):
    body = json.dumps({"model": "tiny-llama", "prompt": "x " * 200, "max_tokens": 2000,
                       "stream": True}).encode()
    while not stop.is_set():
        try:
            s = request(port, "POST", "/v1/completions", body)
            s.recv(1024)
            s.close()
            bump("disconnects")
        except OSError:
            pass


def huge(port):
    ids = ",".join("1234" for _ in range(14 * 1024 * 1024 // 5))
    body = ('{"model":"tiny-llama","max_tokens":1,"prompt":[' + ids + "]}").encode()
    while not stop.is_set():
        try:
            s = request(port, "POST", "/v1/completions", body, timeout=120)
            bump("huge_sent")
            if read_all(s):
                bump("huge_answered")
        except OSError:
            pass
        time.sleep(2)


def garbage(port):
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(os.urandom(random.randint(1, 4096)))
            read_all(s)
            bump("garbage_sent")
            out = read_all(request(port, random.choice(["DELETE", "GET", "PUT"]), "/no/such/path"))
            if b'"error"' in out:
                bump("bad_route_json")
        except OSError:
            pass


def sample(pid, port):
    status = open(f"/proc/{pid}/status").read()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    t0 = time.time()
    try:
        out = read_all(request(port, "GET", "/health", timeout=10))
        health = out.split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError as e:
        health = f"error {e}"
    return rss_kb, fds, (time.time() - t0) * 1000, health


def main():
    proc, port = start_server()
    workers = ([good] * 4) + ([slow] * 8) + ([disconnect] * 2) + [huge] + [garbage]
    threads = [threading.Thread(target=w, args=(port,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    samples = []
    start = time.time()
    while time.time() - start < DURATION:
        time.sleep(5)
        if proc.poll() is not None:
            print(f"server exited with {proc.returncode}")
            break
        samples.append((time.time() - start,) + sample(proc.pid, port))
        s = samples[-1]
        print(f"t={s[0]:6.0f}s rss={s[1] / 1024:7.1f} MB fds={s[2]:5d} health={s[3]:7.1f} ms {s[4]}",
              flush=True)
    stop.set()
    proc.terminate()
    proc.wait(timeout=30)
    rss = [s[1] / 1024 for s in samples]
    health = [s[3] for s in samples]
    print("summary:", json.dumps({
        "duration_s": round(time.time() - start),
        "rss_mb": {"first": round(rss[0], 1), "max": round(max(rss), 1), "last": round(rss[-1], 1)},
        "health_ms": {"max": round(max(health), 1)},
        "health_not_200": sum(1 for s in samples if " 200" not in s[4]),
        "max_fds": max(s[2] for s in samples),
        **stats,
    }))


if __name__ == "__main__":
    main()
