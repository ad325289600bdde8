"""Small procedures and helpers shared by tests (imported by child processes too)."""
