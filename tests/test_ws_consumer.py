"""``core.ws_consumer.LeanWebsocketConsumer``: Channels' WebSocket
handlers without a Task per message when there is no channel layer, and
Channels' stock loop (the real channels_redis layer) when there is one."""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from core.ws_consumer import LeanWebsocketConsumer

TIMEOUT = 5


class Echo(LeanWebsocketConsumer):
    disconnected: list[int] = []

    async def connect(self) -> None:
        await self.accept()
        await self.send(text_data=self.channel_name if self.channel_layer is not None else "no layer")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "bye":
            await self.close(code=4000)
        else:
            await self.send(text_data=f"echo {text_data}")

    async def disconnect(self, code: int) -> None:
        self.disconnected.append(code)

    async def hello(self, message: dict) -> None:
        await self.send(text_data=f"layer says {message['text']}")


class LayeredEcho(Echo):
    channel_layer_alias = "default"


async def test_without_a_layer_each_socket_is_one_task_and_handlers_run():
    before = len(asyncio.all_tasks())
    sockets = [WebsocketCommunicator(Echo.as_asgi(), "/") for _ in range(3)]
    for socket in sockets:
        assert (await socket.connect(timeout=TIMEOUT))[0]
        assert await socket.receive_from(timeout=TIMEOUT) == "no layer"
    await socket.send_to(text_data="hi")
    assert await socket.receive_from(timeout=TIMEOUT) == "echo hi"
    assert len(asyncio.all_tasks()) - before == 3  # the sockets' own tasks, nothing pending beside them

    await sockets[0].send_to(text_data="bye")
    assert await sockets[0].receive_output(timeout=TIMEOUT) == {"type": "websocket.close", "code": 4000}
    Echo.disconnected.clear()
    for socket in sockets[1:]:
        await socket.disconnect(code=1001)
    assert Echo.disconnected == [1001, 1001]


async def test_with_a_layer_it_is_channels_stock_consumer():
    socket = WebsocketCommunicator(LayeredEcho.as_asgi(), "/")
    assert (await socket.connect(timeout=TIMEOUT))[0]
    channel = await socket.receive_from(timeout=TIMEOUT)
    await get_channel_layer().send(channel, {"type": "hello", "text": "hi"})
    assert await socket.receive_from(timeout=TIMEOUT) == "layer says hi"
    await socket.disconnect()
