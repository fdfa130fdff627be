"""The gateway's caches in Redis (`redis_url`): exact and semantic hits written by one process are served to
another; a Redis that is down (a closed port) or dies mid-run (a private redis-server, killed) costs a warning
and a model call, never the request; the URL's password never shows."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from components.gateway.resource import CACHE_RETRY_SECONDS, LlmGateway
from tests.components.gateway.test_semantic import semantic_gateway
from tests.helpers.chatserver import OK, chat_server, completion
from tests.helpers.services import REDIS_SECRET, private_port, private_redis, redis_prefix, redis_url

pytestmark = pytest.mark.integration

ASK = [{"role": "user", "content": "What is in the notes?"}]
QUESTION, PARAPHRASE = "How do I delete a git branch?", "how can I delete a git branch"
DOWN = (500, {}, {"error": {"message": "the model must not be asked"}})


def redis_gateway(tmp_path: Path, model_url: str, url: str, prefix: str) -> LlmGateway:
    cache = {"exact": True, "semantic": {"threshold": 0.95}, "prefix": prefix}
    return semantic_gateway(tmp_path, model_url, redis_url=url, cache=cache)


def ask(gw: LlmGateway, question: str) -> Any:
    messages = [{"role": "user", "content": f"Context: docs-v1\nQuestion: {question}"}]
    return gw.reply(messages, prompt="rag-answer@1", question=question, context="docs-v1", temperature=0, max_tokens=5)


def first_process(state: str, prefix: str, url: str, queue: Any) -> None:
    with chat_server((200, {}, completion("from the first process"))) as (model_url, script):
        gw = redis_gateway(Path(state), model_url, url, prefix)
        answers = [gw.reply(ASK, temperature=0, max_tokens=5).served_by, ask(gw, QUESTION).served_by]
        gw.close()
    queue.put((answers, len(script.requests)))


def test_exact_and_semantic_hits_are_shared_by_two_processes(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    with redis_prefix() as prefix:
        writer = spawn.Process(target=first_process, args=(str(tmp_path / "one"), prefix, redis_url(), queue))
        writer.start()
        assert queue.get(timeout=180) == (["model", "model"], 2)
        writer.join(30)
        with chat_server(DOWN) as (model_url, script):
            gw = redis_gateway(tmp_path / "two", model_url, redis_url(), prefix)  # its own state dir: no SQLite
            exact = gw.reply(ASK, temperature=0, max_tokens=5)
            semantic = ask(gw, PARAPHRASE)
            gw.close()
    assert (exact.served_by, semantic.served_by) == ("exact_cache", "semantic_cache")
    assert exact.text == semantic.text == "from the first process" and script.requests == []
    assert not (tmp_path / "two" / "state" / "llm-cache.sqlite").exists()


def test_a_closed_port_is_a_warning_and_a_model_answer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    url = redis_url(private_port())  # nothing listens there
    with chat_server(OK) as (model_url, script):
        gw = redis_gateway(tmp_path, model_url, url, "dagwright-test:closed:")
        replies = [gw.reply(ASK, temperature=0, max_tokens=5) for _ in range(3)]
        gw.close()
    assert [r.served_by for r in replies] == ["model"] * 3 and len(script.requests) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # One warning: after it, the cache is skipped for a few seconds rather than tried by every call.
    assert len(warnings) == 1 and warnings[0].startswith("LLM cache unusable (ConnectionError: ")
    assert [r.cache for r in gw.usage.records()] == ["miss"] * 3
    assert REDIS_SECRET not in caplog.text and url not in caplog.text
    assert REDIS_SECRET.encode() not in (tmp_path / "state" / "usage.sqlite").read_bytes()


def test_a_redis_killed_mid_run_is_a_warning_and_a_model_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    port = private_port()
    url = redis_url(port)
    with private_redis(port) as pid, chat_server(OK) as (model_url, script):
        gw = redis_gateway(tmp_path, model_url, url, "dagwright-test:killed:")
        before = [gw.reply(ASK, temperature=0, max_tokens=5).served_by for _ in range(2)]
        os.kill(pid, signal.SIGKILL)
        after = gw.reply(ASK, temperature=0, max_tokens=5)
        with private_redis(port):  # back, empty: after the skip window the cache is read and written again
            time.sleep(CACHE_RETRY_SECONDS + 0.1)
            back = [gw.reply(ASK, temperature=0, max_tokens=5).served_by for _ in range(2)]
        gw.close()
    assert before == ["model", "exact_cache"] and after.served_by == "model" and after.text == "scripted answer"
    assert back == ["model", "exact_cache"] and len(script.requests) == 3
    assert "LLM cache unusable (ConnectionError" in caplog.text
    assert REDIS_SECRET not in caplog.text


def test_the_redis_url_is_masked_in_what_the_gateway_writes(tmp_path: Path) -> None:
    with chat_server(OK) as (model_url, _), redis_prefix() as prefix:
        gw = redis_gateway(tmp_path, model_url, redis_url(), prefix)
        assert gw.reply(ASK, temperature=0, max_tokens=5).served_by == "model"  # it connects, password and all
        assert gw.mask(f"could not reach {redis_url()}") == "could not reach ***"
        assert gw.mask(f"AUTH failed for default:{REDIS_SECRET}") == "AUTH failed for default:***"
        gw.close()
