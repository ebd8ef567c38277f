"""mlsteward."""
