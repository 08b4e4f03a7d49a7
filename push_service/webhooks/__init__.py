"""Webhooks: the events a challenge's end produces, how they are signed, guarded and sent."""
