"""The project's shared ground floor: errors, roles, API plumbing, the task outbox, bulk SQL,
time formatting and page helpers. Every app may import from here; core imports no app."""
