package config

import (
	"fmt"
	"net/netip"
	"time"
)

// BGP configures the embedded BGP speaker; an empty section (asn = 0) means
// no BGP feed.
//
//	[bgp]
//	asn = 64512
//	router_id = "192.0.2.1"
//	listen_port = 1790               # 0 (default): no listener (all neighbors active)
//	listen_addresses = ["192.0.2.1"] # default: all addresses
//	initial_sync_timeout = "30s"     # a peer without End-of-RIB is synced after this long without updates
//
//	[[bgp.neighbor]]
//	address = "192.0.2.2"
//	peer_asn = 64500
//	passive = false                  # true: wait for the peer to connect
//	local_address = "192.0.2.1"
//	multihop_ttl = 2                 # eBGP multihop TTL; 0: directly connected
//	password_env = "REACHMON_BGP_PASSWORD"   # TCP-MD5; or password_file
//	families = ["ipv4-unicast", "ipv6-unicast"]
//	hold_time = "90s"
//	keepalive = "30s"
//	connect_retry = "30s"
//	max_prefixes = 0                 # per family; 0: no limit
//	full_table = false               # true: reachmon's own session, for peers sending a full table
type BGP struct {
	ASN      uint32 `toml:"asn"`
	RouterID string `toml:"router_id"`
	// ListenPort is the TCP port for passive neighbors; 0 means no
	// listener.
	ListenPort      int      `toml:"listen_port"`
	ListenAddresses []string `toml:"listen_addresses"`
	// InitialSyncTimeout ends a peer's initial sync when it sends no
	// End-of-RIB: after this long without an update, counted from the
	// first UPDATE the session receives (not from Established: a peer may
	// start its dump seconds later). A session that sends nothing at all
	// is synced with an empty table after three times this long, and the
	// PeerSynced event says so (reason "no_updates_received"). Routes a
	// peer carried before its session was lost stay unknown until that
	// sync; only then are those it did not announce again withdrawals.
	InitialSyncTimeout Duration   `toml:"initial_sync_timeout"`
	Neighbor           []Neighbor `toml:"neighbor"`
}

// Neighbor is a BGP peer.
type Neighbor struct {
	Address string `toml:"address"`
	// Port is the peer's TCP port (default 179).
	Port        int    `toml:"port"`
	PeerASN     uint32 `toml:"peer_asn"`
	Description string `toml:"description"`
	// Passive makes reachmon wait for the peer to connect. When both ends
	// connect actively, collisions can delay the session for minutes.
	Passive      bool   `toml:"passive"`
	LocalAddress string `toml:"local_address"`
	// MultihopTTL enables eBGP multihop with this TTL (0: off).
	MultihopTTL int `toml:"multihop_ttl"`
	// PasswordEnv / PasswordFile name where the TCP-MD5 password is read
	// from; it is never written in the config file nor logged.
	PasswordEnv  string `toml:"password_env"`
	PasswordFile string `toml:"password_file"`
	// Families is any of "ipv4-unicast", "ipv6-unicast" (default both).
	Families     []string `toml:"families"`
	HoldTime     Duration `toml:"hold_time"`
	Keepalive    Duration `toml:"keepalive"`
	ConnectRetry Duration `toml:"connect_retry"`
	// MaxPrefixes cuts the session when the peer sends more prefixes than
	// this in one family (0: no limit). GoBGP counts by walking the
	// Adj-RIB-In on every UPDATE: keep it off for full-table peers that
	// are not marked full_table (a full_table session counts exactly and
	// cheaply).
	MaxPrefixes uint32 `toml:"max_prefixes"`
	// FullTable runs the session with reachmon's own BGP speaker
	// (internal/bgp/session) instead of the embedded GoBGP server: each
	// UPDATE is decoded and filtered to the watched routes as it is read,
	// with no Adj-RIB-In. For peers that send a full table.
	FullTable bool `toml:"full_table"`
}

// BGP families.
const (
	FamilyIPv4Unicast = "ipv4-unicast"
	FamilyIPv6Unicast = "ipv6-unicast"
)

// BGP timer defaults.
const (
	DefaultBGPHoldTime           = 90 * time.Second
	DefaultBGPConnectRetry       = 30 * time.Second
	DefaultBGPInitialSyncTimeout = 30 * time.Second
	DefaultBGPPort               = 179
)

