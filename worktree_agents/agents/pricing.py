"""What tokens cost, to estimate what a killed claude agent spent: the CLI reports the cost
only in its final result, so an attempt killed by its timeout, its idle timeout or Ctrl-C
has only the token usage of the messages it sent before.

The prices are the list prices per million tokens (those of the Claude Code CLI's model
catalog), by model id prefix, the longest that matches. Long-context surcharges and the
1-hour cache are not modelled: the estimate uses the standard rates. A model that is in no
family here is priced as the most expensive family, so a budget errs on the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass

from worktree_agents.agents.base import TokenUsage


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float  # 5-minute cache writes
    cache_read: float

    def of(self, usage: TokenUsage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_input_tokens * self.cache_write
            + usage.cache_read_input_tokens * self.cache_read
        ) / 1_000_000


OPUS_4_1 = Price(15.0, 75.0, 18.75, 1.50)
MOST_EXPENSIVE = OPUS_4_1
MOST_EXPENSIVE_NAME = "claude-opus-4-1"

# Model id prefixes (a dated id such as claude-sonnet-4-5-20250929 matches its model's).
PRICES: tuple[tuple[str, Price], ...] = (
    ("claude-opus-4-0", OPUS_4_1),
    ("claude-opus-4-1", OPUS_4_1),
    ("claude-opus-4-2025", OPUS_4_1),  # claude-opus-4-20250514, Opus 4
    ("claude-3-opus", OPUS_4_1),
    ("claude-opus-5-5", Price(4.0, 20.0, 5.0, 0.20)),
    ("claude-opus", Price(5.0, 25.0, 6.25, 0.50)),  # 4.5 to 5
    ("claude-sonnet-5-5", Price(2.0, 10.0, 2.50, 0.10)),
    ("claude-sonnet-5", Price(2.0, 10.0, 2.50, 0.20)),
    ("claude-sonnet", Price(3.0, 15.0, 3.75, 0.30)),  # 4.0 to 4.6
    ("claude-3-5-sonnet", Price(3.0, 15.0, 3.75, 0.30)),
    ("claude-3-7-sonnet", Price(3.0, 15.0, 3.75, 0.30)),
    ("claude-haiku-5-5", Price(0.10, 0.50, 0.125, 0.01)),
    ("claude-haiku", Price(1.0, 5.0, 1.25, 0.10)),  # 4.5
    ("claude-3-5-haiku", Price(0.80, 4.0, 1.0, 0.08)),
    ("claude-3-haiku", Price(0.25, 1.25, 0.30, 0.03)),
)


def price_of(model: str) -> Price | None:
    """The price of a model id, or None for a model in no family here."""
    matches = [(prefix, price) for prefix, price in PRICES if model.startswith(prefix)]
    return max(matches, key=lambda m: len(m[0]))[1] if matches else None


def estimate_usd(model: str, usage: TokenUsage) -> float:
    """What `usage` costs on `model`; an unknown model at the most expensive price."""
    return (price_of(model) or MOST_EXPENSIVE).of(usage)
