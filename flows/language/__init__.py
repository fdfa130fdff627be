"""The pipelines language: YAML with positions, the typed spec, references and run parameters."""
