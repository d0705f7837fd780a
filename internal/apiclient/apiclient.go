// Package apiclient reads a running reachmon's /api/v1 documents, for the
// CLI commands that talk to the daemon (status, incidents, bgp).
package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds a request whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// maxBody bounds the document read (a large routes view is a few MB).
const maxBody = 64 << 20

// GetJSON fetches baseURL+path (with query q, if any) and decodes the JSON
// answer into v. A nil hc means a client with DefaultTimeout. A non-200
// answer is an error carrying the API's {"error": …} text, or the status
// and the start of the body.
func GetJSON(ctx context.Context, hc *http.Client, baseURL, path string, q url.Values, v any) error {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	u, err := url.JoinPath(baseURL, path)
	if err != nil {
		return fmt.Errorf("base URL %q: %w", baseURL, err)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("is reachmon running? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", u, e.Error)
		}
		b := strings.TrimSpace(string(body))
		if len(b) > 512 {
			b = b[:512]
		}
		return fmt.Errorf("%s: %s: %s", u, resp.Status, b)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding %s: %w", u, err)
	}
	return nil
}
