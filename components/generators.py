"""LLM providers and generators: answers from a chat model, grounded in retrieved passages, citing them.

An LLM provider is a resource (components/resources.py). `llm.openai` talks to any OpenAI-compatible endpoint
(OpenAI, Azure OpenAI, vLLM, Ollama): `base_url`, `model` and `api_key: ${env:...}` are configuration. Without a
`base_url` it starts the embedded llama.cpp server with SmolLM2 (components/llmserver.py) when it opens, and
stops it when it closes.
"""

from __future__ import annotations

import json
import re
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

from pydantic import Field

from components.base import Checkable, Component, ComponentParams, FilesChecked, Presentable
from components.documents import Document
from components.localmodel import LocalModelSettings
from components.prompts import PromptError, load_prompt, prompt_file, template_problem
from components.resources import Resource, Uses

if TYPE_CHECKING:
    from openai import OpenAI

    from components.llmserver import LocalServer

NO_CONTEXT_ANSWER = (
    "I could not find an answer in the indexed documents: no passage was relevant enough to the question."
)


@dataclass(frozen=True)
class Source:
    """A passage the answer was given, numbered as in the prompt."""

    n: int
    source: str
    title: str
    heading_path: list[str]
    relevance: float | None
    cited: bool


@dataclass(frozen=True)
class Answer(Checkable, Presentable):
    check_kind: ClassVar[str] = "answer"  # text_length and sources_present apply

    question: str
    text: str
    sources: list[Source]
    grounded: bool  # False when no passage cleared the threshold and the model was not called
    prompt: str = ""
    model: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    served_by: str = "model"  # or "exact_cache", "semantic_cache": the LLM gateway answered from a cache

    def check_row(self) -> dict[str, Any]:
        return {"content": self.text.strip(), "sources": len(self.sources)}

    def present(self) -> str:
        return "\n".join([self.text, "", *(f"  [{s.n}] {_where(s)}  ({_relevance(s)})" for s in self.sources)])

    def as_markdown(self) -> str:
        lines = [self.text, "", "**Sources**", ""]
        return "\n".join(lines + [f"{s.n}. {_where(s)} ({_relevance(s)})" for s in self.sources])


def _where(source: Source) -> str:
    return " > ".join([source.source, *source.heading_path])


def _relevance(source: Source) -> str:
    shown = "n/a" if source.relevance is None else f"{source.relevance:.2f}"
    return f"relevance {shown}{', cited' if source.cited else ''}"


@dataclass(frozen=True)
class Generated:
    answer: Answer


class ProviderSettings(LocalModelSettings):
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; unset = the embedded local model.")
    model: str = Field("smollm2-135m-instruct", description="Model name at the endpoint.")
    api_key: str | None = Field(None, description="Use ${env:NAME}; never write a key in the YAML.")
    timeout: float = Field(120, gt=0, description="Seconds per model call.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries of a failed call (connection errors, 429, 5xx).")


S = TypeVar("S", bound=ComponentParams)


@dataclass(frozen=True)
class Reply:
    """A chat model's reply, and who served it: ``model``, ``exact_cache`` or ``semantic_cache`` (the LLM
    gateway's caches)."""

    text: str
    usage: dict[str, int]
    model: str
    served_by: str = "model"
    provider: str = ""
    cost_usd: float = 0.0


class LlmProvider(Resource[S]):
    """A chat model: messages in, text and token usage out."""

    kind = "LLM provider"

    def model_name(self) -> str:
        """The model's name, as an answer records it."""
        return self.name

    @abstractmethod
    def chat(self, messages: list[dict[str, str]], **options: Any) -> tuple[str, dict[str, int]]:
        """The reply to ``messages`` and its usage (prompt_tokens, completion_tokens)."""

    def reply(
        self, messages: list[dict[str, str]], *, prompt: str = "", question: str = "", context: str = "", **options: Any
    ) -> Reply:
        """The reply with who served it. ``prompt`` (id@version) names the template, for caches and records;
        ``question`` (the user's alone) and ``context`` (the identity of the passages rendered into the messages)
        are for a semantic cache. Providers that keep neither ignore them."""
        text, usage = self.chat(messages, **options)
        return Reply(text, usage, self.model_name())


