"""Unit tests of the pure protocol core: no event loop, no server, time passed in."""