// FullTableListener reports whether reachmon's own full_table speaker owns
// the listener (listen_port, listen_addresses): it does when any passive
// neighbor has full_table, and then the embedded GoBGP server gets no
// listener (a passive ordinary neighbor is a configuration error).
// Otherwise GoBGP keeps the listener and full_table neighbors are active.
func (b BGP) FullTableListener() bool {
	for _, n := range b.Neighbor {
		if n.Passive && n.FullTable {
			return true
		}
	}
	return false
}

// Enabled reports whether a BGP feed is configured.
func (b BGP) Enabled() bool { return b.ASN != 0 }

// SyncTimeout is InitialSyncTimeout or its default.
func (b BGP) SyncTimeout() time.Duration {
	if b.InitialSyncTimeout.Duration > 0 {
		return b.InitialSyncTimeout.Duration
	}
	return DefaultBGPInitialSyncTimeout
}

// Addr is the neighbor's parsed address (the zero Addr if invalid).
func (n Neighbor) Addr() netip.Addr {
	a, _ := netip.ParseAddr(n.Address)
	return a
}

// Name is the neighbor's identity in metrics, events and the API: its
// address in canonical form.
func (n Neighbor) Name() string { return n.Addr().String() }

// RemotePort is Port or 179.
func (n Neighbor) RemotePort() int {
	if n.Port > 0 {
		return n.Port
	}
	return DefaultBGPPort
}

// FamilyList is Families or both unicast families.
func (n Neighbor) FamilyList() []string {
	if len(n.Families) == 0 {
		return []string{FamilyIPv4Unicast, FamilyIPv6Unicast}
	}
	return n.Families
}

// Timers returns hold time, keepalive and connect retry with defaults
// applied (keepalive defaults to a third of the hold time).
func (n Neighbor) Timers() (hold, keepalive, retry time.Duration) {
	hold, keepalive, retry = n.HoldTime.Duration, n.Keepalive.Duration, n.ConnectRetry.Duration
	if hold == 0 {
		hold = DefaultBGPHoldTime
	}
	if keepalive == 0 {
		keepalive = hold / 3
	}
	if retry == 0 {
		retry = DefaultBGPConnectRetry
	}
	return hold, keepalive, retry
}

// Password reads the neighbor's TCP-MD5 password ("" when none is
// configured); errors never contain the secret.
func (n Neighbor) Password() (string, error) {
	return Secret(n.PasswordEnv, n.PasswordFile)
}

func (b *BGP) validate(e *Errors) {
	if b.ASN == 0 {
		if b.RouterID != "" || len(b.Neighbor) > 0 || b.ListenPort != 0 || len(b.ListenAddresses) > 0 {
			e.add("bgp.asn: must be set when other bgp keys are (asn = 0 disables the BGP feed)")
		}
		return
	}
	if b.ASN == 23456 {
		e.add("bgp.asn: 23456 is AS_TRANS, not a usable ASN")
	}
	if a, err := netip.ParseAddr(b.RouterID); err != nil || !a.Is4() {
		e.add("bgp.router_id: %q is not an IPv4 address (the BGP identifier is a dotted quad even on IPv6-only hosts)", b.RouterID)
	} else if a.IsUnspecified() {
		e.add("bgp.router_id: %q must not be 0.0.0.0", b.RouterID)
	}
	if b.ListenPort < 0 || b.ListenPort > 65535 {
		e.add("bgp.listen_port: %d is outside 0..65535 (0: no listener)", b.ListenPort)
	}
	for i, s := range b.ListenAddresses {
		if _, err := netip.ParseAddr(s); err != nil {
			e.add("bgp.listen_addresses[%d]: %q is not an IP address", i, s)
		}
	}
	if len(b.ListenAddresses) > 0 && b.ListenPort == 0 {
		e.add("bgp.listen_addresses: set but bgp.listen_port is 0 (no listener)")
	}
	durationRange{min: MinPeriod, max: MaxBGPWait, unset: "the default " + shortDuration(DefaultBGPInitialSyncTimeout)}.
		check(e, "bgp.initial_sync_timeout", b.InitialSyncTimeout.Duration)
	seen := map[netip.Addr]int{}
	for i := range b.Neighbor {
		b.Neighbor[i].validate(i, b, seen, e)
	}
	b.validateListener(e)
}

