package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/model"
)

// /api/v1/status?zone=NAME: one zone's detail (evaluate.ZoneDetail,
// schema reachmon.zone/v1), the per server and query facts that
// /metrics does not carry. The evaluator builds it when asked, in the
// goroutine that owns it (Sources.Zone): nothing is kept or refreshed for
// it while nobody asks.

// ParamZone is the query parameter of /api/v1/status naming a zone.
const ParamZone = "zone"

// MaxZoneNameLength bounds ?zone= (a DNS name is at most 253 characters,
// 254 with its trailing dot).
const MaxZoneNameLength = 254

// ZoneDetailFunc returns the detail of the zone named name (any case,
// with or without the trailing dot), nil when there is no such zone; an
// error when the evaluator could not answer (ctx ended, the daemon is
// stopping).
type ZoneDetailFunc func(ctx context.Context, name string) (*evaluate.ZoneDetail, error)

// serveZone answers ?zone=NAME of /api/v1/status.
func (s Sources) serveZone(w http.ResponseWriter, r *http.Request, names []string) {
	switch name := names[0]; {
	case len(names) > 1:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter zone: given %d times, name one zone", len(names)))
	case name == "":
		writeError(w, http.StatusBadRequest, "query parameter zone: empty, name a zone (such as example.com)")
	case len(name) > MaxZoneNameLength:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter zone: %q is longer than a DNS name (%d characters)", model.Truncate(name, 64), MaxZoneNameLength))
	case s.Zone == nil:
		writeError(w, http.StatusServiceUnavailable, "query parameter zone: zone detail not available")
	default:
		d, err := s.Zone(r.Context(), name)
		switch {
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("zone %q: the evaluator did not answer: %v", name, err))
		case d == nil:
			writeError(w, http.StatusNotFound, fmt.Sprintf("query parameter zone: no zone %q (not a zone this instance watches)", name))
		default:
			writeJSON(w, http.StatusOK, d)
		}
	}
}

// FetchZone gets /api/v1/status?zone=NAME from a running daemon at
// baseURL: one zone's detail.
func FetchZone(ctx context.Context, hc *http.Client, baseURL, zone string) (*evaluate.ZoneDetail, error) {
	var d evaluate.ZoneDetail
	if err := fetch(ctx, hc, baseURL, PathStatus, url.Values{ParamZone: {zone}}, &d, &d.Schema, evaluate.ZoneSchema); err != nil {
		return nil, err
	}
	return &d, nil
}
