package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	durationpb "github.com/golang/protobuf/ptypes/duration"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "rmqpb"
)

// callTimeout bounds every unary call: an unanswered call is a failure, not a hang.
const callTimeout = 30 * time.Second

// sluiceDriver speaks apache.rocketmq.v2 over ONE gRPC connection (one HTTP/2 connection, as
// the official clients keep one per endpoint); every worker's calls are streams on it.
type sluiceDriver struct {
	cfg    Config
	conn   *grpc.ClientConn
	client pb.MessagingServiceClient
	ctx    context.Context
	topic  string
	group  string
	seq    atomic.Uint64
}

func newSluice(cfg Config) (Driver, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, cfg.Addr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		return nil, err
	}
	md := metadata.Pairs("x-mq-client-id", fmt.Sprintf("sluiceload@%d", time.Now().UnixNano()),
		"x-mq-language", "GOLANG", "x-mq-protocol", "v2")
	return &sluiceDriver{cfg: cfg, conn: conn, client: pb.NewMessagingServiceClient(conn),
		ctx: metadata.NewOutgoingContext(context.Background(), md)}, nil
}

func (d *sluiceDriver) Close() { d.conn.Close() }

// Prepare creates a fresh topic for the case over the admin API (each case gets its own, so a
// backlog left by one case is not in the next one's way).
func (d *sluiceDriver) Prepare(workload string) error {
	kind := "normal"
	if workload == "txn" {
		kind = "transaction"
	}
	topic, group, err := createSluiceTopic(d.cfg.Admin, workload, kind)
	d.topic, d.group = topic, group
	return err
}

// createSluiceTopic makes a fresh topic of `kind` and a consumer group reading it from its start
// over Sluice's admin API (each case gets its own, so a backlog left by one case is not in the
// next one's way); both the gRPC and the HTTP driver use it.
func createSluiceTopic(admin, workload, kind string) (topic, group string, err error) {
	topic = fmt.Sprintf("bench-%s-%d", workload, time.Now().UnixNano())
	group = topic + "-group"
	if admin == "" {
		return "", "", fmt.Errorf("sluice needs -admin to create topic %s", topic)
	}
	body := fmt.Sprintf(`{"name":%q,"type":%q}`, topic, kind)
	reply, err := http.Post(admin+"/v1/topics", "application/json", bytes.NewBufferString(body))
	if err != nil {
		return "", "", err
	}
	text, _ := io.ReadAll(reply.Body)
	reply.Body.Close()
	if reply.StatusCode/100 != 2 {
		return "", "", fmt.Errorf("create topic %s: HTTP %d %s", topic, reply.StatusCode, text)
	}
	// Consumers start alongside the senders: the group must see the case's first messages too
	// (a new group starts at the newest message by default).
	body = fmt.Sprintf(`{"name":%q,"consumeFrom":"earliest"}`, group)
	reply, err = http.Post(admin+"/v1/groups", "application/json", bytes.NewBufferString(body))
	if err != nil {
		return "", "", err
	}
	text, _ = io.ReadAll(reply.Body)
	reply.Body.Close()
	if reply.StatusCode/100 != 2 {
		return "", "", fmt.Errorf("create group %s: HTTP %d %s", group, reply.StatusCode, text)
	}
	return topic, group, nil
}

func (d *sluiceDriver) send(body []byte, kind pb.MessageType) (*pb.SendResultEntry, error) {
	id := fmt.Sprintf("L%016X", d.seq.Add(1))
	request := &pb.SendMessageRequest{Messages: []*pb.Message{{
		Topic:            &pb.Resource{Name: d.topic},
		Body:             body,
		SystemProperties: &pb.SystemProperties{MessageId: id, MessageType: kind, BodyEncoding: pb.Encoding_IDENTITY},
	}}}
	var entry *pb.SendResultEntry
	err := withRetry(func() error {
		ctx, cancel := context.WithTimeout(d.ctx, callTimeout)
		defer cancel()
		reply, err := d.client.SendMessage(ctx, request)
		if err != nil {
			if status.Code(err) == codes.ResourceExhausted {
				return errThrottled{err.Error()}
			}
			return err
		}
		code := reply.GetStatus().GetCode()
		if len(reply.Entries) > 0 && reply.Entries[0].GetStatus().GetCode() != pb.Code_OK {
			code = reply.Entries[0].GetStatus().GetCode()
		}
		switch code {
		case pb.Code_OK:
			entry = reply.Entries[0]
			return nil
		case pb.Code_TOO_MANY_REQUESTS:
			return errThrottled{reply.GetStatus().GetMessage()}
		}
		return fmt.Errorf("send: %v %s", code, reply.GetStatus().GetMessage())
	})
	return entry, err
}

func (d *sluiceDriver) Publish(worker int, body []byte) error {
	_, err := d.send(body, pb.MessageType_NORMAL)
	return err
}

