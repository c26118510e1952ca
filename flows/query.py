"""Ask the index a question for one tenant: embed it with Headwater's embedder, then search.

    python -m flows.query --tenant acme "how do I cancel an order?"
    python -m flows.query --tenant acme --graphql "phí ship ra Hà Nội bao nhiêu?"

`search` runs a hybrid query (BM25 + vector, `alpha` weighting the vector side) through
the v4 client; `graphql_search` sends the same query as GraphQL, `graphql_query` shows it.
Both read through the alias `ChatSegment` and always name a tenant.
"""

from __future__ import annotations

import argparse
import sys

import httpx
import orjson
import weaviate

from flows.settings import Settings
from models import Embedder, load_embedder
from operators.common.weaviate import api_key_headers, connect_weaviate
from operators.index.search import RETURNED, Hit, hit_of, hybrid
from operators.index.writer import ALIAS


def search(
    client: weaviate.WeaviateClient,
    embedder: Embedder,
    tenant: str,
    question: str,
    *,
    limit: int = 3,
    alpha: float = 0.5,
) -> list[Hit]:
    """The best segments of `tenant` for `question` (hybrid: BM25 and vector)."""
    vector = embedder.embed([question])[0].tolist()
    return hybrid(client, ALIAS, tenant, question, vector, limit=limit, alpha=alpha)


def graphql_query(
    tenant: str, question: str, vector: list[float], *, limit: int = 3, alpha: float = 0.5
) -> str:
    """The GraphQL text of `search`."""
    arguments = (
        f"{{query: {_gql_string(question)}, vector: {orjson.dumps(vector).decode()}, "
        f"alpha: {alpha}, fusionType: relativeScoreFusion}}"
    )
    fields = " ".join(RETURNED)
    return (
        f"{{ Get {{ {ALIAS}(tenant: {_gql_string(tenant)}, limit: {limit}, "
        f"hybrid: {arguments}) {{ {fields} _additional {{ id score }} }} }} }}"
    )


def graphql_search(
    settings: Settings,
    embedder: Embedder,
    tenant: str,
    question: str,
    *,
    limit: int = 3,
    alpha: float = 0.5,
) -> list[Hit]:
    """`search`, sent as GraphQL over HTTP."""
    vector = embedder.embed([question])[0].tolist()
    resp = httpx.post(
        f"{settings.weaviate_url}/v1/graphql",
        headers=api_key_headers(settings),
        timeout=30,
        json={"query": graphql_query(tenant, question, vector, limit=limit, alpha=alpha)},
    )
    resp.raise_for_status()
    body = resp.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return [hit_of(o, float(o["_additional"]["score"])) for o in body["data"]["Get"][ALIAS]]


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
    parser.add_argument("--alpha", type=float, default=0.5, help="0 = BM25 only, 1 = vector only")
    parser.add_argument("--graphql", action="store_true", help="send it as GraphQL")
    args = parser.parse_args(argv)
    settings = Settings()
    embedder = load_embedder(settings.embedding_model_dir, settings.embedding_threads)
    if args.graphql:
        hits = graphql_search(
            settings, embedder, args.tenant, args.question, limit=args.limit, alpha=args.alpha
        )
    else:
        with connect_weaviate(settings) as client:
            hits = search(
                client, embedder, args.tenant, args.question, limit=args.limit, alpha=args.alpha
            )
    print_hits(hits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
