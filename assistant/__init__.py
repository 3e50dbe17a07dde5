"""jianxue (检学): a retrieval core that answers procurators with exact citations.

The core imports no web, bot or CLI framework; adapters live in ``bots/`` and
``assistant/cli.py``.
"""

__version__ = "0.1.0"
