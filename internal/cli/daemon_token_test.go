package cli

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/server"
)

// The commands reading a daemon send the [api] token of --config; without
// it a daemon that requires one refuses them.
func TestDaemonCommandsSendToken(t *testing.T) {
	const tokenEnv = "REACHMON_TEST_API_TOKEN"
	plan, err := config.Parse("t.toml", []byte("[[zone]]\nname = \"example.com\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var pub evaluate.Publisher
	pub.Publish(evaluate.New(plan.Evaluate, evaluate.TargetsFromPlan(plan)).Snapshot(time.Now()))
	s := server.New("127.0.0.1:0", prometheus.NewRegistry(), nil)
	s.Handle(api.Prefix, api.Handler(api.Sources{Status: pub.Load}))
	s.SetAccess(server.Access{Token: "s3cret-api-token"})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	dir := t.TempDir()
	listen := strings.TrimPrefix(srv.URL, "http://")
	withToken := filepath.Join(dir, "with.toml")
	without := filepath.Join(dir, "without.toml")
	for path, src := range map[string]string{
		withToken: "listen = \"" + listen + "\"\n[api]\ntoken_env = \"" + tokenEnv + "\"\n",
		without:   "listen = \"" + listen + "\"\n",
	} {
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	t.Setenv(tokenEnv, "s3cret-api-token")
	if code, out, errOut := runMain("status", "--config", withToken, "--json"); code != ExitOK || !strings.Contains(out, evaluate.StatusSchema) {
		t.Errorf("status with the token: exit %d\n%s%s", code, out, errOut)
	}
	for _, tc := range []struct {
		name, config, env string
		code              int
		want              string
	}{
		{"no token", without, "s3cret-api-token", ExitProblem, "missing or wrong bearer token"},
		{"wrong token", withToken, "wrong", ExitProblem, "missing or wrong bearer token"},
		{"variable unset", withToken, "", ExitUsage, tokenEnv + " is not set"},
	} {
		t.Setenv(tokenEnv, tc.env)
		code, _, errOut := runMain("status", "--config", tc.config)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "s3cret") {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, code, errOut, tc.code, tc.want)
		}
	}
}
