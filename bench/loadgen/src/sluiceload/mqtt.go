package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// mqttDriver speaks MQTT 3.1.1 (written here by hand: no Go MQTT library is packaged in Debian)
// to Sluice's `--mqtt-port` ("sluice-mqtt") or to mosquitto ("mosquitto").
//
// Publish is a QoS 1 PUBLISH acknowledged by its PUBACK, pipelined on ONE connection: each worker
// holds one packet id while it waits, so `-inflight N` is N outstanding packet ids on one
// connection (the same shape as the gRPC driver's N streams on one HTTP/2 connection). A writer
// goroutine coalesces the packets queued meanwhile into one write; a reader goroutine matches each
// PUBACK to its waiter by packet id.
//
// Consume opens ONE subscriber connection (clean session, QoS 1) whatever n is: plain MQTT
// subscriptions each get every message, so n subscribers would be n copies. Each delivery is
// handed to the generator and then acknowledged with PUBACK.
//
// Sluice maps the MQTT topic's first level onto a Sluice topic that must exist: Prepare creates a
// fresh one over the admin API and publishes to exactly that name. mosquitto takes any name.
type mqttDriver struct {
	cfg   Config
	topic string

	mu   sync.Mutex
	conn *mqttConn // the publishing connection, redialled when it breaks
	subs []*mqttConn
}

var mqttClientSeq atomic.Int64

func newMQTT(cfg Config) (Driver, error) {
	d := &mqttDriver{cfg: cfg}
	conn, err := d.dial("pub", nil)
	if err != nil {
		return nil, err
	}
	d.conn = conn
	return d, nil
}

func (d *mqttDriver) dial(role string, deliver func(topic string, body []byte)) (*mqttConn, error) {
	id := fmt.Sprintf("sluiceload-%s-%d-%d", role, time.Now().UnixNano()%1e9, mqttClientSeq.Add(1))
	return dialMQTT(d.cfg.Addr, id, deliver)
}

func (d *mqttDriver) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.disconnect()
	}
	for _, s := range d.subs {
		s.disconnect()
	}
}

func (d *mqttDriver) Prepare(workload string) error {
	if d.cfg.System == "sluice-mqtt" {
		topic, _, err := createSluiceTopic(d.cfg.Admin, workload, "normal")
		d.topic = topic
		return err
	}
	d.topic = fmt.Sprintf("bench/%s-%d", workload, time.Now().UnixNano())
	return nil
}

// current gives the live publishing connection, dialling a new one when the last one broke.
func (d *mqttDriver) current() (*mqttConn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil && d.conn.alive() {
		return d.conn, nil
	}
	conn, err := d.dial("pub", nil)
	if err != nil {
		return nil, err
	}
	d.conn = conn
	return conn, nil
}

func (d *mqttDriver) Publish(worker int, body []byte) error {
	conn, err := d.current()
	if err != nil {
		return err
	}
	return conn.publishQoS1(d.topic, body, callTimeout)
}

func (d *mqttDriver) Txn(worker int, body []byte) error {
	return fmt.Errorf("no transaction workload over MQTT")
}

func (d *mqttDriver) Consume(n, batch int, deliver func(body []byte)) (func(), error) {
	sub, err := d.dial("sub", func(topic string, body []byte) { deliver(body) })
	if err != nil {
		return nil, err
	}
	if err := sub.subscribe(d.topic, 1, callTimeout); err != nil {
		sub.disconnect()
		return nil, err
	}
	d.mu.Lock()
	d.subs = append(d.subs, sub)
	d.mu.Unlock()
	return func() { sub.disconnect() }, nil
}

// ---------------------------------------------------------------------------------------------
// One MQTT 3.1.1 client connection.

const (
	mqttCONNECT     = 1
	mqttCONNACK     = 2
	mqttPUBLISH     = 3
	mqttPUBACK      = 4
	mqttSUBSCRIBE   = 8
	mqttSUBACK      = 9
	mqttPINGREQ     = 12
	mqttPINGRESP    = 13
	mqttDISCONNECT  = 14
	mqttKeepAlive   = 60 // seconds, in CONNECT; a PINGREQ goes every half of it
	mqttMaxInFlight = 65535
)

type mqttConn struct {
	raw     net.Conn
	out     chan []byte // encoded packets for the writer goroutine
	deliver func(topic string, body []byte)

	mu      sync.Mutex
	waiters map[uint16]chan error // PUBACK / SUBACK waiters by packet id
	nextID  uint16
	err     error // set once the connection broke; every waiter got it
	closed  chan struct{}
}

