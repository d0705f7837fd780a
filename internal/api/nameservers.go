package api

import (
	"slices"
	"strings"

	"github.com/reachmon/reachmon/internal/model"
)

// NameserversSchema names the version of the /api/v1/nameservers document.
const NameserversSchema = "reachmon.nameservers/v1"

// NameserversView is the /api/v1/nameservers document: the authoritative
// server addresses of every zone, discovered or configured (the addresses
// the BGP feed watches), zones in name order.
type NameserversView struct {
	Schema string            `json:"schema"`
	Zones  []ZoneNameservers `json:"zones"`
}

// ZoneNameservers is one zone's authoritative servers.
type ZoneNameservers struct {
	Zone    string             `json:"zone"`
	Servers []model.AuthServer `json:"servers"`
}

func nameserversView(all map[string][]model.AuthServer) NameserversView {
	v := NameserversView{Schema: NameserversSchema, Zones: make([]ZoneNameservers, 0, len(all))}
	for z, s := range all {
		v.Zones = append(v.Zones, ZoneNameservers{z, s})
	}
	slices.SortFunc(v.Zones, func(a, b ZoneNameservers) int { return strings.Compare(a.Zone, b.Zone) })
	return v
}
