"""What the report shows, as data: one chart per question a docs team opens first.

Each chart reads one mart with one query; every row is label parts, then the value. The queries
name the marts' schema (`analytics`), so they run through dlt's SQL client on any destination
the models run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TOP = 10
"""Rows per ranked chart: a page, not a dump."""


@dataclass(frozen=True)
class Chart:
    """One chart: its section id, title, the mart it reads, its query and how it is drawn."""

    id: str
    title: str
    mart: str
    sql: str
    kind: Literal["line", "bar"]
    value: str
    """What the value axis counts."""
    empty: str
    """Said instead of the chart while the mart has no rows."""
    decimals: int = 0
    """Decimals of the printed values (scores are fractions)."""


CHARTS: tuple[Chart, ...] = (
    Chart(
        "page-views",
        "Page views per day (people)",
        "page_views_daily",
        "select cast(day as varchar), sum(views) from analytics.page_views_daily "
        "group by day order by day",
        "line",
        "views",
        "No page views loaded yet: load a site insights day, then build the models.",
    ),
    Chart(
        "top-pages",
        "Top pages, last 30 days",
        "top_pages_30d",
        f"select page_title, space_title, views from analytics.top_pages_30d "
        f"order by page_rank limit {TOP}",
        "bar",
        "views",
        "No page was read in the last 30 days loaded.",
    ),
    Chart(
        "broken-urls",
        "Broken URLs (people's real 404s)",
        "broken_urls",
        f"select url_path, site_title, views from analytics.broken_urls "
        f"order by views desc, site_title, url_path limit {TOP}",
        "bar",
        "views",
        "No broken URL: no person hit a 404 that adaptive content does not explain.",
    ),
    Chart(
        "search-gaps",
        "Searches without results, last 30 days",
        "searches_without_results_30d",
        f"select search_query, site_title, searches from analytics.searches_without_results_30d "
        f"order by gap_rank limit {TOP}",
        "bar",
        "searches",
        "Every query typed in the last 30 days led to an opened result.",
    ),
    Chart(
        "worst-pages",
        "Worst-rated pages, last 30 days (score: -1 all bad, 1 all good)",
        "worst_rated_pages_30d",
        f"select page_title, page_path, rating_score from analytics.worst_rated_pages_30d "
        f"order by page_rank limit {TOP}",
        "bar",
        "rating score",
        "No page was rated in the last 30 days loaded.",
        decimals=2,
    ),
    Chart(
        "worst-answers",
        "Worst-rated AI answers, last 30 days (score: -1 all down, 1 all up)",
        "worst_rated_answers_30d",
        f"select question, site_title, answer_score from analytics.worst_rated_answers_30d "
        f"order by answer_rank limit {TOP}",
        "bar",
        "answer score",
        "No AI answer was rated in the last 30 days loaded.",
        decimals=2,
    ),
)
