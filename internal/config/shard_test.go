package config

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestShardGolden pins the zone-to-shard mapping: instances of different
// versions share zones during an upgrade, so a change in the hash (or in
// the canonical name it hashes) would have two instances watch one zone
// and none another. The values were computed once with this code and
// checked against an independent implementation (Python, FNV-1a 64 and
// the paper's jump hash).
func TestShardGolden(t *testing.T) {
	counts := [5]int{2, 3, 4, 7, 100}
	golden := []struct {
		zone string
		want [5]int
	}{
		{"example.com.", [5]int{0, 0, 3, 3, 64}},
		{"example.org.", [5]int{0, 2, 2, 2, 15}},
		{"z00001.test.", [5]int{0, 2, 2, 2, 93}},
		{"z00002.test.", [5]int{0, 0, 0, 0, 62}},
		{"z09999.test.", [5]int{1, 1, 1, 1, 42}},
		{".", [5]int{0, 0, 0, 0, 7}},
		{"reachmon.example.", [5]int{1, 1, 1, 1, 50}},
		{"a.b.c.d.e.", [5]int{0, 2, 2, 5, 62}},
		{"xn--bcher-kva.example.", [5]int{1, 1, 1, 6, 31}},
	}
	for _, g := range golden {
		for i, n := range counts {
			// Every spelling of the name is the same zone.
			for _, spelling := range []string{g.zone, strings.TrimSuffix(g.zone, "."), strings.ToUpper(g.zone)} {
				if spelling == "" {
					spelling = "."
				}
				if got := ShardOf(spelling, n); got != g.want[i] {
					t.Errorf("ShardOf(%q, %d) = %d, want %d", spelling, n, got, g.want[i])
				}
			}
			if !(Shard{Index: g.want[i], Count: n}).Owns(g.zone) {
				t.Errorf("Shard{%d, %d}.Owns(%q) = false", g.want[i], n, g.zone)
			}
		}
		if ShardOf(g.zone, 1) != 0 || !DefaultShard().Owns(g.zone) {
			t.Errorf("%s: one shard must own every zone", g.zone)
		}
	}
	// The jump hash itself, against the values other implementations
	// publish (the paper's C++ code in ClickHouse, rust-jumphash).
	for _, c := range []struct {
		key     uint64
		buckets int32
		want    int32
	}{{1, 1, 0}, {0, 60, 0}, {1, 60, 55}, {2, 60, 46}, {256, 1024, 520}} {
		if got := jumpHash(c.key, c.buckets); got != c.want {
			t.Errorf("jumpHash(%d, %d) = %d, want %d", c.key, c.buckets, got, c.want)
		}
	}
}

func testZones(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("z%05d.test.", i+1)
	}
	return out
}

// TestShardPartition: for several counts every zone is owned by exactly
// one index, and 10,000 zones spread within a few per cent of even.
func TestShardPartition(t *testing.T) {
	zones := testZones(10000)
	for _, n := range []int{2, 3, 4, 5, 8, 16} {
		per := make([]int, n)
		for _, z := range zones {
			owners := 0
			for i := range n {
				if (Shard{Index: i, Count: n}).Owns(z) {
					owners++
					per[i]++
				}
			}
			if owners != 1 {
				t.Fatalf("count %d: %s is owned by %d shards", n, z, owners)
			}
		}
		even := float64(len(zones)) / float64(n)
		// A random spread's standard deviation is sqrt(z p (1-p)): 1% of
		// the share at 2 shards, 3.9% at 16. Up to 5 shards every share
		// is within 4% of even; beyond, within 4 standard deviations.
		// The mapping is fixed, so these are properties of these names,
		// not flaky bounds.
		bound := max(0.04, 4*math.Sqrt(even*(1-1/float64(n)))/even)
		for i, c := range per {
			if dev := (float64(c) - even) / even; math.Abs(dev) > bound {
				t.Errorf("count %d: shard %d owns %d zones, %.1f%% off the even %.0f (bound %.1f%%)", n, i, c, 100*dev, even, 100*bound)
			}
			t.Logf("count %d: shard %d owns %d zones (%+.1f%%)", n, i, c, 100*(float64(c)-even)/even)
		}
	}
}

// TestShardGrowth: going from N to N+1 shards moves about 1/(N+1) of the
// zones, every one of them to the new shard.
func TestShardGrowth(t *testing.T) {
	zones := testZones(10000)
	for n := 1; n <= 8; n++ {
		moved := 0
		for _, z := range zones {
			a, b := ShardOf(z, n), ShardOf(z, n+1)
			if a == b {
				continue
			}
			moved++
			if b != n {
				t.Fatalf("%d -> %d shards: %s moved from %d to %d, not to the new shard", n, n+1, z, a, b)
			}
		}
		want := float64(len(zones)) / float64(n+1)
		if f := float64(moved); f > want*1.1 || f < want*0.9 {
			t.Errorf("%d -> %d shards: %d zones moved, want about %.0f", n, n+1, moved, want)
		}
	}
}

func TestShardConfig(t *testing.T) {
	base := `
[[resolver]]
name = "r"
address = "127.0.0.1"
[[zone]]
name = "example.com"
[[zone]]
name = "example.org"
[[zone]]
name = "z00002.test"
[[zone]]
name = "z09999.test"
[evaluate]
control_zones = ["example.com"]
`
	p, err := Parse("t.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if p.Shard != DefaultShard() || p.Shard.Enabled() || p.Owned() != p {
		t.Fatalf("default shard %+v, want one shard owning the plan", p.Shard)
	}
	p, err = Parse("t.toml", []byte(base+"[shard]\nindex = 1\ncount = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, z := range p.Owned().Zones {
		names = append(names, z.Name.Label())
	}
	// z09999.test is shard 1's; example.com is shard 0's but a control
	// zone, kept everywhere.
	if got := strings.Join(names, " "); got != "example.com z09999.test" {
		t.Errorf("shard 1 of 2 runs zones %q, want %q", got, "example.com z09999.test")
	}
	if len(p.Zones) != 4 {
		t.Errorf("Owned changed the full plan: %d zones", len(p.Zones))
	}

	for _, c := range []struct{ shard, want string }{
		{"count = 0", "shard.count: 0 is outside 1..1024"},
		{"count = 2000", "shard.count: 2000 is outside 1..1024"},
		{"index = 1", "shard.index: 1 is outside 0..0 (shard.count is 1"},
		{"index = 2\ncount = 2", "shard.index: 2 is outside 0..1 (shard.count is 2"},
		{"index = -1\ncount = 2", "shard.index: -1 is outside 0..1"},
		{"count = \"2\"", "shard.count: expected int"},
		{"shards = 2", "shard.shards: unknown key"},
	} {
		_, err := Parse("t.toml", []byte(base+"[shard]\n"+c.shard+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("[shard] %s: error %v, want one containing %q", c.shard, err, c.want)
		}
	}
}
