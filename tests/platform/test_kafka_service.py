"""The broker's set-up, without a broker: what ``kafka.tools.StorageTool format`` is given."""

from __future__ import annotations

import base64

from transit_status.platform.services.kafka import _cluster_id


def test_cluster_ids_are_kafkas_shape_and_never_read_as_an_option() -> None:
    # One random id in 64 would start with "-"; 2,000 draws see one with near certainty.
    ids = [_cluster_id() for _ in range(2000)]
    assert not [cluster_id for cluster_id in ids if cluster_id.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(cluster_id + "==")) == 16 for cluster_id in ids)
    assert len(set(ids)) == len(ids)
