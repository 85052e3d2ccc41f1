"""The flagkit Django example project."""
