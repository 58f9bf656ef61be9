"""The vault: channel secrets encrypted at rest with envelope encryption (DESIGN §8)."""
