// Package rislive is a client of RIPE NCC's RIS Live feed
// (https://ris-live.ripe.net/manual/): a websocket over which a client
// sends ris_subscribe filters and the server streams the BGP UPDATE
// messages its route collectors (RRCs) receive from their peers as JSON
// ris_message documents.
//
// The websocket library (github.com/coder/websocket) stays inside this
// package; the rest of reachmon sees netip types and Update values.
package rislive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// Bounds of what the parser accepts from the feed. A message beyond them
// is refused with an error naming the bound; nothing is truncated.
const (
	// MaxMessageBytes bounds one websocket message (also the read limit).
	MaxMessageBytes = 1 << 20
	// MaxPrefixes bounds the prefixes of one ris_message (announced and
	// withdrawn together).
	MaxPrefixes = 8192
	// MaxAnnouncements bounds the next-hop groups of one ris_message.
	MaxAnnouncements = 256
	// MaxPathLen bounds the AS path (AS_SET members count one each).
	MaxPathLen = 512
	// maxText bounds host, peer, id and error strings.
	maxText = 256
)

// Server message types (the "type" of a server → client message).
const (
	TypeMessage     = "ris_message"
	TypeError       = "ris_error"
	TypeSubscribeOK = "ris_subscribe_ok"
	TypePong        = "pong"
	TypeRRCList     = "ris_rrc_list"
)

// Update is one BGP UPDATE a RIS collector received from one of its peers:
// the prefixes announced with one AS path, and the prefixes withdrawn.
type Update struct {
	// Time is the collector's timestamp of the BGP message.
	Time time.Time
	// Host is the collector ("rrc00"); Peer and PeerASN the RIS peer.
	Host    string
	Peer    netip.Addr
	PeerASN uint32
	// Path is the AS path, AS_SET members flattened in order; Origin is
	// the last AS when it is not part of an AS_SET (0: unknown).
	Path   []uint32
	Origin uint32
	// Announced lists the announced prefixes with their next hops (the
	// next hop is invalid when none was given); Withdrawn the withdrawn
	// prefixes.
	Announced []Announced
	Withdrawn []netip.Prefix
}

// Announced is one announced prefix and its next hop.
type Announced struct {
	Prefix  netip.Prefix
	NextHop netip.Addr
}

// ServerMessage is one parsed server → client message.
type ServerMessage struct {
	Type string
	// Update is set for a ris_message of type UPDATE.
	Update *Update
	// BGPType is the BGP message type of a ris_message ("UPDATE",
	// "KEEPALIVE", "RIS_PEER_STATE"...).
	BGPType string
	// Error is the text of a ris_error.
	Error string
}

type envelope struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type risMessage struct {
	Timestamp     *float64          `json:"timestamp"`
	Peer          string            `json:"peer"`
	PeerASN       json.RawMessage   `json:"peer_asn"`
	ID            string            `json:"id"`
	Host          string            `json:"host"`
	Type          string            `json:"type"`
	Path          []json.RawMessage `json:"path"`
	Announcements []struct {
		NextHop  string   `json:"next_hop"`
		Prefixes []string `json:"prefixes"`
	} `json:"announcements"`
	Withdrawals []string `json:"withdrawals"`
}

// Parse parses one server message. Unknown message types and ris_message
// documents that are not UPDATEs are returned without an Update; a
// malformed message is an error naming the field and the problem.
func Parse(b []byte) (ServerMessage, error) {
	if len(b) > MaxMessageBytes {
		return ServerMessage{}, fmt.Errorf("message of %d bytes exceeds the %d-byte bound", len(b), MaxMessageBytes)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return ServerMessage{}, fmt.Errorf("message is not a JSON object with type and data: %w", err)
	}
	if env.Type == "" {
		return ServerMessage{}, errors.New(`message has no "type"`)
	}
	if len(env.Type) > maxText {
		return ServerMessage{}, fmt.Errorf(`message "type" longer than %d bytes`, maxText)
	}
	m := ServerMessage{Type: env.Type}
	switch env.Type {
	case TypeMessage:
		if isNull(env.Data) {
			return m, errors.New("ris_message has no data")
		}
		var d risMessage
		if err := json.Unmarshal(env.Data, &d); err != nil {
			return m, fmt.Errorf("ris_message data: %w", err)
		}
		m.BGPType = d.Type
		if d.Type != "UPDATE" {
			if len(d.Type) > maxText {
				return m, fmt.Errorf(`ris_message "type" longer than %d bytes`, maxText)
			}
			return m, nil
		}
		u, err := d.update()
		if err != nil {
			return m, fmt.Errorf("ris_message from %s peer %s: %w", quoteShort(d.Host), quoteShort(d.Peer), err)
		}
		m.Update = u
	case TypeError:
		var d struct {
			Message string `json:"message"`
		}
		if !isNull(env.Data) {
			if err := json.Unmarshal(env.Data, &d); err != nil {
				return m, fmt.Errorf("ris_error data: %w", err)
			}
		}
		m.Error = d.Message
		if len(m.Error) > maxText {
			m.Error = m.Error[:maxText] + "…"
		}
	}
	return m, nil
}

func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

