package app

import (
	"context"
	"errors"
	"time"

	"github.com/reachmon/reachmon/internal/evaluate"
)

// zoneReq asks the consume loop, the evaluator's owner, for one zone's
// detail (/api/v1/status?zone=NAME). Nothing is built or kept for it
// until someone asks: the loop waits on an idle channel.
type zoneReq struct {
	name  string
	reply chan *evaluate.ZoneDetail // buffered: the loop never waits on it
}

// errStopped: the consume loop has ended (the daemon is stopping).
var errStopped = errors.New("reachmon is stopping")

// zoneDetail asks the consume loop for the detail of the zone named name;
// nil when the evaluator has no such zone.
func (d *Daemon) zoneDetail(ctx context.Context, name string) (*evaluate.ZoneDetail, error) {
	req := zoneReq{name: name, reply: make(chan *evaluate.ZoneDetail, 1)}
	select {
	case d.zoneReq <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.consumeDone:
		return nil, errStopped
	}
	select {
	case det := <-req.reply:
		return det, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// answerZone runs in the consume loop.
func (d *Daemon) answerZone(req zoneReq) {
	req.reply <- d.ev.ZoneDetail(req.name, time.Now())
}
