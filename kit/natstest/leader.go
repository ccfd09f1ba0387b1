package natstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/wait"
)

// LeadStream makes the server named node the leader of stream, asking the
// leader to step down in its favour until it is, within the given time.
func LeadStream(js jetstream.JetStream, stream, node string, within time.Duration) error {
	req, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": node}})
	return wait.Until(context.Background(), within, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return errors.New("the stream has no leader yet")
		}
		if info.Cluster.Leader == node {
			return nil
		}
		if _, err := js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, req, 2*time.Second); err != nil {
			return err
		}
		return fmt.Errorf("the stream's leader was %s, asked to step down for %s", info.Cluster.Leader, node)
	})
}
