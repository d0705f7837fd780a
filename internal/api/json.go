package api

import (
	"encoding/json"
	"net/http"
)

// ErrorSchema names the version of the error document.
const ErrorSchema = "reachmon.error/v1"

// ErrorDoc is the body of every API answer that is not 200 OK.
type ErrorDoc struct {
	Schema string `json:"schema"`
	// Status repeats the HTTP status code, for logs that keep only bodies.
	Status int `json:"status"`
	// Message names the problem: the bad parameter and its value, the
	// unknown path, why the document is not ready.
	Message string `json:"error"`
}

// writeJSON is the one JSON writer of the API.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// The status line is sent: an encoding error can only be a broken
	// connection, which the client sees.
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers code with the API's one error document. The
// daemon's access guard (package server) refuses requests with it too, so
// that a client sees one shape whatever refused it.
func WriteError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorDoc{Schema: ErrorSchema, Status: code, Message: msg})
}

func writeError(w http.ResponseWriter, code int, msg string) { WriteError(w, code, msg) }
