package evaluate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// risPeer is the i-th RIS peer view as bgp.RISLive names it.
func risPeer(i int) (key, label string, asn uint32) {
	host, addr, asn := fmt.Sprintf("rrc%02d", i%2), fmt.Sprintf("192.0.2.%d", i+1), uint32(64510+i)
	return "ris " + host + " " + addr, fmt.Sprintf("RIS %s peer %s (AS%d)", host, addr, asn), asn
}

// TestRISLiveWithdrawalEvidence: ten RIS peers (source ris_live, feed
// ris_live) carry a nameserver's prefix; when eight withdrawals reach the
// evaluator (bgp.RISLive releases them once its quorum is met) the
// prefix_withdrawn incident says "withdrawn at 8 of 10 RIS peers" and its
// evidence names the RIS peers.
func TestRISLiveWithdrawalEvidence(t *testing.T) {
	pfx := mustPrefix("198.51.100.0/24")
	tg := Targets{Vantage: "test", Feeds: []Feed{{Name: config.RISLiveFeed, Label: "ris-live.ripe.net", Source: model.SourceRISLive}},
		Prefixes: []model.WatchedPrefix{{Prefix: pfx, Origins: []uint32{64496}}}}
	w := newWorld(t, testConfig(), tg)
	w.apply(model.FeedEvent{Time: w.now, Feed: config.RISLiveFeed, Source: model.SourceRISLive, Label: "ris-live.ripe.net", Up: true})
	for i := range 10 {
		key, label, asn := risPeer(i)
		w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerUp, Peer: key, PeerASN: asn, Source: model.SourceRISLive, Label: label, Feed: config.RISLiveFeed})
		w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerSynced, Peer: key, PeerASN: asn, ByEndOfRIB: true, Source: model.SourceRISLive, Label: label, Feed: config.RISLiveFeed})
		w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteAnnounce, Peer: key, PeerASN: asn, Prefix: pfx, Origin: 64496,
			ASPath: []uint32{asn, 64496}, Watched: pfx})
	}
	w.tick(3 * time.Minute)
	if n := len(w.opened()); n != 0 {
		t.Fatalf("opened %v with the prefix at every RIS peer", kinds(w.opened()))
	}
	for i := range 8 {
		key, _, asn := risPeer(i)
		w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: key, PeerASN: asn, Prefix: pfx, PrevOrigin: 64496, Watched: pfx})
	}
	w.runFor(5*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentPrefixWithdrawn {
		t.Fatalf("open = %+v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "Watched prefix 198.51.100.0/24 was withdrawn: seen by 2 of 10 peers, withdrawn at 8 of 10 RIS peers, last origin AS64496")
	found := false
	for _, l := range open[0].Evidence {
		if strings.Contains(l.Text, "(RIS rrc01 peer 192.0.2.8 (AS64517))") {
			found = true
		}
	}
	if !found {
		t.Errorf("evidence does not name the RIS peer: %+v", open[0].Evidence)
	}
}

// TestRISLiveNeverConnected: a configured [ris_live] whose connection
// never comes up is a lost feed after the start grace; its connection
// coming up resolves it.
func TestRISLiveNeverConnected(t *testing.T) {
	tg := Targets{Vantage: "test", Feeds: []Feed{{Name: config.RISLiveFeed, Label: "ris-live.ripe.net", Source: model.SourceRISLive}}}
	w := newWorld(t, testConfig(), tg)
	w.tick(time.Minute)
	if len(w.opened()) != 0 {
		t.Fatalf("opened during the start grace: %v", kinds(w.opened()))
	}
	w.tick(2 * time.Minute)
	w.tick(2 * time.Minute)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentFeedLost || open[0].Subject != config.RISLiveFeed {
		t.Fatalf("open = %+v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "The RIS Live connection of ris-live.ripe.net has not come up since reachmon started")
	w.apply(model.FeedEvent{Time: w.now, Feed: config.RISLiveFeed, Source: model.SourceRISLive, Label: "ris-live.ripe.net", Up: true})
	w.tick(2 * time.Minute)
	if len(w.e.Open()) != 0 {
		t.Errorf("still open after the connection came up: %v", w.openKinds())
	}
}
