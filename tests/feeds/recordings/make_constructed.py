"""Writes the CONSTRUCTED recordings of this folder (see README.md): run it from the repository root,
``python tests/feeds/recordings/make_constructed.py``. Nothing here was fetched from the CTA.

The Train Tracker bodies follow the Locations API's documented JSON shape (every value a string, times
in Chicago's local time); their station and stop ids are real ones of ``data/cta``, one is made up
(49999/39999) to stand for an id the network lacks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "cta-train-tracker-constructed"
DAY = "2026-12-01T"


def train(rn: str, dest_stop: str, dest: str, trdr: str, sta: str, stp: str, name: str, prdt: str, arrt: str) -> dict:
    return {
        "rn": rn, "destSt": dest_stop, "destNm": dest, "trDr": trdr, "nextStaId": sta, "nextStpId": stp,
        "nextStaNm": name, "prdt": DAY + prdt, "arrT": DAY + arrt, "isApp": "0", "isDly": "0", "flags": None,
        "lat": "41.9", "lon": "-87.63", "heading": "180",
    }  # fmt: skip


def body(tmst: str, routes: dict[str, list[dict]]) -> bytes:
    document = {
        "ctatt": {
            "tmst": tmst, "errCd": "0", "errNm": None,
            "route": [{"@name": name, "train": trains} for name, trains in routes.items()],
        }
    }  # fmt: skip
    return json.dumps(document, separators=(",", ":")).encode()


POLLS = [
    # 08:00:00 - Red run 831 bound for 95th (trDr 5) heads for North/Clybourn; Red 835 approaches Howard, its
    # terminal; Blue 123 (O'Hare-bound, trDr 1) heads for Logan Square; Green 009 names a station we lack.
    body(DAY + "08:00:00", {
        "red": [
            train("831", "30089", "95th", "5", "40650", "30126", "North/Clybourn", "07:59:40", "08:00:40"),
            train("835", "30173", "Howard", "1", "40900", "30173", "Howard", "07:59:50", "08:00:50"),
        ],
        "blue": [train("123", "30171", "O'Hare", "1", "41020", "30197", "Logan Square", "07:59:30", "08:01:30")],
        "g": [train("009", "30004", "Harlem/Lake", "1", "49999", "39999", "Nowhere", "07:59:00", "08:03:00")],
    }),
    # 08:01:00 - 831 left North/Clybourn for Clark/Division; 835 is gone (reached Howard); 123 still coming.
    body(DAY + "08:01:00", {
        "red": [train("831", "30089", "95th", "5", "40630", "30122", "Clark/Division", "08:00:45", "08:01:45")],
        "blue": [train("123", "30171", "O'Hare", "1", "41020", "30197", "Logan Square", "07:59:30", "08:01:30")],
        "g": [train("009", "30004", "Harlem/Lake", "1", "49999", "39999", "Nowhere", "07:59:00", "08:03:00")],
    }),
    # 08:02:00 - 831 heads for Chicago (past Clark/Division); 123 heads for Belmont (past Logan Square).
    body(DAY + "08:02:00", {
        "red": [train("831", "30089", "95th", "5", "41450", "30280", "Chicago", "08:01:50", "08:02:50")],
        "blue": [train("123", "30171", "O'Hare", "1", "40060", "30012", "Belmont", "08:01:40", "08:03:10")],
    }),
]  # fmt: skip


def main() -> None:
    OUT.mkdir(exist_ok=True)
    meta = {
        "format": "transit-status-recording",
        "version": 1,
        "source": "cta-train-tracker",
        "created_at": "2026-12-01T14:02:00.000+00:00",
        "feeds": {"positions": "https://lapi.transitchicago.com/api/1.0/ttpositions.aspx"},
        "static": None,
        "note": "CONSTRUCTED from the documented Locations API format (see README.md); not a capture",
    }
    (OUT / "recording.json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = []
    for number, data in enumerate(POLLS, 1):
        name = f"{number:06d}-positions.json"
        (OUT / name).write_bytes(data)
        fetched = datetime(2026, 12, 1, 14, number - 1, 1, tzinfo=UTC)  # 08:0x:01 Chicago (CST, UTC-6)
        entry = {
            "poll": number, "feed": "positions", "fetched_at": fetched.isoformat(timespec="milliseconds"),
            "status": 200, "error": None, "content_type": "application/json; charset=utf-8", "file": name,
            "bytes": len(data),
        }  # fmt: skip
        lines.append(json.dumps(entry, sort_keys=True))
    (OUT / "index.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
