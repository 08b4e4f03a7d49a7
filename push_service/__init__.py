"""Push approval: relying apps ask, enrolled phones answer with signed decisions."""

__version__ = "0.1.0"
