"""London's own pipeline parts (the network itself is data: ``transit_status.networks.london``).

* :mod:`.barriers`: the ticket-barrier simulation (pure: entries and exits of every Underground station).
* :mod:`.producer`: ``transit-status serve barriers``, the simulation's taps to the ``entries`` and
  ``exits`` topics, as JSON (the original design's shape) or Avro.
"""
