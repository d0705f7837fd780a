package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
)

// The daemon is built from the plan, and reachmon_config_info digests the
// file as decoded (config.Config), as it did before plans: the values the
// plan resolves from it do not change the digest vantages are compared by.
func TestConfigDigestIsTheDecodedFile(t *testing.T) {
	plan, err := config.Parse("t.toml", []byte(`
vantage = "v1"
[[resolver]]
name = "r"
address = "127.0.0.1:5301"
[[zone]]
name = "Lab.Example."
authoritative = ["127.0.0.1:5310"]
`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(plan, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(plan.Config)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	want := hex.EncodeToString(sum[:])[:12]
	fams, err := d.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, f := range fams {
		if f.GetName() != "reachmon_config_info" {
			continue
		}
		for _, l := range f.GetMetric()[0].GetLabel() {
			if l.GetName() == "sha256" {
				got = l.GetValue()
			}
		}
	}
	if got != want {
		t.Errorf("reachmon_config_info sha256 = %q, want %q (the decoded file's)", got, want)
	}
}
