package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// The server API's operations, one method each, which the HTTP routes
// (api.go) and the NATS subjects (api_nats.go) both call: each validates
// its request as a client's event is validated, and returns its reply or
// a *proto.Error.

// botColor is the colour of a bot's messages: a grey no user is given.
const botColor = "#6b7280"

// apiOps runs the operations on the gateway's chat layer.
type apiOps struct {
	chat    *chat
	timeout time.Duration
}

// apiRoom returns the room a request names: a backend names one (a
// client's requests default to its own).
func apiRoom(room string) (string, error) {
	if room == "" {
		return "", proto.Errorf(proto.CodeInvalidRoom, "name a room")
	}
	return proto.NormalizeRoom(room)
}

// botName returns the name a backend's message shows: from, under the
// name rules, or proto.SystemName.
func botName(from string) (string, error) {
	if from == "" {
		return proto.SystemName, nil
	}
	return proto.NormalizeName(from)
}

// checkText validates a message's text and clientId as a client's are.
func checkText(text, clientID string) error {
	if err := proto.ValidateMessage(text); err != nil {
		return err
	}
	return proto.ValidateClientID(clientID)
}

// apiMsgID is JetStream's deduplication id of a backend's message:
// random (its own id) without a clientId, else scoped to the bot, so that
// no client's clientId (scoped to its session) can collide with it.
func apiMsgID(id, from, clientID string) string {
	if clientID == "" {
		return id
	}
	h := sha256.Sum256([]byte("api\x00" + from + "\x00" + clientID))
	return hex.EncodeToString(h[:16])
}

func (o *apiOps) publish(ctx context.Context, req proto.APIPublishRequest) (proto.SentAck, error) {
	room, err := apiRoom(req.Room)
	if err != nil {
		return proto.SentAck{}, err
	}
	from, err := botName(req.From)
	if err != nil {
		return proto.SentAck{}, err
	}
	if err := checkText(req.Message, req.ClientID); err != nil {
		return proto.SentAck{}, err
	}
	msg := proto.Message{
		ID: newID(), Room: room, Username: from, Color: botColor,
		Message: req.Message, TS: time.Now().UnixMilli(), Bot: true,
	}
	out := nats.NewMsg(proto.RoomMsgSubject(room))
	out.Data, _ = json.Marshal(msg)
	return o.store(ctx, out, apiMsgID(msg.ID, from, req.ClientID), proto.SentAck{OK: true, ID: msg.ID, TS: msg.TS})
}

func (o *apiOps) whisper(ctx context.Context, req proto.APIWhisperRequest) (proto.SentAck, error) {
	to, err := proto.NormalizeName(req.To)
	if err != nil {
		return proto.SentAck{}, proto.ErrNoSuchUser
	}
	from, err := botName(req.From)
	if err != nil {
		return proto.SentAck{}, err
	}
	if err := checkText(req.Message, req.ClientID); err != nil {
		return proto.SentAck{}, err
	}
	lr, err := o.chat.up.lookup(to)
	if err != nil {
		return proto.SentAck{}, err
	}
	// Online or not, as a user's whisper: a session that lives offline
	// finds it in its whisper history at its next join.
	if lr.Username == "" || !proto.ValidSessionID(lr.SessionID) {
		return proto.SentAck{}, proto.ErrNoSuchUser
	}
	w := proto.Whisper{ID: newID(), From: from, To: lr.Username, Message: req.Message, TS: time.Now().UnixMilli(), Bot: true}
	// From the system's session, which no connection holds: delivered to
	// the recipient's connections, and in their whispers only.
	out := nats.NewMsg(proto.WhisperMsgSubject(proto.SystemSessionID, lr.SessionID))
	out.Data, _ = json.Marshal(w)
	return o.store(ctx, out, apiMsgID(w.ID, "whisper\x00"+from, req.ClientID), proto.SentAck{OK: true, ID: w.ID, TS: w.TS})
}

