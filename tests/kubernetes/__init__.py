"""Tests of the in-process Kubernetes API server and of the code that talks to Kubernetes."""
