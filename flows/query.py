"""Ask the index a question for one tenant: embed it with the model of the collection the
alias serves, then search.

    python -m flows.query --tenant acme "how do I cancel an order?"
    python -m flows.query --tenant acme --graphql "phí ship ra Hà Nội bao nhiêu?"

`search` runs a hybrid query (BM25 + vector, `alpha` weighting the vector side) through
the v4 client; `graphql_search` sends the vector side and the keyword side as GraphQL,
`graphql_query` shows them. Both read the alias `ChatSegment` to find the collection it
serves and the model its vectors come from, load that model (`query_embedder`), query
that collection, and always name a tenant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import httpx
import orjson
import weaviate

from flows.settings import Settings
from operators.common.weaviate import api_key_headers, connect_weaviate
from operators.index.keywords import KEYWORD_PROPERTIES, keyword_query
from operators.index.search import (
    CANDIDATES,
    RETURNED,
    Candidate,
    Hit,
    Serving,
    default_alpha,
    fuse,
    hybrid,
    keyword_properties,
    query_embedder,
    serving_collection,
)


def search(
    client: weaviate.WeaviateClient,
    tenant: str,
    question: str,
    *,
    limit: int = 3,
    alpha: float | None = None,
    threads: int | None = None,
    serving: Serving | None = None,
) -> list[Hit]:
    """The best segments of `tenant` for `question` (hybrid: BM25 and vector); none while
    nothing is indexed. `alpha` defaults to `operators.index.search.default_alpha`;
    `serving` (default: what the alias serves) names another collection and its model."""
    serving = serving or serving_collection(client)
    if serving is None:
        return []
    embedder = query_embedder(serving, threads)
    vector = embedder.embed_queries([question])[0].tolist()
    if alpha is None:
        alpha = default_alpha(question, embedder)
    return hybrid(client, serving.collection, tenant, question, vector, limit=limit, alpha=alpha)


def graphql_query(
    collection: str,
    tenant: str,
    question: str,
    vector: list[float],
    *,
    keyword_properties: Sequence[str] = KEYWORD_PROPERTIES,
    limit: int = CANDIDATES,
) -> str:
    """The GraphQL text of `search`'s two sides: `byVector` (nearVector) and `byKeywords`
    (bm25 over the text and its folded copy)."""
    fields = " ".join(RETURNED)
    where = f"tenant: {_gql_string(tenant)}, limit: {limit}"
    keywords = _gql_string(keyword_query(question))
    properties = orjson.dumps(list(keyword_properties)).decode()
    return (
        f"{{ Get {{ byVector: {collection}({where}, nearVector: "
        f"{{vector: {orjson.dumps(vector).decode()}}}) {{ {fields} _additional {{ distance }} }} "
        f"byKeywords: {collection}({where}, bm25: {{query: {keywords}, "
        f"properties: {properties}}}) {{ {fields} _additional {{ score }} }} }} }}"
    )


def graphql_search(
    settings: Settings,
    client: weaviate.WeaviateClient,
    serving: Serving,
    tenant: str,
    question: str,
    *,
    limit: int = 3,
    alpha: float | None = None,
) -> list[Hit]:
    """`search`, sent as GraphQL over HTTP and fused here as `search` fuses."""
    embedder = query_embedder(serving, settings.embedding_threads)
    vector = embedder.embed_queries([question])[0].tolist()
    resp = httpx.post(
        f"{settings.weaviate_url}/v1/graphql",
        headers=api_key_headers(settings),
        timeout=30,
        json={
            "query": graphql_query(
                serving.collection,
                tenant,
                question,
                vector,
                keyword_properties=keyword_properties(client, serving.collection),
            )
        },
    )
    resp.raise_for_status()
    body = resp.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    found = body["data"]["Get"]
    by_vector = [Candidate(o, 1 - float(o["_additional"]["distance"])) for o in found["byVector"]]
    by_keywords = [Candidate(o, float(o["_additional"]["score"])) for o in found["byKeywords"]]
    if alpha is None:
        alpha = default_alpha(question, embedder)
    return fuse(by_vector, by_keywords, alpha=alpha, limit=limit)


def _gql_string(value: str) -> str:
    return orjson.dumps(value).decode()  # a JSON string is a valid GraphQL string


def print_hits(hits: list[Hit], out=sys.stdout) -> None:
    if not hits:
        print("  (no match)", file=out)
    for hit in hits:
        print(f"  score {hit.score:.3f}  {hit.conversation_id}  segment {hit.segment}", file=out)
        for line in hit.text.splitlines()[:6]:
            print(f"      {line}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument(
        "--alpha",
        type=float,
        help="0 = BM25 only, 1 = vector only (default: chosen from the question)",
    )
    parser.add_argument("--graphql", action="store_true", help="send it as GraphQL")
    args = parser.parse_args(argv)
    settings = Settings()
    with connect_weaviate(settings) as client:
        if args.graphql:
            serving = serving_collection(client)
            hits = (
                graphql_search(
                    settings,
                    client,
                    serving,
                    args.tenant,
                    args.question,
                    limit=args.limit,
                    alpha=args.alpha,
                )
                if serving
                else []
            )
        else:
            hits = search(
                client,
                args.tenant,
                args.question,
                limit=args.limit,
                alpha=args.alpha,
                threads=settings.embedding_threads,
            )
    print_hits(hits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
