// Package rislivetest is a local websocket server speaking RIS Live's
// message shapes, for tests: it acknowledges ris_subscribe with
// ris_subscribe_ok, answers ping with pong, records what clients send,
// and lets a test send ris_message / ris_error documents or drop the
// connection. It listens on 127.0.0.1 only.
package rislivetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Server is a local websocket server speaking RIS Live's message shapes:
// it acknowledges ris_subscribe with ris_subscribe_ok, answers ping with
// pong, and lets a test send ris_message/ris_error documents or drop the
// connection.
type Server struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	conns []*Conn
	recv  chan ClientMessage
	newc  chan *Conn
	Query chan string
	muted atomic.Bool
}

// Mute stops (or resumes) answering pings: the server stays connected
// but sends nothing, as a stalled feed would.
func (f *Server) Mute(on bool) { f.muted.Store(on) }

type ClientMessage struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type Conn struct {
	WS  *websocket.Conn
	ctx context.Context
	// wmu serialises the test's sends with the server's replies.
	WMu sync.Mutex
}

func New(t *testing.T) *Server {
	f := &Server{t: t, recv: make(chan ClientMessage, 1024), newc: make(chan *Conn, 16), Query: make(chan string, 16)}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.mu.Lock()
		for _, c := range f.conns {
			c.WS.CloseNow()
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *Server) URL() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/v1/ws/" }

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	fc := &Conn{WS: c, ctx: r.Context()}
	f.mu.Lock()
	f.conns = append(f.conns, fc)
	f.mu.Unlock()
	f.Query <- r.URL.RawQuery
	f.newc <- fc
	for {
		_, b, err := c.Read(r.Context())
		if err != nil {
			return
		}
		var m ClientMessage
		if err := json.Unmarshal(b, &m); err != nil {
			fc.Send(`{"type":"ris_error","data":{"message":"Malformed message"}}`)
			continue
		}
		switch m.Type {
		case "ping":
			if !f.muted.Load() {
				fc.Send(`{"type":"pong","data":null}`)
			}
		case "ris_subscribe":
			fc.Send(fmt.Sprintf(`{"type":"ris_subscribe_ok","data":{"subscription":%s,"socketOptions":{"acknowledge":true}}}`, m.Data))
		}
		f.recv <- m
	}
}

func (fc *Conn) Send(s string) error {
	fc.WMu.Lock()
	defer fc.WMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return fc.WS.Write(ctx, websocket.MessageText, []byte(s))
}

// Conn waits (bounded) for the next connection.
func (f *Server) Conn() *Conn {
	f.t.Helper()
	select {
	case c := <-f.newc:
		return c
	case <-time.After(10 * time.Second):
		f.t.Fatal("no connection from the client within 10s")
		return nil
	}
}

// Next waits (bounded) for the next client message of a type in types
// (others are skipped).
func (f *Server) Next(types ...string) ClientMessage {
	f.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-f.recv:
			for _, t := range types {
				if m.Type == t {
					return m
				}
			}
		case <-deadline:
			f.t.Fatalf("no %v message from the client within 10s", types)
			return ClientMessage{}
		}
	}
}

// Update builds a ris_message UPDATE as RIS Live sends it.
func Update(ts float64, host, peer string, asn uint32, path []uint32, nextHop string, announce, withdraw []string) string {
	d := map[string]any{
		"timestamp": ts, "peer": peer, "peer_asn": fmt.Sprint(asn), "id": "20-1-2", "host": host,
		"type": "UPDATE", "path": path, "community": [][]int{},
		"announcements": []any{}, "withdrawals": withdraw,
	}
	if withdraw == nil {
		d["withdrawals"] = []string{}
	}
	if len(announce) > 0 {
		d["origin"] = "IGP"
		d["announcements"] = []any{map[string]any{"next_hop": nextHop, "prefixes": announce}}
	}
	b, _ := json.Marshal(map[string]any{"type": "ris_message", "data": d})
	return string(b)
}
