package app

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// getAs is a GET with a Host header and an Authorization header (either
// may be empty).
func getAs(t *testing.T, url, host, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDaemonAPIAccess: the [api] token and Host check reach the daemon's
// listener; the probes stay open.
func TestDaemonAPIAccess(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "api-token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-api-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	stop := startDaemon(t, fmt.Sprintf(`
listen = %q
state_dir = %q
[api]
token_file = %q
check_host = true
`, listen, t.TempDir(), tokenFile))
	defer stop()
	base := "http://" + listen
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := get(t, base+"/healthz"); code != http.StatusOK; code, _ = get(t, base+"/healthz") {
		if time.Now().After(deadline) {
			t.Fatal("daemon not serving")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, tc := range []struct {
		path, host, auth string
		want             int
	}{
		{"/api/v1/nameservers", "", "", http.StatusUnauthorized},
		{"/api/v1/nameservers", "", "Bearer s3cret-api-token", http.StatusOK},
		{"/api/v1/nameservers", "evil.example:80", "Bearer s3cret-api-token", http.StatusForbidden},
		{"/metrics", "", "", http.StatusOK},
		{"/readyz", "evil.example", "", http.StatusOK},
	} {
		code, body := getAs(t, base+tc.path, tc.host, tc.auth)
		if code != tc.want {
			t.Errorf("%s Host %q: %d, want %d (%s)", tc.path, tc.host, code, tc.want, body)
		}
		if code >= 400 && !strings.Contains(body, `"schema":"reachmon.error/v1"`) {
			t.Errorf("%s: refusal %q is not the API's error document", tc.path, body)
		}
	}
}
