"""The HTTP side: API, live page, event stream."""
