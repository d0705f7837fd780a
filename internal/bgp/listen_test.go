package bgp

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
)

// TestListenPortInUse: a listen port another process holds ends Run at
// once with a configuration error (the CLI exits 2 for it, which the
// systemd unit does not restart), not a failure worth restarting for.
func TestListenPortInUse(t *testing.T) {
	held, err := net.Listen("tcp", net.JoinHostPort(feedAddr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).Port
	f, err := New(config.BGP{ASN: feedASN, RouterID: feedAddr, ListenPort: port, ListenAddresses: []string{feedAddr}}, Watch{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = f.Run(ctx)
	if ctx.Err() != nil {
		t.Fatal("Run did not fail on a listen port in use")
	}
	if !config.IsInvalid(err) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run = %v, want a configuration error saying the address is in use", err)
	}
}
