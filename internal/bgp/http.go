package bgp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reachmon/reachmon/internal/apiclient"
	"github.com/reachmon/reachmon/internal/model"
)

// API paths served by Handler.
const (
	PathPeers  = "/api/v1/peers"
	PathRoutes = "/api/v1/routes"
)

// PeersView is the /api/v1/peers document.
type PeersView struct {
	Enabled  bool            `json:"enabled"`
	ASN      uint32          `json:"asn,omitempty"`
	RouterID string          `json:"router_id,omitempty"`
	Peers    []model.BGPPeer `json:"peers"`
}

// RoutesView is the /api/v1/routes document.
type RoutesView struct {
	Enabled   bool               `json:"enabled"`
	Query     string             `json:"query,omitempty"`
	Routes    []model.BGPRoute   `json:"routes"`
	Addresses []model.BGPAddress `json:"addresses"`
}

// PeersView returns the /api/v1/peers document.
func (f *Feed) PeersView() PeersView {
	return PeersView{Enabled: f.Enabled(), ASN: f.cfg.ASN, RouterID: f.cfg.RouterID, Peers: f.Peers()}
}

// Handler serves GET /api/v1/peers and GET /api/v1/routes[?q=PREFIX|ADDRESS].
// Mount it on both paths (or use ServePeers / ServeRoutes).
func (f *Feed) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathPeers, f.ServePeers)
	mux.HandleFunc("GET "+PathRoutes, f.ServeRoutes)
	return mux
}

// ServePeers serves the peers document.
func (f *Feed) ServePeers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, f.PeersView())
}

// ServeRoutes serves the routes document; q selects a prefix or address.
func (f *Feed) ServeRoutes(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	v, err := f.Routes(q)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	v.Enabled = f.Enabled()
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// --- client side, for `reachmon bgp peers|routes` ---

// FetchPeers reads /api/v1/peers from a running daemon at baseURL
// ("http://127.0.0.1:9798").
func FetchPeers(ctx context.Context, c *http.Client, baseURL string) (PeersView, error) {
	var v PeersView
	err := fetch(ctx, c, baseURL, PathPeers, nil, &v)
	return v, err
}

// FetchRoutes reads /api/v1/routes, optionally for a prefix or address.
func FetchRoutes(ctx context.Context, c *http.Client, baseURL, query string) (RoutesView, error) {
	var v RoutesView
	var q url.Values
	if query != "" {
		q = url.Values{"q": {query}}
	}
	err := fetch(ctx, c, baseURL, PathRoutes, q, &v)
	return v, err
}

func fetch(ctx context.Context, c *http.Client, baseURL, path string, q url.Values, v any) error {
	if err := apiclient.GetJSON(ctx, c, baseURL, path, q, v); err != nil {
		return fmt.Errorf("bgp: %w", err)
	}
	return nil
}

// WritePeers renders the peers as a table.
func WritePeers(w io.Writer, v PeersView, now time.Time) error {
	if !v.Enabled {
		_, err := fmt.Fprintln(w, "BGP feed disabled ([bgp] asn is not set)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tASN\tSTATE\tSYNCED\tSINCE\tROUTES\tREASON\tDESCRIPTION")
	for _, p := range v.Peers {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", p.Peer, p.PeerASN, p.State, yesNo(p.Synced),
			ago(now, p.Since), p.Routes, dash(p.Reason), dash(p.Description))
	}
	return tw.Flush()
}

// WriteRoutes renders the watched addresses (which route covers each
// nameserver and resolver) and the routes, as tables.
func WriteRoutes(w io.Writer, v RoutesView, now time.Time) error {
	if !v.Enabled {
		_, err := fmt.Fprintln(w, "BGP feed disabled ([bgp] asn is not set)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(v.Addresses) > 0 {
		fmt.Fprintln(tw, "ADDRESS\tROLE\tCOVERED BY\tPEERS\tORIGIN\tHEALTHY ROUTE\tSTATUS")
		for _, a := range v.Addresses {
			var roles []string
			for _, r := range a.Roles {
				roles = append(roles, r.Kind+" "+r.Name)
			}
			cur, peers, origin := "-", "0", "-"
			if a.Current != nil {
				cur, peers, origin = a.Current.Prefix.String(), strconv.Itoa(a.Current.Peers), asns(a.Current.Origins)
			}
			healthy := "-"
			if a.Healthy != nil {
				healthy = a.Healthy.Prefix.String()
			}
			status := "ok"
			switch {
			case a.Degraded:
				status = "DEGRADED: healthy route withdrawn"
			case a.Current == nil:
				status = "no route"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Addr, strings.Join(roles, ", "), cur, peers, origin, healthy, status)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw, "PREFIX\tWATCHED\tPEERS\tORIGIN\tAS PATH (first peer)\tCHANGED")
	for _, r := range v.Routes {
		watched := "-"
		if r.Watched.IsValid() {
			watched = r.Watched.String()
			if r.MoreSpecific {
				watched = "inside " + watched
			}
		} else if len(r.Covers) > 0 {
			watched = "covers " + r.Covers[0].String()
			if len(r.Covers) > 1 {
				watched += fmt.Sprintf(" (+%d)", len(r.Covers)-1)
			}
		}
		path := "-"
		if len(r.Paths) > 0 {
			path = asns(r.Paths[0].ASPath)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Prefix, watched, len(r.Paths), asns(r.Origins), path, ago(now, r.Changed))
	}
	if len(v.Routes) == 0 {
		fmt.Fprintln(tw, "(no watched route visible)")
	}
	return tw.Flush()
}

func asns(l []uint32) string {
	if len(l) == 0 {
		return "-"
	}
	s := make([]string, len(l))
	for i, a := range l {
		s[i] = strconv.FormatUint(uint64(a), 10)
	}
	return strings.Join(s, " ")
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Truncate(time.Second).String() + " ago"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
