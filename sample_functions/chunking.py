"""Spec: "Patterns › Chunking Jobs" — batch processing with parallel steps.

``process-large-dataset`` splits ``event.data.items`` into chunks of 10, processes every
chunk in its own step (``process-chunk-0``, ``process-chunk-1``…) in parallel, then combines
the chunk results in a final ``combine-results`` step.

Try it: send ``{"name": "demo/data.process-large", "data": {"items": [1, 2, 3, …, 45]}}``
(any list of numbers; 45 items make 5 chunks).
"""

import asyncio
from typing import Any

from executor import Context, create_function

CHUNK_SIZE = 10


def chunk_array(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def process_chunk(chunk: list[float]) -> dict[str, Any]:
    return {"count": len(chunk), "sum": sum(chunk)}


def aggregate_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"chunks": len(results), "count": sum(r["count"] for r in results),
            "sum": sum(r["sum"] for r in results)}


@create_function(id="process-large-dataset", trigger="demo/data.process-large")
async def process_large_dataset(ctx: Context) -> dict[str, Any]:
    chunks = chunk_array(ctx.event.data.get("items", []), CHUNK_SIZE)
    # Process chunks in parallel.
    results = await asyncio.gather(*(
        ctx.step.run(f"process-chunk-{index}", process_chunk, chunk) for index, chunk in enumerate(chunks)
    ))
    # Combine results.
    return await ctx.step.run("combine-results", aggregate_results, list(results))
