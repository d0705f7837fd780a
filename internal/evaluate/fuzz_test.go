package evaluate

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// gen builds events from a byte stream over a small universe, so that
// random streams hit the same subjects often.
type gen struct {
	b   []byte
	i   int
	now time.Time
}

func (g *gen) next() int {
	if g.i >= len(g.b) {
		return -1
	}
	v := int(g.b[g.i])
	g.i++
	return v
}

func (g *gen) pick(n int) int {
	v := g.next()
	if v < 0 {
		return 0
	}
	return v % n
}

var (
	fzZones    = []string{"a.example", "b.example", "ctl.example"}
	fzRes      = []string{"r1", "r2", "r3"}
	fzAuth     = []netip.Addr{mustAddr("192.0.2.1"), mustAddr("192.0.2.129"), mustAddr("198.51.100.1")}
	fzPrefixes = []netip.Prefix{mustPrefix("192.0.2.0/24"), mustPrefix("192.0.2.0/25"), mustPrefix("192.0.2.128/25"),
		mustPrefix("198.51.100.0/24"), mustPrefix("198.51.100.0/23"), mustPrefix("192.0.2.1/32")}
	fzRcodes = []string{"NOERROR", "SERVFAIL", "REFUSED", "NXDOMAIN", ""}
	fzErrs   = []model.ErrorClass{model.ErrNone, model.ErrTimeout, model.ErrUnreachable}
)

func fuzzTargets() Targets {
	t := Targets{Vantage: "fz", Peers: peers3[:2],
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("192.0.2.0/24"), Origins: []uint32{64500}}, {Prefix: mustPrefix("198.51.100.0/24")}}}
	for _, z := range fzZones {
		t.Zones = append(t.Zones, Zone{Name: z, Expect: []string{"192.0.2.10"}})
	}
	for _, r := range fzRes {
		t.Resolvers = append(t.Resolvers, Resolver{Name: r, Validating: true})
	}
	return t
}

func (g *gen) event() (model.Event, bool) {
	op := g.next()
	if op < 0 {
		return nil, false
	}
	g.now = g.now.Add(time.Duration(g.pick(64)) * time.Second)
	peer := peers3[g.pick(2)]
	switch op % 8 {
	case 0, 1, 2:
		z := fzZones[g.pick(len(fzZones))]
		var s model.Server
		if g.pick(2) == 0 {
			s = model.Server{Name: fzRes[g.pick(3)], Kind: model.KindResolver, Validating: true}
		} else {
			a := fzAuth[g.pick(3)]
			s = model.Server{Name: "ns-" + a.String(), Kind: model.KindAuthoritative, Addr: netip.AddrPortFrom(a, 53).String()}
		}
		o := model.Observation{Time: g.now, Target: z, Server: s, Name: z + ".", Type: "A", Rcode: fzRcodes[g.pick(5)],
			Error: fzErrs[g.pick(3)], AA: g.pick(2) == 0, MinTTL: uint32(g.pick(300))}
		if g.pick(2) == 0 {
			o.Answers = []string{z + ". IN A 192.0.2." + string(rune('0'+g.pick(10)))}
		}
		if g.pick(3) == 0 {
			o.CDRetry = &model.CDRetry{Succeeded: g.pick(2) == 0}
		}
		if s.Kind == model.KindAuthoritative && g.pick(2) == 0 {
			o.Type = "SOA"
			serial := uint32(g.pick(3))
			o.SOASerial = &serial
		}
		if g.pick(2) == 0 {
			o.RRSIG, o.Signed = fuzzSig(g), true
		}
		return o, true
	case 3:
		p := fzPrefixes[g.pick(len(fzPrefixes))]
		kinds := []model.RouteEventKind{model.RouteAnnounce, model.RouteWithdraw, model.RouteOriginChange, model.RouteMoreSpecific}
		return model.RouteEvent{Time: g.now, Kind: kinds[g.pick(4)], Peer: peer.Name, PeerASN: peer.ASN, Prefix: p,
			Origin: uint32(64499 + g.pick(3)), PrevOrigin: 64500, Initial: g.pick(4) == 0}, true
	case 4:
		kinds := []model.PeerEventKind{model.PeerUp, model.PeerDown, model.PeerSynced}
		return model.PeerEvent{Time: g.now, Kind: kinds[g.pick(3)], Peer: peer.Name, PeerASN: peer.ASN}, true
	case 5:
		a := fzAuth[g.pick(3)]
		kinds := []model.CoverEventKind{model.CoverWithdrawn, model.CoverRestored, model.CoverMoreSpecific}
		ev := model.CoverEvent{Time: g.now, Kind: kinds[g.pick(3)], Addr: a,
			Roles:   []model.AddressRole{{Kind: "nameserver", Name: fzZones[g.pick(3)]}, {Kind: "resolver", Name: fzRes[g.pick(3)]}},
			Healthy: &model.Cover{Prefix: netip.PrefixFrom(a, 25).Masked()}}
		if g.pick(2) == 0 {
			ev.Current = &model.Cover{Prefix: netip.PrefixFrom(a, 24).Masked(), Peers: g.pick(3)}
		}
		return ev, true
	case 6:
		st := []model.DSStatus{model.DSOK, model.DSMismatch, model.DSNoDNSKEY, model.DSUnsigned}
		c := model.DSCheck{Time: g.now, Zone: fzZones[g.pick(3)], Status: st[g.pick(4)], DS: []model.DSRecord{{KeyTag: 296}}}
		if g.pick(2) == 0 {
			c.DNSKEYRRSIG = fuzzSig(g)
		}
		return c, true
	default:
		if g.pick(4) == 0 {
			deleg := []model.DelegationStatus{"", model.DelegationOK, model.DelegationNXDomain, model.DelegationNoNS}
			ns := [][]string{nil, {"ns1.example."}, {"ns1.example.", "ns2.example."}}
			d := model.Discovery{Time: g.now, Zone: fzZones[g.pick(3)], Delegation: deleg[g.pick(4)], DelegationDetail: "parent",
				ParentNS: ns[g.pick(3)], ApexNS: ns[g.pick(3)]}
			if g.pick(3) != 0 { // a removed delegation leaves no servers to find
				d.Servers = []model.AuthServer{{Host: "ns", Addr: netip.AddrPortFrom(fzAuth[g.pick(3)], 53)}}
			}
			return d, true
		}
		if g.pick(4) == 0 {
			// New VRPs: none, or some of the watched prefixes' ROAs.
			ev := model.RPKIEvent{Time: g.now, Ready: g.pick(4) != 0}
			for i, p := range fzPrefixes {
				if g.pick(3) == 0 {
					ev.VRPs = append(ev.VRPs, model.VRP{Prefix: p, MaxLength: uint8(p.Bits() + g.pick(2)), ASN: uint32(64499 + i%3)})
				}
			}
			slices.SortFunc(ev.VRPs, model.CompareVRP)
			return ev, true
		}
		return nil, true // a tick
	}
}

