"""The HTTP surface: one module per resource, plus middleware, bodies, pagination and OpenAPI."""
