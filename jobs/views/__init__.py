"""The operator web pages: one module per page area; HTMX partials come from the same views."""
