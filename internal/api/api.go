// Package api is reachmon's HTTP API: the /api/v1 route table, the one
// JSON writer and error shape every route answers with, and the client
// side the CLI uses to read a running daemon. The documents themselves are
// built by the domain packages (evaluate, incident, bgp), which know
// nothing of HTTP; this package only serves and fetches them.
//
// Every /api/v1 answer is a JSON object with a "schema" member naming the
// document and its version. A request that cannot be answered gets an
// ErrorDoc (schema reachmon.error/v1) with the HTTP status and a message
// naming the problem: the bad query parameter and its value, the unknown
// path, the method that is not allowed.
package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/silence"
)

// Prefix is the path every API route lives under; mount Handler on it.
const Prefix = "/api/v1/"

// Paths of the API documents.
const (
	PathStatus      = "/api/v1/status"
	PathIncidents   = "/api/v1/incidents"
	PathPeers       = "/api/v1/peers"
	PathRoutes      = "/api/v1/routes"
	PathNameservers = "/api/v1/nameservers"
	// PathSilences lists silences (GET) and adds one (POST);
	// PathSilenceExpire ends one (POST, {id} its id).
	PathSilences      = "/api/v1/silences"
	PathSilenceExpire = "/api/v1/silences/{id}/expire"
)

// DefaultIncidentLimit is how many resolved incidents /api/v1/incidents
// lists when ?limit= is not given.
const DefaultIncidentLimit = 50

// Sources are the daemon's components the API reads. Each is called per
// request and must be safe for concurrent use.
type Sources struct {
	// Status is the latest published status (evaluate.Publisher.Load);
	// nil before the evaluator first ran.
	Status func() *evaluate.Status
	// Incidents is the incident store's view (incident.Store.View).
	Incidents func(limit int) incident.View
	// Peers and Routes are the BGP feed's views (bgp.Feed.PeersView and
	// bgp.Feed.RoutesView).
	Peers  func() bgp.PeersView
	Routes func(query string) (bgp.RoutesView, error)
	// Nameservers are every zone's authoritative servers, discovered or
	// configured (schedule.Scheduler.AuthServers).
	Nameservers func() map[string][]model.AuthServer
	// Silences are the silences and maintenance windows (silence.Store);
	// nil: the silence routes answer 503.
	Silences Silences
	// Zone answers /api/v1/status?zone=NAME (zone.go); nil: 503.
	Zone ZoneDetailFunc
}

// Silences is what the silence routes need of silence.Store.
type Silences interface {
	View() silence.View
	Add(r silence.Request) (silence.Silence, error)
	Expire(id, by string) (silence.Silence, error)
	Doc(s silence.Silence) silence.Doc
}

// route is one route of the API: its method (GET routes answer HEAD
// too), its path (a "{name}" segment matches any one segment), the schema
// of its answer and the handler serving it. Routes that change something
// are POST; who may send them is the daemon's access guard's business
// (package server: loopback, or the [api] token when there is one).
type route struct {
	method string
	path   string
	schema string
	serve  func(w http.ResponseWriter, r *http.Request)
}

// routes is the route table: every /api/v1 route, in one place.
func (s Sources) routes() []route {
	return []route{
		{http.MethodGet, PathStatus, evaluate.StatusSchema, s.serveStatus}, // ?zone=NAME: evaluate.ZoneSchema (zone.go)
		{http.MethodGet, PathIncidents, incident.Schema, s.serveIncidents}, // ?limit=N ?state=open|all ?id=ID
		{http.MethodGet, PathPeers, bgp.PeersSchema, s.servePeers},
		{http.MethodGet, PathRoutes, bgp.RoutesSchema, s.serveRoutes}, // ?q=PREFIX|ADDRESS
		{http.MethodGet, PathNameservers, NameserversSchema, s.serveNameservers},
		{http.MethodGet, PathSilences, silence.ListSchema, s.serveSilences},
		{http.MethodPost, PathSilences, silence.Schema, s.addSilence},         // body: silence.Request
		{http.MethodPost, PathSilenceExpire, silence.Schema, s.expireSilence}, // body: {"expired_by": NAME} or none
	}
}

