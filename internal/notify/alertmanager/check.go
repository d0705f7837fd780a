package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// StatusPath is the v2 API path Check reads.
const StatusPath = "/api/v2/status"

// Check asks every URL of cfg for GET /api/v2/status (with the bearer
// token, if one is configured) and reports what each answered: the
// version and cluster status, or the failure. It posts no alert (a test
// alert would notify people through Alertmanager's routes). The error
// says that no member answered.
func Check(ctx context.Context, cfg config.AlertmanagerConfig, hc *http.Client) (string, error) {
	token, err := cfg.BearerToken()
	if err != nil {
		return "", err
	}
	if hc == nil {
		hc = &http.Client{}
	}
	var b strings.Builder
	ok := 0
	for _, u := range cfg.URLs {
		line, err := checkOne(ctx, hc, u, token, cfg.RequestTimeout())
		fmt.Fprintf(&b, "GET %s%s -> %s\n", strings.TrimSuffix(u, "/"), StatusPath, line)
		if err == nil {
			ok++
		}
	}
	if ok == 0 {
		return b.String(), fmt.Errorf("alertmanager %q: no URL answered", cfg.Name)
	}
	return b.String(), nil
}

func checkOne(ctx context.Context, hc *http.Client, base, token string, timeout time.Duration) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, strings.TrimSuffix(base, "/")+StatusPath, nil)
	if err != nil {
		return err.Error(), err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err.Error(), err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("HTTP %d %s", resp.StatusCode, model.Truncate(strings.TrimSpace(string(body)), 200))
		return msg, errors.New(msg)
	}
	var st struct {
		VersionInfo struct {
			Version string `json:"version"`
		} `json:"versionInfo"`
		Cluster struct {
			Status string `json:"status"`
			Peers  []any  `json:"peers"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		msg := "HTTP 200, but not Alertmanager's status document: " + err.Error()
		return msg, errors.New(msg)
	}
	return fmt.Sprintf("HTTP 200: Alertmanager %s, cluster %s (%d peers)", st.VersionInfo.Version, st.Cluster.Status, len(st.Cluster.Peers)), nil
}
