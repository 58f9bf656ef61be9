"""Bank transfers: matching the transfers a receiving bank account's statement shows to the payments that
asked for them (by the reference code in the memo and the exact amount), or confirmed by hand."""
