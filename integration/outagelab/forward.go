package outagelab

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Forwarding lets a person outside the namespace reach reachmon and
// Prometheus inside it (make demo): the inner run serves a unix socket per
// service in a directory both runs share, and the outer run listens on
// host loopback addresses and relays each connection to the socket.
//
//	REACHMON_OUTAGELAB_FORWARD="127.0.0.1:19798=reachmon,127.0.0.1:19090=prometheus"

// forwardIn is the outer half: spec is "hostaddr=name,...".
func forwardIn(t testing.TB, spec, dir string) {
	t.Helper()
	for _, part := range strings.Split(spec, ",") {
		addr, name, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			t.Fatalf("REACHMON_OUTAGELAB_FORWARD: %q is not ADDR=NAME", part)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("forward %s: %v", addr, err)
		}
		relay(t, ln, "unix", filepath.Join(dir, name+".sock"))
	}
}

// ServeSockets is the inner half: it serves reachmon's HTTP (and
// Prometheus's, when running) on unix sockets in the directory the outer
// run passed, until the test ends.
func (l *Lab) ServeSockets() {
	dir := os.Getenv(envSockets)
	if dir == "" {
		return
	}
	targets := map[string]string{"reachmon": Listen}
	if l.PromURL != "" {
		targets["prometheus"] = PromListen
	}
	for name, addr := range targets {
		path := filepath.Join(dir, name+".sock")
		_ = os.Remove(path)
		ln, err := net.Listen("unix", path)
		if err != nil {
			l.t.Fatalf("forward %s: %v", name, err)
		}
		relay(l.t, ln, "tcp", addr)
	}
}

// relay accepts on ln until the test ends and copies each connection to a
// new connection to network/addr.
func relay(t testing.TB, ln net.Listener, network, addr string) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			wg.Go(func() {
				defer c.Close()
				u, err := net.DialTimeout(network, addr, 5*time.Second)
				if err != nil {
					return
				}
				defer u.Close()
				track(c, true)
				track(u, true)
				defer track(c, false)
				defer track(u, false)
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
				<-done
				c.Close()
				u.Close()
				<-done // the other direction ends with the closed connections
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}
