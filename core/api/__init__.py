"""The API plumbing every app's API shares: pagination, strict query parameters, the mapping of
errors to HTTP, the OpenAPI schema hooks and the cached token authentication. Nothing here
imports an app."""