func (d *sluiceDriver) Txn(worker int, body []byte) error {
	entry, err := d.send(body, pb.MessageType_TRANSACTION)
	if err != nil {
		return err
	}
	request := &pb.EndTransactionRequest{Topic: &pb.Resource{Name: d.topic}, MessageId: entry.MessageId,
		TransactionId: entry.TransactionId, Resolution: pb.TransactionResolution_COMMIT,
		Source: pb.TransactionSource_SOURCE_CLIENT}
	return withRetry(func() error {
		ctx, cancel := context.WithTimeout(d.ctx, callTimeout)
		defer cancel()
		reply, err := d.client.EndTransaction(ctx, request)
		if err != nil {
			if status.Code(err) == codes.ResourceExhausted {
				return errThrottled{err.Error()}
			}
			return err
		}
		switch reply.GetStatus().GetCode() {
		case pb.Code_OK:
			return nil
		case pb.Code_TOO_MANY_REQUESTS:
			return errThrottled{reply.GetStatus().GetMessage()}
		}
		return fmt.Errorf("end transaction: %v %s", reply.GetStatus().GetCode(), reply.GetStatus().GetMessage())
	})
}

// Consume runs n simple consumers: ReceiveMessage long polling (1 s) for up to `batch` messages
// with a 30 s invisible duration, then one AckMessage carrying every receipt handle of the batch.
// The consumers share one connection of their own, apart from the producers': a producer and a
// consumer are separate client instances in the official clients, each with one connection per
// endpoint (and RabbitMQ's driver gives its consumers their own connections too).
func (d *sluiceDriver) Consume(n, batch int, deliver func(body []byte)) (func(), error) {
	dialCtx, cancelDial := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelDial()
	conn, err := grpc.DialContext(dialCtx, d.cfg.Addr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		return nil, err
	}
	client := pb.NewMessagingServiceClient(conn)
	ctx, cancel := context.WithCancel(d.ctx)
	var wg sync.WaitGroup
	for c := 0; c < n; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for ctx.Err() == nil {
				request := &pb.ReceiveMessageRequest{
					Group:               &pb.Resource{Name: d.group},
					MessageQueue:        &pb.MessageQueue{Topic: &pb.Resource{Name: d.topic}, Id: int32(c)},
					FilterExpression:    &pb.FilterExpression{Type: pb.FilterType_TAG, Expression: "*"},
					BatchSize:           int32(batch),
					XInvisibleDuration:  &pb.ReceiveMessageRequest_InvisibleDuration{InvisibleDuration: &durationpb.Duration{Seconds: 30}},
					XLongPollingTimeout: &pb.ReceiveMessageRequest_LongPollingTimeout{LongPollingTimeout: &durationpb.Duration{Seconds: 1}},
				}
				callCtx, cancelCall := context.WithTimeout(ctx, callTimeout)
				stream, err := client.ReceiveMessage(callCtx, request)
				if err != nil {
					cancelCall()
					if ctx.Err() == nil {
						noteFailure(fmt.Errorf("receive: %v", err))
						time.Sleep(10 * time.Millisecond)
					}
					continue
				}
				var entries []*pb.AckMessageEntry
				for {
					part, err := stream.Recv()
					if err != nil {
						if err != io.EOF && ctx.Err() == nil {
							noteFailure(fmt.Errorf("receive stream: %v", err))
						}
						break
					}
					switch content := part.Content.(type) {
					case *pb.ReceiveMessageResponse_Message:
						m := content.Message
						deliver(m.Body)
						entries = append(entries, &pb.AckMessageEntry{MessageId: m.GetSystemProperties().GetMessageId(),
							ReceiptHandle: m.GetSystemProperties().GetReceiptHandle()})
					case *pb.ReceiveMessageResponse_Status:
						code := content.Status.GetCode()
						if code == pb.Code_TOO_MANY_REQUESTS {
							throttled.Add(1)
							time.Sleep(5 * time.Millisecond)
						} else if code != pb.Code_OK && code != pb.Code_MESSAGE_NOT_FOUND {
							noteFailure(fmt.Errorf("receive: %v %s", code, content.Status.GetMessage()))
						}
					}
				}
				cancelCall()
				if len(entries) == 0 {
					continue
				}
				ack := &pb.AckMessageRequest{Group: &pb.Resource{Name: d.group}, Topic: &pb.Resource{Name: d.topic}, Entries: entries}
				err = withRetry(func() error {
					ctx, cancel := context.WithTimeout(d.ctx, callTimeout)
					defer cancel()
					reply, err := client.AckMessage(ctx, ack)
					if err != nil {
						return err
					}
					switch reply.GetStatus().GetCode() {
					case pb.Code_OK:
						return nil
					case pb.Code_TOO_MANY_REQUESTS:
						return errThrottled{reply.GetStatus().GetMessage()}
					}
					return fmt.Errorf("ack: %v %s", reply.GetStatus().GetCode(), reply.GetStatus().GetMessage())
				})
				if err != nil {
					noteFailure(err)
				}
			}
		}(c)
	}
	return func() { cancel(); wg.Wait(); conn.Close() }, nil
}