// validateListener enforces the listener rule (FullTableListener): one
// listen port cannot be shared between the full_table speaker and GoBGP.
func (b *BGP) validateListener(e *Errors) {
	owner := -1
	for i, n := range b.Neighbor {
		if n.Passive && n.FullTable {
			owner = i
			break
		}
	}
	if owner < 0 {
		return
	}
	for i, n := range b.Neighbor {
		if n.Passive && !n.FullTable {
			e.add("bgp.neighbor[%d] (%s): passive, but passive full_table neighbor bgp.neighbor[%d] (%s) owns bgp.listen_port and the embedded speaker cannot share it: set passive = false (connect out) or full_table = true on bgp.neighbor[%d], or make bgp.neighbor[%d] active",
				i, n.Address, owner, b.Neighbor[owner].Address, i, owner)
		}
	}
}

func (n *Neighbor) validate(i int, b *BGP, seen map[netip.Addr]int, e *Errors) {
	key := fmt.Sprintf("bgp.neighbor[%d]", i)
	a, err := netip.ParseAddr(n.Address)
	switch {
	case err != nil:
		e.add("%s.address: %q is not an IP address", key, n.Address)
	case a.Zone() != "":
		e.add("%s.address: %q: zoned IPv6 addresses are not supported", key, n.Address)
	case a.IsUnspecified() || a.IsMulticast():
		e.add("%s.address: %q is not a unicast address", key, n.Address)
	default:
		if j, dup := seen[a.Unmap()]; dup {
			e.add("%s.address: %s is already bgp.neighbor[%d]", key, n.Address, j)
		} else {
			seen[a.Unmap()] = i
		}
	}
	if n.Port < 0 || n.Port > 65535 {
		e.add("%s.port: %d is outside 0..65535 (0: %d)", key, n.Port, DefaultBGPPort)
	}
	if n.PeerASN == 0 {
		e.add("%s.peer_asn: must be set", key)
	} else if n.PeerASN == 23456 {
		e.add("%s.peer_asn: 23456 is AS_TRANS, not a usable ASN", key)
	}
	if n.Passive && b.ListenPort == 0 {
		e.add("%s.passive: a passive neighbor needs bgp.listen_port", key)
	}
	if n.LocalAddress != "" {
		la, err := netip.ParseAddr(n.LocalAddress)
		if err != nil {
			e.add("%s.local_address: %q is not an IP address", key, n.LocalAddress)
		} else if a.IsValid() && la.Unmap().Is4() != a.Unmap().Is4() {
			e.add("%s.local_address: %s and address %s are not the same IP version", key, n.LocalAddress, n.Address)
		}
	}
	if n.MultihopTTL < 0 || n.MultihopTTL > 255 {
		e.add("%s.multihop_ttl: %d is outside 0..255", key, n.MultihopTTL)
	}
	if n.PasswordEnv != "" && n.PasswordFile != "" {
		e.add("%s: set password_env or password_file, not both", key)
	}
	fams := map[string]bool{}
	for j, f := range n.Families {
		if f != FamilyIPv4Unicast && f != FamilyIPv6Unicast {
			e.add("%s.families[%d]: %q is not one of %s, %s", key, j, f, FamilyIPv4Unicast, FamilyIPv6Unicast)
		} else if fams[f] {
			e.add("%s.families[%d]: %q is listed twice", key, j, f)
		}
		fams[f] = true
	}
	if n.Families != nil && len(n.Families) == 0 {
		e.add("%s.families: must not be empty (leave it out for both unicast families)", key)
	}
	hold, keepalive, retry := n.HoldTime.Duration, n.Keepalive.Duration, n.ConnectRetry.Duration
	if hold < 0 || (hold > 0 && hold < 3*time.Second) || hold > 65535*time.Second || hold%time.Second != 0 {
		e.add("%s.hold_time: %s must be whole seconds between 3s and 65535s", key, hold)
	}
	if keepalive < 0 || keepalive%time.Second != 0 {
		e.add("%s.keepalive: %s must be whole seconds", key, keepalive)
	}
	effHold, effKeep, _ := n.Timers()
	if keepalive > 0 && effKeep >= effHold {
		e.add("%s.keepalive: %s must be shorter than hold_time %s", key, effKeep, effHold)
	}
	if retry < 0 || (retry > 0 && retry < time.Second) || retry > MaxBGPWait || retry%time.Second != 0 {
		e.add("%s.connect_retry: %s must be whole seconds between 1s and %s", key, retry, shortDuration(MaxBGPWait))
	}
}
