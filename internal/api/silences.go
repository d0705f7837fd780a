package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/reachmon/reachmon/internal/silence"
)

// maxRequestBody bounds the body of a POST.
const maxRequestBody = 64 << 10

func (s Sources) serveSilences(w http.ResponseWriter, _ *http.Request) {
	if s.Silences == nil {
		writeError(w, http.StatusServiceUnavailable, "silences are not available in this process")
		return
	}
	writeJSON(w, http.StatusOK, s.Silences.View())
}

// addSilence is POST /api/v1/silences: the body is a silence.Request; the
// answer 201 with the silence's document, or 400 naming the bad field.
func (s Sources) addSilence(w http.ResponseWriter, r *http.Request) {
	if s.Silences == nil {
		writeError(w, http.StatusServiceUnavailable, "silences are not available in this process")
		return
	}
	var req silence.Request
	if !readBody(w, r, &req, false) {
		return
	}
	sl, err := s.Silences.Add(req)
	var fe *silence.FieldError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Error())
	case errors.Is(err, silence.ErrFull):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, "silence not saved: "+err.Error())
	default:
		writeJSON(w, http.StatusCreated, s.Silences.Doc(sl))
	}
}

// ExpireRequest is the (optional) body of POST
// /api/v1/silences/{id}/expire.
type ExpireRequest struct {
	// ExpiredBy names who ends the silence (default "api").
	ExpiredBy string `json:"expired_by"`
}

// expireSilence is POST /api/v1/silences/{id}/expire: 200 with the
// silence's document, 404 for an unknown id, 409 for one that ended.
func (s Sources) expireSilence(w http.ResponseWriter, r *http.Request) {
	if s.Silences == nil {
		writeError(w, http.StatusServiceUnavailable, "silences are not available in this process")
		return
	}
	var req ExpireRequest
	if !readBody(w, r, &req, true) {
		return
	}
	by := strings.TrimSpace(req.ExpiredBy)
	if by == "" {
		by = "api"
	}
	if len(by) > silence.MaxBy || strings.ContainsFunc(by, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("field expired_by: longer than %d bytes or holds a control character", silence.MaxBy))
		return
	}
	id := r.PathValue("id")
	sl, err := s.Silences.Expire(id, by)
	switch {
	case errors.Is(err, silence.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("silence %q: no such silence (GET %s lists them)", id, PathSilences))
	case errors.Is(err, silence.ErrEnded):
		writeError(w, http.StatusConflict, fmt.Sprintf("silence %q already ended at %s", id, sl.Ends.UTC().Format("2006-01-02 15:04:05 UTC")))
	case err != nil:
		writeError(w, http.StatusInternalServerError, "silence not saved: "+err.Error())
	default:
		writeJSON(w, http.StatusOK, s.Silences.Doc(sl))
	}
}

// readBody decodes a POST's JSON body into v, strictly (an unknown field
// is an error); when empty is allowed, no body leaves v as it is. It
// answers the error itself and reports false on one. The Content-Type
// must be application/json: a web page can send a form or text/plain to
// this host without the browser asking first, never JSON.
func readBody(w http.ResponseWriter, r *http.Request, v any, empty bool) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send the body as application/json", r.Header.Get("Content-Type")))
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", maxRequestBody))
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if empty {
			return true
		}
		writeError(w, http.StatusBadRequest, "body: empty; send a JSON object")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "body: "+jsonProblem(err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body: more than one JSON value")
		return false
	}
	return true
}

// jsonProblem words a decoding error: the field of a wrong type, the
// unknown field, or where the syntax breaks.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %s: a JSON %s where a %s belongs", te.Field, te.Value, te.Type)
	case errors.As(err, &te):
		return fmt.Sprintf("a JSON %s where an object belongs", te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("not JSON (at byte %d: %v)", se.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "not JSON (it ends early)"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return err.Error()
}