func dialMQTT(addr, clientID string, deliver func(topic string, body []byte)) (*mqttConn, error) {
	raw, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := raw.Write(encodeConnect(clientID, true, mqttKeepAlive)); err != nil {
		raw.Close()
		return nil, err
	}
	reader := bufio.NewReaderSize(raw, 64<<10)
	kind, _, body, err := readPacket(reader)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("CONNACK: %v", err)
	}
	if kind != mqttCONNACK || len(body) != 2 {
		raw.Close()
		return nil, fmt.Errorf("expected CONNACK, got packet type %d (%d bytes)", kind, len(body))
	}
	if body[1] != 0 {
		raw.Close()
		return nil, fmt.Errorf("CONNACK return code %d", body[1])
	}
	_ = raw.SetDeadline(time.Time{})
	c := &mqttConn{raw: raw, out: make(chan []byte, 4096), deliver: deliver,
		waiters: map[uint16]chan error{}, closed: make(chan struct{})}
	go c.writeLoop()
	go c.readLoop(reader)
	go c.pingLoop()
	return c, nil
}

func (c *mqttConn) alive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil
}

// fail marks the connection broken once, closes it and wakes every waiter with err.
func (c *mqttConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	waiters := c.waiters
	c.waiters = map[uint16]chan error{}
	close(c.closed)
	c.mu.Unlock()
	c.raw.Close()
	for _, w := range waiters {
		w <- err
	}
}

func (c *mqttConn) disconnect() {
	select {
	case c.out <- []byte{mqttDISCONNECT << 4, 0}:
	case <-c.closed:
		return
	case <-time.After(time.Second):
	}
	time.Sleep(20 * time.Millisecond) // let the writer send it
	c.fail(errors.New("disconnected"))
}

func (c *mqttConn) send(packet []byte) error {
	select {
	case c.out <- packet:
		return nil
	case <-c.closed:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	}
}

// writeLoop writes what is queued, coalescing the packets that are waiting into one write.
func (c *mqttConn) writeLoop() {
	var buffer []byte
	for {
		select {
		case packet := <-c.out:
			buffer = append(buffer[:0], packet...)
		more:
			for len(buffer) < 256<<10 {
				select {
				case next := <-c.out:
					buffer = append(buffer, next...)
				default:
					break more
				}
			}
			if _, err := c.raw.Write(buffer); err != nil {
				c.fail(err)
				return
			}
		case <-c.closed:
			return
		}
	}
}

func (c *mqttConn) readLoop(reader *bufio.Reader) {
	for {
		kind, flags, body, err := readPacket(reader)
		if err != nil {
			c.fail(fmt.Errorf("connection closed: %v", err))
			return
		}
		switch kind {
		case mqttPUBACK, mqttSUBACK:
			if len(body) < 2 {
				c.fail(fmt.Errorf("short packet type %d", kind))
				return
			}
			id := binary.BigEndian.Uint16(body)
			var result error
			if kind == mqttSUBACK && (len(body) < 3 || body[2] == 0x80) {
				result = errors.New("SUBSCRIBE refused (SUBACK 0x80)")
			}
			c.mu.Lock()
			w := c.waiters[id]
			delete(c.waiters, id)
			c.mu.Unlock()
			if w != nil {
				w <- result
			}
		case mqttPUBLISH:
			p, err := decodePublish(flags, body)
			if err != nil {
				c.fail(err)
				return
			}
			if c.deliver != nil {
				c.deliver(p.topic, p.payload)
			}
			if p.qos == 1 {
				if err := c.send(encodePuback(p.id)); err != nil {
					return
				}
			} else if p.qos == 2 {
				c.fail(errors.New("QoS 2 delivery: not spoken by this driver"))
				return
			}
		case mqttPINGRESP:
		default:
			c.fail(fmt.Errorf("unexpected packet type %d", kind))
			return
		}
	}
}

func (c *mqttConn) pingLoop() {
	ticker := time.NewTicker(mqttKeepAlive / 2 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			if c.send([]byte{mqttPINGREQ << 4, 0}) != nil {
				return
			}
		case <-c.closed:
			return
		}
	}
}

// await registers a waiter on a free packet id (ids in use are skipped; 0 is not a packet id).
func (c *mqttConn) await() (uint16, chan error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, nil, c.err
	}
	if len(c.waiters) >= mqttMaxInFlight {
		return 0, nil, errors.New("no free packet id")
	}
	for {
		c.nextID++
		if c.nextID == 0 {
			continue
		}
		if _, busy := c.waiters[c.nextID]; !busy {
			break
		}
	}
	w := make(chan error, 1)
	c.waiters[c.nextID] = w
	return c.nextID, w, nil
}

