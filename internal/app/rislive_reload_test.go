package app

import (
	"slices"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
)

// TestRISLiveReloadIsRestartNeeded: adding, removing or changing
// [ris_live] needs a restart; the running section is kept in the
// effective plan.
func TestRISLiveReloadIsRestartNeeded(t *testing.T) {
	parse := func(body string) *config.Plan {
		t.Helper()
		p, err := config.Parse("t.toml", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	none, on, changed := parse(""), parse("[ris_live]\n"), parse("[ris_live]\nmin_peers = 5\n")
	for _, tc := range []struct {
		name     string
		old, new *config.Plan
		want     bool
	}{
		{"added", none, on, true}, {"removed", on, none, true}, {"changed", on, changed, true},
		{"same", on, parse("[ris_live]\n"), false},
	} {
		got := slices.Contains(restartNeeded(tc.old.Config, tc.new.Config), "ris_live")
		if got != tc.want {
			t.Errorf("%s: restart needed %v, want %v", tc.name, got, tc.want)
		}
		if eff := effectivePlan(tc.old, tc.new); eff.Config.RISLive != tc.old.Config.RISLive {
			t.Errorf("%s: the effective plan does not keep the running [ris_live]", tc.name)
		}
	}
}
