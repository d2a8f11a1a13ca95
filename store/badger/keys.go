package badger

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	badgerdb "github.com/dgraph-io/badger/v4"

	"github.com/guestgate/guestgate/guestlink"
)

// Key prefixes; see the package documentation for the layout.
const (
	prefixRoom   = "room/"
	prefixLink   = "link/"
	prefixInv    = "inv/"
	prefixToken  = "tok/"
	prefixGuest  = "guest/"
	prefixNewest = "gnew/"
	prefixSecret = "secret/"
)

func roomKey(id string) []byte               { return []byte(prefixRoom + id) }
func linkKey(roomID, linkID string) []byte   { return []byte(prefixLink + roomID + "/" + linkID) }
func linkPrefix(roomID string) []byte        { return []byte(prefixLink + roomID + "/") }
func invKey(roomID, id string) []byte        { return []byte(prefixInv + roomID + "/" + id) }
func invPrefix(roomID string) []byte         { return []byte(prefixInv + roomID + "/") }
func guestKey(roomID, guestID string) []byte { return []byte(prefixGuest + roomID + "/" + guestID) }
func guestPrefix(roomID string) []byte       { return []byte(prefixGuest + roomID + "/") }
func secretKey(name string) []byte           { return []byte(prefixSecret + name) }
func newestPrefix(roomID string) []byte      { return []byte(prefixNewest + roomID + "/") }

// newestKey is the guest list index key of a guest: newest first, then by id.
func newestKey(roomID string, redeemedAt time.Time, guestID string) []byte {
	return []byte(prefixNewest + roomID + "/" + newestSuffix(redeemedAt, guestID))
}

// newestSuffix is the part of a guest list index key after the room's prefix:
// 16 lowercase hex digits of math.MaxInt64 - redeemedAt in Unix nanoseconds (so
// that the newest guest sorts first), '/', the guest id. Times before 1970 or
// after 2262, which Unix nanoseconds cannot hold, are clamped to those bounds.
func newestSuffix(redeemedAt time.Time, guestID string) string {
	var n int64
	switch {
	case redeemedAt.Before(time.Unix(0, 0)):
		n = 0
	case redeemedAt.After(time.Unix(0, math.MaxInt64)):
		n = math.MaxInt64
	default:
		n = redeemedAt.UnixNano()
	}
	return fmt.Sprintf("%016x/%s", uint64(math.MaxInt64-n), guestID)
}

// encodeCursor is the Guests cursor after the index key suffix: its base64url.
func encodeCursor(suffix string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(suffix))
}

// parseCursor returns the index key suffix a Guests cursor holds ("" for the
// empty cursor). Anything but a cursor made by encodeCursor from a well-formed
// suffix is a *guestlink.ValidationError for the field "cursor".
func parseCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	bad := &guestlink.ValidationError{Field: "cursor", Message: "not a cursor returned by the guest list"}
	b, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	// The decoder skips CR and LF; re-encoding refuses them and any other variant.
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != cursor {
		return "", bad
	}
	suffix := string(b)
	rev, id, ok := strings.Cut(suffix, "/")
	if !ok || len(rev) != 16 || rev[0] > '7' || !validPart(id) {
		return "", bad
	}
	for i := 0; i < len(rev); i++ {
		if c := rev[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", bad
		}
	}
	return suffix, nil
}

// tokenKey is the token index key of a link token: its SHA-256 in hex, so that
// the index never holds the token itself.
func tokenKey(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return []byte(prefixToken + hex.EncodeToString(sum[:]))
}

// tokenValue is the token index value of a link or an invitation: "<room>/<id>"
// (an invitation's id starts with "i_", a link's with "l_").
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

// valuesWithPrefix decodes the JSON records under prefix in txn, in key order.
func valuesWithPrefix[T any](txn *badgerdb.Txn, prefix []byte) ([]T, error) {
	opts := badgerdb.DefaultIteratorOptions
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	var out []T
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var v T
		if err := item.Value(func(val []byte) error { return json.Unmarshal(val, &v) }); err != nil {
			return nil, fmt.Errorf("guestgate store: decoding %s: %w", item.Key(), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// errHalfWritten is a guest's change that did not fit in the transaction after a
// part of it was added (see writeGuest). It wraps badgerdb.ErrTxnTooBig.
var errHalfWritten = fmt.Errorf("guestgate store: a guest's change only partly fits in the transaction: %w", badgerdb.ErrTxnTooBig)

// writeGuest writes guest g of room roomID in txn, with a Badger TTL of
// g.PurgeAt - now when g.PurgeAt is set, so that Badger drops the record at its
// purge time. When g.PurgeAt is set and not after now, the guest and its guest
// list index key are deleted instead, and purged is true. Only the guest record
// is written: its index key never changes after Redeem (see writeNewest).
//
// A write that does not fit in txn returns badgerdb.ErrTxnTooBig with nothing of
// it added, or errHalfWritten when the deletion of the index key did not fit
// after the record's (the transaction must then be discarded to keep the guest's
// change atomic).
func writeGuest(txn *badgerdb.Txn, roomID string, g guestlink.Guest, now time.Time) (purged bool, err error) {
	key := guestKey(roomID, g.ID)
	if g.PurgeAt.IsZero() {
		return false, setJSON(txn, key, g)
	}
	ttl := g.PurgeAt.Sub(now)
	if ttl <= 0 {
		if err := txn.Delete(key); err != nil {
			return false, err
		}
		if err := txn.Delete(newestKey(roomID, g.RedeemedAt, g.ID)); err != nil {
			if errors.Is(err, badgerdb.ErrTxnTooBig) {
				return false, errHalfWritten
			}
			return false, err
		}
		return true, nil
	}
	b, err := json.Marshal(g)
	if err != nil {
		return false, fmt.Errorf("guestgate store: encoding %s: %w", key, err)
	}
	return false, txn.SetEntry(badgerdb.NewEntry(key, b).WithTTL(ttl))
}

// writeNewest writes the guest list index key of g (an empty value), with the
// same TTL as the guest record (g.PurgeAt, which must be after now when set).
func writeNewest(txn *badgerdb.Txn, roomID string, g guestlink.Guest, now time.Time) error {
	e := badgerdb.NewEntry(newestKey(roomID, g.RedeemedAt, g.ID), nil)
	if !g.PurgeAt.IsZero() {
		e = e.WithTTL(g.PurgeAt.Sub(now))
	}
	return txn.SetEntry(e)
}

// roomGuests returns the guests of room roomID stored in txn, in key order.
func roomGuests(txn *badgerdb.Txn, roomID string) ([]guestlink.Guest, error) {
	return valuesWithPrefix[guestlink.Guest](txn, guestPrefix(roomID))
}
