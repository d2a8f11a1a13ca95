package admin

import (
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// maxBodyBytes bounds a JSON request body.
const maxBodyBytes = 64 << 10

// strictJSON are the decoding rules of every JSON body the API takes
// (docs/DESIGN.md section 3): JSON v2's semantics, so that a body means to
// guestgate what it seems to mean to a reviewer, a log or a proxy that reads it.
// Most are v2's defaults; they are spelt out here because the API promises them:
//   - keys are matched case-sensitively ("MAX_CLICKS" is not max_clicks, but an
//     unknown field);
//   - a key that appears twice in one object is refused, whatever its escaping
//     ("max_clicks" and "max\u005fclicks" are one key);
//   - an unknown key is refused;
//   - strings must be valid UTF-8 (RFC 8259, section 8.1), not mangled to U+FFFD.
var strictJSON = jsonv2.JoinOptions(
	jsonv2.MatchCaseInsensitiveNames(false),
	jsonv2.RejectUnknownMembers(true),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// decode reads the request body, one JSON object of at most maxBodyBytes, into
// v with the strictJSON rules. On failure it writes the API error and returns
// false:
//
//	413 too_large      the body is over 64 KiB
//	400 duplicate_key  a key appears twice; field names it
//	422 invalid        an unknown key, or a value of the wrong type; field names it
//	400 bad_json       anything else: not JSON, not an object, data after it,
//	                   invalid UTF-8
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	err := jsonv2.UnmarshalRead(http.MaxBytesReader(w, r.Body, maxBodyBytes), v, strictJSON)
	if err == nil {
		return true
	}
	var (
		tooBig   *http.MaxBytesError
		semantic *jsonv2.SemanticError
		syntax   *jsontext.SyntacticError
	)
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "request body over 64 KiB", "")
	case errors.As(err, &syntax):
		if syntax.Err == jsontext.ErrDuplicateName {
			field := jsonField(syntax.JSONPointer)
			writeError(w, http.StatusBadRequest, "duplicate_key", "duplicate key "+field+": each key may appear once", field)
			return false
		}
		writeError(w, http.StatusBadRequest, "bad_json", "the body must be one JSON object: "+strings.TrimPrefix(syntax.Error(), "jsontext: "), "")
	case errors.As(err, &semantic) && semantic.JSONPointer != "":
		field := jsonField(semantic.JSONPointer)
		if semantic.Err == jsonv2.ErrUnknownName {
			writeError(w, http.StatusUnprocessableEntity, "invalid", "unknown field "+field, field)
			return false
		}
		writeError(w, http.StatusUnprocessableEntity, "invalid", field+" must be "+jsonKind(semantic.GoType), field)
	default:
		// Not an object at the top, or the body could not be read.
		writeError(w, http.StatusBadRequest, "bad_json", "the body must be one JSON object", "")
	}
	return false
}

// jsonField names the member a JSON pointer points at as the API's field does:
// its keys (unescaped) joined with dots, "max_clicks" for /max_clicks.
func jsonField(p jsontext.Pointer) string {
	return strings.Join(slices.Collect(p.Tokens()), ".")
}

// jsonKind says in words which JSON value a Go type takes.
func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "of another type"
	}
	if t == reflect.TypeFor[time.Time]() {
		return "a time in RFC 3339, like \"2026-12-06T10:00:00Z\""
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "of another type"
}
