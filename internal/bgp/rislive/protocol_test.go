package rislive

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/bgp/rislive/rislivetest"
)

// A ris_message as the RIS Live manual shows it: peer_asn a string, path
// numbers with an AS_SET as a nested list, announcements grouped by next
// hop, withdrawals a list of prefixes.
const manualExample = `{"type":"ris_message","data":{"timestamp":1550141347.37,"peer":"2001:7f8:1::a500:6939:1","peer_asn":"6939","id":"21-1a2b","host":"rrc21","type":"UPDATE","path":[6939,3356,[64500,64501]],"community":[[3356,3]],"origin":"IGP","announcements":[{"next_hop":"2001:7f8:1::a500:6939:1,fe80::1","prefixes":["2001:db8::/32","2001:db8:1::/48"]}],"withdrawals":["2001:db8:ff00::/40"]}}`

func TestParseUpdate(t *testing.T) {
	m, err := Parse([]byte(manualExample))
	if err != nil {
		t.Fatal(err)
	}
	u := m.Update
	if m.Type != TypeMessage || m.BGPType != "UPDATE" || u == nil {
		t.Fatalf("parsed %+v", m)
	}
	if u.Host != "rrc21" || u.Peer != netip.MustParseAddr("2001:7f8:1::a500:6939:1") || u.PeerASN != 6939 {
		t.Errorf("peer: %+v", u)
	}
	if want := time.Unix(1550141347, 370000000).UTC(); u.Time.Sub(want).Abs() > time.Millisecond {
		t.Errorf("time %v, want %v", u.Time, want)
	}
	if !slices.Equal(u.Path, []uint32{6939, 3356, 64500, 64501}) || u.Origin != 0 {
		t.Errorf("path %v origin %d: an AS_SET at the end leaves the origin unknown", u.Path, u.Origin)
	}
	if len(u.Announced) != 2 || u.Announced[1].Prefix != netip.MustParsePrefix("2001:db8:1::/48") ||
		u.Announced[0].NextHop != netip.MustParseAddr("2001:7f8:1::a500:6939:1") {
		t.Errorf("announced %+v", u.Announced)
	}
	if !slices.Equal(u.Withdrawn, []netip.Prefix{netip.MustParsePrefix("2001:db8:ff00::/40")}) {
		t.Errorf("withdrawn %v", u.Withdrawn)
	}

	m, err = Parse([]byte(rislivetest.Update(1700000000.5, "rrc00", "192.0.2.1", 64500, []uint32{64500, 64496}, "192.0.2.1", []string{"198.51.100.0/24"}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Update.Origin != 64496 {
		t.Errorf("origin %d, want the last AS 64496", m.Update.Origin)
	}
}

func TestParseOtherMessages(t *testing.T) {
	for _, tc := range []struct{ in, typ, errText string }{
		{`{"type":"ris_error","data":{"message":"Unknown prefix"}}`, TypeError, "Unknown prefix"},
		{`{"type":"pong","data":null}`, TypePong, ""},
		{`{"type":"ris_subscribe_ok","data":{"subscription":{"prefix":"192.0.2.0/24"}}}`, TypeSubscribeOK, ""},
		{`{"type":"ris_rrc_list","data":["rrc00","rrc01"]}`, TypeRRCList, ""},
		{`{"type":"something_new","data":{}}`, "something_new", ""},
		{`{"type":"ris_message","data":{"type":"KEEPALIVE","host":"rrc00","peer":"192.0.2.1"}}`, TypeMessage, ""},
	} {
		m, err := Parse([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if m.Type != tc.typ || m.Error != tc.errText || m.Update != nil {
			t.Errorf("%s: parsed %+v", tc.in, m)
		}
	}
}

func TestParseRefusesBadInput(t *testing.T) {
	good := func(mod func(d map[string]any)) string {
		var env map[string]any
		json.Unmarshal([]byte(rislivetest.Update(1700000000, "rrc00", "192.0.2.1", 64500, []uint32{64500}, "192.0.2.1", []string{"198.51.100.0/24"}, []string{"203.0.113.0/24"})), &env)
		mod(env["data"].(map[string]any))
		b, _ := json.Marshal(env)
		return string(b)
	}
	for _, tc := range []struct{ in, want string }{
		{`not json`, "not a JSON object"},
		{`{"data":{}}`, `no "type"`},
		{`{"type":"ris_message"}`, "ris_message has no data"},
		{`{"type":"ris_message","data":[1]}`, "ris_message data"},
		{good(func(d map[string]any) { delete(d, "timestamp") }), `no "timestamp"`},
		{good(func(d map[string]any) { d["timestamp"] = -5 }), `"timestamp" -5 is not a Unix time`},
		{good(func(d map[string]any) { d["peer"] = "192.0.2.999" }), `"peer" "192.0.2.999" is not an IP address`},
		{good(func(d map[string]any) { d["host"] = "rrc 00" }), `"host" "rrc 00" is not a collector name`},
		{good(func(d map[string]any) { d["peer_asn"] = "AS64500" }), `"peer_asn": "AS64500" is not an AS number`},
		{good(func(d map[string]any) { d["peer_asn"] = "4294967296" }), `is not an AS number`},
		{good(func(d map[string]any) { d["path"] = []any{64500, "x"} }), `"path"[1]: "x" is not an AS number`},
		{good(func(d map[string]any) { d["path"] = []any{64500, []any{1, -2}} }), `"path"[1][1]: "-2" is not an AS number`},
		{good(func(d map[string]any) { d["path"] = make([]int, MaxPathLen+1) }), `more than 512`},
		{good(func(d map[string]any) { d["withdrawals"] = []string{"203.0.113.0/33"} }), `"withdrawals"[0]: "203.0.113.0/33" is not a prefix`},
		{good(func(d map[string]any) {
			d["announcements"] = []any{map[string]any{"next_hop": "x", "prefixes": []string{"198.51.100.0/24"}}}
		}), `"announcements"[0] "next_hop" "x" is not an IP address`},
		{good(func(d map[string]any) {
			d["announcements"] = []any{map[string]any{"next_hop": "192.0.2.1", "prefixes": []string{"::ffff:192.0.2.0/120"}}}
		}), `IPv4-mapped`},
		{good(func(d map[string]any) { d["withdrawals"] = make([]string, MaxPrefixes+1) }), `more than 8192`},
		{`{"type":"ris_error","data":"x"}`, "ris_error data"},
		{`{"type":"` + strings.Repeat("x", 300) + `"}`, "longer than 256"},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.80s: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
	if _, err := Parse(make([]byte, MaxMessageBytes+1)); err == nil || !strings.Contains(err.Error(), "bound") {
		t.Errorf("oversized message: %v", err)
	}
}

func TestSubscriptionMessages(t *testing.T) {
	subs := Subscriptions([]netip.Prefix{netip.MustParsePrefix("198.51.100.7/24")},
		[]netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53")}, "rrc00")
	var got []string
	for _, s := range subs {
		got = append(got, string(s.message("ris_subscribe")))
	}
	want := []string{
		`{"type":"ris_subscribe","data":{"host":"rrc00","type":"UPDATE","prefix":"192.0.2.53/32","moreSpecific":false,"lessSpecific":true,"socketOptions":{"acknowledge":true}}}`,
		`{"type":"ris_subscribe","data":{"host":"rrc00","type":"UPDATE","prefix":"198.51.100.0/24","moreSpecific":true,"lessSpecific":false,"socketOptions":{"acknowledge":true}}}`,
		`{"type":"ris_subscribe","data":{"host":"rrc00","type":"UPDATE","prefix":"2001:db8::53/128","moreSpecific":false,"lessSpecific":true,"socketOptions":{"acknowledge":true}}}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("subscriptions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
