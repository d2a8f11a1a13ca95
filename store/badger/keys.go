package badger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// Key prefixes; see the package documentation for the layout.
const (
	prefixRoom   = "room/"
	prefixLink   = "link/"
	prefixToken  = "tok/"
	prefixGuest  = "guest/"
	prefixSecret = "secret/"
)

func roomKey(id string) []byte               { return []byte(prefixRoom + id) }
func linkKey(roomID, linkID string) []byte   { return []byte(prefixLink + roomID + "/" + linkID) }
func linkPrefix(roomID string) []byte        { return []byte(prefixLink + roomID + "/") }
func guestKey(roomID, guestID string) []byte { return []byte(prefixGuest + roomID + "/" + guestID) }
func guestPrefix(roomID string) []byte       { return []byte(prefixGuest + roomID + "/") }
func secretKey(name string) []byte           { return []byte(prefixSecret + name) }

// tokenKey is the token index key of a link token: its SHA-256 in hex, so that
// the index never holds the token itself.
func tokenKey(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return []byte(prefixToken + hex.EncodeToString(sum[:]))
}

// tokenValue is the token index value of a link: "<room>/<link id>".
func tokenValue(roomID, linkID string) []byte { return []byte(roomID + "/" + linkID) }

// parseTokenValue splits a token index value; room ids hold no '/'.
func parseTokenValue(v []byte) (roomID, linkID string, ok bool) {
	roomID, linkID, ok = strings.Cut(string(v), "/")
	return roomID, linkID, ok && roomID != "" && linkID != ""
}

// validPart reports whether s may be one segment of a key: non-empty and without
// '/'. Ids that fail it cannot name a stored record.
func validPart(s string) bool {
	return s != "" && !strings.Contains(s, "/")
}

// getJSON reads key in txn into v. found is false, with a nil error, when the key
// does not exist.
func getJSON(txn *badgerdb.Txn, key []byte, v any) (found bool, err error) {
	item, err := txn.Get(key)
	if errors.Is(err, badgerdb.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("guestgate store: reading %s: %w", key, err)
	}
	err = item.Value(func(val []byte) error { return json.Unmarshal(val, v) })
	if err != nil {
		return false, fmt.Errorf("guestgate store: decoding %s: %w", key, err)
	}
	return true, nil
}

// exists reports whether key exists in txn; it counts as a read of key for
// conflict detection.
func exists(txn *badgerdb.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badgerdb.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("guestgate store: reading %s: %w", key, err)
	}
	return true, nil
}

// setJSON writes v as JSON under key in txn.
func setJSON(txn *badgerdb.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("guestgate store: encoding %s: %w", key, err)
	}
	return txn.Set(key, b)
}

// keysWithPrefix returns copies of the keys under prefix in txn, in key order,
// reading no values; every key returned counts as read for conflict detection.
// limit bounds the count when positive.
func keysWithPrefix(txn *badgerdb.Txn, prefix []byte, limit int) [][]byte {
	opts := badgerdb.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	var keys [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
		if limit > 0 && len(keys) >= limit {
			break
		}
	}
	return keys
}

// links returns the links of room roomID stored in txn, in key order.
func links(txn *badgerdb.Txn, roomID string) ([]guestlink.Link, error) {
	opts := badgerdb.DefaultIteratorOptions
	opts.Prefix = linkPrefix(roomID)
	it := txn.NewIterator(opts)
	defer it.Close()
	var out []guestlink.Link
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var l guestlink.Link
		if err := item.Value(func(val []byte) error { return json.Unmarshal(val, &l) }); err != nil {
			return nil, fmt.Errorf("guestgate store: decoding %s: %w", item.Key(), err)
		}
		out = append(out, l)
	}
	return out, nil
}