LlmRef = Annotated[str, Uses(LlmProvider)]


class OpenAIProvider(LlmProvider[ProviderSettings]):
    """Any OpenAI-compatible chat endpoint; without `base_url`, the embedded SmolLM2 server (offline).

    Example:

    ```yaml
    resources:
      llm: {uses: llm.openai}                       # the embedded local model
      gpt:
        uses: llm.openai
        with: {base_url: "https://api.openai.com/v1", model: gpt-4o-mini, api_key: "${env:OPENAI_API_KEY}"}
    ```
    """

    name = "llm.openai"
    client: OpenAI | None = None  # built by open()
    server: LocalServer | None = None  # the embedded model's server, started by open() when there is no base_url

    def model_name(self) -> str:
        return self.params.model

    def open(self) -> None:
        from openai import OpenAI

        p = self.params
        base_url = p.base_url
        if base_url is None:
            self.server = p.local_server(self.context.state_dir / "llm-server.log")
            base_url = self.server.start()
        self.client = OpenAI(
            base_url=base_url, api_key=p.api_key or "unused", timeout=p.timeout, max_retries=p.max_retries
        )

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.server is not None:
            self.server.stop()

    def chat(self, messages: list[dict[str, str]], **options: Any) -> tuple[str, dict[str, int]]:
        if self.client is None:
            raise RuntimeError(f"{self.name}: chat() before open()")
        from components.tokens import StreamClosed, StreamInterrupted, wants_tokens

        stream = bool(options.pop("stream", False)) or wants_tokens()  # a streaming request streams the call
        request: dict[str, Any] = {"model": self.params.model, "messages": messages, **options}
        if not stream:
            response = self.client.chat.completions.create(**request)
            return response.choices[0].message.content or "", usage_of(response.usage)
        chunks = self.client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
        sent: list[bool] = []
        try:
            return read_stream(chunks, lambda: sent.append(True))
        except Exception as exc:  # the engine would retry the stage, and send the tokens again
            if sent and wants_tokens() and not isinstance(exc, StreamClosed):
                raise StreamInterrupted(f"{self.name} failed mid-stream: {type(exc).__name__}: {exc}") from exc
            raise


class GeneratorParams(ComponentParams):
    llm: LlmRef = Field("llm", description="The LLM provider resource (declared under `resources:`).")
    prompt: str = Field("rag-answer@1", description="Prompt template NAME@VERSION from `prompts_dir`.")
    prompts_dir: str = Field("prompts", description="Folder of versioned prompt templates.")
    temperature: float = Field(0.1, ge=0, le=2)
    frequency_penalty: float = Field(
        0.5, ge=-2, le=2, description="Discourages repeating the same words (small models loop without it)."
    )
    max_tokens: int = Field(256, ge=1, le=32768)
    stream: bool = Field(False, description="Stream tokens from the endpoint (usage is still counted).")


def format_context(documents: list[Document]) -> str:
    blocks = []
    for n, d in enumerate(documents, start=1):
        where = " > ".join([str(d.meta.get("source", d.id)), *d.meta.get("heading_path", [])])
        blocks.append(f"[{n}] ({where})\n{d.content.strip()}")
    return "\n\n".join(blocks)


def context_identity(documents: list[Document]) -> str:
    """A hash of the passages a prompt is rendered with, ids and text, in order: changed documents, a new identity."""
    import hashlib

    digest = hashlib.sha256()
    for d in documents:
        digest.update(json.dumps([d.id, d.content], ensure_ascii=False).encode())
    return digest.hexdigest()


