package api

// The client side: the CLI commands that talk to a running daemon
// (status, incidents, bgp) read its documents with these.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
)

// DefaultTimeout bounds a request whose context has no deadline.
const DefaultTimeout = 10 * time.Second

// maxBody bounds the document read (a large routes view is a few MB).
const maxBody = 64 << 20

// NewClient returns the client the CLI reads the daemon at baseURL with:
// each request bounded by timeout and, when token is set, carrying it as
// a bearer token. The token goes only to baseURL's host, never along a
// redirect elsewhere.
func NewClient(timeout time.Duration, baseURL, token string) (*http.Client, error) {
	c := &http.Client{Timeout: timeout}
	if token == "" {
		return c, nil
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("base URL %q is not an http URL", baseURL)
	}
	c.Transport = bearerTransport{base: http.DefaultTransport, host: u.Host, token: token}
	return c, nil
}

type bearerTransport struct {
	base        http.RoundTripper
	host, token string
}

func (t bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context()) // a RoundTripper must not change its request
	req.Header.Set("Authorization", "Bearer "+t.token)
	return t.base.RoundTrip(req)
}

// GetJSON fetches baseURL+path (with query q, if any) and decodes the JSON
// answer into v. A nil hc means a client with DefaultTimeout. A non-200
// answer is an error carrying the API's {"error": …} text, or the status
// and the start of the body.
func GetJSON(ctx context.Context, hc *http.Client, baseURL, path string, q url.Values, v any) error {
	return doJSON(ctx, hc, http.MethodGet, baseURL, path, q, v)
}

// PostJSON is GetJSON with POST (and no body): the endpoints that change
// the daemon (POST /-/reload).
func PostJSON(ctx context.Context, hc *http.Client, baseURL, path string, v any) error {
	return doJSON(ctx, hc, http.MethodPost, baseURL, path, nil, v)
}

func doJSON(ctx context.Context, hc *http.Client, method, baseURL, path string, q url.Values, v any) error {
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
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
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

// FetchStatus gets /api/v1/status from a running daemon at baseURL
// ("http://127.0.0.1:9798"). ctx should carry a deadline.
func FetchStatus(ctx context.Context, hc *http.Client, baseURL string) (*evaluate.Status, error) {
	var st evaluate.Status
	if err := fetch(ctx, hc, baseURL, PathStatus, nil, &st, &st.Schema, evaluate.StatusSchema); err != nil {
		return nil, err
	}
	return &st, nil
}

// FetchIncidents gets /api/v1/incidents (only the open ones if openOnly).
func FetchIncidents(ctx context.Context, hc *http.Client, baseURL string, openOnly bool) (*incident.View, error) {
	var q url.Values
	if openOnly {
		q = url.Values{"state": {"open"}}
	}
	var v incident.View
	if err := fetch(ctx, hc, baseURL, PathIncidents, q, &v, &v.Schema, incident.Schema); err != nil {
		return nil, err
	}
	return &v, nil
}

// FetchPeers gets /api/v1/peers.
func FetchPeers(ctx context.Context, hc *http.Client, baseURL string) (bgp.PeersView, error) {
	var v bgp.PeersView
	err := fetch(ctx, hc, baseURL, PathPeers, nil, &v, &v.Schema, bgp.PeersSchema)
	return v, err
}

// FetchRoutes gets /api/v1/routes, optionally for a prefix or address.
func FetchRoutes(ctx context.Context, hc *http.Client, baseURL, query string) (bgp.RoutesView, error) {
	var q url.Values
	if query != "" {
		q = url.Values{"q": {query}}
	}
	var v bgp.RoutesView
	err := fetch(ctx, hc, baseURL, PathRoutes, q, &v, &v.Schema, bgp.RoutesSchema)
	return v, err
}

// schemaAdded are the documents whose schema member came after the
// document: a daemon from before sends none, and its document is this
// version. Every other document must name its schema.
var schemaAdded = map[string]bool{bgp.PeersSchema: true, bgp.RoutesSchema: true}

// fetch gets path into doc, then refuses it unless *schema (doc's schema
// member, filled by the decoding) is want: another version, or another
// document than the one asked for.
func fetch(ctx context.Context, hc *http.Client, baseURL, path string, q url.Values, doc any, schema *string, want string) error {
	if err := GetJSON(ctx, hc, baseURL, path, q, doc); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if *schema != want && !(*schema == "" && schemaAdded[want]) {
		return fmt.Errorf("api: %s answered schema %q, want %q", path, *schema, want)
	}
	return nil
}
