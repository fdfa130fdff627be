"""pipelines.yaml texts that several test modules run, so each scenario is written once."""

from __future__ import annotations

from pathlib import Path

FN = "tests.helpers.stagefns"

# nums -> broken (always fails) -> after_broken -> (after) later; nums -> healthy.
FAILING_BRANCHES = f"""
pipelines:
  p:
    stages:
      nums: {{uses: python.call, with: {{function: "{FN}:numbers"}}}}
      broken:
        uses: python.call
        with: {{function: "{FN}:fail"}}
        inputs: {{values: nums.output}}
      after_broken:
        uses: python.call
        with: {{function: "{FN}:total"}}
        inputs: {{values: broken.output}}
      later:
        uses: python.call
        with: {{function: "{FN}:noop"}}
        after: [after_broken]
      healthy:
        uses: python.call
        with: {{function: "{FN}:total"}}
        inputs: {{values: nums.output}}
"""


def nums_then(stage: str, function: str, kwargs: str = "{}", **policies: object) -> str:
    """nums -> ``stage``, which calls stagefns' ``function`` on nums' output with ``kwargs`` and stage policies."""
    lines = "".join(f"\n        {name}: {value}" for name, value in policies.items())
    return f"""
pipelines:
  p:
    stages:
      nums: {{uses: python.call, with: {{function: "{FN}:numbers"}}}}
      {stage}:
        uses: python.call{lines}
        with: {{function: "{FN}:{function}", kwargs: {kwargs}}}
        inputs: {{values: nums.output}}
"""


# Haystack components (converter, cleaner, joiner, prompt builder) mixed with dagwright's own (loader, chunker,
# embedder) in one pipeline: text files -> convert -> clean -+-> join -> embed -> prompt
#                            markdown   -> load    -> chunk -+
HAYSTACK_MIX = """
resources:
  minilm: {uses: embedding.onnx}
pipelines:
  p:
    params:
      sources: {type: list, description: Paths of text files for Haystack's converter.}
      folder: {type: string, description: A folder of markdown files for dagwright's loader.}
      question: {type: string, default: What do the notes say?}
    stages:
      convert:
        uses: haystack.text_converter
        inputs: {sources: "${params.sources}"}
      clean:
        uses: haystack:haystack.components.preprocessors.DocumentCleaner
        with: {remove_substrings: [DRAFT]}
        inputs: {documents: convert.documents}
      load:
        uses: loader.files
        with: {path: "${params.folder}", pattern: "*.md"}
      chunk:
        uses: chunker.sections
        with: {chunk_size: 64, overlap: 0}
        inputs: {documents: load.output}
      join:
        uses: haystack.joiner
        inputs: {documents: clean.documents, documents_2: chunk.output}
      embed:
        uses: embedder.documents
        with: {model: minilm}
        inputs: {documents: join.documents}
      prompt:
        uses: haystack.prompt_builder
        with:
          template: |-
            {% for d in documents %}[{{ d.meta.file_path or d.meta.source }}] {{ d.content }}
            {% endfor %}Q: {{ question }}
        inputs: {question: "${params.question}", documents: embed.output}
"""


def flaky(log: Path, *, retries: int, failures: int) -> str:
    """nums -> flaky, where flaky fails its first ``failures`` calls (counted in ``log``)."""
    kwargs = f'{{log: "{log}", failures: {failures}}}'
    return nums_then("flaky", "flaky", kwargs, retries=retries, retry_delay="10ms", cache="false")


def buggy(*, retries: int = 0) -> str:
    """nums -> buggy, whose function raises KeyError('source') from inside its own code."""
    return nums_then("buggy", "lookup_source", retries=retries)
