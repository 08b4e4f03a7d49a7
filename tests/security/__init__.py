"""The security suite: named attacks against the running service, and the limits it must hold."""
