// Package fakeslack is an in-process server speaking the parts of Slack's
// Web API (chat.postMessage, chat.update, conversations.history,
// conversations.replies, auth.test) and of incoming webhooks that reachmon
// uses. It records every call and can inject failures, for tests.
package fakeslack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WebhookPath is where the fake incoming webhook listens.
const WebhookPath = "/services/T00000000/B00000000/fakewebhooksecret"

// Call is one request the server received.
type Call struct {
	Method    string // "chat.postMessage", "webhook", …
	Time      time.Time
	Token     string
	Channel   string // as sent
	TS        string // chat.update's ts; the new message's ts for posts
	ThreadTS  string
	Broadcast bool
	Text      string
	Blocks    string // raw JSON
	Key       string // metadata event_payload.key
	Fault     string // the fault injected, if any
}

// Message is a stored message.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	Blocks   string
	Key      string
	Updated  int // times chat.update changed it
}

// Fault is a failure injected into the next call of a method.
type Fault struct {
	// Status answers with this HTTP status (429, 500 …) and no processing.
	Status int
	// RetryAfter is sent with Status 429, in seconds.
	RetryAfter int
	// Error answers {"ok":false,"error":Error} with HTTP 200 (webhook:
	// the body Error with Status, default 400).
	Error string
	// HangAfter processes the call, then holds the answer for this long
	// (the client times out although the message was posted).
	HangAfter time.Duration
	// PadTo processes the call, then pads its answer (still valid JSON)
	// to about this many bytes: an endpoint that streams without end.
	PadTo int64
}

// Server is the fake.
type Server struct {
	*httptest.Server
	Token string
	// Now stamps calls (inject the test's clock); default time.Now.
	Now func() time.Time

	mu       sync.Mutex
	names    map[string]string // "#name" -> ID
	calls    []Call
	messages []*Message
	faults   map[string][]Fault
	seq      int
	webhook  []Call
}

// New starts a server accepting token; channels maps "#name" to IDs. Its
// Web API base URL is URL()+"/api/".
func New(token string, channels map[string]string) *Server {
	s := &Server{Token: token, Now: time.Now, names: map[string]string{}, faults: map[string][]Fault{}}
	for k, v := range channels {
		s.names[k] = v
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.api)
	mux.HandleFunc(WebhookPath, s.webhookHandler)
	s.Server = httptest.NewServer(mux)
	return s
}

// APIURL is the Web API base URL to configure.
func (s *Server) APIURL() string { return s.URL + "/api/" }

// WebhookURL is the incoming webhook's URL (it holds a secret path).
func (s *Server) WebhookURL() string { return s.URL + WebhookPath }

// Fail queues faults for the next calls of method ("chat.postMessage",
// "chat.update", "webhook" …), in order.
func (s *Server) Fail(method string, f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], f...)
}

// Calls returns every call so far, in arrival order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsOf returns the calls of one method.
func (s *Server) CallsOf(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns the stored messages in posting order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = *m
	}
	return out
}

func (s *Server) nextFault(method string) (Fault, bool) {
	q := s.faults[method]
	if len(q) == 0 {
		return Fault{}, false
	}
	s.faults[method] = q[1:]
	return q[0], true
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	token := r.Form.Get("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	s.mu.Lock()
	c := Call{
		Method: method, Time: s.Now(), Token: token, Channel: r.Form.Get("channel"),
		TS: r.Form.Get("ts"), ThreadTS: r.Form.Get("thread_ts"), Broadcast: r.Form.Get("reply_broadcast") == "true",
		Text: r.Form.Get("text"), Blocks: r.Form.Get("blocks"), Key: metadataKey(r.Form.Get("metadata")),
	}
	f, faulty := s.nextFault(method)
	if faulty {
		c.Fault = fmt.Sprintf("%+v", f)
	}
	if faulty && (f.Status != 0 || f.Error != "") {
		s.calls = append(s.calls, c)
		s.mu.Unlock()
		if f.Status != 0 {
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
			}
			http.Error(w, "<html>fake failure</html>", f.Status)
			return
		}
		writeJSON(w, map[string]any{"ok": false, "error": f.Error})
		return
	}
	var resp map[string]any
	if token != s.Token {
		resp = map[string]any{"ok": false, "error": "invalid_auth"}
	} else {
		resp = s.handleLocked(method, r.Form, &c)
	}
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if faulty && f.HangAfter > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(f.HangAfter):
		}
	}
	if faulty && f.PadTo > 0 {
		writePadded(w, resp, f.PadTo)
		return
	}
	writeJSON(w, resp)
}

// writePadded sends resp with a "pad" member that makes the answer about
// size bytes long, streamed until the client stops reading.
func writePadded(w http.ResponseWriter, resp map[string]any, size int64) {
	w.Header().Set("Content-Type", "application/json")
	head, _ := json.Marshal(resp)
	if _, err := w.Write(append(head[:len(head)-1], `,"pad":"`...)); err != nil {
		return
	}
	chunk := []byte(strings.Repeat("x", 64<<10))
	for sent := int64(len(head)); sent < size; sent += int64(len(chunk)) {
		if _, err := w.Write(chunk); err != nil {
			return // the client stopped reading
		}
	}
	_, _ = io.WriteString(w, `"}`)
}

