package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestForecastKeys: signature_warning and serial_spread_after default to
// 72h and 1h, take durations, and reject a horizon of zero and a negative
// spread (0s turns the spread check off).
func TestForecastKeys(t *testing.T) {
	c, err := Parse("t.toml", []byte("[[zone]]\nname = \"example.com\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Evaluate.SignatureWarning.Duration != 72*time.Hour || c.Evaluate.SerialSpreadAfter.Duration != time.Hour {
		t.Errorf("defaults: signature_warning %v serial_spread_after %v, want 72h and 1h",
			c.Evaluate.SignatureWarning.Duration, c.Evaluate.SerialSpreadAfter.Duration)
	}
	c, err = Parse("t.toml", []byte("[[zone]]\nname = \"example.com\"\n[evaluate]\nsignature_warning = \"240h\"\nserial_spread_after = \"0s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Evaluate.SignatureWarning.Duration != 240*time.Hour || c.Evaluate.SerialSpreadAfter.Duration != 0 {
		t.Errorf("parsed: signature_warning %v serial_spread_after %v", c.Evaluate.SignatureWarning.Duration, c.Evaluate.SerialSpreadAfter.Duration)
	}
	_, err = Parse("t.toml", []byte("[[zone]]\nname = \"example.com\"\n[evaluate]\nsignature_warning = \"0s\"\nserial_spread_after = \"-1m\"\n"))
	var ce *Errors
	if !errors.As(err, &ce) {
		t.Fatalf("want *Errors, got %v", err)
	}
	want := []string{
		`evaluate.signature_warning: 0s is outside 1ms..720h`,
		`evaluate.serial_spread_after: -1m is outside 0s..24h`,
	}
	if len(ce.List) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(ce.List), len(want), strings.Join(ce.List, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(ce.List[i], w) {
			t.Errorf("error %d:\n got %s\nwant %s", i, ce.List[i], w)
		}
	}
}
