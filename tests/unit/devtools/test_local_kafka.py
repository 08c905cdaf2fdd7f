"""The local broker's cluster id must never look like a command-line option."""

from __future__ import annotations

import base64

from devtools.local_kafka import _random_cluster_id


def test_cluster_ids_are_kafka_uuids_that_never_start_with_a_dash() -> None:
    # one plain base64 id in 64 starts with "-", which `kafka-storage format --cluster-id`
    # reads as an option (a bench run failed that way): 5,000 draws all but surely hit one
    ids = [_random_cluster_id() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    for i in ids[:100]:
        assert len(i) == 22 and len(base64.urlsafe_b64decode(i + "==")) == 16
    assert len(set(ids)) == len(ids)
