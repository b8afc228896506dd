"""Chicago's page: its live state (``state.py``), map (``map.py``), Avro records (``records.py``),
metrics (``metrics.py``) and its parts and routes (``page.py``). It imports the shared modules at the
top of the dashboard package, never London's."""
