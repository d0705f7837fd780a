package app

import (
	"slices"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
)

// TestReloadListenerOwnerNeedsRestart: a reload that would move [bgp]'s
// listener between GoBGP and the full_table speaker (a passive full_table
// neighbor added or removed) is reported as needing a restart, and the
// running neighbors stay; moving an active neighbor to full_table does
// not touch the listener and applies.
func TestReloadListenerOwnerNeedsRestart(t *testing.T) {
	parse := func(passive, fullTable bool) *config.Plan {
		t.Helper()
		p, err := config.Parse("t.toml", []byte(`
[bgp]
asn = 64512
router_id = "192.0.2.1"
listen_port = 1790
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
passive = `+map[bool]string{true: "true", false: "false"}[passive]+`
full_table = `+map[bool]string{true: "true", false: "false"}[fullTable]+`
`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	old, next := parse(true, false), parse(true, true)
	if got := restartNeeded(old.Config, next.Config); !slices.Equal(got, []string{listenerOwnerKey}) {
		t.Errorf("restart needed for %q, want [%s]", got, listenerOwnerKey)
	}
	if eff := effectivePlan(old, next); eff.BGP.Neighbor[0].FullTable {
		t.Error("the neighbor became full_table although the listener cannot change hands without a restart")
	}
	active, activeFT := parse(false, false), parse(false, true)
	if got := restartNeeded(active.Config, activeFT.Config); len(got) != 0 {
		t.Errorf("an active neighbor moved to full_table needs a restart for %q", got)
	}
	if eff := effectivePlan(active, activeFT); !eff.BGP.Neighbor[0].FullTable {
		t.Error("an active neighbor's full_table was not applied by the reload")
	}
}
