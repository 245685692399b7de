"""Operations tooling: dashboard as code, the dashboard renderer (not shipped in the image)."""
