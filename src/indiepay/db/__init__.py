"""Database plumbing: engine and transactions (commit at the edge), base model, durable jobs."""
