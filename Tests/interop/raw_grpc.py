"""A thin asyncio gRPC client over the official client's own protobuf modules (rocketmq-python-client
5.1.2 ships them), for tests that need what the official client hides: many calls on one connection,
the status code of every call, cancelled calls, and exact message ids."""
import time
import uuid

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from rocketmq.grpc_protocol import definition_pb2 as d
from rocketmq.grpc_protocol import service_pb2 as s
from rocketmq.grpc_protocol import service_pb2_grpc

OK = d.Code.OK
TOO_MANY_REQUESTS = d.Code.TOO_MANY_REQUESTS
MESSAGE_NOT_FOUND = d.Code.MESSAGE_NOT_FOUND


class RawClient:
    """One grpc.aio channel (one HTTP/2 connection) to a broker, with a client id header."""

    def __init__(self, endpoint, client_id=None, options=()):
        self.client_id = client_id or "raw-" + uuid.uuid4().hex[:12]
        # One subchannel, not shared with other channels of this process: one TCP connection.
        self.channel = grpc.aio.insecure_channel(
            endpoint, options=[("grpc.use_local_subchannel_pool", 1), *options])
        self.stub = service_pb2_grpc.MessagingServiceStub(self.channel)
        self.metadata = (("x-mq-client-id", self.client_id), ("x-mq-language", "PYTHON"))

    async def close(self):
        await self.channel.close()

    @staticmethod
    def message(topic, message_id, key, body):
        m = d.Message()
        m.topic.name = topic
        m.system_properties.message_id = message_id
        m.system_properties.message_type = d.MessageType.NORMAL
        m.system_properties.keys.append(key)
        m.system_properties.born_timestamp.FromMilliseconds(int(time.time() * 1000))
        m.system_properties.body_encoding = d.Encoding.IDENTITY
        m.body = body
        return m

    async def send(self, topic, message_id, key, body, timeout=10):
        """The SendMessageResponse (raises grpc.aio.AioRpcError when the call itself fails)."""
        request = s.SendMessageRequest(messages=[self.message(topic, message_id, key, body)])
        return await self.stub.SendMessage(request, metadata=self.metadata, timeout=timeout)

    def receive_call(self, group, topic, batch=32, invisible_s=30, long_poll_s=1, timeout=None):
        """A started ReceiveMessage call (a response stream); the caller reads or cancels it."""
        request = s.ReceiveMessageRequest(batch_size=batch, auto_renew=False)
        request.group.name = group
        request.message_queue.topic.name = topic
        request.filter_expression.type = d.FilterType.TAG
        request.filter_expression.expression = "*"
        request.invisible_duration.CopyFrom(duration_pb2.Duration(seconds=invisible_s))
        request.long_polling_timeout.CopyFrom(duration_pb2.Duration(seconds=long_poll_s))
        if timeout is None:
            timeout = long_poll_s + 10
        return self.stub.ReceiveMessage(request, metadata=self.metadata, timeout=timeout)

    async def receive(self, group, topic, batch=32, invisible_s=30, long_poll_s=1):
        """(status, [Message]) of one receive."""
        status = None
        messages = []
        async for response in self.receive_call(group, topic, batch, invisible_s, long_poll_s):
            which = response.WhichOneof("content")
            if which == "status":
                status = response.status
            elif which == "message":
                messages.append(response.message)
        return status, messages

    async def ack(self, group, topic, messages):
        request = s.AckMessageRequest()
        request.group.name = group
        request.topic.name = topic
        for m in messages:
            request.entries.add(message_id=m.system_properties.message_id,
                                receipt_handle=m.system_properties.receipt_handle)
        return await self.stub.AckMessage(request, metadata=self.metadata, timeout=10)
