package main

import (
	"bufio"
	"bytes"
	"testing"
)

// The remaining length's variable-length encoding at its boundaries (MQTT 3.1.1, 2.2.3).
func TestMQTTRemainingLength(t *testing.T) {
	cases := map[int][]byte{
		0: {0x00}, 127: {0x7f}, 128: {0x80, 0x01}, 16383: {0xff, 0x7f}, 16384: {0x80, 0x80, 0x01},
		2097151: {0xff, 0xff, 0x7f}, 2097152: {0x80, 0x80, 0x80, 0x01}, 268435455: {0xff, 0xff, 0xff, 0x7f},
	}
	for n, want := range cases {
		if got := appendRemainingLength(nil, n); !bytes.Equal(got, want) {
			t.Fatalf("%d: % x, want % x", n, got, want)
		}
	}
}

// CONNECT, SUBSCRIBE and PUBACK byte for byte as the standard lays them out.
func TestMQTTEncodeFixedPackets(t *testing.T) {
	connect := encodeConnect("ab", true, 60)
	want := []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 2, 'a', 'b'}
	if !bytes.Equal(connect, want) {
		t.Fatalf("CONNECT % x, want % x", connect, want)
	}
	subscribe := encodeSubscribe(0x0102, "a/#", 1)
	want = []byte{0x82, 8, 0x01, 0x02, 0, 3, 'a', '/', '#', 1}
	if !bytes.Equal(subscribe, want) {
		t.Fatalf("SUBSCRIBE % x, want % x", subscribe, want)
	}
	if got := encodePuback(0xBEEF); !bytes.Equal(got, []byte{0x40, 2, 0xBE, 0xEF}) {
		t.Fatalf("PUBACK % x", got)
	}
}

// A QoS 1 and a QoS 0 PUBLISH read back through readPacket and decodePublish; a 1 KiB payload
// needs a two-byte remaining length.
func TestMQTTPublishRoundTrip(t *testing.T) {
	payload := bytes.Repeat([]byte{0, 0xff, 'x'}, 400)
	var stream bytes.Buffer
	stream.Write(encodePublish("bench/t", 1, 7, payload))
	stream.Write(encodePublish("q0", 0, 0, []byte("hi")))
	stream.Write(encodePuback(7))
	r := bufio.NewReader(&stream)
	kind, flags, body, err := readPacket(r)
	if err != nil || kind != mqttPUBLISH || flags != 0x02 {
		t.Fatalf("first: kind %d flags %#x err %v", kind, flags, err)
	}
	p, err := decodePublish(flags, body)
	if err != nil || p.topic != "bench/t" || p.qos != 1 || p.id != 7 || !bytes.Equal(p.payload, payload) || p.dup || p.retain {
		t.Fatalf("first: %+v %v", p, err)
	}
	kind, flags, body, err = readPacket(r)
	if err != nil || kind != mqttPUBLISH {
		t.Fatalf("second: kind %d err %v", kind, err)
	}
	p, err = decodePublish(flags, body)
	if err != nil || p.topic != "q0" || p.qos != 0 || string(p.payload) != "hi" {
		t.Fatalf("second: %+v %v", p, err)
	}
	kind, _, body, err = readPacket(r)
	if err != nil || kind != mqttPUBACK || !bytes.Equal(body, []byte{0, 7}) {
		t.Fatalf("PUBACK: kind %d body % x err %v", kind, body, err)
	}
	if _, _, _, err := readPacket(r); err == nil {
		t.Fatal("read past the end")
	}
}

// Truncated and malformed packets are refused, not trapped on.
func TestMQTTDecodeRefusals(t *testing.T) {
	if _, err := decodePublish(0x06, []byte{0, 1, 'a', 0, 1}); err == nil {
		t.Fatal("QoS 3 accepted")
	}
	if _, err := decodePublish(0x02, []byte{0, 5, 'a'}); err == nil {
		t.Fatal("short topic accepted")
	}
	if _, err := decodePublish(0x02, []byte{0, 1, 'a', 0}); err == nil {
		t.Fatal("short packet id accepted")
	}
	if _, _, _, err := readPacket(bufio.NewReader(bytes.NewReader([]byte{0x30, 0x80, 0x80, 0x80, 0x80, 0x01}))); err == nil {
		t.Fatal("five-byte remaining length accepted")
	}
	if _, _, _, err := readPacket(bufio.NewReader(bytes.NewReader([]byte{0x30, 10, 1, 2}))); err == nil {
		t.Fatal("truncated body accepted")
	}
}
