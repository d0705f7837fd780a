package rpki

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
)

// pdu is an RTR PDU of type typ with body bytes of payload.
func pdu(typ byte, payload int) []byte {
	b := make([]byte, 8+payload)
	b[1] = typ
	binary.BigEndian.PutUint32(b[4:8], uint32(len(b)))
	for i := range payload {
		b[8+i] = byte(i)
	}
	return b
}

// TestRelay: the relay passes the server's bytes unchanged, counts End
// of Data and the ROAs a transfer leaves GoBGP with, refuses a second session, and tells the loss and the expiry
// of the server's lifetime.
func TestRelay(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	port := up.Addr().(*net.TCPAddr).Port
	srv := config.RTRServer{Address: "127.0.0.1", Port: port, Lifetime: config.Duration{Duration: time.Minute}}
	r, err := newRelay(srv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	go r.serve()

	announce := pdu(4, 12)
	announce[8] = 1 // flags: announce
	stream := bytes.Join([][]byte{pdu(3, 0), announce, announce, pdu(4, 12), pdu(7, 4), pdu(0, 0), pdu(7, 4)}, nil)
	serverSide := make(chan net.Conn, 1)
	go func() {
		c, err := up.Accept()
		if err != nil {
			return
		}
		serverSide <- c
	}()
	client, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port())))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var sc net.Conn
	select {
	case sc = <-serverSide:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not connect to the server")
	}
	// The client's query reaches the server.
	if _, err := client.Write(pdu(2, 0)); err != nil {
		t.Fatal(err)
	}
	q := make([]byte, 8)
	_ = sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(sc, q); err != nil || !bytes.Equal(q, pdu(2, 0)) {
		t.Fatalf("query relayed as %x, %v", q, err)
	}
	if _, err := sc.Write(stream); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(stream))
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, stream) {
		t.Fatalf("relayed %x, %v; want %x", got, err, stream)
	}
	st := r.status(time.Now())
	// A full transfer (answering the Reset Query) of two announcements and
	// a withdrawal: GoBGP will hold 2.
	if !st.Up || st.EndOfData != 2 || !st.SessionOK || st.Expired || st.Expected != 2 || st.Port != r.port() {
		t.Errorf("status %+v", st)
	}

	// A second local connection is closed at once.
	other, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port())))
	if err != nil {
		t.Fatal(err)
	}
	_ = other.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := other.Read(make([]byte, 1)); err == nil {
		t.Errorf("a second session got %d bytes", n)
	}
	other.Close()

	// The server ends the session: down; expired after the lifetime.
	sc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for r.status(time.Now()).Up {
		if time.Now().After(deadline) {
			t.Fatal("still up after the server closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := r.status(time.Now()); st.SessionOK || st.Expired {
		t.Errorf("after the loss: %+v", st)
	}
	if st := r.status(time.Now().Add(2 * time.Minute)); !st.Expired {
		t.Errorf("not expired after the lifetime: %+v", st)
	}

	// A malformed length ends the session.
	go func() {
		c, err := up.Accept()
		if err == nil {
			serverSide <- c
		}
	}()
	client2, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port())))
	if err != nil {
		t.Fatal(err)
	}
	defer client2.Close()
	select {
	case sc = <-serverSide:
	case <-time.After(10 * time.Second):
		t.Fatal("no second session")
	}
	defer sc.Close()
	bad := pdu(4, 0)
	binary.BigEndian.PutUint32(bad[4:8], 4)
	_, _ = sc.Write(bad)
	_ = client2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := client2.Read(make([]byte, 8)); err == nil {
		t.Error("a PDU with a length below 8 was relayed")
	}
}
