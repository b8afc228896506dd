"""London's page: its live state (``state.py``), map with the typical day (``map.py``), OpenSearch
series (``series.py``) and its parts and routes (``page.py``). It imports the shared modules at the
top of the dashboard package, never Chicago's."""