// Handler serves every /api/v1 route from src, whose sources must all be
// set (but Silences and Zone). Mount it on Prefix: paths under it that
// are not routes get a JSON 404, methods a route does not take a JSON
// 405.
func Handler(src Sources) http.Handler {
	mux := http.NewServeMux()
	rs := src.routes()
	for _, rt := range rs {
		mux.HandleFunc(rt.method+" "+rt.path, rt.serve)
	}
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, rt := range rs {
			if pathMatches(rt.path, r.URL.Path) {
				allow = append(allow, rt.method)
				if rt.method == http.MethodGet {
					allow = append(allow, http.MethodHead)
				}
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			use := slices.DeleteFunc(slices.Clone(allow), func(m string) bool { return m == http.MethodHead })
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed, use %s", r.Method, r.URL.Path, strings.Join(use, " or ")))
			return
		}
		var paths []string
		for _, rt := range rs {
			if !slices.Contains(paths, rt.path) {
				paths = append(paths, rt.path)
			}
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s: no such API route (routes: %s)", r.URL.Path, strings.Join(paths, ", ")))
	})
	return mux
}

// pathMatches reports whether path is one of pattern's paths: the same
// segments, a "{name}" segment matching any one that is not empty.
func pathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], "{") && strings.HasSuffix(ps[i], "}") {
			if xs[i] == "" {
				return false
			}
		} else if ps[i] != xs[i] {
			return false
		}
	}
	return true
}

func (s Sources) serveStatus(w http.ResponseWriter, r *http.Request) {
	if names, ok := r.URL.Query()[ParamZone]; ok {
		s.serveZone(w, r, names)
		return
	}
	st := s.Status()
	if st == nil {
		writeError(w, http.StatusServiceUnavailable, "status not ready: the evaluator has not run yet")
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// MaxIncidentIDLength bounds ?id= of /api/v1/incidents.
const MaxIncidentIDLength = 128

// serveIncidents lists open incidents and recent resolved ones: ?limit=N
// caps the resolved list (default DefaultIncidentLimit, 0 all), ?state=open
// leaves it out. ?id=ID answers the same document holding that incident
// alone (in open or recent), or 404: the generatorURL of Alertmanager
// alerts points there.
func (s Sources) serveIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("id") {
		s.serveIncident(w, q.Get("id"))
		return
	}
	limit := DefaultIncidentLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter limit: %q is not a non-negative number", l))
			return
		}
		limit = n
	}
	openOnly := false
	switch state := q.Get("state"); state {
	case "", "all":
	case "open":
		openOnly = true
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter state: %q is not one of open, all", state))
		return
	}
	v := s.Incidents(limit)
	if openOnly {
		v.Recent = []incident.Entry{}
	}
	writeJSON(w, http.StatusOK, v)
}

// serveIncident answers ?id=: the incidents document with one incident.
func (s Sources) serveIncident(w http.ResponseWriter, id string) {
	if id == "" || len(id) > MaxIncidentIDLength {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query parameter id: %q is not an incident ID (such as 20211004T154002Z-3fa2c1)", model.Truncate(id, MaxIncidentIDLength)))
		return
	}
	v := s.Incidents(0)
	for _, list := range []*[]incident.Entry{&v.Open, &v.Recent} {
		for _, e := range *list {
			if e.ID == id {
				v.Open, v.Recent = []incident.Entry{}, []incident.Entry{}
				*list = []incident.Entry{e}
				writeJSON(w, http.StatusOK, v)
				return
			}
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("query parameter id: no incident %q (resolved incidents are kept for evaluate.keep_resolved)", id))
}

func (s Sources) servePeers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Peers())
}

// serveRoutes serves the watched routes and addresses; ?q= selects a
// prefix or an address.
func (s Sources) serveRoutes(w http.ResponseWriter, r *http.Request) {
	v, err := s.Routes(strings.TrimSpace(r.URL.Query().Get("q")))
	if err != nil {
		writeError(w, http.StatusBadRequest, "query parameter q: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s Sources) serveNameservers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, nameserversView(s.Nameservers()))
}