// runStream feeds a stream and checks the lifecycle invariants: no panic,
// no incident both open and resolved, nothing happens to an incident
// after its resolution, and the evaluator's open list agrees.
func runStream(t *testing.T, data []byte) (opened, resolved int) {
	cfg := config.DefaultEvaluate()
	cfg.ControlZones = []string{"ctl.example"}
	cfg.StartGrace.Duration = time.Duration(len(data)%3) * time.Minute
	e := New(cfg, fuzzTargets())
	g := &gen{b: data, now: t0}
	state := map[string]model.IncidentState{}
	check := func(ch []model.IncidentChange) {
		checkChanges(t, ch)
		for _, c := range ch {
			id := c.Incident.ID
			prev, seen := state[id]
			switch {
			case c.Type == model.ChangeOpen && seen:
				t.Fatalf("incident %s opened twice", id)
			case c.Type != model.ChangeOpen && !seen && prev == "":
				t.Fatalf("%s of unknown incident %s", c.Type, id)
			case prev == model.StateResolved:
				t.Fatalf("%s after incident %s was resolved", c.Type, id)
			}
			state[id] = c.Incident.State
			switch c.Type {
			case model.ChangeOpen:
				opened++
			case model.ChangeResolve:
				resolved++
			}
		}
	}
	for {
		ev, ok := g.event()
		if !ok {
			break
		}
		if ev == nil {
			check(e.Tick(g.now))
			continue
		}
		check(e.Apply(ev))
	}
	check(e.Tick(g.now.Add(time.Hour)))
	for _, inc := range e.Open() {
		if inc.State != model.StateOpen || !inc.Resolved.IsZero() || state[inc.ID] != model.StateOpen {
			t.Fatalf("open list holds %s in state %s (stream says %s)", inc.ID, inc.State, state[inc.ID])
		}
	}
	open := 0
	for _, s := range state {
		if s == model.StateOpen {
			open++
		}
	}
	if open != len(e.Open()) {
		t.Fatalf("stream leaves %d open, evaluator %d", open, len(e.Open()))
	}
	_ = e.Snapshot(g.now)
	return opened, resolved
}

func TestRandomStreams(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 30
	}
	var opened, resolved int
	for seed := range n {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		data := make([]byte, 200+r.IntN(3000))
		for i := range data {
			data[i] = byte(r.UintN(256))
		}
		o, res := runStream(t, data)
		opened += o
		resolved += res
	}
	// The streams must exercise the lifecycle, or the test proves nothing.
	if opened < n || resolved < n/2 {
		t.Fatalf("%d streams opened %d and resolved %d incidents: too few to test anything", n, opened, resolved)
	}
	t.Logf("%d streams: %d incidents opened, %d resolved", n, opened, resolved)
}

func FuzzEvaluator(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte("withdraw everything and then some more bytes to drive the stream"))
	f.Fuzz(func(t *testing.T, data []byte) { runStream(t, data) })
}

// fuzzSig is a signature summary around g.now: expiring from the past to
// weeks ahead, starting up to a day in the future.
func fuzzSig(g *gen) *model.SigValidity {
	exp := g.now.Add(time.Duration(g.pick(256)-16) * 30 * time.Minute)
	inc := g.now.Add(time.Duration(g.pick(64)-48) * 30 * time.Minute)
	return &model.SigValidity{Expiration: exp, Inception: inc, TTL: uint32(g.pick(4)) * 1800, Server: "ns"}
}
