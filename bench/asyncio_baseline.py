#!/usr/bin/python3
"""The asyncio baseline: what people write today to ask several models at once.

One aiohttp ClientSession (connections reused), asyncio.gather over one POST
per model. ensemble_bench runs it under /usr/bin/python3 against its in-process
fake upstream and reads the lines it prints:

    gather_us N   one round: all --models at once, wall time in microseconds
    fast_us N     one POST to --fast-model, wall time in microseconds

Needs Debian's python3-aiohttp; exits 3 with "skipped: ..." without it.
"""

import argparse
import asyncio
import sys
import time

try:
    import aiohttp
except ImportError:
    print("skipped: python3-aiohttp not installed")
    sys.exit(3)

PROMPT = "What is the capital of France?"
HEADERS = {"Authorization": "Bearer sk-bench"}


async def ask(session, url, model):
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    async with session.post(url, json=body, headers=HEADERS) as response:
        response.raise_for_status()
        reply = await response.json()
        return reply["choices"][0]["message"]["content"]


async def main(args):
    url = args.base_url.rstrip("/") + "/chat/completions"
    models = [m for m in args.models.split(",") if m]
    async with aiohttp.ClientSession() as session:
        # Warm-up: opens the connections.
        await asyncio.gather(*(ask(session, url, m) for m in models))
        for _ in range(args.rounds):
            start = time.perf_counter()
            await asyncio.gather(*(ask(session, url, m) for m in models))
            print(f"gather_us {(time.perf_counter() - start) * 1e6:.0f}")
        if args.fast_model:
            for _ in range(args.warmup):
                await ask(session, url, args.fast_model)
            for _ in range(args.questions):
                start = time.perf_counter()
                await ask(session, url, args.fast_model)
                print(f"fast_us {(time.perf_counter() - start) * 1e6:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--models", default="slow-a,slow-b,slow-c")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--fast-model", default="")
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
