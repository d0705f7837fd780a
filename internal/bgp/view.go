package bgp

import (
	"github.com/reachmon/reachmon/internal/model"
)

// Schemas name the versions of the peers and routes documents (served on
// /api/v1/peers and /api/v1/routes by package api).
const (
	PeersSchema  = "reachmon.peers/v1"
	RoutesSchema = "reachmon.routes/v1"
)

// PeersView is the /api/v1/peers document.
type PeersView struct {
	Schema   string          `json:"schema"`
	Enabled  bool            `json:"enabled"`
	ASN      uint32          `json:"asn,omitempty"`
	RouterID string          `json:"router_id,omitempty"`
	Peers    []model.BGPPeer `json:"peers"`
	// Feeds are the sources' feeds that carry several peers (a router's
	// BMP session), with what its Initiation and Termination said.
	Feeds []model.BGPFeed `json:"feeds,omitempty"`
}

// RoutesView is the /api/v1/routes document.
type RoutesView struct {
	Schema    string             `json:"schema"`
	Enabled   bool               `json:"enabled"`
	Query     string             `json:"query,omitempty"`
	Routes    []model.BGPRoute   `json:"routes"`
	Addresses []model.BGPAddress `json:"addresses"`
}

// PeersView returns the /api/v1/peers document.
func (f *Feed) PeersView() PeersView {
	return PeersView{Schema: PeersSchema, Enabled: f.Enabled(), ASN: f.cfg.ASN, RouterID: f.cfg.RouterID, Peers: f.Peers(), Feeds: f.Feeds()}
}

// RoutesView returns the /api/v1/routes document for query ("" for all, a
// prefix or an address; see Routes). A query that is neither a prefix nor
// an address is an error naming it.
func (f *Feed) RoutesView(query string) (RoutesView, error) {
	v, err := f.Routes(query)
	if err != nil {
		return RoutesView{}, err
	}
	v.Schema, v.Enabled = RoutesSchema, f.Enabled()
	return v, nil
}
