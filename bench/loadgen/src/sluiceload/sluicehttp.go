package main

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sluiceHTTPDriver speaks the RocketMQ HTTP access protocol (what mq-http-sdk sends) to Sluice's
// `--http-port`, unsigned (the broker runs with --auth off). HTTP/1.1 carries one request per
// connection at a time, so a worker keeps its own keep-alive connection: `-inflight N` is N
// connections here, unlike the gRPC driver's one HTTP/2 connection.
type sluiceHTTPDriver struct {
	cfg    Config
	client *http.Client
	base   string
	topic  string
	group  string
}

func newSluiceHTTP(cfg Config) (Driver, error) {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &sluiceHTTPDriver{cfg: cfg, base: "http://" + cfg.Addr,
		client: &http.Client{Transport: transport, Timeout: callTimeout}}, nil
}

func (d *sluiceHTTPDriver) Close() { d.client.CloseIdleConnections() }

func (d *sluiceHTTPDriver) Prepare(workload string) error {
	kind := "normal"
	if workload == "txn" {
		kind = "transaction"
	}
	topic, group, err := createSluiceTopic(d.cfg.Admin, workload, kind)
	d.topic, d.group = topic, group
	return err
}

// do sends one request with the SDK's headers; a 429 (Throttling) is retried by withRetry.
func (d *sluiceHTTPDriver) do(method, target string, body []byte, want int) ([]byte, int, error) {
	request, err := http.NewRequest(method, d.base+target, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	request.Header.Set("Content-Type", "text/xml;charset=UTF-8")
	request.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	request.Header.Set("x-mq-version", "2015-06-06")
	reply, err := d.client.Do(request)
	if err != nil {
		return nil, 0, err
	}
	text, err := io.ReadAll(reply.Body)
	reply.Body.Close()
	if err != nil {
		return nil, reply.StatusCode, err
	}
	if reply.StatusCode == http.StatusTooManyRequests {
		return nil, reply.StatusCode, errThrottled{string(text)}
	}
	if want != 0 && reply.StatusCode != want {
		return text, reply.StatusCode, fmt.Errorf("%s %s: HTTP %d %s", method, target, reply.StatusCode, text)
	}
	return text, reply.StatusCode, nil
}

type httpPublished struct {
	MessageID     string `xml:"MessageId"`
	ReceiptHandle string `xml:"ReceiptHandle"`
}

func (d *sluiceHTTPDriver) publish(body []byte) (httpPublished, error) {
	var document bytes.Buffer
	document.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mq.aliyuncs.com/doc/v1/"><MessageBody>`)
	document.Write(textBody(body))
	document.WriteString(`</MessageBody><MessageTag></MessageTag></Message>`)
	var published httpPublished
	err := withRetry(func() error {
		text, _, err := d.do("POST", "/topics/"+url.PathEscape(d.topic)+"/messages", document.Bytes(), http.StatusCreated)
		if err != nil {
			return err
		}
		return xml.Unmarshal(text, &published)
	})
	return published, err
}

func (d *sluiceHTTPDriver) Publish(worker int, body []byte) error {
	_, err := d.publish(body)
	return err
}

// Txn publishes a half message to the transaction topic and commits it with its handle (the SDK's
// publish_message + commit).
func (d *sluiceHTTPDriver) Txn(worker int, body []byte) error {
	published, err := d.publish(body)
	if err != nil {
		return err
	}
	return d.ack("commit", []string{published.ReceiptHandle})
}

// ack deletes handles: a consumer's ack (trans "") or a transaction's end (commit, rollback).
func (d *sluiceHTTPDriver) ack(trans string, handles []string) error {
	var document strings.Builder
	document.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ReceiptHandles xmlns="http://mq.aliyuncs.com/doc/v1/">`)
	for _, handle := range handles {
		document.WriteString("<ReceiptHandle>")
		_ = xml.EscapeText(&document, []byte(handle))
		document.WriteString("</ReceiptHandle>")
	}
	document.WriteString("</ReceiptHandles>")
	target := "/topics/" + url.PathEscape(d.topic) + "/messages?consumer=" + url.QueryEscape(d.group)
	if trans != "" {
		target += "&trans=" + trans
	}
	return withRetry(func() error {
		_, _, err := d.do("DELETE", target, []byte(document.String()), http.StatusNoContent)
		return err
	})
}

type httpConsumed struct {
	Messages []struct {
		Body          string `xml:"MessageBody"`
		ReceiptHandle string `xml:"ReceiptHandle"`
	} `xml:"Message"`
}

// Consume: n long-polling workers (up to 16 messages, 1 s wait), each acking its batch.
func (d *sluiceHTTPDriver) Consume(n, batch int, deliver func(body []byte)) (func(), error) {
	if batch > 16 {
		batch = 16 // the protocol's numOfMessages limit
	}
	done := make(chan struct{})
	target := fmt.Sprintf("/topics/%s/messages?consumer=%s&numOfMessages=%d&waitseconds=1",
		url.PathEscape(d.topic), url.QueryEscape(d.group), batch)
	for c := 0; c < n; c++ {
		go func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				text, code, err := d.do("GET", target, nil, 0)
				if _, throttledAnswer := err.(errThrottled); throttledAnswer {
					throttled.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if err != nil || code == http.StatusNotFound {
					if err != nil {
						noteFailure(err)
						time.Sleep(10 * time.Millisecond)
					}
					continue // 404 MessageNotExist: nothing within the wait
				}
				if code != http.StatusOK {
					noteFailure(fmt.Errorf("consume: HTTP %d %s", code, text))
					continue
				}
				var consumed httpConsumed
				if err := xml.Unmarshal(text, &consumed); err != nil {
					noteFailure(err)
					continue
				}
				handles := make([]string, 0, len(consumed.Messages))
				for _, message := range consumed.Messages {
					deliver(binaryBody(message.Body))
					handles = append(handles, message.ReceiptHandle)
				}
				if len(handles) > 0 {
					if err := d.ack("", handles); err != nil {
						noteFailure(err)
					}
				}
			}
		}()
	}
	return func() { close(done) }, nil
}

// textBody makes the generator's body XML text of the same size: its first 16 bytes (the send time
// and sequence the e2e workload reads back) in hex, then 'x's. The protocol carries text, and a
// binary body would come back with U+FFFD for its invalid bytes.
func textBody(body []byte) []byte {
	prefix := len(body)
	if prefix > 16 {
		prefix = 16
	}
	text := make([]byte, hex.EncodedLen(prefix), len(body)+prefix)
	hex.Encode(text, body[:prefix])
	for len(text) < len(body) {
		text = append(text, 'x')
	}
	return text
}

// binaryBody undoes textBody's hex prefix.
func binaryBody(text string) []byte {
	if len(text) < 32 {
		return []byte(text)
	}
	prefix, err := hex.DecodeString(text[:32])
	if err != nil {
		return []byte(text)
	}
	return append(prefix, text[32:]...)
}
