"""embedding.openai's checks when it opens on a gateway (no call is made): its route within the gateway's, and a
price for its model when the gateway bounds spending in money."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.embedders import EmbedderError, OpenAIEmbedding
from components.gateway.resource import LlmGateway
from components.resources import Given, opened

HOSTED = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o-mini"}


def gateway(state: Path, **settings: object) -> LlmGateway:
    providers = {"a": HOSTED, "b": HOSTED, "spare": HOSTED}
    return opened(LlmGateway, state_dir=state, providers=providers, route=["a", "b"], **settings)


def test_the_route_is_within_the_gateways_and_money_budgets_need_a_price(tmp_path: Path) -> None:
    gw = gateway(tmp_path)
    with pytest.raises(
        EmbedderError, match=r"route names \['spare'\], not in the route of gateway 'llm' \(\['a', 'b'\]\)"
    ):
        opened(OpenAIEmbedding, state_dir=tmp_path, resources=Given(llm=gw), llm="llm", model="m", route=["spare"])
    routed = opened(OpenAIEmbedding, state_dir=tmp_path, resources=Given(llm=gw), llm="llm", model="m", route=["b"])
    assert routed.gateway is gw and routed.model_id() == "openai:gateway:m"
    priced = {"gpt-4o-mini": {"input_per_1k": 0.1}}
    bounded = gateway(tmp_path, prices=priced, budgets={"daily_usd": {"*": 1.0}})
    with pytest.raises(EmbedderError, match="gateway 'llm' has a money budget but no price for m in its prices"):
        opened(OpenAIEmbedding, state_dir=tmp_path, resources=Given(llm=bounded), llm="llm", model="m")
    gw.close()
    bounded.close()
