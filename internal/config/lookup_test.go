package config

import (
	"strings"
	"testing"
)

// TestLookupConcurrency: [probe] lookup_concurrency defaults to
// DefaultLookupConcurrency and takes 1..10000; anything else is refused
// under its key.
func TestLookupConcurrency(t *testing.T) {
	const base = "[[resolver]]\nname = \"r1\"\naddress = \"192.0.2.53\"\n[[zone]]\nname = \"example.com\"\n"
	p, err := Parse("t.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if p.Probe.LookupConcurrency != DefaultLookupConcurrency {
		t.Errorf("default lookup_concurrency %d, want %d", p.Probe.LookupConcurrency, DefaultLookupConcurrency)
	}
	p, err = Parse("t.toml", []byte("[probe]\nlookup_concurrency = 8\n"+base))
	if err != nil || p.Probe.LookupConcurrency != 8 {
		t.Errorf("lookup_concurrency = 8: %v, %+v", err, p)
	}
	for _, v := range []string{"0", "-3", "10001"} {
		_, err := Parse("t.toml", []byte("[probe]\nlookup_concurrency = "+v+"\n"+base))
		if want := "probe.lookup_concurrency: " + v + " is outside 1..10000"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("lookup_concurrency = %s: error %v, want %q", v, err, want)
		}
	}
}