func (c *mqttConn) wait(id uint16, w chan error, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-w:
		return err
	case <-timer.C:
		c.mu.Lock()
		delete(c.waiters, id)
		c.mu.Unlock()
		return fmt.Errorf("no acknowledgement of packet %d within %v", id, timeout)
	}
}

func (c *mqttConn) publishQoS1(topic string, body []byte, timeout time.Duration) error {
	id, w, err := c.await()
	if err != nil {
		return err
	}
	if err := c.send(encodePublish(topic, 1, id, body)); err != nil {
		return err
	}
	return c.wait(id, w, timeout)
}

func (c *mqttConn) subscribe(filter string, qos byte, timeout time.Duration) error {
	id, w, err := c.await()
	if err != nil {
		return err
	}
	if err := c.send(encodeSubscribe(id, filter, qos)); err != nil {
		return err
	}
	return c.wait(id, w, timeout)
}

// ---------------------------------------------------------------------------------------------
// The packets (MQTT 3.1.1, OASIS standard, section 2 and 3).

// appendRemainingLength appends the variable-length "remaining length" (1 to 4 bytes, 7 bits each).
func appendRemainingLength(out []byte, n int) []byte {
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

func appendString(out []byte, s string) []byte {
	out = append(out, byte(len(s)>>8), byte(len(s)))
	return append(out, s...)
}

func packet(header byte, body []byte) []byte {
	out := make([]byte, 0, len(body)+5)
	out = append(out, header)
	out = appendRemainingLength(out, len(body))
	return append(out, body...)
}

func encodeConnect(clientID string, cleanSession bool, keepAlive uint16) []byte {
	body := appendString(nil, "MQTT")
	body = append(body, 4) // protocol level 4 = 3.1.1
	flags := byte(0)
	if cleanSession {
		flags |= 0x02
	}
	body = append(body, flags, byte(keepAlive>>8), byte(keepAlive))
	body = appendString(body, clientID)
	return packet(mqttCONNECT<<4, body)
}

func encodePublish(topic string, qos byte, id uint16, payload []byte) []byte {
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	out := make([]byte, 0, n+5)
	out = append(out, mqttPUBLISH<<4|qos<<1)
	out = appendRemainingLength(out, n)
	out = appendString(out, topic)
	if qos > 0 {
		out = append(out, byte(id>>8), byte(id))
	}
	return append(out, payload...)
}

func encodePuback(id uint16) []byte {
	return []byte{mqttPUBACK << 4, 2, byte(id >> 8), byte(id)}
}

func encodeSubscribe(id uint16, filter string, qos byte) []byte {
	body := []byte{byte(id >> 8), byte(id)}
	body = appendString(body, filter)
	body = append(body, qos)
	return packet(mqttSUBSCRIBE<<4|0x02, body) // SUBSCRIBE's fixed-header flags are 0010
}

// readPacket reads one packet: its type, its fixed-header flags and its remaining bytes.
func readPacket(r *bufio.Reader) (kind, flags byte, body []byte, err error) {
	header, err := r.ReadByte()
	if err != nil {
		return 0, 0, nil, err
	}
	length, multiplier := 0, 1
	for i := 0; ; i++ {
		if i == 4 {
			return 0, 0, nil, errors.New("remaining length longer than 4 bytes")
		}
		b, err := r.ReadByte()
		if err != nil {
			return 0, 0, nil, err
		}
		length += int(b&0x7f) * multiplier
		multiplier *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body = make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, 0, nil, err
	}
	return header >> 4, header & 0x0f, body, nil
}

type mqttPublish struct {
	topic   string
	qos     byte
	dup     bool
	retain  bool
	id      uint16
	payload []byte
}

func decodePublish(flags byte, body []byte) (mqttPublish, error) {
	p := mqttPublish{qos: flags >> 1 & 3, dup: flags&0x08 != 0, retain: flags&0x01 != 0}
	if p.qos == 3 {
		return p, errors.New("PUBLISH with QoS 3")
	}
	if len(body) < 2 {
		return p, errors.New("PUBLISH too short for its topic length")
	}
	n := int(binary.BigEndian.Uint16(body))
	if len(body) < 2+n {
		return p, errors.New("PUBLISH too short for its topic")
	}
	p.topic = string(body[2 : 2+n])
	rest := body[2+n:]
	if p.qos > 0 {
		if len(rest) < 2 {
			return p, errors.New("PUBLISH too short for its packet id")
		}
		p.id = binary.BigEndian.Uint16(rest)
		rest = rest[2:]
	}
	p.payload = rest
	return p, nil
}
