"""One module per provider, as Railway's builder keeps them (core/providers/<name>). The order
they are tried in lives in one place: chalicelib/domain/buildplan/registry.py."""
