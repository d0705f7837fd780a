package app

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Route events that can page are logged at info; announcements, path
// changes and initial tables only at debug (thousands a second under churn).
func TestRouteEventLogLevels(t *testing.T) {
	pfx := netip.MustParsePrefix("192.0.2.0/24")
	ev := func(kind model.RouteEventKind, initial bool) model.RouteEvent {
		return model.RouteEvent{Time: time.Now(), Kind: kind, Peer: "r1", Prefix: pfx, Origin: 64500, Initial: initial}
	}
	for _, tc := range []struct {
		ev          model.RouteEvent
		info, debug bool
	}{
		{ev(model.RouteWithdraw, false), true, true},
		{ev(model.RouteOriginChange, false), true, true},
		{ev(model.RouteMoreSpecific, false), true, true},
		{ev(model.RouteAnnounce, false), false, true},
		{ev(model.RoutePathChange, false), false, true},
		{ev(model.RouteAnnounce, true), false, true},
		{ev(model.RouteMoreSpecific, true), false, true},
	} {
		for _, lv := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
			var buf bytes.Buffer
			d := &Daemon{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: lv}))}
			d.handle(tc.ev)
			want := tc.info
			if lv == slog.LevelDebug {
				want = tc.debug
			}
			if got := strings.Contains(buf.String(), `msg="bgp route" kind=`+string(tc.ev.Kind)); got != want {
				t.Errorf("%s (initial %v) at log level %s: logged %v, want %v: %q", tc.ev.Kind, tc.ev.Initial, lv, got, want, buf.String())
			}
		}
	}
}
