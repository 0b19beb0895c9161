"""Tool contracts: declare a tool once, guard every call to it, and map it to MCP and OpenAI tool definitions.

Examples:
    >>> from aifabric.tools import tool, to_mcp
    >>> @tool(version="1.0.0", owner={"type": "service", "id": "search"}, side_effect="none")
    ... def search_orders(customer_id: str, limit: int = 10) -> dict[str, list[str]]:
    ...     '''Find a customer's orders.
    ...
    ...     Args:
    ...         customer_id: the customer.
    ...         limit: the most orders to return.
    ...     '''
    ...     return {"orders": []}
    >>> search_orders.contract.name, search_orders.contract.side_effect
    ('search_orders', 'none')
    >>> to_mcp(search_orders.contract).document["annotations"]["readOnlyHint"]
    True
"""

from aifabric.tools.declare import Tool, load_contract, tool
from aifabric.tools.guard import AllowRules, Decision, Guard, MemoryIdempotencyStore, Policy, SQLiteIdempotencyStore
from aifabric.tools.mapping import Mapped, from_mcp, from_openai, from_openapi, to_mcp, to_openai

__all__ = [
    "AllowRules",
    "Decision",
    "Guard",
    "Mapped",
    "MemoryIdempotencyStore",
    "Policy",
    "SQLiteIdempotencyStore",
    "Tool",
    "from_mcp",
    "from_openai",
    "from_openapi",
    "load_contract",
    "to_mcp",
    "to_openai",
    "tool",
]
