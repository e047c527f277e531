"""SQL92 property filters with the official RocketMQ Python client: a SimpleConsumer subscribed with
FilterType.SQL receives only the messages whose properties (and TAGS) match; a malformed expression
is refused with ILLEGAL_FILTER_EXPRESSION and a message saying what is wrong."""
from rocketmq import ClientConfiguration, Credentials, FilterExpression, Message, SimpleConsumer
from rocketmq.grpc_protocol import FilterType

from test_consumption import make_producer, receive_all


def sql_consumer(broker, group, topic, expression):
    consumer = SimpleConsumer(ClientConfiguration(broker.endpoint, Credentials()), group,
                              {topic: FilterExpression(expression, FilterType.SQL)}, await_duration=2)
    consumer.startup()
    broker.wait_until_subscribed(group, topic)
    return consumer


def priced(topic, index, region, tag):
    m = Message()
    m.topic = topic
    m.body = f"item-{index}".encode()
    m.tag = tag
    m.add_property("price", str(index))
    m.add_property("region", region)
    return m


def test_sql92_filter_delivers_only_matching_messages(broker):
    broker.create_topic("catalog", "normal")
    producer = make_producer(broker, "catalog")
    consumer = sql_consumer(broker, "bargains", "catalog",
                            "(TAGS IS NOT NULL AND TAGS IN ('book', 'toy')) AND price BETWEEN 2 AND 6 AND region <> 'us'")
    try:
        regions = ["eu", "us", "eu", "asia", "eu", "us", "eu", "eu", "eu", "eu"]
        tags = ["book", "book", "toy", "toy", "food", "toy", "book", "book", "toy", "book"]
        for index in range(10):
            producer.send(priced("catalog", index, regions[index], tags[index]))
        expected = sorted(f"item-{i}" for i in range(10)
                          if tags[i] in ("book", "toy") and 2 <= i <= 6 and regions[i] != "us")
        got = receive_all(consumer, len(expected))
        assert sorted(m.body.decode() for m in got) == expected
        assert consumer.receive(32, 10) == [], "nothing else matches"
    finally:
        consumer.shutdown()
        producer.shutdown()


def test_sql92_parse_error_is_refused_with_a_clear_message(broker):
    broker.create_topic("catalog2", "normal")
    consumer = sql_consumer(broker, "confused", "catalog2", "price > 'cheap'")
    try:
        try:
            consumer.receive(32, 10)
            raise AssertionError("a malformed SQL92 expression was accepted")
        except AssertionError:
            raise
        except Exception as error:  # the client raises its own exception type carrying the status
            text = str(error)
            assert "40010" in text or "ILLEGAL_FILTER_EXPRESSION" in text or "compares numbers only" in text, text
    finally:
        consumer.shutdown()
