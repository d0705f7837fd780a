package config

import (
	"errors"
	"strings"
	"testing"
)

func TestBMPValid(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[bmp]
listen = "127.0.0.1:11019"
[[bmp.router]]
address = "192.0.2.10"
name = "edge1"
description = "Frankfurt edge"
[[bmp.router]]
address = "::ffff:192.0.2.11"
name = "edge2"
`))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.BMP.Enabled() || len(cfg.BMP.Router) != 2 {
		t.Fatalf("bmp = %+v", cfg.BMP)
	}
	r := cfg.BMP.Router[0]
	if r.FeedName() != "bmp router edge1" || r.Label() != "router edge1 (192.0.2.10, Frankfurt edge)" {
		t.Errorf("feed %q label %q", r.FeedName(), r.Label())
	}
	if a := cfg.BMP.Router[1].Addr().String(); a != "192.0.2.11" {
		t.Errorf("mapped address = %s, want it unmapped", a)
	}
}

func TestBMPErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"routers without listen", `
[[bmp.router]]
address = "192.0.2.10"
name = "edge1"
`, []string{`bmp.listen: must be set when bmp.router is`}},
		{"listen without routers", `
[bmp]
listen = ":11019"
`, []string{"bmp.router: at least one router must be listed"}},
		{"everything at once", `
[bmp]
listen = "localhost:0"
[[bmp.router]]
address = "192.0.2.300"
name = "edge 1"
[[bmp.router]]
address = "192.0.2.10"
[[bmp.router]]
address = "192.0.2.10"
name = "edge2"
[[bmp.router]]
address = "0.0.0.0"
name = "edge2"
`, []string{
			`bmp.listen: "localhost:0": the host must be an IP address`,
			`bmp.listen: "localhost:0": port 0 is not a fixed port`,
			`bmp.router[0].address: "192.0.2.300" is not an IP address`,
			`bmp.router[0].name: "edge 1" must be at most 64 characters without spaces`,
			`bmp.router[1].name: must be set`,
			`bmp.router[2].address: 192.0.2.10 is already bmp.router[1]`,
			`bmp.router[3].address: "0.0.0.0" is not a unicast address`,
			`bmp.router[3].name: "edge2" is already bmp.router[2]`,
		}},
		{"bad port", `
[bmp]
listen = "127.0.0.1:http"
[[bmp.router]]
address = "192.0.2.10"
name = "edge1"
`, []string{`bmp.listen: "127.0.0.1:http": port "http" is not a number in 0..65535`}},
		{"unknown key", `
[bmp]
listen = "127.0.0.1:11019"
[[bmp.router]]
address = "192.0.2.10"
name = "edge1"
asn = 64500
`, []string{"bmp.router.asn: unknown key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.file))
			var ce *Errors
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *Errors", err)
			}
			got := ce.List
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n  %s", len(got), len(tc.want), strings.Join(got, "\n  "))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d:\n got  %s\n want %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}
