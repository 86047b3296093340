"""The pieces of `make synth` (tools/synth.py): each module checks one kind of artefact offline and
returns an Outcome; synth.py runs them side by side and prints the summary."""
