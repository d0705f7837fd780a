package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/statefile"
)

// stateDirConfig writes a configuration using stateDir and returns its path.
func stateDirConfig(t *testing.T, stateDir string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "r.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
listen = "127.0.0.1:1"
state_dir = %q
[[resolver]]
name = "local"
address = "127.0.0.1:53"
`, stateDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRunRefusesALockedStateDir: `reachmon run` on a state_dir another
// process holds exits 2 (a configuration error: systemd does not restart
// it) naming the holder's pid (before: it ran beside the holder).
func TestRunRefusesALockedStateDir(t *testing.T) {
	stateDir := t.TempDir()
	lock, err := statefile.Lock(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	var stderr bytes.Buffer
	if c := Main([]string{"run", "--config", stateDirConfig(t, stateDir)}, &bytes.Buffer{}, &stderr); c != ExitUsage {
		t.Fatalf("exit %d, want %d:\n%s", c, ExitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("the error does not name the holder's pid %d:\n%s", os.Getpid(), stderr.String())
	}
}

// TestRunRefusesANewerStateFile: a state file written by a newer reachmon
// makes `reachmon run` exit 2 naming the version found and the version
// it reads, and the file stays in place (before: it was set aside as
// corrupt and the daemon started without it).
func TestRunRefusesANewerStateFile(t *testing.T) {
	stateDir := t.TempDir()
	path := filepath.Join(stateDir, "incidents", "incidents.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"schema":"reachmon.incidents/v7"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if c := Main([]string{"run", "--config", stateDirConfig(t, stateDir)}, &bytes.Buffer{}, &stderr); c != ExitUsage {
		t.Fatalf("exit %d, want %d:\n%s", c, ExitUsage, stderr.String())
	}
	for _, w := range []string{path, "schema version 7", "this build reads version 1"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("the error lacks %q:\n%s", w, stderr.String())
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the newer file was moved: %v", err)
	}
}
