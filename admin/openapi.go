package admin

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// The OpenAPI 3.1 document of the API (docs/DESIGN.md section 10): every
// operation of routes, with its request body, its answers and their JSON
// schemas, the error codes and both credentials. It is written by hand in
// openapi.json and embedded; the tests check that it names exactly the
// operations of routes, and the integration tests validate every request they
// send and every answer they get against it.

// OpenAPIPath is the path of the document under the handler, served without
// credentials.
const OpenAPIPath = "/api/openapi.json"

//go:embed openapi.json
var openapiJSON []byte

// openapiETag is the document's ETag, made once from its bytes.
var openapiETag = func() string {
	sum := sha256.Sum256(openapiJSON)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// OpenAPI returns a copy of the OpenAPI document of the API, in JSON.
func OpenAPI() []byte { return bytes.Clone(openapiJSON) }

// serveOpenAPI answers GET and HEAD of OpenAPIPath with the document and
// returns true; it returns false for every other request. The document may be
// cached but is revalidated, so that an upgrade shows at once.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != OpenAPIPath || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	writeOpenAPI(w, r)
	return true
}

// writeOpenAPI answers r with the document.
func writeOpenAPI(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", openapiETag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(openapiJSON))
}
