"""Python client of gpt4rec-serve (gRPC gpt4rec.v1.Recommender).

    from gpt4rec import Client, Event
    with Client("127.0.0.1:50051", token="...") as c:
        c.ingest([Event("u1", "i7", 1717200000)])
        print(c.recommend("u1", k=10).items)
"""
from gpt4rec.client import (Client, Contribution, Error, Event, Explanation, IngestResult, ItemExplanation,
                            OnlineHitRate, Recommendation, ScoredItem, Stats)

__all__ = ["Client", "Contribution", "Error", "Event", "Explanation", "IngestResult", "ItemExplanation",
           "OnlineHitRate", "Recommendation", "ScoredItem", "Stats"]
__version__ = "0.1.0"
