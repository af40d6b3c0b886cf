"""lime's `lime.wrappers`."""
