package config

import (
	"hash/fnv"

	"github.com/reachmon/reachmon/internal/model"
)

// MaxShardCount bounds shard.count: more instances than this watching one
// zone list is a typo (a count meant for something else), and the
// per-instance share of zones would be too small to be worth a process.
const MaxShardCount = 1024

// Shard is the [shard] section: this instance is shard Index of Count and
// watches only the zones it owns (Owns), so that Count instances with
// the same zone list share the zones, none probed twice. BGP (sessions,
// watched prefixes, resolvers, RPKI) is not sharded: every instance keeps
// the whole view. The default, count = 1, owns every zone.
//
//	[shard]
//	index = 0   # this instance, 0 .. count-1
//	count = 2   # how many instances share the zones
type Shard struct {
	Index int `toml:"index"`
	Count int `toml:"count"`
}

// DefaultShard is one instance owning every zone.
func DefaultShard() Shard { return Shard{Index: 0, Count: 1} }

// Enabled reports whether the zones are split between several instances.
func (s Shard) Enabled() bool { return s.Count > 1 }

// Owns reports whether this shard watches zone (in either spelling, any
// case). With count 1 (or less: an unvalidated Shard) it owns every zone.
func (s Shard) Owns(zone string) bool {
	if s.Count <= 1 {
		return true
	}
	return ShardOf(zone, s.Count) == s.Index
}

// ShardOf is the index of the shard that owns zone among count shards:
// Lamping and Veach's jump consistent hash of the FNV-1a 64 hash of the
// zone's canonical name (lower case, with the trailing dot). Going from
// count to count+1 shards moves about 1/(count+1) of the zones, all to
// the new shard. The mapping is part of reachmon's interface (several
// versions may run side by side during an upgrade): it must never change.
func ShardOf(zone string, count int) int {
	if count <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(model.ZoneNameOf(zone).FQDN()))
	return int(jumpHash(h.Sum64(), int32(min(count, MaxShardCount))))
}

// jumpHash is "A Fast, Minimal Memory, Consistent Hash Algorithm" (John
// Lamping, Eric Veach, 2014), as published.
func jumpHash(key uint64, buckets int32) int32 {
	b, j := int64(-1), int64(0)
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int32(b)
}

// validate checks the section: count in 1..MaxShardCount, index in
// 0..count-1.
func (s Shard) validate(e *Errors) {
	if s.Count < 1 || s.Count > MaxShardCount {
		e.add("shard.count: %d is outside 1..%d (1: this instance watches every zone)", s.Count, MaxShardCount)
		return
	}
	if s.Index < 0 || s.Index >= s.Count {
		e.add("shard.index: %d is outside 0..%d (shard.count is %d: the indexes are 0 to count-1)", s.Index, s.Count-1, s.Count)
	}
}

// Owned returns the plan this instance runs: p with only the zones its
// shard owns, and the control zones (evaluate.control_zones tell this
// vantage's own network problems, so every instance keeps them). Without
// sharding it returns p itself. The configuration, resolvers, prefixes
// and everything else are shared with p.
func (p *Plan) Owned() *Plan {
	if !p.Shard.Enabled() {
		return p
	}
	control := map[string]bool{}
	for _, c := range p.Evaluate.ControlZones {
		control[model.ZoneNameOf(c).FQDN()] = true
	}
	out := *p
	out.Zones = make([]ZonePlan, 0, len(p.Zones)/p.Shard.Count+len(control))
	for _, z := range p.Zones {
		if p.Shard.Owns(z.Name.FQDN()) || control[z.Name.FQDN()] {
			out.Zones = append(out.Zones, z)
		}
	}
	return &out
}
