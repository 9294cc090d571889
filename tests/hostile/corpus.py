"""Every hostile case, gathered from the topic modules in the order docs/HOSTILE.md lists them."""
from . import caches, factories, folders, malformed, paths, renderers, sizes, stores, values, verdicts

TOPICS = (paths, sizes, malformed, values, folders, caches, renderers, factories, stores, verdicts)
CASES = [case for topic in TOPICS for case in topic.CASES]
