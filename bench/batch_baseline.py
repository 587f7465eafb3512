#!/usr/bin/python3
"""The asyncio batch baseline: a JSONL file through three models, the way the tutorials write it.

What batch_bench runs beside `tutti batch`, against the same fake upstream,
for the same job: read the rows, ask every model each row's question (OpenAI
chat completions, not streamed), and write one JSON line per row:

    {"id": ..., "status": "ok|partial|failed", "answer": <first success>,
     "members": [{"model": ..., "text": ...} or {"model": ..., "error": ...}]}

The shape is the one tutorials teach: one aiohttp ClientSession with its
defaults, asyncio.gather(return_exceptions=True) over a row's three POSTs
and again over all the rows, an asyncio.Semaphore bounding the rows in
flight, and the results written once gather returns.

aiohttp's default pool opens at most 100 connections, fewer than the 192
requests of 64 rows. It is kept: on the machine where batch_bench was
measured, --pool 192 made this script about 20 % slower, not faster, since
it is bound by its CPU, not by the pool (see docs/benchmarks.md).

Prints one line to stdout at the end:

    rows N ok N partial N failed N seconds S

Needs Debian's python3-aiohttp; exits 3 with "skipped: ..." without it.
"""

import argparse
import asyncio
import json
import sys
import time

try:
    import aiohttp
except ImportError:
    print("skipped: python3-aiohttp not installed")
    sys.exit(3)

HEADERS = {"Authorization": "Bearer sk-bench"}


async def ask(session, url, model, question):
    body = {"model": model, "messages": [{"role": "user", "content": question}]}
    async with session.post(url, json=body, headers=HEADERS) as response:
        response.raise_for_status()
        reply = await response.json()
        return reply["choices"][0]["message"]["content"]


async def process_row(session, semaphore, url, models, row):
    async with semaphore:
        replies = await asyncio.gather(
            *(ask(session, url, m, row["question"]) for m in models),
            return_exceptions=True,
        )
    members = []
    answer = None
    for model, reply in zip(models, replies):
        if isinstance(reply, BaseException):
            members.append({"model": model, "error": repr(reply)})
        else:
            members.append({"model": model, "text": reply})
            if answer is None:
                answer = reply
    successes = sum(1 for m in members if "text" in m)
    if successes == len(models):
        status = "ok"
    elif successes > 0:
        status = "partial"
    else:
        status = "failed"
    return {"id": row.get("id"), "status": status, "answer": answer,
            "members": members}


async def main(args):
    url = args.base_url.rstrip("/") + "/chat/completions"
    models = [m for m in args.models.split(",") if m]
    with open(args.input, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    semaphore = asyncio.Semaphore(args.concurrency)
    connector = aiohttp.TCPConnector(limit=args.pool) if args.pool else None
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(
            *(process_row(session, semaphore, url, models, row)
              for row in rows),
            return_exceptions=True,
        )
    counts = {"ok": 0, "partial": 0, "failed": 0}
    with open(args.output, "w", encoding="utf-8") as out:
        for row, result in zip(rows, results):
            if isinstance(result, BaseException):
                result = {"id": row.get("id"), "status": "failed",
                          "answer": None, "members": [],
                          "error": repr(result)}
            counts[result["status"]] += 1
            out.write(json.dumps(result) + "\n")
    return len(rows), counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--models", default="p-1,p-2,p-3")
    parser.add_argument("--in", dest="input", required=True)
    parser.add_argument("--out", dest="output", required=True)
    parser.add_argument("--concurrency", type=int, default=64,
                        help="rows in flight (the Semaphore)")
    parser.add_argument("--pool", type=int, default=0,
                        help="connections the session may open; "
                             "0: aiohttp's default (100)")
    started = time.perf_counter()
    n, counts = asyncio.run(main(parser.parse_args()))
    print(f"rows {n} ok {counts['ok']} partial {counts['partial']} "
          f"failed {counts['failed']} "
          f"seconds {time.perf_counter() - started:.3f}")
