"""Tests of the push approval Python SDK, run against in-test fakes of the service."""
