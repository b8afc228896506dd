"""Real trains: the CTA's Train Tracker and any agency's GTFS-realtime in, GTFS and GTFS-realtime out.

One module per concern:

* ``polling``: fetch a source's feeds every interval over HTTP, retried with backoff (tenacity);
* ``recording``: write those raw responses to a directory, and replay them (``--source replay:DIR``);
* ``health``: ok / degraded, the reason and since when, and what was counted (unknown ids, ...);
* ``staleness``: a feed whose own timestamp stops advancing;
* ``cta``: the Train Tracker Locations API -> arrivals; ``gtfs_rt``: VehiclePositions and TripUpdates ->
  arrivals, against the agency's static GTFS (read into a ``Network`` by ``transit_status.networks.gtfs``);
* ``gtfs_out``: a static GTFS zip and GTFS-realtime feeds built from the network and train states;
* ``runner``: :func:`~transit_status.feeds.runner.run_feed`, a pipeline process producing arrivals in the
  simulation's contract, and :func:`~transit_status.feeds.runner.record_feed` (``transit-status record``).
"""
