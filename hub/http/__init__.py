"""The HTTP surface outside the console: REST API, reviews API, OpenAPI, validation, token auth, errors, health."""
