package app

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/bgp/bgptest"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/rpki/rpkitest"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestRPKIStayRTR runs the daemon with a real RTR server (stayrtr) and a
// real BGP session (an in-process GoBGP speaker): the watched prefix, which
// covers the zone's nameserver, is RPKI-valid; a ROA change at the RTR
// server makes it invalid (rpki_invalid opens before anyone hijacks
// anything, critical as it covers the nameserver) and a fix resolves it;
// then a more-specific from another AS, invalid by the ROA, is a critical
// hijack naming both routes' validation states.
func TestRPKIStayRTR(t *testing.T) {
	watched := netip.MustParsePrefix("127.0.0.0/24") // covers the authoritative server (127.0.0.1)
	roa := model.VRP{Prefix: watched, MaxLength: 24, ASN: 64500}
	other := model.VRP{Prefix: netip.MustParsePrefix("10.0.0.0/8"), MaxLength: 24, ASN: 64999}
	rtr := rpkitest.StartStayRTR(t, []model.VRP{roa, other})

	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	sp := bgptest.Start(t, "127.0.0.3", 65001, "127.0.0.1", 64512)
	cfgText := outageConfig(t, listen, resolver.Addr, auth.Addr, fmt.Sprintf(`
[bgp]
asn = 64512
router_id = "127.0.0.1"
initial_sync_timeout = "1s"
[[bgp.neighbor]]
address = "127.0.0.3"
port = %d
peer_asn = 65001
local_address = "127.0.0.1"
hold_time = "9s"
connect_retry = "1s"
[[prefix]]
prefix = %q
origins = [64500]
[rpki]
[[rpki.rtr]]
address = "127.0.0.1"
port = %d
`, sp.Port, watched.String(), rtr.Port))
	cfgText = strings.Replace(cfgText, "[evaluate]\n", "[evaluate]\nbgp_open_after = \"0s\"\nbgp_resolve_after = \"0s\"\nstart_grace = \"100ms\"\npeer_grace = \"5s\"\n", 1)
	base := "http://" + listen
	sp.Announce(watched.String(), 64500)
	stop := startDaemon(t, cfgText)
	defer stop()

	metricIs := func(line string) func() bool {
		return func() bool {
			_, body := get(t, base+"/metrics")
			return strings.Contains(body, line)
		}
	}
	waitUntil(t, 60*time.Second, "the RTR session up", metricIs(`reachmon_rpki_rtr_session_up{server="127.0.0.1:`+fmt.Sprint(rtr.Port)+`",vantage="default"} 1`))
	waitUntil(t, 60*time.Second, "the watched route RPKI-valid", metricIs(`reachmon_rpki_route_state{origin="64500",prefix="127.0.0.0/24",state="valid",vantage="default"} 1`))
	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		`reachmon_rpki_vrps{family="ipv4",source="rtr",vantage="default"} 2`,
		`reachmon_rpki_relevant_vrps{family="ipv4",vantage="default"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if v, _ := incidents(t, base); len(v.Open) != 0 {
		t.Fatalf("incidents open before any change: %+v", v.Open)
	}

	findOpen := func(kind model.IncidentKind) func(incident.View) (incident.Entry, bool) {
		return func(v incident.View) (incident.Entry, bool) {
			for _, e := range v.Open {
				if e.Kind == kind {
					return e, true
				}
			}
			return incident.Entry{}, false
		}
	}
	waitIncident := func(what string, ok func(incident.View) bool) incident.View {
		t.Helper()
		var v incident.View
		waitUntil(t, 60*time.Second, what, func() bool {
			var served bool
			v, served = incidents(t, base)
			return served && ok(v)
		})
		return v
	}

	// The ROA moves to AS64501: the watched route is invalid.
	rpkitest.WriteVRPs(t, rtr.File, []model.VRP{{Prefix: watched, MaxLength: 24, ASN: 64501}, other})
	v := waitIncident("rpki_invalid", func(v incident.View) bool { _, ok := findOpen(model.IncidentRPKIInvalid)(v); return ok })
	inc, _ := findOpen(model.IncidentRPKIInvalid)(v)
	if inc.Subject != "127.0.0.0/24" || inc.Severity != model.SeverityCritical {
		t.Errorf("rpki_invalid subject %q severity %s, want 127.0.0.0/24 critical (it covers the nameserver)", inc.Subject, inc.Severity)
	}
	for _, want := range []string{"Watched prefix 127.0.0.0/24 from AS64500 is RPKI-invalid: ROA 127.0.0.0/24 maxLength 24 AS64501", "lab.example"} {
		if !strings.Contains(inc.RootCause, want) {
			t.Errorf("root cause %q lacks %q", inc.RootCause, want)
		}
	}
	waitUntil(t, 30*time.Second, "the route state invalid", metricIs(`reachmon_rpki_route_state{origin="64500",prefix="127.0.0.0/24",state="invalid",vantage="default"} 1`))

	// Fixed: resolved.
	rpkitest.WriteVRPs(t, rtr.File, []model.VRP{roa, other})
	waitIncident("rpki_invalid resolved", func(v incident.View) bool { _, ok := findOpen(model.IncidentRPKIInvalid)(v); return !ok })

	// A more-specific from AS64511: an RPKI-invalid hijack, critical.
	sp.Announce("127.0.0.0/25", 64511)
	v = waitIncident("the hijack", func(v incident.View) bool { _, ok := findOpen(model.IncidentHijack)(v); return ok })
	h, _ := findOpen(model.IncidentHijack)(v)
	if h.Subject != "127.0.0.0/24 AS64511" || h.Severity != model.SeverityCritical {
		t.Errorf("hijack subject %q severity %s", h.Subject, h.Severity)
	}
	for _, want := range []string{
		"127.0.0.0/25 from AS64511 is RPKI-invalid: ROA 127.0.0.0/24 maxLength 24 AS64500",
		"127.0.0.0/24 from AS64500 is RPKI-valid: ROA 127.0.0.0/24 maxLength 24 AS64500",
	} {
		if !strings.Contains(h.RootCause, want) {
			t.Errorf("hijack root cause %q lacks %q", h.RootCause, want)
		}
	}
	if _, ok := findOpen(model.IncidentRPKIInvalid)(v); ok {
		t.Error("the hijack's invalid route also opened rpki_invalid")
	}
}

// TestRPKIReloadIsRestartNeeded: adding, removing or changing [rpki]
// needs a restart; the running section is kept in the effective plan,
// and the watched set it keeps VRPs for follows the prefixes.
func TestRPKIReloadIsRestartNeeded(t *testing.T) {
	parse := func(body string) *config.Plan {
		t.Helper()
		p, err := config.Parse("t.toml", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	on := "[rpki]\nvrp_file = \"/x.json\"\n"
	none, rpkiOn, changed := parse(""), parse(on), parse(on+"[[rpki.rtr]]\naddress = \"127.0.0.1\"\n")
	for _, tc := range []struct {
		name     string
		old, new *config.Plan
		want     bool
	}{
		{"added", none, rpkiOn, true}, {"removed", rpkiOn, none, true}, {"changed", rpkiOn, changed, true},
		{"same", rpkiOn, parse(on), false},
	} {
		got := slices.Contains(restartNeeded(tc.old.Config, tc.new.Config), "rpki")
		if got != tc.want {
			t.Errorf("%s: restart needed %v, want %v", tc.name, got, tc.want)
		}
		if eff := effectivePlan(tc.old, tc.new); eff.Config.RPKI != tc.old.Config.RPKI {
			t.Errorf("%s: the effective plan does not keep the running [rpki]", tc.name)
		}
	}
	prefixes, addrs := rpkiWatch(parse(on + "[[prefix]]\nprefix = \"198.51.100.0/24\"\n[[resolver]]\nname = \"r\"\naddress = \"192.0.2.53\"\n[[zone]]\nname = \"example.com\"\nauthoritative = [\"192.0.2.1\", \"192.0.2.53\"]\n"))
	if !slices.Equal(prefixes, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}) ||
		!slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.53")}) {
		t.Errorf("rpkiWatch: %v %v", prefixes, addrs)
	}
}
