"""Developer tools the Makefile runs (`make synth`); not part of the platform or its Lambda bundle."""
