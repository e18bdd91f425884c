"""The one line `serve` logs when it stops with webhook work unfinished: what is dropped,
and what becomes of the deliveries still pending (with `--data-dir`, they resume at the next
start on the same directory; in memory, their remaining attempts are never made)."""

from __future__ import annotations

ACCOUNTS_NAMED = 5  # the line names this many accounts at most, those with the most first


def shutdown_line(counts: dict[str, tuple[int, int, int]], *, durable: bool) -> str | None:
    """`counts`: per account, attempts in flight, attempts waiting, deliveries pending."""
    if not counts:
        return None
    sending, waiting, pending = (sum(row[i] for row in counts.values()) for i in range(3))
    worst = sorted(counts, key=lambda account_id: -sum(counts[account_id]))
    named = "; ".join(
        "{} {} / {} / {}".format(account_id, *counts[account_id])
        for account_id in worst[:ACCOUNTS_NAMED]
    )
    more = len(worst) - ACCOUNTS_NAMED
    fate = (
        "kept: their attempts resume when the server starts again on this --data-dir"
        if durable
        else "no more attempts will be made"
    )
    return (
        f"shutting down with webhooks unsent: dropping {sending} attempts in flight and "
        f"{waiting} waiting; {pending} deliveries left pending ({fate}) — by account, in "
        f"flight / waiting / pending: {named}" + (f"; and {more} more accounts" if more > 0 else "")
    )
