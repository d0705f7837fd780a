package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/model"
)

// probe --config asks the configuration's resolvers exactly as the daemon
// does: the servers of the plan, transport and TLS name included.
func TestProbeResolversFromConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reachmon.toml")
	if err := os.WriteFile(path, []byte(`
[[resolver]]
name = "local"
address = "127.0.0.1:5301"
[[resolver]]
name = "secure"
address = "::1"
transport = "dot"
tls_server_name = "dns.example"
validating = false
`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := probeResolvers(nil, path, model.TransportUDP, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Server{
		{Name: "local", Kind: model.KindResolver, Addr: "127.0.0.1:5301", Transport: model.TransportUDP, Validating: true},
		{Name: "secure", Kind: model.KindResolver, Addr: "[::1]:853", Transport: model.TransportDoT, TLSServerName: "dns.example"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resolvers\n got %+v\nwant %+v", got, want)
	}

	empty := filepath.Join(dir, "empty.toml")
	if err := os.WriteFile(empty, []byte("[[zone]]\nname = \"example.com\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := probeResolvers(nil, empty, model.TransportUDP, ""); err == nil || !strings.Contains(err.Error(), "names no [[resolver]]") {
		t.Errorf("config without resolvers: %v", err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[[resolver]]\nname = \"r\"\naddress = \"dns.example\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := probeResolvers(nil, bad, model.TransportUDP, ""); err == nil || !strings.Contains(err.Error(), `resolver[0].address: "dns.example" is not an IP address`) {
		t.Errorf("config with a bad resolver address: %v", err)
	}
}
