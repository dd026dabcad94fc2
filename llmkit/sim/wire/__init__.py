"""The simulator's side of each provider's wire format (independent of llmkit's adapters)."""
