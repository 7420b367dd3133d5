"""Stand-in for samna's GUI module (tests only)."""