// store publishes out to the stream and waits for its answer: the ack,
// or, for a resend within the deduplication window, the id and time
// stored the first time.
func (o *apiOps) store(ctx context.Context, out *nats.Msg, msgID string, ack proto.SentAck) (proto.SentAck, error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	j := o.chat.pub.journal
	paf, err := j.publish(out, msgID)
	if err != nil {
		return proto.SentAck{}, publishFailure(err)
	}
	select {
	case pa := <-paf.Ok():
		if pa.Duplicate {
			if data, err := j.storedData(ctx, pa.Sequence); err == nil {
				var orig proto.SentAck
				if json.Unmarshal(data, &orig) == nil && orig.ID != "" {
					ack.ID, ack.TS = orig.ID, orig.TS
				}
			}
		}
		return ack, nil
	case err := <-paf.Err():
		return proto.SentAck{}, publishFailure(err)
	case <-ctx.Done():
		return proto.SentAck{}, proto.ErrUnknownOutcome
	}
}

func (o *apiOps) rooms(context.Context, proto.APIRoomsRequest) (proto.RoomsAck, error) {
	rr, err := o.chat.up.rooms()
	if err != nil {
		return proto.RoomsAck{}, err
	}
	return proto.RoomsAck{OK: true, Rooms: proto.NonNil(rr.Rooms)}, nil
}

func (o *apiOps) members(_ context.Context, req proto.MembersRequest) (proto.MembersAck, error) {
	room, err := apiRoom(req.Room)
	if err != nil {
		return proto.MembersAck{}, err
	}
	if _, _, err := proto.MembersPage(req.After, req.Limit); err != nil {
		return proto.MembersAck{}, err
	}
	mr, err := o.chat.up.members(proto.PresenceMembers{Room: room, After: req.After, Limit: req.Limit})
	if err != nil {
		return proto.MembersAck{}, err
	}
	return proto.MembersAck{OK: true, Room: room, Members: proto.NonNil(mr.Members), MemberCount: mr.Count, More: mr.More}, nil
}

func (o *apiOps) history(_ context.Context, req proto.HistoryRequest) (proto.HistoryAck, error) {
	room, err := apiRoom(req.Room)
	if err != nil {
		return proto.HistoryAck{}, err
	}
	if err := proto.ValidatePage(req.Before, req.Limit); err != nil {
		return proto.HistoryAck{}, err
	}
	hr, err := o.chat.up.history(proto.HistoryQuery{Room: room, Before: req.Before, Limit: req.Limit})
	if err != nil {
		return proto.HistoryAck{}, err
	}
	return proto.HistoryAck{OK: true, Room: room, Messages: proto.NonNil(hr.Messages)}, nil
}

// disconnect sends the disconnect to every gateway, this one included
// (proto.DisconnectSubject), for a user's session or one connection.
func (o *apiOps) disconnect(_ context.Context, req proto.APIDisconnectRequest) (proto.APIDisconnectReply, error) {
	var d proto.Disconnect
	switch {
	case req.User != "" && (req.Gateway != "" || req.Conn != ""):
		return proto.APIDisconnectReply{}, proto.Errorf(proto.CodeBadRequest, "name a user, or a gateway and a connection, not both")
	case req.User != "":
		name, err := proto.NormalizeName(req.User)
		if err != nil {
			return proto.APIDisconnectReply{}, proto.ErrNoSuchUser
		}
		lr, err := o.chat.up.lookup(name)
		if err != nil {
			return proto.APIDisconnectReply{}, err
		}
		if !lr.Online || !proto.ValidSessionID(lr.SessionID) {
			return proto.APIDisconnectReply{}, proto.ErrNoSuchUser
		}
		d.SessionID = lr.SessionID
	case proto.ValidGatewayID(req.Gateway) && validConnID(req.Conn):
		d.Gateway, d.Conn = req.Gateway, req.Conn
	default:
		return proto.APIDisconnectReply{}, proto.Errorf(proto.CodeBadRequest, "name a user, or a gateway and a connection (its socket id)")
	}
	data, _ := json.Marshal(d)
	// Flushed: the reply says the NATS server has it, for every gateway.
	if err := o.chat.nc.Publish(proto.DisconnectSubject, data); err != nil {
		return proto.APIDisconnectReply{}, proto.ErrUnavailable
	}
	if err := o.chat.nc.FlushTimeout(o.timeout); err != nil {
		return proto.APIDisconnectReply{}, proto.ErrUnavailable
	}
	return proto.APIDisconnectReply{OK: true}, nil
}

// validConnID reports whether id may be a Socket.IO socket id: bounded,
// and safe to compare (it never goes into a subject).
func validConnID(id string) bool { return id != "" && len(id) <= 128 }