def sources_of(documents: list[Document], answer: str) -> list[Source]:
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    return [
        Source(
            n=n,
            source=str(d.meta.get("source", d.id)),
            title=str(d.meta.get("title", "")),
            heading_path=list(d.meta.get("heading_path", [])),
            relevance=d.meta.get("relevance", d.score),
            cited=n in cited,
        )
        for n, d in enumerate(documents, start=1)
    ]


class AnswerGenerator(Component[GeneratorParams], FilesChecked[GeneratorParams]):
    """Answers a question from retrieved passages with an LLM provider resource, citing them as [n].

    When no passage cleared the retriever's threshold, it answers so explicitly and does not call the model.

    Example:

    ```yaml
    uses: generator.answer
    with: {llm: llm, prompt: rag-answer@1, max_tokens: 200}
    inputs: {question: "${params.question}", documents: retrieve.output}
    ```

    Its output port is `answer` (text, sources with relevance and whether cited, prompt, model, usage).
    """

    name = "generator.answer"
    default_checks = {"outputs": {"answer": [{"text_length": {"min": 1}}]}}
    libraries = ("openai",)

    @classmethod
    def referenced_files(cls, params: GeneratorParams, project_root: Path) -> list[Path]:
        """Its prompt template: an edited template is a new answer."""
        folder = Path(params.prompts_dir)
        try:
            _, _, file = prompt_file(params.prompt, folder if folder.is_absolute() else project_root / folder)
        except PromptError:  # the stage fails when it runs; the key need not say why
            return []
        return [file]

    @classmethod
    def check_files(cls, params: GeneratorParams, project_root: Path) -> list[tuple[str, str]]:
        """The prompt exists, is a template, and asks only for what `answer` renders it with."""
        if "${" in params.prompt + params.prompts_dir:  # resolved when the stage runs (an env var)
            return []
        # From the working folder, as `answer` reads it (a run works in the project's folder).
        problem = template_problem(params.prompt, params.prompts_dir, {"question", "context"})
        return [("prompt", problem)] if problem else []

    @classmethod
    def deterministic(cls, params: GeneratorParams) -> bool:
        """Only greedy decoding (temperature 0) repeats itself; a cached sample would be served as every sample."""
        return params.temperature == 0

    def run(self, question: str, documents: list[Document]) -> Generated:
        return Generated(self.answer(question, documents))

    def answer(self, question: str, documents: list[Document]) -> Answer:
        if not documents:
            return Answer(question, NO_CONTEXT_ANSWER, [], grounded=False)
        p = self.params
        prompt = load_prompt(p.prompt, p.prompts_dir)
        messages = prompt.render(question=question, context=format_context(documents))
        provider = self.resources.get(p.llm, LlmProvider)
        started = time.perf_counter()
        reply = provider.reply(
            messages,
            prompt=prompt.ref,
            question=question,
            context=context_identity(documents),
            temperature=p.temperature,
            max_tokens=p.max_tokens,
            frequency_penalty=p.frequency_penalty,
            stream=p.stream,
        )
        seconds = round(time.perf_counter() - started, 3)
        text = reply.text
        sources = sources_of(documents, text)
        return Answer(
            question, text.strip(), sources, True, prompt.ref, reply.model, reply.usage, seconds, reply.served_by
        )


def read_stream(chunks: Any, first_token: Callable[[], None] | None = None) -> tuple[str, dict[str, int]]:
    """The text and usage of an OpenAI chat stream, each piece reported to the run's token listener as it comes;
    ``first_token`` is called at the first. The stream is closed however the loop ends: a listener whose client
    went away raises StreamClosed, and closing the connection is what makes llama.cpp stop generating."""
    from components.tokens import report_token

    parts: list[str] = []
    usage: dict[str, int] = {}
    with chunks:
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                if not parts and first_token is not None:
                    first_token()
                parts.append(chunk.choices[0].delta.content)
                report_token(chunk.choices[0].delta.content)
            if chunk.usage:
                usage = usage_of(chunk.usage)
    return "".join(parts), usage


def usage_of(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
