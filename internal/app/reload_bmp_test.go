package app

import (
	"slices"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
)

// TestReloadBMPNeedsRestart: a changed [bmp] is reported as needing a
// restart, and the running station's routers stay the evaluator's feeds.
func TestReloadBMPNeedsRestart(t *testing.T) {
	parse := func(router string) *config.Plan {
		t.Helper()
		p, err := config.Parse("t.toml", []byte(`
[bmp]
listen = "127.0.0.1:11019"
[[bmp.router]]
address = "192.0.2.10"
name = "`+router+`"
`))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	old, next := parse("edge1"), parse("edge2")
	if got := restartNeeded(old.Config, next.Config); !slices.Equal(got, []string{"bmp"}) {
		t.Errorf("restart needed for %q, want [bmp]", got)
	}
	if got := restartNeeded(old.Config, parse("edge1").Config); len(got) != 0 {
		t.Errorf("an unchanged [bmp] needs a restart for %q", got)
	}
	eff := effectivePlan(old, next)
	if fs := evaluate.TargetsFromPlan(eff).Feeds; len(fs) != 1 || fs[0].Name != "bmp router edge1" {
		t.Errorf("feeds after the reload = %+v, want the running router edge1", fs)
	}
}
