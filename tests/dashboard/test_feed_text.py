"""How the pages word a feed next to its dot: its topic's text and the age of its newest record, and never
a separator with nothing after it when there is no record yet (a quiet topic: the alerts while service is
healthy). Runs the pages' shared script (``static/live.js``) in Node: pure, no browser, no server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from transit_status.dashboard.consumer import ConsumerStatus, TopicStatus
from transit_status.dashboard.health import topics_view
from transit_status.dashboard.state import Freshness
from transit_status.dashboard.web import STATIC_DIR


def node() -> str:
    """Node: the PATH's, else the one Playwright (a test dependency) ships to drive browsers."""
    found = shutil.which("node")
    if found:
        return found
    try:
        from playwright._impl._driver import compute_driver_executable

        bundled = compute_driver_executable()[0]
    except (ImportError, IndexError):
        bundled = None
    if bundled and Path(bundled).exists():
        return str(bundled)
    pytest.skip("no Node to run the pages' script in")


def with_age(*calls: tuple[object, ...]) -> list[str]:
    """``live.withAge(...)`` for each argument list, as the pages call it."""
    script = (
        "globalThis.window = {};\n"
        + (STATIC_DIR / "live.js").read_text()
        + f"\nprocess.stdout.write(JSON.stringify({json.dumps(calls)}.map((a) => window.live.withAge(...a))));"
    )
    done = subprocess.run([node(), "-e", script], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_quiet_topic_with_no_record_yet_shows_its_text_alone() -> None:
    quiet = {"service_alerts": "no alert yet: quiet while every line runs to its headway"}
    read = TopicStatus("service_alerts", "alerts-topic", "live", 1, 0, "live", None)  # read to its end: empty
    status = ConsumerStatus(True, True, None, None, None, None, {"service_alerts": read}, {}, {})
    view = topics_view({"alerts-topic": "service_alerts"}, status, {"service_alerts": Freshness()}, 0, quiet)
    topic = view["service_alerts"]
    assert (topic["text"], topic["waiting"], topic["age_s"]) == (quiet["service_alerts"], False, None)
    assert with_age((topic["text"], topic["age_s"]), ("stale: no headways", None, "data ")) == [
        topic["text"],
        "stale: no headways",
    ]


def test_a_topic_with_records_shows_how_old_the_newest_is() -> None:
    assert with_age(("live", 12), ("live", 0.2), ("stale: no headways", 600, "data ")) == [
        "live · 12 s ago",
        "live · just now",
        "stale: no headways · data 10 min ago",
    ]


@pytest.mark.parametrize("page", ["app.js", "london.js"])
def test_the_pages_word_a_feeds_age_only_through_the_shared_helper(page: str) -> None:
    # The pages once wrote `${text} · ${formatAge(age)}` themselves: "text · " for a quiet topic.
    source = (STATIC_DIR / page).read_text()
    assert "· ${formatAge(" not in source and "· data ${formatAge(" not in source
