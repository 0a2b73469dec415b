"""Controllers: the I/O loops that turn pure decisions into API calls and device calls."""