func (d *risMessage) update() (*Update, error) {
	u := &Update{}
	if d.Timestamp == nil {
		return nil, errors.New(`no "timestamp"`)
	}
	ts := *d.Timestamp
	if math.IsNaN(ts) || ts < 0 || ts > 1<<33 {
		return nil, fmt.Errorf(`"timestamp" %v is not a Unix time`, ts)
	}
	sec, frac := math.Modf(ts)
	u.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	if d.Host == "" || len(d.Host) > 64 || !hostname(d.Host) {
		return nil, fmt.Errorf(`"host" %s is not a collector name`, quoteShort(d.Host))
	}
	u.Host = d.Host
	peer, err := netip.ParseAddr(d.Peer)
	if err != nil || peer.Zone() != "" {
		return nil, fmt.Errorf(`"peer" %s is not an IP address`, quoteShort(d.Peer))
	}
	u.Peer = peer.Unmap()
	asn, err := parseASN(d.PeerASN)
	if err != nil {
		return nil, fmt.Errorf(`"peer_asn": %w`, err)
	}
	u.PeerASN = asn
	if len(d.Path) > MaxPathLen {
		return nil, fmt.Errorf(`"path" has %d segments, more than %d`, len(d.Path), MaxPathLen)
	}
	lastSet := false
	for i, seg := range d.Path {
		seg = bytes.TrimSpace(seg)
		if len(seg) > 0 && seg[0] == '[' {
			var set []json.RawMessage
			if err := json.Unmarshal(seg, &set); err != nil {
				return nil, fmt.Errorf(`"path"[%d]: %w`, i, err)
			}
			for j, a := range set {
				n, err := parseASN(a)
				if err != nil {
					return nil, fmt.Errorf(`"path"[%d][%d]: %w`, i, j, err)
				}
				u.Path = append(u.Path, n)
			}
			lastSet = true
		} else {
			n, err := parseASN(seg)
			if err != nil {
				return nil, fmt.Errorf(`"path"[%d]: %w`, i, err)
			}
			u.Path = append(u.Path, n)
			lastSet = false
		}
		if len(u.Path) > MaxPathLen {
			return nil, fmt.Errorf(`"path" has more than %d ASes`, MaxPathLen)
		}
	}
	if len(u.Path) > 0 && !lastSet {
		u.Origin = u.Path[len(u.Path)-1]
	}
	if len(d.Announcements) > MaxAnnouncements {
		return nil, fmt.Errorf(`"announcements" has %d entries, more than %d`, len(d.Announcements), MaxAnnouncements)
	}
	n := len(d.Withdrawals)
	for _, a := range d.Announcements {
		n += len(a.Prefixes)
	}
	if n > MaxPrefixes {
		return nil, fmt.Errorf("%d prefixes, more than %d", n, MaxPrefixes)
	}
	for i, a := range d.Announcements {
		var nh netip.Addr
		if a.NextHop != "" {
			// A next hop may be "global,link-local" for IPv6; keep the first.
			s := a.NextHop
			if k := bytes.IndexByte([]byte(s), ','); k >= 0 {
				s = s[:k]
			}
			if nh, err = netip.ParseAddr(s); err != nil || nh.Zone() != "" {
				return nil, fmt.Errorf(`"announcements"[%d] "next_hop" %s is not an IP address`, i, quoteShort(a.NextHop))
			}
		}
		for j, s := range a.Prefixes {
			p, err := parsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf(`"announcements"[%d] "prefixes"[%d]: %w`, i, j, err)
			}
			u.Announced = append(u.Announced, Announced{Prefix: p, NextHop: nh.Unmap()})
		}
	}
	for i, s := range d.Withdrawals {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf(`"withdrawals"[%d]: %w`, i, err)
		}
		u.Withdrawn = append(u.Withdrawn, p)
	}
	return u, nil
}

// hostname reports whether s looks like a collector name: letters,
// digits, '.', '-' and '_'.
func hostname(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseASN reads an AS number given as a JSON number or a decimal string
// (RIS Live sends peer_asn as a string and path entries as numbers).
func parseASN(b json.RawMessage) (uint32, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, errors.New("missing AS number")
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, fmt.Errorf("AS number %s: %w", quoteShort(string(b)), err)
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s is not an AS number (0 to 4294967295)", quoteShort(s))
	}
	return uint32(n), nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if len(s) > 64 {
		return netip.Prefix{}, fmt.Errorf("%s is not a prefix", quoteShort(s))
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s is not a prefix", quoteShort(s))
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%s is an IPv4-mapped prefix", quoteShort(s))
	}
	return p.Masked(), nil
}

// Subscription is one ris_subscribe filter reachmon sends: UPDATE
// messages for Prefix (with its more-specifics, or with the routes
// covering it), optionally from one collector.
type Subscription struct {
	Prefix       netip.Prefix
	MoreSpecific bool
	LessSpecific bool
	Host         string
}

type subscribeData struct {
	Host          string `json:"host,omitempty"`
	Type          string `json:"type"`
	Prefix        string `json:"prefix"`
	MoreSpecific  bool   `json:"moreSpecific"`
	LessSpecific  bool   `json:"lessSpecific"`
	SocketOptions struct {
		Acknowledge bool `json:"acknowledge"`
	} `json:"socketOptions"`
}

// message encodes the client message of type typ ("ris_subscribe" or
// "ris_unsubscribe") for s.
func (s Subscription) message(typ string) []byte {
	d := subscribeData{Host: s.Host, Type: "UPDATE", Prefix: s.Prefix.String(), MoreSpecific: s.MoreSpecific, LessSpecific: s.LessSpecific}
	d.SocketOptions.Acknowledge = true
	b, _ := json.Marshal(struct {
		Type string        `json:"type"`
		Data subscribeData `json:"data"`
	}{typ, d})
	return b
}

// pingMessage is RIS Live's application-level ping (answered by "pong").
var pingMessage = []byte(`{"type":"ping","data":null}`)
