"""T+1 settlement of platform-collected money and the payouts that pay it to merchants."""
