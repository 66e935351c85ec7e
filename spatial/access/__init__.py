"""Who may do what: departments, bearer tokens, principals and the one permission check."""
