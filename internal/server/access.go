package server

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/reachmon/reachmon/internal/api"
)

// Access says who may read the endpoints and who may change something.
// The zero Access lets every read in (on a loopback listen only this host
// can connect) and changes only from loopback.
//
// A change is any request but GET and HEAD (POST /api/v1/silences, ...):
// without a token it is accepted only from a loopback address; with a
// token, from anywhere the token comes with (the token is asked of every
// request anyway).
type Access struct {
	// Token, when set, must come as "Authorization: Bearer <Token>" on
	// every endpoint but the probes and (unless ProtectMetrics) /metrics.
	Token          string
	ProtectMetrics bool
	// Hosts, when not empty, are the only hosts (any port) answered in
	// the Host header, on every endpoint but the probes: a web page that
	// rebinds its own name to this daemon's address is refused.
	Hosts []string
}

// Paths answered whatever Access says: service managers and load
// balancers probe them without credentials, under whatever name they
// know the host by, and they reveal nothing.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true}

const metricsPath = "/metrics"

// SetAccess sets who may read the endpoints; call it before Serve.
func (s *Server) SetAccess(a Access) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access = a
}

// guard wraps next with the host and token checks a asks for. Refusals
// use the API's error document.
func (a Access) guard(next http.Handler) http.Handler {
	hosts := map[string]bool{}
	for _, h := range a.Hosts {
		hosts[canonicalHost(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probePaths[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if len(hosts) > 0 && !hosts[canonicalHost(hostOnly(r.Host))] {
			api.WriteError(w, http.StatusForbidden, fmt.Sprintf(
				"Host %q is not a name of this daemon: refused as a possible DNS rebinding (add it to [api] allowed_hosts)", r.Host))
			return
		}
		if a.Token != "" && (r.URL.Path != metricsPath || a.ProtectMetrics) && !bearerMatches(r, a.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="reachmon"`)
			api.WriteError(w, http.StatusUnauthorized, "missing or wrong bearer token: send the [api] token as \"Authorization: Bearer TOKEN\"")
			return
		}
		if a.Token == "" && changes(r) && !remoteIsLoopback(r) {
			api.WriteError(w, http.StatusForbidden, fmt.Sprintf(
				"%s %s changes the daemon: accepted only from loopback while [api] has no token (set [api] token_env or token_file to allow it with the token)", r.Method, r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// changes reports whether r may change something: any method but GET
// and HEAD.
func changes(r *http.Request) bool { return r.Method != http.MethodGet && r.Method != http.MethodHead }

// remoteIsLoopback reports whether r came from a loopback address.
func remoteIsLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// bearerMatches compares the request's bearer token with token in
// constant time.
func bearerMatches(r *http.Request, token string) bool {
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(token)) == 1
}

// hostOnly drops the port of a Host header ("[::1]:9798" -> "::1").
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// canonicalHost spells a host one way: names lower case without the
// final dot, addresses in their shortest form.
func canonicalHost(h string) string {
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap().String()
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// LocalOrToken wraps the handler of an endpoint that changes the daemon
// (POST /-/reload): with an [api] token the guard has checked it already;
// without one, only requests from a loopback address are let in, so that a
// daemon listening beyond this host cannot be driven by whoever reaches it.
// Refusals use the API's error document.
func (s *Server) LocalOrToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		token := s.access.Token
		s.mu.Unlock()
		if token == "" && !fromLoopback(r) {
			api.WriteError(w, http.StatusForbidden, fmt.Sprintf(
				"%s %s changes the daemon: allowed from this host only, or with the [api] token (set [api] token_env or token_file)", r.Method, r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fromLoopback reports whether the request came from a loopback address.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
