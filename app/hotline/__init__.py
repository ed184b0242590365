"""Teams, agents, queues, contacts and claim-next routing (issue 3)."""
