"""A US account aggregator in the style of Plaid, over the sandbox world."""
