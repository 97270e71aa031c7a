"""Spec: "Patterns › Loops with Steps" — one step ID reused in a loop.

``sync-products`` pages through a product catalogue 50 at a time with the same step ID
``fetch-page``; the executor numbers the repeats (``fetch-page``, ``fetch-page:1``,
``fetch-page:2``), so each page is fetched once per run and replayed from memory after.
The catalogue is an in-file fake of 120 products: pages of 50, 50 and 20.

Try it: send ``{"name": "demo/products.sync", "data": {}}``.
"""

from typing import Any

from executor import Context, create_function

PAGE_SIZE = 50

PRODUCTS: list[dict[str, Any]] = [
    {"id": f"prod_{n:03d}", "title": f"Product {n}", "price_cents": 100 + n} for n in range(1, 121)
]


def list_products(cursor: str | None, limit: int) -> dict[str, Any]:
    """The fake catalogue API: up to ``limit`` products after the one with id ``cursor``."""
    start = 0 if cursor is None else next(i for i, p in enumerate(PRODUCTS) if p["id"] == cursor) + 1
    return {"products": PRODUCTS[start:start + limit]}


def process_all_products(products: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(products), "total_price_cents": sum(p["price_cents"] for p in products),
            "first": products[0]["id"] if products else None, "last": products[-1]["id"] if products else None}


@create_function(id="sync-products", trigger="demo/products.sync")
async def sync_products(ctx: Context) -> dict[str, Any]:
    all_products: list[dict[str, Any]] = []
    cursor = None
    has_more = True
    while has_more:
        # Same ID "fetch-page" reused: counters handled automatically.
        page = await ctx.step.run("fetch-page", list_products, cursor, PAGE_SIZE)
        all_products.extend(page["products"])
        if len(page["products"]) < PAGE_SIZE:
            has_more = False
        else:
            cursor = page["products"][PAGE_SIZE - 1]["id"]
    return await ctx.step.run("process-products", process_all_products, all_products)
