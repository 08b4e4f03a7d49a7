"""The engine contract: one suite, run against the in-process engine and the Redis engine."""
