"""lime's `lime.utils`."""
