"""Risk control: collection limits, risk rules as data (screening every payment and refund, decisions
kept) and the platform's kill switch over merchants and channel accounts."""