func (s *Server) handleLocked(method string, form url.Values, c *Call) map[string]any {
	switch method {
	case "auth.test":
		return map[string]any{"ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "reachmon", "team_id": "T00000000", "user_id": "U00000000", "bot_id": "B00000000"}
	case "chat.postMessage":
		id, ok := s.channelLocked(form.Get("channel"))
		if !ok {
			return map[string]any{"ok": false, "error": "channel_not_found"}
		}
		thread := form.Get("thread_ts")
		if thread != "" && s.findLocked(id, thread) == nil {
			return map[string]any{"ok": false, "error": "thread_not_found"}
		}
		s.seq++
		ts := fmt.Sprintf("1700000000.%06d", s.seq*100)
		c.TS = ts
		m := &Message{Channel: id, TS: ts, ThreadTS: thread, Text: c.Text, Blocks: c.Blocks, Key: c.Key}
		s.messages = append(s.messages, m)
		return map[string]any{"ok": true, "channel": id, "ts": ts, "message": map[string]any{"text": m.Text, "ts": ts, "thread_ts": thread}}
	case "chat.update":
		id, ok := s.channelLocked(form.Get("channel"))
		if !ok {
			return map[string]any{"ok": false, "error": "channel_not_found"}
		}
		m := s.findLocked(id, form.Get("ts"))
		if m == nil {
			return map[string]any{"ok": false, "error": "message_not_found"}
		}
		m.Text, m.Blocks = c.Text, c.Blocks
		m.Updated++
		return map[string]any{"ok": true, "channel": id, "ts": m.TS, "text": m.Text}
	case "conversations.history", "conversations.replies":
		id, ok := s.channelLocked(form.Get("channel"))
		if !ok {
			return map[string]any{"ok": false, "error": "channel_not_found"}
		}
		oldest, _ := strconv.ParseFloat(form.Get("oldest"), 64)
		meta := form.Get("include_all_metadata") == "1"
		var msgs []map[string]any
		for _, m := range s.messages {
			if m.Channel != id {
				continue
			}
			if method == "conversations.history" && m.ThreadTS != "" {
				continue
			}
			if method == "conversations.replies" && m.TS != form.Get("ts") && m.ThreadTS != form.Get("ts") {
				continue
			}
			if v, _ := strconv.ParseFloat(m.TS, 64); v <= oldest {
				continue
			}
			out := map[string]any{"type": "message", "ts": m.TS, "text": m.Text}
			if m.ThreadTS != "" {
				out["thread_ts"] = m.ThreadTS
			}
			if meta && m.Key != "" {
				out["metadata"] = map[string]any{"event_type": "reachmon_notification", "event_payload": map[string]any{"key": m.Key}}
			}
			msgs = append(msgs, out)
		}
		if method == "conversations.history" {
			sort.SliceStable(msgs, func(i, j int) bool { return msgs[i]["ts"].(string) > msgs[j]["ts"].(string) })
		}
		return map[string]any{"ok": true, "messages": msgs, "has_more": false}
	}
	return map[string]any{"ok": false, "error": "unknown_method"}
}

func (s *Server) channelLocked(ch string) (string, bool) {
	for name, id := range s.names {
		if ch == name || ch == id {
			return id, true
		}
	}
	return "", false
}

func (s *Server) findLocked(channel, ts string) *Message {
	for _, m := range s.messages {
		if m.Channel == channel && m.TS == ts {
			return m
		}
	}
	return nil
}

func (s *Server) webhookHandler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	s.mu.Lock()
	c := Call{Method: "webhook", Time: s.Now()}
	if err := json.Unmarshal(b, &body); err != nil {
		s.calls = append(s.calls, c)
		s.mu.Unlock()
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	c.Text, c.Blocks = body.Text, string(body.Blocks)
	f, faulty := s.nextFault("webhook")
	if faulty {
		c.Fault = fmt.Sprintf("%+v", f)
	}
	s.calls = append(s.calls, c)
	if !faulty || (f.Status == 0 && f.Error == "") {
		s.seq++
		s.messages = append(s.messages, &Message{Channel: "webhook", TS: fmt.Sprintf("1700000000.%06d", s.seq*100), Text: c.Text, Blocks: c.Blocks})
	}
	s.mu.Unlock()
	switch {
	case faulty && f.Error != "":
		st := f.Status
		if st == 0 {
			st = http.StatusBadRequest
		}
		http.Error(w, f.Error, st)
	case faulty && f.Status != 0:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		http.Error(w, "fake failure", f.Status)
	default:
		if faulty && f.HangAfter > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(f.HangAfter):
			}
		}
		_, _ = io.WriteString(w, "ok")
	}
}

func metadataKey(raw string) string {
	if raw == "" {
		return ""
	}
	var m struct {
		EventPayload map[string]any `json:"event_payload"`
	}
	if json.Unmarshal([]byte(raw), &m) != nil {
		return ""
	}
	k, _ := m.EventPayload["key"].(string)
	return k
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
